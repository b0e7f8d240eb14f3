"""Length-aware batching shared by the teacher and the students: little padding, deterministic; and
``SplitTensors``, one split ready for it."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

import numpy as np
import torch

from ..utils import length_sorted_batches  # noqa: F401  (inference's, here for training's callers)

if TYPE_CHECKING:  # inference batches with this module and must not import the tokenizer code
    from ..data.vocab import ConcatEncoded, EncodedTexts


def bucketed_batches(
    lengths: Sequence[int], batch_size: int, rng: random.Random, bucket_batches: int = 50
) -> list[np.ndarray]:
    """Training batches: shuffle, sort within buckets of ``bucket_batches`` batches, shuffle batches.

    Sorting inside a bucket keeps padding low while the shuffles keep batches varied; the result
    depends only on ``lengths`` and the state of ``rng``.
    """
    order = list(range(len(lengths)))
    rng.shuffle(order)
    lengths = np.asarray(lengths)
    batches = []
    bucket = batch_size * bucket_batches
    for start in range(0, len(order), bucket):
        chunk = np.asarray(order[start : start + bucket])
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        batches.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
    rng.shuffle(batches)
    return batches


def label_tensor(labels: np.ndarray) -> torch.Tensor:
    """Gold labels as the Trainer reads them: class ids int64 (-1: none), or scores float32 (NaN: none)."""
    labels = np.asarray(labels)
    return torch.from_numpy(labels.astype(np.float32 if np.issubdtype(labels.dtype, np.floating) else np.int64))


@dataclass
class SplitTensors:
    """One split, ready for batching: row ``i`` has tokens ``encoded[i]``, gold label ``labels[i]``
    (-1 when unlabelled) and teacher logits ``teacher[i]`` (gathered once from the store by idx)."""

    encoded: EncodedTexts | ConcatEncoded
    labels: torch.Tensor  # (N,) int64, or float32 scores for a regression task (label_tensor)
    teacher: torch.Tensor | None = None  # (N, num_labels) float32
    teacher_features: torch.Tensor | None = None  # (N, hidden) float32: the teacher's states a hidden loss compares
    # rows from pool_start on form a pool (transfer sets) of which pool_per_epoch are drawn each
    # epoch; the rows before it are used every epoch. None: every row, every epoch.
    pool_start: int | None = None
    pool_per_epoch: int | None = None

    def __len__(self) -> int:
        return len(self.labels)

    def epoch_rows(self, *, seed: int, epoch: int) -> np.ndarray:
        """The rows one training epoch uses: a pure function of (seed, epoch), so resume replays it."""
        everything = np.arange(len(self), dtype=np.int64)
        if self.pool_start is None or self.pool_per_epoch is None or self.pool_per_epoch >= len(self) - self.pool_start:
            return everything
        rng = np.random.default_rng([seed, epoch])
        drawn = self.pool_start + rng.choice(len(self) - self.pool_start, size=self.pool_per_epoch, replace=False)
        return np.concatenate([everything[: self.pool_start], np.sort(drawn)])

    def epoch_size(self) -> int:
        if self.pool_start is None or self.pool_per_epoch is None:
            return len(self)
        return self.pool_start + min(self.pool_per_epoch, len(self) - self.pool_start)


def with_pool(
    train: SplitTensors, pools: Sequence[tuple[EncodedTexts, torch.Tensor]], *, unlabelled, per_epoch: int | None
) -> SplitTensors:
    """``train`` followed by unlabelled rows (transfer sets): each pool is ``(encoded, teacher
    logits (rows, labels))``; its gold label is ``unlabelled`` (-1, or NaN for a score), and
    ``per_epoch`` of all pooled rows are drawn each epoch (None: all of them)."""
    from ..data.vocab import ConcatEncoded  # local: inference imports this module without the tokenizer code

    labels = [train.labels, *(label_tensor(np.full(len(encoded), unlabelled)) for encoded, _ in pools)]
    return SplitTensors(
        encoded=ConcatEncoded([train.encoded, *(encoded for encoded, _ in pools)]),
        labels=torch.cat(labels),
        teacher=torch.cat([train.teacher, *(logits for _, logits in pools)]),
        pool_start=len(train),
        pool_per_epoch=per_epoch,
    )
