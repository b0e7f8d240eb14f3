from __future__ import annotations

import numpy as np
import pytest

from distil_bilstm.data.datasets import load_dataset
from distil_bilstm.data.pairs import split_pairs
from distil_bilstm.teachers.running.reference import load_teacher
from distil_bilstm.teachers.running.states import cache_teacher_states
from distil_bilstm.teachers.running.teacher import sentence_states
from distil_bilstm.teachers.stores.store import StaleStoreError


def test_per_side_states_are_each_sentence_read_alone_and_are_stored_once(
    tmp_path, small_korsts, tiny_pair_teacher_dir
):
    texts = load_dataset("korsts", data_dir=small_korsts, download=False).split("train")["text"].tolist()[:30]
    texts = texts + texts[:5]  # repeated pairs: their sentences are encoded once, their rows still filled
    teacher = load_teacher(tiny_pair_teacher_dir, device="cpu", num_labels=1)
    store_dir = tmp_path / "korsts.states"
    states = cache_teacher_states(teacher, texts, store_dir=store_dir, rows_fingerprint="rows-a", shape="per_side")
    firsts, seconds = split_pairs(texts)
    assert states.shape == (35, 2, 16)
    np.testing.assert_allclose(states[:, 0].numpy(), sentence_states(teacher, firsts, progress=False), atol=1e-5)
    np.testing.assert_allclose(states[:, 1].numpy(), sentence_states(teacher, seconds, progress=False), atol=1e-5)
    written = (store_dir / "logits.npy").stat().st_mtime_ns
    again = cache_teacher_states(teacher, texts, store_dir=store_dir, rows_fingerprint="rows-a", shape="per_side")
    assert (store_dir / "logits.npy").stat().st_mtime_ns == written  # read back, not recomputed
    np.testing.assert_array_equal(again.numpy(), states.numpy())

    whole = cache_teacher_states(
        teacher, texts, store_dir=tmp_path / "whole.states", rows_fingerprint="rows-a", shape="whole"
    )
    assert whole.shape == (35, 1, 16)
    np.testing.assert_allclose(whole[:, 0].numpy(), sentence_states(teacher, texts, progress=False), atol=1e-5)


def test_a_states_store_of_other_rows_or_shape_is_refused(tmp_path, small_korsts, tiny_pair_teacher_dir):
    texts = load_dataset("korsts", data_dir=small_korsts, download=False).split("train")["text"].tolist()[:8]
    teacher = load_teacher(tiny_pair_teacher_dir, device="cpu", num_labels=1)
    cache_teacher_states(teacher, texts, store_dir=tmp_path / "s", rows_fingerprint="rows-a", shape="per_side")
    with pytest.raises(StaleStoreError, match="is stale: dataset fingerprint differs"):
        cache_teacher_states(teacher, texts, store_dir=tmp_path / "s", rows_fingerprint="rows-b", shape="per_side")
    with pytest.raises(StaleStoreError, match="is stale: dataset fingerprint differs"):
        cache_teacher_states(teacher, texts, store_dir=tmp_path / "s", rows_fingerprint="rows-a", shape="whole")
    with pytest.raises(ValueError, match=r"shape must be one of \('whole', 'per_side'\), got 'sides'"):
        cache_teacher_states(teacher, texts, store_dir=tmp_path / "t", rows_fingerprint="rows-a", shape="sides")
