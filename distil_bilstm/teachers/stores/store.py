"""Teacher logits computed once and kept in an index-keyed store.

A store is a folder with

    logits.npy     float32 (N, num_labels); row i belongs to example idx == i
    header.json    teacher path and weights hash, dataset name and fingerprint, num_labels,
                   label names, max_length, created time, teacher accuracy per split

``header.json`` is written last (atomically): a folder without it is never read as complete.
Large sets are computed in chunks of contiguous ``idx`` under ``chunks/``; an interrupted run
recomputes only the missing chunks, and because a chunk's batches depend only on the chunk,
the final bytes are identical to an uninterrupted run. Nothing here is pickled.
"""

from __future__ import annotations

import logging
import os
import pickle
import shutil
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from ...utils import atomic_path, read_json, sha256_file, write_json

logger = logging.getLogger(__name__)

HEADER = "header.json"
LOGITS = "logits.npy"
FORMAT_VERSION = 1


class StaleStoreError(ValueError):
    """A store exists but was built from other data, another teacher or another label set."""


def default_store_dir(cache_root: str | os.PathLike, teacher_name: str, dataset_name: str) -> Path:
    """``<cache_root>/<teacher>/<dataset>``: one store per (teacher, dataset)."""
    safe = dataset_name.replace("/", "_").replace("+", "_and_")
    return Path(cache_root) / teacher_name / safe


@dataclass
class LogitStore:
    """Loaded logits: ``gather(idx)`` is one indexing op, O(1) per batch in Python."""

    path: Path
    header: dict
    logits: torch.Tensor  # (N, num_labels) float32

    @property
    def num_labels(self) -> int:
        return int(self.logits.shape[1])

    def __len__(self) -> int:
        return int(self.logits.shape[0])

    def gather(self, idx: torch.Tensor) -> torch.Tensor:
        """Logits of a batch: ``(batch,) int64 -> (batch, num_labels)``."""
        return self.logits.index_select(0, idx)

    def to(self, device: torch.device) -> "LogitStore":
        return LogitStore(self.path, self.header, self.logits.to(device))

    @classmethod
    def open(
        cls,
        path: str | os.PathLike,
        *,
        fingerprint: str | None = None,
        teacher_hash: str | None = None,
        num_labels: int | None = None,
        max_length: int | None = None,
        runtime: str | None = None,
        label_names: Sequence[str] | None = None,
    ) -> "LogitStore":
        """Open a complete store, refusing one that does not match what the caller expects (None:
        anything goes for that key)."""
        path = Path(path)
        if not (path / HEADER).is_file():
            raise FileNotFoundError(
                f"{path}: no complete logit store here (missing {HEADER}); run `distil-bilstm teacher logits`"
            )
        header = read_json(path / HEADER)
        problems = check_header(
            header,
            fingerprint=fingerprint,
            teacher_hash=teacher_hash,
            num_labels=num_labels,
            max_length=max_length,
            runtime=runtime,
            label_names=label_names,
        )
        if problems:
            raise StaleStoreError(
                f"{path} is stale: "
                + "; ".join(problems)
                + ". Rerun `distil-bilstm teacher logits` with --recompute, or ask for what it holds"
            )
        array = np.load(path / LOGITS, allow_pickle=False)
        if array.shape != (header["num_examples"], header["num_labels"]):
            raise StaleStoreError(
                f"{path}: {LOGITS} has shape {array.shape}, header says {(header['num_examples'], header['num_labels'])}"
            )
        return cls(path=path, header=header, logits=torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32)))


def check_header(
    header: dict,
    *,
    fingerprint: str | None,
    teacher_hash: str | None,
    num_labels: int | None,
    max_length: int | None = None,
    runtime: str | None = None,
    label_names: Sequence[str] | None = None,
) -> list[str]:
    """What differs between a store's header and what its reader expects (each None: not checked).
    Every key that changes the logits is one: the rows (dataset fingerprint), the teacher's weights,
    its label set and order, how many pieces it read of each text, and what ran it."""
    problems = []
    if fingerprint is not None and header.get("dataset_fingerprint") != fingerprint:
        problems.append(
            f"dataset fingerprint differs (store {str(header.get('dataset_fingerprint'))[:12]}, data {fingerprint[:12]})"
        )
    if teacher_hash is not None and header.get("teacher_hash") != teacher_hash:
        problems.append(
            f"teacher weights differ (store {str(header.get('teacher_hash'))[:12]}, teacher {teacher_hash[:12]})"
        )
    if num_labels is not None and header.get("num_labels") != num_labels:
        problems.append(f"label count differs (store {header.get('num_labels')}, expected {num_labels})")
    if (
        label_names is not None
        and header.get("label_names") is not None
        and list(header["label_names"]) != list(label_names)
    ):
        problems.append(f"label names differ (store {header['label_names']}, data {list(label_names)})")
    if max_length is not None and header.get("max_length") is not None and header["max_length"] != max_length:
        problems.append(f"teacher max length differs (store {header['max_length']} pieces, asked {max_length})")
    # stores from before runtimes were recorded were all computed in torch
    if runtime is not None and header.get("runtime", "torch") != runtime:
        problems.append(f"runtime differs (store {header.get('runtime', 'torch')}, asked {runtime})")
    return problems


# --------------------------------------------------------------------------------------------
# building a store


@dataclass
class BuildResult:
    store: LogitStore
    computed_examples: int  # examples the teacher ran a forward pass on in this call


def build_store(
    path: str | os.PathLike,
    *,
    texts: Sequence[str],
    compute: Callable[[Sequence[str], Callable[[int], None]], np.ndarray],
    header: dict,
    chunk_size: int = 8192,
    recompute: bool = False,
    summarize: Callable[[np.ndarray], dict] | None = None,
    progress: bool = True,
    chunk_runner: "ChunkRunner | None" = None,
) -> BuildResult:
    """Compute (or reuse) the logits of ``texts`` with ``compute`` and return the opened store.

    ``compute(texts, advance)`` returns the logits of one chunk and may call ``advance(n)`` after
    each batch of ``n`` texts: one progress bar runs over the whole set (chunks inside it), with
    examples/s and ETA, starting at the examples that earlier runs already computed.

    ``header`` must hold ``dataset_fingerprint``, ``teacher_hash`` and ``num_labels``; a complete
    store with the same three, the same label names, max length and runtime is reused with zero
    forward passes, a different one is refused naming what differs unless ``recompute``. Partial chunks of the same plan are reused after an interruption.
    ``summarize(logits)`` may add entries (e.g. teacher accuracy per split) to the header.

    ``chunk_runner`` computes the missing chunks elsewhere (``ray_logits.ray_chunk_runner``:
    chunks as Ray tasks); whatever computes them, each chunk file is written here, atomically,
    as its logits arrive, so an interrupted build of either kind resumes.
    """
    path = Path(path)
    expect = dict(
        fingerprint=header["dataset_fingerprint"],
        teacher_hash=header["teacher_hash"],
        num_labels=header["num_labels"],
        max_length=header.get("max_length"),
        runtime=header.get("runtime", "torch"),
        label_names=header.get("label_names"),
    )
    if (path / HEADER).is_file():
        if recompute:
            logger.info("%s: --recompute: discarding the existing store", path)
            (path / HEADER).unlink()
        else:
            store = LogitStore.open(path, **expect)
            logger.info("%s: cache hit, 0 teacher forward passes", path)
            return BuildResult(store, 0)

    chunks_dir = path / "chunks"
    plan = {
        "dataset_fingerprint": header["dataset_fingerprint"],
        "teacher_hash": header["teacher_hash"],
        "num_labels": header["num_labels"],
        "num_examples": len(texts),
        "chunk_size": chunk_size,
        "max_length": header.get("max_length"),
        "runtime": header.get("runtime", "torch"),  # chunks of another runtime are not mixed in
        # nor columns in another order (the key only where the teacher's order is not the data's: older plans stay valid)
        **({"label_order": header["label_order"]} if header.get("label_order") else {}),
    }
    if chunks_dir.exists() and (
        recompute or not (chunks_dir / "plan.json").is_file() or read_json(chunks_dir / "plan.json") != plan
    ):
        logger.info("%s: partial chunks from another plan; starting over", chunks_dir)
        shutil.rmtree(chunks_dir)
    chunks_dir.mkdir(parents=True, exist_ok=True)
    write_json(chunks_dir / "plan.json", plan)

    n_chunks = (len(texts) + chunk_size - 1) // chunk_size
    bounds = [(c * chunk_size, min(len(texts), (c + 1) * chunk_size)) for c in range(n_chunks)]
    chunk_files = [chunks_dir / f"{c:05d}.npy" for c in range(n_chunks)]
    missing = [(c, lo, hi) for c, ((lo, hi), f) in enumerate(zip(bounds, chunk_files)) if not f.is_file()]
    done = len(texts) - sum(hi - lo for _, lo, hi in missing)
    bar = tqdm(
        total=len(texts),
        initial=done,
        desc=f"teacher logits ({n_chunks} chunks)",
        unit="ex",
        unit_scale=True,
        disable=not progress,
    )
    computed = 0
    runner = chunk_runner or local_chunks(compute)
    for chunk, logits in runner(texts, missing, bar.update):
        lo, hi = bounds[chunk]
        logits = np.asarray(logits, dtype=np.float32)
        if logits.shape != (hi - lo, header["num_labels"]):
            raise ValueError(f"teacher returned logits of shape {logits.shape} for {hi - lo} texts")
        with atomic_path(chunk_files[chunk]) as tmp:
            with open(tmp, "wb") as fh:
                np.save(fh, logits, allow_pickle=False)
        computed += hi - lo
        logger.debug("chunk %d/%d done (idx %d..%d)", chunk + 1, n_chunks, lo, hi - 1)
    bar.close()

    parts = [np.load(chunks_dir / f"{c:05d}.npy", allow_pickle=False) for c in range(n_chunks)]
    logits = np.concatenate(parts) if parts else np.zeros((0, header["num_labels"]), dtype=np.float32)
    finish_store(path, logits, {**header, **(summarize(logits) if summarize else {})})
    shutil.rmtree(chunks_dir)
    return BuildResult(LogitStore.open(path, **expect), computed)


# (texts, [(chunk, lo, hi), ...], advance) -> (chunk, logits) pairs in any order
ChunkRunner = Callable[
    [Sequence[str], list[tuple[int, int, int]], Callable[[int], None]], Iterator[tuple[int, np.ndarray]]
]


def local_chunks(compute: Callable[[Sequence[str], Callable[[int], None]], np.ndarray]) -> ChunkRunner:
    """The chunks one after the other in this process."""

    def run(texts, missing, advance):
        for chunk, lo, hi in missing:
            advanced = 0

            def on_batch(n: int) -> None:
                nonlocal advanced
                advanced += n
                advance(n)

            logits = compute(texts[lo:hi], on_batch)
            advance(hi - lo - advanced)  # a teacher that does not report its batches
            yield chunk, logits

    return run


def finish_store(path: str | os.PathLike, logits: np.ndarray, header: dict) -> None:
    """Write ``logits.npy`` then ``header.json`` (the completion marker), both atomically."""
    path = Path(path)
    logits = np.ascontiguousarray(logits, dtype=np.float32)
    with atomic_path(path / LOGITS) as tmp:
        with open(tmp, "wb") as fh:
            np.save(fh, logits, allow_pickle=False)
    full = {
        "format_version": FORMAT_VERSION,
        **header,
        "num_examples": int(logits.shape[0]),
        "num_labels": int(logits.shape[1]),
        "logits_sha256": sha256_file(path / LOGITS),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    write_json(path / HEADER, full)


# --------------------------------------------------------------------------------------------
# importing logits made elsewhere


class _RestrictedUnpickler(pickle.Unpickler):
    """Unpickles builtin containers and numbers only: any class or function lookup is refused.

    Dicts, lists, tuples, ints, floats and strings are built by pickle opcodes that never call
    ``find_class``; everything that could run code (``os.system``, ``eval``, numpy or torch
    reconstructors) must go through it, so refusing it here refuses them all.
    """

    def find_class(self, module: str, name: str):  # noqa: D401 - pickle API
        raise pickle.UnpicklingError(
            f"refusing to load {module}.{name}: only dicts/lists/tuples of numbers are accepted "
            "(save the logits as CSV or .npy instead)"
        )


def read_external_logits(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Read (idx, logits) from CSV ``idx,logit_0,...``, ``.npy`` (rows in idx order, or an
    ``(N, 1 + C)`` array whose first column is idx), ``.npz`` with ``idx`` and ``logits``, or
    DistilKoBiLSTM's ``teacher_output.pickle`` ({idx: [l0, l1, ...]})."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        import pandas as pd

        frame = pd.read_csv(path)
        logit_cols = [c for c in frame.columns if str(c).startswith("logit_")]
        if "idx" not in frame.columns or not logit_cols:
            raise ValueError(f"{path}: expected columns idx,logit_0,logit_1,...; found {list(frame.columns)}")
        logit_cols.sort(key=lambda c: int(str(c).split("_")[1]))
        return frame["idx"].to_numpy(dtype=np.int64), frame[logit_cols].to_numpy(dtype=np.float32)
    if suffix == ".npz":
        with np.load(path, allow_pickle=False) as archive:
            if "idx" not in archive or "logits" not in archive:
                raise ValueError(f"{path}: expected arrays 'idx' and 'logits', found {list(archive.keys())}")
            return archive["idx"].astype(np.int64), archive["logits"].astype(np.float32)
    if suffix == ".npy":
        array = np.load(path, allow_pickle=False)
        if array.ndim != 2:
            raise ValueError(f"{path}: expected a 2-D array, got shape {array.shape}")
        return np.arange(array.shape[0], dtype=np.int64), array.astype(np.float32)
    if suffix in (".pickle", ".pkl"):
        with open(path, "rb") as fh:
            try:
                obj = _RestrictedUnpickler(fh).load()
            except pickle.UnpicklingError as err:
                raise ValueError(f"{path}: {err}") from None
        if not isinstance(obj, dict) or not obj:
            raise ValueError(f"{path}: expected a non-empty dict {{idx: [logit, ...]}}, got {type(obj).__name__}")
        keys = sorted(obj)
        try:
            logits = np.asarray([list(obj[k]) for k in keys], dtype=np.float32)
            idx = np.asarray(keys, dtype=np.int64)
        except (TypeError, ValueError) as err:
            raise ValueError(f"{path}: values must be equal-length lists of numbers keyed by int idx ({err})") from None
        return idx, logits
    raise ValueError(f"{path}: unsupported logits format {suffix!r}; use .csv, .npy, .npz or .pickle")


def align_logits(idx: np.ndarray, logits: np.ndarray, *, num_examples: int, num_labels: int, source: str) -> np.ndarray:
    """Place imported rows at their idx; every idx 0..N-1 must be covered exactly once."""
    if logits.ndim != 2 or logits.shape[1] != num_labels:
        raise ValueError(f"{source}: logits have shape {logits.shape}; the dataset has {num_labels} labels")
    if len(np.unique(idx)) != len(idx):
        raise ValueError(f"{source}: duplicate idx values")
    outside = idx[(idx < 0) | (idx >= num_examples)]
    if len(outside):
        raise ValueError(f"{source}: idx {outside[:5].tolist()} outside the dataset's 0..{num_examples - 1}")
    if len(idx) != num_examples:
        missing = np.setdiff1d(np.arange(num_examples), idx)
        raise ValueError(
            f"{source}: covers {len(idx)} of {num_examples} examples; missing idx {missing[:10].tolist()}..."
        )
    aligned = np.empty((num_examples, num_labels), dtype=np.float32)
    aligned[idx] = logits
    return aligned
