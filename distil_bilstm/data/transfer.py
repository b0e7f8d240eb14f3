"""Transfer sets in training: unlabelled or augmented texts whose only target is the teacher.

A transfer set is a text file (one text per line, or a TSV with a ``text`` column such as the
output of ``distil-bilstm augment``). Its rows join the training split with label −1, so the loss
gives them the soft term alone (:func:`~.losses.distillation_loss`).

Encoded once per (file, vocabulary, max_length) into a cache folder of flat arrays:

    ids.i32      every token id of every row, int32, back to back (read memory-mapped)
    lengths.npy  (rows,) int32 tokens per row
    header.json  the file's size and mtime, the dataset fingerprint its leakage guard used, the
                 vocabulary hash, max_length, the row count and the transfer set's own
                 fingerprint (which its logit store must carry)

A training run of a 3M-row set therefore holds its lengths, offsets, logits and labels in memory
(≈ 60 bytes a row) and pages token ids in from the file; no text is read once the cache exists.
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from ..utils import atomic_dir, path_safe, read_json, write_json
from .datasets import Dataset, LeakageGuard, RowFingerprint, transfer_name, transfer_texts
from .pairs import Text
from .sources import resolve_text_file
from .vocab import EncodedTexts, token_rows, vocab_hash

logger = logging.getLogger(__name__)

ENCODE_BATCH = 20_000  # texts tokenised at a time while the cache is built
IDS_FILE, LENGTHS_FILE = "ids.i32", "lengths.npy"


@dataclass
class TransferSet:
    path: Path
    name: str
    encoded: EncodedTexts
    header: dict

    @property
    def fingerprint(self) -> str:
        return self.header["fingerprint"]

    def __len__(self) -> int:
        return len(self.encoded)


def _source_key(path: Path, *, dataset: Dataset, vocab_sha: str, max_length: int) -> dict:
    stat = path.stat()
    return {
        "source": str(path.resolve()),
        "source_bytes": stat.st_size,
        "source_mtime_ns": stat.st_mtime_ns,
        "guard_fingerprint": dataset.fingerprint,
        "vocab_sha256": vocab_sha,
        "max_length": max_length,
    }


def encoded_cache_dir(cache_root: str | os.PathLike, name: str, key: dict) -> Path:
    digest = hashlib.sha256(repr(sorted(key.items())).encode()).hexdigest()[:12]
    return Path(cache_root) / "encoded" / path_safe(name) / digest


def open_encoded(folder: Path) -> EncodedTexts:
    """The cache as an ``EncodedTexts`` whose ids are a copy-on-write memory map of ``ids.i32``."""
    lengths = np.load(folder / LENGTHS_FILE, allow_pickle=False).astype(np.int64)
    total = int(lengths.sum())
    ids = np.memmap(folder / IDS_FILE, dtype=np.int32, mode="c", shape=(total,)) if total else np.zeros(0, np.int32)
    return EncodedTexts.from_lengths(torch.from_numpy(ids), torch.from_numpy(lengths))


def build_encoded(path: Path, folder: Path, *, dataset: Dataset, tokenizer, key: dict, progress: bool = True) -> dict:
    """Stream ``path`` through the leakage guard and the tokenizer into ``folder``."""
    guard = LeakageGuard(dataset)
    fingerprint = RowFingerprint()
    lengths: list[np.ndarray] = []
    bar = tqdm(desc=f"encode {path.name}", unit="text", unit_scale=True, disable=not progress)
    with atomic_dir(folder) as staging, open(staging / IDS_FILE, "wb") as ids_file:
        batch: list[Text] = []

        def flush() -> None:
            rows = token_rows(tokenizer, batch, max_length=key["max_length"])
            lengths.append(np.fromiter((len(r) for r in rows), dtype=np.int32, count=len(rows)))
            ids_file.write(np.fromiter((t for r in rows for t in r), dtype=np.int32).tobytes())
            bar.update(len(batch))
            batch.clear()

        for text in guard(transfer_texts(path, text_column=None, pairs=dataset.pairs)):  # as load_transfer_set reads it
            fingerprint.update(
                fingerprint.rows, text, dataset.unlabelled
            )  # the rows load_transfer_set makes: idx, text, -1 (NaN: a score)
            batch.append(text)
            if len(batch) == ENCODE_BATCH:
                flush()
        if batch:
            flush()
        ids_file.close()
        all_lengths = np.concatenate(lengths) if lengths else np.zeros(0, np.int32)
        np.save(staging / LENGTHS_FILE, all_lengths, allow_pickle=False)
        header = {
            **key,
            "rows": int(len(all_lengths)),
            "tokens": int(all_lengths.sum()),
            "fingerprint": fingerprint.hexdigest(),
            "leaked_dropped": guard.dropped,
        }
        write_json(staging / "header.json", header)
    bar.close()
    guard.warn_dropped(path)
    return header


def encode_transfer_set(
    name: str | os.PathLike,
    *,
    dataset: Dataset,
    tokenizer,
    vocab_folder: str | os.PathLike,
    max_length: int,
    cache_root: str | os.PathLike,
    data_dir: str | os.PathLike | None = None,
    progress: bool = True,
) -> TransferSet:
    """The encoded transfer set ``name`` (a path, or a name under the data folder), built on first use."""
    path = resolve_text_file(name, data_dir)
    key = _source_key(path, dataset=dataset, vocab_sha=vocab_hash(vocab_folder), max_length=max_length)
    set_name = transfer_name(dataset.name, path)
    folder = encoded_cache_dir(cache_root, set_name, key)
    header = read_json(folder / "header.json") if (folder / "header.json").is_file() else None
    if header is None or any(header.get(k) != v for k, v in key.items()):
        logger.info("encoding transfer set %s into %s", path, folder)
        header = build_encoded(path, folder, dataset=dataset, tokenizer=tokenizer, key=key, progress=progress)
    else:
        logger.info("transfer set %s: %d rows from the encoded cache %s", path, header["rows"], folder)
    return TransferSet(path=path, name=set_name, encoded=open_encoded(folder), header=header)
