"""teachers/running/tagger.py: a token teacher's first-piece logits per word, in a ragged store."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from distil_bilstm.data.tagging import load_tagged_dataset
from distil_bilstm.teachers.running.alignment import first_pieces
from distil_bilstm.teachers.running.reference import TeacherRef, load_teacher
from distil_bilstm.teachers.running.tagger import label_tagged
from distil_bilstm.teachers.stores.store import StaleStoreError

from ...conftest import make_token_teacher as make_tagger
from ...conftest import write_lines

PEOPLE, PLACES = ["Kimberly", "Lee", "Parkinson", "Choi"], ["Seoul", "Busanville", "Paris", "Rome"]


@pytest.fixture
def tagged(tmp_path):
    rows = [
        {"tokens": [PEOPLE[i % 4], "flew", "to", PLACES[(i // 4) % 4]], "tags": ["B-PER", "O", "O", "B-LOC"]}
        for i in range(40)
    ]
    return load_tagged_dataset(str(write_lines(tmp_path / "toy.jsonl", [json.dumps(r) for r in rows])))


def test_each_word_gets_its_first_pieces_logits(tmp_path, tagged):
    folder = make_tagger(tmp_path, tagged, tagged.tag_names)
    assert TeacherRef.resolve(folder).kind == "tagger"
    teacher = load_teacher(folder, device="cpu")
    sentences = [s.tokens for s in tagged.sentences[:6]]
    rows, truncated = teacher.word_logits(sentences, batch_size=4, max_length=32, progress=False)
    assert truncated == 0 and [r.shape for r in rows] == [(4, 5)] * 6
    ids, firsts = first_pieces(teacher.tokenizer, sentences, 32)
    with torch.inference_mode():
        direct = teacher.model(input_ids=torch.tensor([ids[0]])).logits[0].numpy()  # (pieces, tags), no padding
    np.testing.assert_allclose(rows[0], direct[firsts[0][1]], rtol=1e-4, atol=1e-5)
    assert firsts[0][0] == [0, 1, 2, 3] and firsts[0][1][0] == 1  # after [CLS]
    cut, truncated = teacher.word_logits(sentences, max_length=4, progress=False)  # [CLS] + 2 pieces + [SEP]
    assert truncated > 0 and not cut[0][-1].any()  # a word past the length: zeros


def test_the_store_is_reused_refused_when_stale_and_columns_follow_the_names(tmp_path, tagged):
    names = list(reversed(tagged.tag_names))  # the teacher's columns in another order
    folder = make_tagger(tmp_path, tagged, names)
    teacher = load_teacher(folder, device="cpu")
    store, ran = label_tagged(teacher, tagged, store_dir=tmp_path / "store", max_length=32)
    assert ran == len(tagged.sentences) and store.header["label_order"] == [4, 3, 2, 1, 0]
    raw, _ = teacher.word_logits([tagged.sentences[0].tokens], max_length=32, progress=False)
    np.testing.assert_allclose(store.sentence(0).numpy(), raw[0][:, ::-1], rtol=1e-5, atol=1e-6)
    again, ran = label_tagged(teacher, tagged, store_dir=tmp_path / "store", max_length=32)
    assert ran == 0 and again.header["created"] == store.header["created"]
    with pytest.raises(StaleStoreError, match=r"teacher max length differs \(store 32 pieces, asked 16\)"):
        label_tagged(teacher, tagged, store_dir=tmp_path / "store", max_length=16)
    other = make_tagger(tmp_path / "b", tagged, ["O", "B-ORG", "I-ORG", "B-PER", "I-PER"])
    with pytest.raises(ValueError, match=r"has labels \['O', 'B-ORG', .*\] but .*toy.jsonl has \['O', 'B-LOC'"):
        label_tagged(load_teacher(other, device="cpu"), tagged, store_dir=tmp_path / "store2")
