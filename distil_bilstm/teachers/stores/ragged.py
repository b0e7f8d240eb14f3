"""A token tagger's logits, one row per word (or character) of every sentence, in a store.

A ragged store is a folder with

    logits.npy    float32 (total tokens, num_tags): sentence idx's rows are logits[offsets[idx]:offsets[idx + 1]]
    offsets.npy   int64 (N + 1,): where each sentence's rows start; offsets[0] = 0, offsets[N] = total tokens
    header.json   what made it, as a sentence store's header (teachers/stores/store.py): the dataset's
                  fingerprint, the teacher's weights hash, its tag names, max length and runtime

written in that order, each atomically: a folder without ``header.json`` is never read as complete,
and a store made from anything else is refused naming what differs (``check_header``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from ...utils import atomic_path, read_json, sha256_file, write_json
from .store import FORMAT_VERSION, HEADER, LOGITS, StaleStoreError, check_header

OFFSETS = "offsets.npy"


@dataclass
class RaggedStore:
    """Per-token logits of N sentences: ``sentence(idx)`` is ``(tokens of idx, num_tags)``."""

    path: Path
    header: dict
    logits: torch.Tensor  # (total tokens, num_tags) float32
    offsets: torch.Tensor  # (N + 1,) int64

    def __len__(self) -> int:
        return int(self.offsets.shape[0]) - 1

    def sentence(self, idx: int) -> torch.Tensor:
        return self.logits[int(self.offsets[idx]) : int(self.offsets[idx + 1])]

    def lengths(self) -> torch.Tensor:
        """``(N,)`` tokens per sentence."""
        return self.offsets[1:] - self.offsets[:-1]

    @classmethod
    def open(
        cls,
        path: str | os.PathLike,
        *,
        fingerprint: str | None = None,
        teacher_hash: str | None = None,
        tag_names: Sequence[str] | None = None,
        max_length: int | None = None,
        runtime: str | None = None,
        lengths: Sequence[int] | None = None,
    ) -> "RaggedStore":
        """A complete store, refused when it does not match what the caller expects (None: anything goes),
        or when ``lengths`` (tokens per sentence of the data) differ from its rows."""
        path = Path(path)
        if not (path / HEADER).is_file():
            raise FileNotFoundError(f"{path}: no complete token logit store here (missing {HEADER})")
        header = read_json(path / HEADER)
        problems = check_header(
            header,
            fingerprint=fingerprint,
            teacher_hash=teacher_hash,
            num_labels=len(tag_names) if tag_names is not None else None,
            max_length=max_length,
            runtime=runtime,
            label_names=tag_names,
        )
        logits = np.load(path / LOGITS, allow_pickle=False)
        offsets = np.load(path / OFFSETS, allow_pickle=False)
        if (
            offsets.ndim != 1
            or len(offsets) != header["num_examples"] + 1
            or offsets[0] != 0
            or offsets[-1] != len(logits)
            or np.any(np.diff(offsets) < 0)
        ):
            problems.append(f"{OFFSETS} does not index {LOGITS} ({len(offsets)} offsets, {len(logits)} rows)")
        elif lengths is not None and not np.array_equal(np.diff(offsets), np.asarray(lengths)):
            problems.append("tokens per sentence differ from the data's")
        if problems:
            raise StaleStoreError(
                f"{path} is stale: " + "; ".join(problems) + ". Rerun the teacher's labelling with --recompute"
            )
        return cls(
            path=path,
            header=header,
            logits=torch.from_numpy(np.ascontiguousarray(logits, dtype=np.float32)),
            offsets=torch.from_numpy(offsets.astype(np.int64)),
        )


def finish_ragged_store(path: str | os.PathLike, rows: Sequence[np.ndarray], header: dict) -> RaggedStore:
    """Write the per-sentence logit arrays ``rows`` (each ``(tokens, num_tags)``) as one store;
    ``header`` holds what made them (``dataset_fingerprint``, ``teacher_hash``, ``label_names`` …)."""
    path = Path(path)
    widths = {r.shape[1] for r in rows if r.ndim == 2}
    if any(r.ndim != 2 for r in rows) or len(widths) > 1:
        raise ValueError(f"every sentence's logits must be (tokens, tags) of one width; got widths {sorted(widths)}")
    num_tags = widths.pop() if widths else len(header.get("label_names") or [])
    logits = np.concatenate(rows).astype(np.float32) if rows else np.zeros((0, num_tags), dtype=np.float32)
    offsets = np.concatenate([[0], np.cumsum([len(r) for r in rows])]).astype(np.int64)
    for name, array in ((LOGITS, logits), (OFFSETS, offsets)):
        with atomic_path(path / name) as tmp:
            with open(tmp, "wb") as fh:
                np.save(fh, np.ascontiguousarray(array), allow_pickle=False)
    write_json(
        path / HEADER,
        {
            "format_version": FORMAT_VERSION,
            "kind": "tokens",
            **header,
            "num_examples": len(rows),
            "num_labels": int(num_tags),
            "num_tokens": int(len(logits)),
            "logits_sha256": sha256_file(path / LOGITS),
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        },
    )
    return RaggedStore.open(path)
