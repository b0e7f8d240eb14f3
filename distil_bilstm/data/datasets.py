"""Datasets → one table with a stable example index.

Every source (NSMC, SST-2, Naver shopping, Steam, Korean hate speech, or any CSV/TSV the user
names) is read losslessly into a ``pandas.DataFrame`` with the columns

    idx     int64   dense 0..N-1, in source order then file order; later stages key on it
    text    str     the example's text; a Pair (first, second) in a pair dataset (data/pairs.py)
    label   int64   class id into ``Dataset.label_names``; float64 for a regression task (a score)
    split   str     train | valid | test
    source  str     dataset name the row came from

Splits are deterministic: official train/test files are kept and a validation split is carved
from train; a single-file dataset is split test ``test_size`` / valid ``valid_size`` of the rest
(DistilKoBiLSTM's 0.1 / 0.05 with ``random_state=1``)."""

from __future__ import annotations

import hashlib
import logging
import os
from collections import Counter
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
import pandas as pd

from ..utils import dataclass_from_dict, normalise_numbers
from .custom import custom_spec, infer_label_map
from .files import (
    DATA_FILE_SUFFIXES,
    DataFormatError,
    iter_texts,
    read_labelled_file,
)
from .pairs import TASKS, Text, each_side, read_as, text_key
from .sources import REGISTRY, SPLITS, locate_file, resolve_data_dir
from .splits import assign_splits

logger = logging.getLogger(__name__)


@dataclass
class DataConfig:
    """Which data to load and how to split it.

    ``name`` is a registered dataset (``nsmc``, ``sst2``, ``naver_shopping``, ``steam``,
    ``korean_hate_speech``), several joined with ``+`` (``nsmc+naver_shopping``), or a path to a
    CSV/TSV/JSONL/Parquet file whose ``text_column`` and ``label_column`` are named.
    """

    name: str
    data_dir: str | None = None
    text_column: str | None = None
    label_column: str | None = None
    label_names: list[str] | None = None
    valid_size: float = 0.05
    test_size: float = 0.1
    seed: int = 1
    strict: bool = False
    download: bool = True
    text_b_column: str | None = None  # a user's pair file: the second text (default: sentence2 / text_b when present)
    task: str | None = (
        None  # a user's file: classification | regression (default: regression when the label column is a score)
    )

    def __post_init__(self) -> None:
        normalise_numbers(self)
        if not self.name:
            raise ValueError("DataConfig.name must name a dataset or a file")
        if self.task is not None and self.task not in TASKS:
            raise ValueError(f"DataConfig.task must be one of {TASKS}, got {self.task!r}")
        for field_name in ("valid_size", "test_size"):
            value = getattr(self, field_name)
            if not 0.0 < value < 1.0:
                raise ValueError(f"DataConfig.{field_name} must be in (0, 1), got {value}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "DataConfig":
        return dataclass_from_dict(cls, values)


@dataclass
class Dataset:
    """One table of examples with a dense, stable ``idx``."""

    name: str
    table: pd.DataFrame
    label_names: list[str]
    dropped: dict[str, int] = field(default_factory=dict)
    task: str = "classification"  # regression: ``label`` is a float score and label_names is ["score"]
    pairs: bool = False  # every text is a Pair (data/pairs.py)

    @property
    def num_labels(self) -> int:
        return len(self.label_names)

    @property
    def is_regression(self) -> bool:
        return self.task == "regression"

    @property
    def unlabelled(self):
        """The label of a row that has none (transfer sets): -1, or NaN for a score."""
        return np.float64("nan") if self.is_regression else np.int64(-1)

    def __len__(self) -> int:
        return len(self.table)

    def split(self, name: str) -> pd.DataFrame:
        if name not in SPLITS:
            raise ValueError(f"unknown split {name!r}; expected one of {SPLITS}")
        return self.table[self.table["split"] == name]

    @cached_property
    def fingerprint(self) -> str:
        """sha256 over (idx, text, label) of every row (a pair by its text_key): any edit makes caches
        built on it stale."""
        return fingerprint_rows(self.table["idx"], self.table["text"], self.table["label"])


class RowFingerprint:
    """sha256 over rows ``idx\ttext\tlabel`` joined by newlines, fed one row at a time (a
    multi-million-row transfer set is fingerprinted while it streams past)."""

    def __init__(self) -> None:
        self._digest = hashlib.sha256()
        self.rows = 0

    def update(self, idx: int, text: Text, label: int) -> None:
        self._digest.update(f"{chr(10) if self.rows else ''}{idx}\t{text_key(text)}\t{label}".encode("utf-8"))
        self.rows += 1

    def hexdigest(self) -> str:
        return self._digest.hexdigest()


def fingerprint_rows(idx: Iterable[int], texts: Iterable[Text], labels: Iterable[int]) -> str:
    fingerprint = RowFingerprint()
    for i, t, y in zip(idx, texts, labels):
        fingerprint.update(i, t, y)
    return fingerprint.hexdigest()


def hangul_share(texts: list[str]) -> float:
    """Share of letters that are Hangul syllables or jamo."""
    letters = hangul = 0
    for text in texts:
        for ch in text:
            if ch.isalpha():
                letters += 1
                hangul += "\uac00" <= ch <= "\ud7a3" or "\u3131" <= ch <= "\u318e"
    return hangul / max(1, letters)


class LeakageGuard:
    """Drops every text equal (after stripping) to a validation or test text of ``dataset`` (a pair
    equal to a held-out pair, both sides compared).

    Whatever unlabelled or augmented text reaches training (transfer sets, skip-gram corpora)
    passes through one of these, so selection on validation and the test score stay honest.
    ``sides``: the held-out texts are the sides of the held-out pairs, for single sentences.
    ``seen`` and ``dropped`` count what went through it.
    """

    def __init__(self, dataset: "Dataset", *, sides: bool = False):
        held_out = dataset.table.loc[dataset.table["split"].isin(("valid", "test")), "text"]
        if sides:  # single sentences checked against each side of a held-out pair
            held_out = each_side(held_out)
        self._held_out = frozenset(text_key(t).strip() for t in held_out)
        self._dataset_name = dataset.name
        self.seen = 0
        self.dropped = 0

    def __contains__(self, text: Text) -> bool:
        return text_key(text).strip() in self._held_out

    def __call__(self, texts: Iterable[Text]) -> Iterator[Text]:
        for text in texts:
            self.seen += 1
            if text in self:
                self.dropped += 1
                continue
            yield text

    def warn_dropped(self, source: str | os.PathLike) -> None:
        if self.dropped:
            logger.warning(
                "%s: dropped %d of %d texts equal to a validation or test text of %s",
                source,
                self.dropped,
                self.seen,
                self._dataset_name,
            )


def _load_source(name: str, config: DataConfig, data_dir: Path) -> tuple[pd.DataFrame, tuple[str, ...], Counter]:
    if name in REGISTRY:
        spec = REGISTRY[name]
        files = [("train", locate_file(spec, spec.train, data_dir, download=config.download))]
        for file_split, source in (("valid", spec.valid), ("test", spec.test)):
            if source is not None:
                files.append((file_split, locate_file(spec, source, data_dir, download=config.download)))
        label_map, label_names = dict(spec.label_map), spec.label_names
    elif Path(name).suffix.lower() in DATA_FILE_SUFFIXES:
        spec, path = custom_spec(DataConfig(**{**config.to_dict(), "name": name}))
        files = [("train", path)]
        if spec.task == "regression":
            label_map, label_names = {}, spec.label_names
        else:
            label_map, label_names = infer_label_map(path, spec, config.label_names)
    else:
        raise ValueError(
            f"unknown dataset {name!r}; known: {sorted(REGISTRY)}, or a path to a {'/'.join(DATA_FILE_SUFFIXES)} file"
        )

    frames = []
    dropped: Counter = Counter()
    for file_split, path in files:
        frame, file_dropped = read_labelled_file(
            path,
            text_column=spec.text_column,
            label_column=spec.label_column,
            label_map=label_map,
            has_header=spec.has_header,
            delimiter=spec.delimiter,
            quoting=spec.quoting,
            strict=config.strict,
            text_b_column=spec.text_b_column,
            task=spec.task,
        )
        frame["file_split"] = file_split
        frames.append(frame)
        dropped.update(file_dropped)
    table = pd.concat(frames, ignore_index=True)
    try:
        table = assign_splits(
            table,
            has_test=any(s == "test" for s, _ in files),
            valid_size=config.valid_size,
            test_size=config.test_size,
            seed=config.seed,
        )
    except DataFormatError as err:  # name the files, and what was dropped from them
        why = (
            f" ({sum(dropped.values())} dropped: {', '.join(f'{r} {n}' for r, n in sorted(dropped.items()))})"
            if dropped
            else ""
        )
        raise DataFormatError(f"{', '.join(str(p) for _, p in files)}: {err}{why}") from None
    table["source"] = spec.name
    return table, label_names, dropped, (spec.task, spec.text_b_column is not None)


def load_dataset(config: DataConfig | str, **overrides) -> Dataset:
    """Load one dataset, or several joined with ``+``, into a single indexed table."""
    if isinstance(config, str):
        config = DataConfig(name=config, **overrides)
    elif overrides:
        config = DataConfig.from_dict({**config.to_dict(), **overrides})
    data_dir = resolve_data_dir(config.data_dir)
    tables, names, dropped, kind = [], None, Counter(), None
    for name in config.name.split("+"):
        table, label_names, source_dropped, source_kind = _load_source(name.strip(), config, data_dir)
        if names is not None and tuple(label_names) != tuple(names):
            raise ValueError(
                f"cannot combine {name!r} (labels {list(label_names)}) with earlier sources (labels {list(names)})"
            )
        if kind is not None and source_kind != kind:
            raise ValueError(
                f"cannot combine {name!r} (task {source_kind[0]}, pairs {source_kind[1]}) with earlier sources "
                f"(task {kind[0]}, pairs {kind[1]})"
            )
        names, kind = label_names, source_kind
        tables.append(table)
        dropped.update(source_dropped)
    table = pd.concat(tables, ignore_index=True)
    table.insert(0, "idx", np.arange(len(table), dtype=np.int64))
    table = table[["idx", "text", "label", "split", "source", "line"]]
    dataset = Dataset(
        name=config.name, table=table, label_names=list(names or ()), dropped=dict(dropped), task=kind[0], pairs=kind[1]
    )
    counts = table["split"].value_counts()
    logger.info(
        "%s: %d examples (train %d, valid %d, test %d), %d labels",
        config.name,
        len(table),
        counts.get("train", 0),
        counts.get("valid", 0),
        counts.get("test", 0),
        dataset.num_labels,
    )
    return dataset


def transfer_name(dataset_name: str, path: str | os.PathLike) -> str:
    """The name a transfer set (and its logit store) is filed under: ``<dataset>.transfer.<file stem>``."""
    return f"{dataset_name}.transfer.{Path(path).stem}"


def transfer_texts(path: str | os.PathLike, *, text_column: str | None, pairs: bool) -> Iterator[Text]:
    """The texts of a transfer file as the dataset's examples hold them: Pairs for a pair dataset
    (sentence1/sentence2 columns, or plain ``A<TAB>B`` lines), single strings otherwise (a tab
    inside one is whitespace, never the separator of a pair)."""
    for n, text in enumerate(iter_texts(path, text_column=text_column), start=1):
        try:
            yield read_as(text, pairs=pairs, where=f"{path}, text {n}")
        except ValueError as err:
            raise DataFormatError(str(err)) from None


def load_transfer_set(path: str | os.PathLike, *, dataset: Dataset, text_column: str | None = None) -> Dataset:
    """Unlabelled texts (label -1, split ``transfer``) to distil on beside ``dataset``: an
    augmented or in-domain set whose teacher logits get a store of their own.

    A row whose text equals a validation or test text of ``dataset`` is dropped (and counted in
    ``dropped["leaked"]``): training on the teacher's view of a held-out text would leak it."""
    guard = LeakageGuard(dataset)
    texts = list(guard(transfer_texts(path, text_column=text_column, pairs=dataset.pairs)))
    guard.warn_dropped(path)
    logger.info("%s: %d transfer texts", path, len(texts))
    frame = pd.DataFrame({"text": texts})
    frame.insert(0, "idx", np.arange(len(frame), dtype=np.int64))
    frame["label"] = dataset.unlabelled
    frame["split"], frame["source"], frame["line"] = "transfer", str(path), 0
    return Dataset(
        name=transfer_name(dataset.name, path),
        table=frame,
        label_names=list(dataset.label_names),
        dropped={"leaked": guard.dropped} if guard.dropped else {},
        task=dataset.task,
        pairs=dataset.pairs,
    )
