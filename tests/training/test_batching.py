from __future__ import annotations

import random

from distil_bilstm.training.batching import bucketed_batches, length_sorted_batches


def test_bucketed_batches_cover_everything_once_and_are_seeded():
    lengths = [5, 1, 9, 3, 3, 7, 2, 8, 6, 4]
    batches = bucketed_batches(lengths, 3, random.Random(0), bucket_batches=2)
    assert sorted(int(i) for b in batches for i in b) == list(range(10))
    again = bucketed_batches(lengths, 3, random.Random(0), bucket_batches=2)
    assert [b.tolist() for b in again] == [b.tolist() for b in batches]
    # inside a bucket, batches are length-sorted: each batch's lengths are non-decreasing
    assert all(list(map(lengths.__getitem__, b)) == sorted(map(lengths.__getitem__, b)) for b in batches)


def test_length_sorted_batches_longest_first():
    assert [b.tolist() for b in length_sorted_batches([2, 9, 4, 9], 2)] == [[1, 3], [2, 0]]
