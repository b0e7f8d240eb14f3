"""teachers/running/labelling.py: a dataset labelled into a store, the teacher's columns matched to its labels by name."""

from __future__ import annotations

import json

import numpy as np

from distil_bilstm.cli import main

from .test_reference import _logits_args, _relabel


def test_a_teacher_whose_labels_come_in_another_order_is_reordered_by_name(tmp_path, small_nsmc, tiny_teacher_dir):
    assert main(_logits_args(small_nsmc, tiny_teacher_dir, tmp_path / "a")) == 0
    plain = np.load(tmp_path / "a" / "tiny_teacher" / "nsmc" / "logits.npy")
    _relabel(tiny_teacher_dir, ["positive", "negative"])  # its column 0 is "positive"; NSMC's label 0 is "negative"
    assert main(_logits_args(small_nsmc, tiny_teacher_dir, tmp_path / "b")) == 0
    store = tmp_path / "b" / "tiny_teacher" / "nsmc"
    np.testing.assert_array_equal(np.load(store / "logits.npy"), plain[:, ::-1])
    header = json.loads((store / "header.json").read_text())
    assert header["label_order"] == [1, 0] and header["teacher_label_names"] == ["positive", "negative"]


def test_a_teacher_with_other_label_names_is_refused_naming_both(tmp_path, small_nsmc, tiny_teacher_dir, caplog):
    _relabel(tiny_teacher_dir, ["부정", "긍정"])
    assert main(_logits_args(small_nsmc, tiny_teacher_dir, tmp_path / "c")) == 1
    assert "has labels ['부정', '긍정'] but nsmc has ['negative', 'positive']" in caplog.text
    assert not (tmp_path / "c" / "tiny_teacher" / "nsmc" / "header.json").exists()
