"""Length-aware batching shared by the teacher and the students: little padding, deterministic."""

from __future__ import annotations

import random
from typing import Sequence

import numpy as np


def length_sorted_batches(lengths: Sequence[int], batch_size: int) -> list[np.ndarray]:
    """Positions grouped into batches of similar length (longest first), for inference."""
    order = np.argsort(-np.asarray(lengths), kind="stable")
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def bucketed_batches(lengths: Sequence[int], batch_size: int, rng: random.Random, bucket_batches: int = 50) -> list[np.ndarray]:
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
