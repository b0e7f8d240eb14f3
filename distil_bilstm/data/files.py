"""Reading data files: labelled CSV/TSV rows and plain text files, with errors that name the file and line."""

from __future__ import annotations

import csv
import itertools
import json
import logging
import os
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd

from ..utils import shown
from .pairs import PAIR_SEP, Text, make_pair, parse_score

logger = logging.getLogger(__name__)


# Long reviews and phrases can exceed csv's default 128 KiB field limit.
csv.field_size_limit(min(sys.maxsize, 2**31 - 1))


class DataFormatError(ValueError):
    """A data file does not have the shape we expect; the message names the file and line."""


# Read as records (each row an object with named fields), not as delimited text.
RECORD_SUFFIXES = (".jsonl", ".parquet")
# what a user's own labelled dataset may be
DATA_FILE_SUFFIXES = (".csv", ".tsv", ".txt", *RECORD_SUFFIXES)


def is_record_file(path: Path) -> bool:
    return path.suffix.lower() in RECORD_SUFFIXES


def open_rows(path: Path, *, delimiter: str = "\t", quoting: bool = False) -> Iterator[tuple[int, list[str]]]:
    """Yield (line number, fields), the header first. CSV/TSV as ``csv`` reads them; JSON Lines
    and Parquet as records whose first one's fields (JSONL) or whose columns (Parquet) make the
    header. Undecodable bytes and broken records raise an error naming file and line."""
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        return _json_lines_rows(path)
    if suffix == ".parquet":
        return _parquet_rows(path)
    return _delimited_rows(path, delimiter=delimiter, quoting=quoting)


def _delimited_rows(path: Path, *, delimiter: str, quoting: bool) -> Iterator[tuple[int, list[str]]]:
    with open(path, encoding="utf-8", errors="strict", newline="") as fh:
        if quoting:
            reader = csv.reader(fh, delimiter=delimiter)
        else:
            reader = csv.reader(fh, delimiter=delimiter, quoting=csv.QUOTE_NONE)
        try:
            for fields in reader:
                yield reader.line_num, fields
        except UnicodeDecodeError:
            raise not_utf8(path) from None


def not_utf8(path: Path) -> DataFormatError:
    """The error for a file that is not UTF-8, naming the first line that is not and its byte (a
    decoder reads blocks, so where it failed says little about the line)."""
    with open(path, "rb") as fh:
        for line, raw in enumerate(fh, start=1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as err:
                return DataFormatError(
                    f"{path}, line {line}: not valid UTF-8 ({err.reason} at byte {err.start + 1} of the line, "
                    f"{raw[err.start : err.start + 4]!r}); convert the file to UTF-8 (e.g. iconv -f cp949 -t utf-8)"
                )
    return DataFormatError(f"{path}: not valid UTF-8; convert the file to UTF-8 (e.g. iconv -f cp949 -t utf-8)")


def _field(value, *, where: str) -> str:
    """A record's value as the text a delimited file would hold (a missing one is empty; a whole float
    ``1.0`` is ``1``, as a CSV writes it); bytes must be UTF-8, and a list or an object is refused
    naming ``where`` (file, row, column): none of them is one text or one label."""
    if value is None or (isinstance(value, float) and value != value):  # None or NaN
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, (bytes, bytearray)):
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            raise DataFormatError(f"{where}: bytes that are not UTF-8 text ({shown(bytes(value[:20]))})") from None
    if isinstance(value, (bool, int, float, np.integer, np.floating, np.bool_)):
        number = value.item() if isinstance(value, np.generic) else value
        return str(int(number)) if isinstance(number, float) and number.is_integer() else str(number)
    raise DataFormatError(
        f"{where}: a {type(value).__name__} ({shown(value, 60)}), not one text or label; give each row "
        "one value in this column"
    )


def _json_lines_rows(path: Path) -> Iterator[tuple[int, list[str]]]:
    header: list[str] | None = None
    with open(path, encoding="utf-8", errors="strict") as fh:
        line = 0
        try:
            for line, raw in enumerate(fh, start=1):
                if not raw.strip():
                    yield line, []  # a blank line, counted like a delimited file's
                    continue
                try:
                    record = json.loads(raw)
                except json.JSONDecodeError as err:
                    raise DataFormatError(
                        f"{path}, line {line}: not valid JSON ({err.msg} at column {err.colno})"
                    ) from None
                if not isinstance(record, dict):
                    raise DataFormatError(
                        f"{path}, line {line}: expected a JSON object per line, got {type(record).__name__}"
                    )
                if header is None:
                    header = list(record)
                    yield 0, header
                yield line, [_field(record.get(key), where=f"{path}, line {line}, field {key!r}") for key in header]
        except UnicodeDecodeError:
            raise not_utf8(path) from None


def _parquet_rows(path: Path) -> Iterator[tuple[int, list[str]]]:
    try:
        frame = pd.read_parquet(path)
    except ImportError as err:
        raise ImportError(f"{path}: reading Parquet needs pyarrow (pip install pyarrow): {err}") from None
    except Exception as err:  # pyarrow's errors for a file that is not Parquet have no common base
        raise DataFormatError(f"{path}: not a readable Parquet file ({type(err).__name__}: {err})") from None
    columns = [str(c) for c in frame.columns]
    yield 0, columns
    for row, values in enumerate(frame.itertuples(index=False, name=None), start=1):  # "line" N is row N
        yield row, [_field(v, where=f"{path}, row {row}, column {c!r}") for c, v in zip(columns, values)]


def take_header(rows: Iterator[tuple[int, list[str]]], path: Path, *, expected: str) -> list[str]:
    """The first row of ``rows`` as column names (stripped, BOM removed); an empty file is refused."""
    first = next(rows, None)
    if first is None:
        raise DataFormatError(
            f"{path}: empty file (no header, no rows); expected a header row with {expected}, then one row per example"
        )
    return [h.strip().lstrip("\ufeff") for h in first[1]]


def column_index(column: str | int, header: list[str] | None, path: Path, expected: list[str]) -> int:
    if isinstance(column, int):
        return column
    if header is None or column not in header:
        raise DataFormatError(
            f"{path}: missing column(s) {[c for c in expected if header is None or c not in header]}; "
            f"expected columns {expected}, found {shown(header)}"
        )
    return header.index(column)


class _RowRejected(Exception):
    """One row of a labelled file that is dropped (or, strict, refused): ``reason`` counts it, the message says why."""

    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason = reason


@dataclass(frozen=True)
class _Layout:
    """Where a labelled file's fields are, and how many fields a row must have."""

    text: int
    text_b: int | None  # the second text of a pair
    label: int
    label_column: str | int  # as the user named it, for messages
    n_fields: int | None  # the header's width, which every row must have; None without a header
    min_fields: int  # enough fields to reach every named column

    @classmethod
    def read(
        cls,
        rows: Iterator[tuple[int, list[str]]],
        path: Path,
        *,
        has_header: bool,
        text_column: str | int,
        text_b_column: str | int | None,
        label_column: str | int,
    ) -> tuple["_Layout", list[str] | None]:
        """The layout of the file whose ``rows`` these are (its header taken from ``rows``), and the header."""
        columns = [c for c in (text_column, text_b_column, label_column) if c is not None]
        expected = [str(c) for c in columns]
        header = take_header(rows, path, expected=f"columns {expected}") if has_header else None

        def index(column):
            return column_index(column, header, path, expected)

        layout = cls(
            text=index(text_column),
            text_b=index(text_b_column) if text_b_column is not None else None,
            label=index(label_column),
            label_column=label_column,
            n_fields=len(header) if header is not None else None,
            min_fields=max(index(c) for c in columns) + 1,
        )
        return layout, header


def _parse_row(
    fields: list[str], layout: _Layout, *, label_map: dict[str, int | None], regression: bool
) -> tuple[Text, int | float | None]:
    """(text, label) of one row (the text a Pair where the layout has a second text), the label ``None`` where the dataset's own rules exclude it; a row
    that cannot be an example raises :class:`_RowRejected`."""
    if not fields:
        raise _RowRejected("blank line", "blank line")
    if (layout.n_fields is not None and len(fields) != layout.n_fields) or len(fields) < layout.min_fields:
        raise _RowRejected(
            "malformed row", f"expected {layout.n_fields or layout.min_fields} fields, found {len(fields)}"
        )
    text = fields[layout.text].strip()
    if layout.text_b is None:  # one text: a tab in it is whitespace, never the separator of a pair (data/pairs.py)
        text = text.replace(PAIR_SEP, " ")
    raw_label = fields[layout.label].strip()
    if layout.text_b is not None:
        second = fields[layout.text_b].strip()
        if not text or not second:
            raise _RowRejected("empty text", f"empty {'first' if not text else 'second'} text of a pair")
        try:
            text = make_pair(text, second)
        except ValueError as err:
            raise _RowRejected("malformed row", str(err)) from None
    if not text:
        raise _RowRejected("empty text", "empty text")
    if regression:
        score = parse_score(raw_label)
        if score is None:
            raise _RowRejected("bad score", f"score {raw_label!r} in column {layout.label_column!r} is not a number")
        return text, score
    if raw_label not in label_map:
        raise _RowRejected(
            "unknown label", f"label {raw_label!r} in column {layout.label_column!r} is not one of {sorted(label_map)}"
        )
    return text, label_map[raw_label]


def _counts(dropped: Counter) -> str:
    return ", ".join(f"{reason}: {count}" for reason, count in sorted(dropped.items()))


def read_labelled_file(
    path: str | os.PathLike,
    *,
    text_column: str | int,
    label_column: str | int,
    label_map: dict[str, int | None],
    has_header: bool = True,
    delimiter: str = "\t",
    quoting: bool = False,
    strict: bool = False,
    text_b_column: str | int | None = None,
    task: str = "classification",
) -> tuple[pd.DataFrame, Counter]:
    """Read one labelled file into a frame with ``text``, ``label``, ``line`` columns.

    Rows with an empty text, a label outside ``label_map`` or the wrong number of fields are
    dropped and counted (``strict=True`` raises instead, naming file and line). Rows whose label
    maps to ``None`` are excluded by the dataset's own rules and counted separately. With
    ``text_b_column`` each row's text is a :class:`~.pairs.Pair`; with
    ``task="regression"`` the label is a number (float64), and a field that is none is refused
    like an unknown label.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    rows = open_rows(path, delimiter=delimiter, quoting=quoting)
    layout, header = _Layout.read(
        rows,
        path,
        has_header=has_header,
        text_column=text_column,
        text_b_column=text_b_column,
        label_column=label_column,
    )
    regression = task == "regression"
    kept: list[tuple[Text, int | float, int]] = []  # (text, label, line)
    dropped: Counter = Counter()
    for line, fields in rows:
        try:
            text, label = _parse_row(fields, layout, label_map=label_map, regression=regression)
        except _RowRejected as err:
            if strict:
                raise DataFormatError(f"{path}, line {line}: {err}") from None
            dropped[err.reason] += 1
            continue
        if label is None:
            dropped["excluded label"] += 1
            continue
        kept.append((text, label, line))
    if not kept:
        if not dropped:
            raise DataFormatError(f"{path}: no data rows" + (f" (only the header {shown(header)})" if header else ""))
        raise DataFormatError(f"{path}: every row was dropped ({_counts(dropped)})")
    texts, labels, lines = zip(*kept)
    frame = pd.DataFrame(
        {
            "text": list(texts),
            "label": np.asarray(labels, dtype=np.float64 if regression else np.int64),
            "line": list(lines),
        }
    )
    if dropped:
        logger.info("%s: kept %d rows, dropped %d (%s)", path, len(frame), sum(dropped.values()), _counts(dropped))
    else:
        logger.info("%s: kept %d rows", path, len(frame))
    return frame, dropped


# Column names a file's header is searched for when no column is named, in this order and in any
# case: one list for labelled (datasets.py) and unlabelled (iter_texts) files alike.
TEXT_COLUMNS = ("text", "document", "sentence", "review", "comments")
PAIR_FIRST_COLUMNS = ("sentence1", "text_a", "text1")
PAIR_SECOND_COLUMNS = ("sentence2", "text_b", "text2")  # present: the file holds sentence pairs


def find_column(header: list[str], candidates: tuple[str, ...] | list[str]) -> str | None:
    """The header's spelling of the first of ``candidates`` it holds (compared in any case), or None."""
    by_lower = {h.lower(): h for h in header}
    return next((by_lower[c.lower()] for c in candidates if c.lower() in by_lower), None)


def iter_texts(path: str | os.PathLike, *, text_column: str | None = None, keep_empty: bool = False) -> Iterator[Text]:
    """Stream the texts of an unlabelled file: a TSV, JSON Lines or Parquet file whose header names
    ``text_column`` (default: the first of :data:`TEXT_COLUMNS`, in any case), or a plain file
    of one text per line. Sentence pairs: a header with a first and a second text column
    (``sentence1``/``sentence2``, ``text_a``/``text_b``) yields each row as a :class:`~.pairs.Pair`
    (a plain file's line is one string, tabs and all: its reader decides whether it is a pair;
    ``each_side`` of data/pairs.py turns pairs into single sentences for who wants those).
    Texts are stripped; empty ones are skipped (``keep_empty``: yielded as ``""``, so that every
    row has its output). Nothing is held in memory but the current line."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    rows = open_rows(path, delimiter="\t", quoting=False)
    first = next(rows, None)
    header = first[1] if first else []
    if text_column:  # a named column is taken as spelled
        column = text_column if text_column in header else None
    else:
        column = find_column(header, TEXT_COLUMNS)
    pair_a, pair_b = find_column(header, PAIR_FIRST_COLUMNS), find_column(header, PAIR_SECOND_COLUMNS)
    if column is None and not text_column and pair_a is not None and pair_b is not None:
        first_i, second_i = header.index(pair_a), header.index(pair_b)
        for line, fields in rows:
            if len(fields) > max(first_i, second_i) and (
                fields[first_i].strip() and fields[second_i].strip() or keep_empty
            ):
                yield make_pair(fields[first_i], fields[second_i], where=f"{path}, line {line}")
        return
    if column is None and (text_column or is_record_file(path)):
        raise DataFormatError(
            f"{path}: missing column {(text_column or ', '.join(TEXT_COLUMNS))!r}; found {shown(header)}"
        )
    if column is None:  # plain text: every line, the first included, is one example
        raw = itertools.chain([("\t".join(header))] if first else [], ("\t".join(fields) for _, fields in rows))
    else:
        col_i = header.index(column)
        raw = (fields[col_i] for _, fields in rows if len(fields) > col_i)
    for text in raw:
        if text.strip() or keep_empty:
            yield text.strip()


def read_texts(path: str | os.PathLike, *, text_column: str | None = None) -> pd.DataFrame:
    """:func:`iter_texts` as a one-column (``text``) table."""
    texts = list(iter_texts(path, text_column=text_column))
    logger.info("%s: %d transfer texts", path, len(texts))
    return pd.DataFrame({"text": texts})
