"""teachers/stores/ragged.py: a tagger's per-token logits, stored flat with row offsets."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from distil_bilstm.teachers.stores.ragged import OFFSETS, RaggedStore, finish_ragged_store
from distil_bilstm.teachers.stores.store import HEADER, StaleStoreError

TAGS = ["O", "B-PER", "I-PER"]
HEADER_OF = {
    "dataset_fingerprint": "f" * 64,
    "teacher_hash": "t" * 64,
    "label_names": TAGS,
    "max_length": 128,
    "runtime": "torch",
}


def test_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    rows = [rng.normal(size=(n, 3)).astype(np.float32) for n in (4, 1, 7)]
    store = finish_ragged_store(tmp_path / "s", rows, HEADER_OF)
    assert len(store) == 3 and store.lengths().tolist() == [4, 1, 7]
    for i, row in enumerate(rows):
        torch.testing.assert_close(store.sentence(i), torch.from_numpy(row), rtol=0, atol=0)
    again = RaggedStore.open(
        tmp_path / "s",
        fingerprint="f" * 64,
        teacher_hash="t" * 64,
        tag_names=TAGS,
        max_length=128,
        runtime="torch",
        lengths=[4, 1, 7],
    )
    assert again.header["num_tokens"] == 12 and again.header["kind"] == "tokens"


@pytest.mark.parametrize(
    "expect, message",
    [
        ({"fingerprint": "g" * 64}, "dataset fingerprint differs"),
        ({"teacher_hash": "u" * 64}, "teacher weights differ"),
        ({"tag_names": ["O", "B-LOC", "I-LOC"]}, "label names differ"),
        ({"max_length": 64}, r"teacher max length differs \(store 128 pieces, asked 64\)"),
        ({"runtime": "onnx-int8"}, "runtime differs"),
        ({"lengths": [4, 2, 6]}, "tokens per sentence differ"),
    ],
)
def test_a_store_made_from_something_else_is_refused(tmp_path, expect, message):
    finish_ragged_store(tmp_path / "s", [np.zeros((n, 3), np.float32) for n in (4, 1, 7)], HEADER_OF)
    with pytest.raises(StaleStoreError, match=message):
        RaggedStore.open(tmp_path / "s", **expect)


def test_broken_offsets_and_a_missing_header_are_refused(tmp_path):
    finish_ragged_store(tmp_path / "s", [np.zeros((2, 3), np.float32)], HEADER_OF)
    np.save(tmp_path / "s" / OFFSETS, np.array([0, 5]))
    with pytest.raises(StaleStoreError, match="offsets.npy does not index logits.npy"):
        RaggedStore.open(tmp_path / "s")
    (tmp_path / "s" / HEADER).unlink()
    with pytest.raises(FileNotFoundError, match="no complete token logit store"):
        RaggedStore.open(tmp_path / "s")
    with pytest.raises(ValueError, match="of one width"):
        finish_ragged_store(tmp_path / "t", [np.zeros((2, 3)), np.zeros((2, 4))], HEADER_OF)
