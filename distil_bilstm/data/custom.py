"""A user's own labelled file (CSV/TSV/JSONL/Parquet) as a dataset spec: its columns found by name
(or named by the user), its task (regression when the label column is a score), and its label set
(declared, or every value the column holds, with a warning for a value so rare it looks like a typo)."""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

from ..utils import shown
from .files import (
    PAIR_FIRST_COLUMNS,
    PAIR_SECOND_COLUMNS,
    TEXT_COLUMNS,
    DataFormatError,
    column_index,
    find_column,
    open_rows,
    take_header,
)
from .pairs import SCORE_NAME
from .sources import DatasetSpec, SourceFile

if TYPE_CHECKING:
    from .datasets import DataConfig

logger = logging.getLogger(__name__)


# Label column names found in a user's file without --label-column, in this order (the text
# columns: files.TEXT_COLUMNS, then a pair's first column).
LABEL_COLUMNS = ("label", "rating", "sentiment", "score", "similarity")


SCORE_COLUMNS = ("score", "similarity")  # a label column so named holds a regression target


# Without --labels, a label on fewer than this share of rows (or on a single row) is most likely a
# typo: warn about it.
RARE_LABEL_SHARE = 0.001


def _find_column(
    given: str | None, header: list[str], candidates: tuple[str, ...], *, path: Path, what: str, flag: str
) -> str:
    """``given`` when set; otherwise the first of ``candidates`` in ``header`` (any case)."""
    if given:
        return given
    found = find_column(header, candidates)
    if found is None:
        raise DataFormatError(
            f"{path}: no {what} column among {shown(header)} (looked for {list(candidates)}); name it with {flag}"
        )
    return found


def custom_spec(config: DataConfig) -> tuple[DatasetSpec, Path]:
    path = Path(config.name)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    delimiter = "," if path.suffix.lower() == ".csv" else "\t"
    header = take_header(
        open_rows(path, delimiter=delimiter, quoting=delimiter == ","), path, expected="a text and a label column"
    )
    text_column = _find_column(
        config.text_column, header, TEXT_COLUMNS + PAIR_FIRST_COLUMNS, path=path, what="text", flag="--text-column"
    )
    label_column = _find_column(
        config.label_column, header, LABEL_COLUMNS, path=path, what="label", flag="--label-column"
    )
    text_b_column = config.text_b_column or find_column(header, PAIR_SECOND_COLUMNS)
    if text_b_column is not None and text_b_column not in header:
        raise DataFormatError(f"{path}: no column {text_b_column!r} (--text-b-column) among {shown(header)}")
    task = config.task or ("regression" if label_column.lower() in SCORE_COLUMNS else "classification")
    regression = task == "regression"
    return DatasetSpec(
        name=path.stem,
        train=SourceFile(path.name),
        test=None,
        text_column=text_column,
        label_column=label_column,
        text_b_column=text_b_column,
        task=task,
        label_names=(SCORE_NAME,) if regression else tuple(config.label_names or ()),
        label_map={},
        delimiter=delimiter,
        quoting=delimiter == ",",
    ), path


def infer_label_map(
    path: Path, spec: DatasetSpec, label_names: list[str] | None
) -> tuple[dict[str, int], tuple[str, ...]]:
    """For a user file: labels are the declared names (``--labels``; rows with any other label are
    dropped and counted, or refused under ``--strict``), else the sorted distinct values of the
    label column, with a warning for a value so rare that it is probably a typo."""
    if label_names:
        return {name: i for i, name in enumerate(label_names)}, tuple(label_names)
    counts: Counter = Counter()
    first_line: dict[str, int] = {}
    rows = open_rows(path, delimiter=spec.delimiter, quoting=spec.quoting)
    header = take_header(rows, path, expected="a text and a label column")
    label_i = column_index(spec.label_column, header, path, [str(spec.text_column), str(spec.label_column)])
    for line, fields in rows:
        if len(fields) > label_i and fields[label_i].strip():
            value = fields[label_i].strip()
            counts[value] += 1
            first_line.setdefault(value, line)
    if not counts:
        raise DataFormatError(f"{path}: no data rows with a label in column {spec.label_column!r} (only a header?)")
    if len(counts) < 2:
        ((value, count),) = counts.items()
        raise DataFormatError(
            f"{path}: column {spec.label_column!r} holds one label only ({value!r} on {count} rows); a "
            "classifier needs two or more (for a similarity score, pass --task regression)"
        )
    if len(counts) > 100:
        raise DataFormatError(
            f"{path}: column {spec.label_column!r} has {len(counts)} distinct values; is it really the label?"
        )
    total = sum(counts.values())
    for value, count in sorted(counts.items()):
        if count < RARE_LABEL_SHARE * total or count == 1 < total:  # a class of one row cannot be learned either
            logger.warning(
                "%s: label %r appears on %d of %d rows (first at line %d): a typo? Declare the label set with "
                "--labels to drop such rows",
                path,
                value,
                count,
                total,
                first_line[value],
            )
    ordered = sorted(counts, key=lambda v: (0, int(v)) if v.lstrip("-").isdigit() else (1, v))
    return {v: i for i, v in enumerate(ordered)}, tuple(ordered)
