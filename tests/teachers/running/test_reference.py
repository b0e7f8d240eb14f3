"""The teacher resolved once: its kind, label names and length from its files; stores keyed by all of them."""

from __future__ import annotations

import numpy as np
import pytest

from distil_bilstm.cli import main
from distil_bilstm.data.datasets import load_dataset
from distil_bilstm.runs.config import DistilConfig
from distil_bilstm.runs.pipeline import run_distillation
from distil_bilstm.teachers.running.reference import TeacherRef, teacher_kind
from distil_bilstm.teachers.running.teacher import match_labels, named_labels, teacher_weights_hash
from distil_bilstm.utils import read_json, write_json


def _relabel(folder, names):
    """The teacher's config.json with ``names`` as its id2label (its outputs unchanged)."""
    config = read_json(folder / "config.json")
    config["id2label"] = {str(i): n for i, n in enumerate(names)}
    config["label2id"] = {n: i for i, n in enumerate(names)}
    write_json(folder / "config.json", config)


def _logits_args(small_nsmc, teacher, cache, *extra):
    return [
        "teacher",
        "logits",
        "--dataset",
        "nsmc",
        "--data-dir",
        str(small_nsmc),
        "--no-download",
        "--teacher",
        str(teacher),
        "--cache-dir",
        str(cache),
        "--device",
        "cpu",
        *extra,
    ]


def test_the_kind_and_what_the_files_say(tmp_path, tiny_teacher_dir, tiny_run):
    ref = TeacherRef.resolve(tiny_teacher_dir)
    assert (ref.kind, ref.label_names, ref.max_length) == ("checkpoint", None, None)  # LABEL_0/LABEL_1: not named
    assert ref.weights_hash == teacher_weights_hash(tiny_teacher_dir)
    assert ref.labelling_length(None) == 128 and ref.labelling_length(40) == 40
    write_json(tiny_teacher_dir / "eval.json", {"config": {"max_length": 64}, "trained_on": ["train"]})
    _relabel(tiny_teacher_dir, ["negative", "positive"])
    ref = TeacherRef.resolve(tiny_teacher_dir)
    assert (ref.label_names, ref.max_length, ref.trained_on, ref.labelling_length(None)) == (
        ("negative", "positive"),
        64,
        ("train",),
        64,
    )
    assert teacher_kind("org/some-model") == "hub"
    with pytest.raises(ValueError, match="a run folder"):  # a student run is no teacher
        teacher_kind(tiny_run)
    with pytest.raises(FileNotFoundError, match="not a checkpoint folder"):
        teacher_kind(tmp_path / "nowhere")


def test_labels_are_matched_by_name():
    assert named_labels(["LABEL_0", "LABEL_1"]) is None
    assert match_labels(None, ["neg", "pos"], teacher="t", dataset="d") is None  # unnamed: by position
    assert match_labels(["neg", "pos"], ["neg", "pos"], teacher="t", dataset="d") is None
    assert match_labels(["pos", "neu", "neg"], ["neg", "pos", "neu"], teacher="t", dataset="d") == [2, 0, 1]
    with pytest.raises(
        ValueError, match=r"teacher t has labels \['negative', 'positive'\] but d has \['부정', '긍정'\]"
    ):
        match_labels(["negative", "positive"], ["부정", "긍정"], teacher="t", dataset="d")


@pytest.mark.parametrize(
    "second, changed",
    [
        (["--max-length", "64"], "teacher max length differs (store 32 pieces, asked 64)"),
        (
            ["--max-length", "32", "--runtime", "onnx-int8", "--check-size", "20"],
            "runtime differs (store torch, asked onnx-int8)",
        ),
    ],
)
def test_a_store_made_otherwise_is_refused_not_reused(tmp_path, small_nsmc, tiny_teacher_dir, caplog, second, changed):
    cache = tmp_path / "logits"
    assert main(_logits_args(small_nsmc, tiny_teacher_dir, cache, "--max-length", "32")) == 0
    before = (cache / "tiny_teacher" / "nsmc" / "logits.npy").read_bytes()
    assert main(_logits_args(small_nsmc, tiny_teacher_dir, cache, *second)) == 1
    assert changed in caplog.text and "--recompute" in caplog.text
    assert (cache / "tiny_teacher" / "nsmc" / "logits.npy").read_bytes() == before
    assert main(_logits_args(small_nsmc, tiny_teacher_dir, cache, *second, "--recompute")) == 0


def test_distil_reads_a_store_without_loading_the_teacher_and_refuses_one_of_another_length(
    tmp_path, small_nsmc, tiny_teacher_dir, caplog
):
    import logging

    caplog.set_level(logging.INFO)
    cache = tmp_path / "logits"
    assert main(_logits_args(small_nsmc, tiny_teacher_dir, cache, "--max-length", "32")) == 0
    common = dict(
        dataset="nsmc",
        data_dir=str(small_nsmc),
        vocab_size=200,
        vocab_root=str(tmp_path / "tok"),
        preset="tiny",
        loss="kl",
        teacher_path=str(tiny_teacher_dir),
        cache_dir=str(cache),
        batch_size=16,
        train_epoch=1,
        run_root=str(tmp_path / "runs"),
        device="cpu",
    )
    metrics = run_distillation(DistilConfig(**common, teacher_max_length=32))
    assert "cache hit, 0 teacher forward passes" in caplog.text and metrics["test_accuracy"] is not None
    # unset, the teacher labels at the length it was trained with (not recorded here: 128): not the store's 32
    with pytest.raises(ValueError, match=r"teacher max length differs \(store 32 pieces, asked 128\)"):
        run_distillation(DistilConfig(**common, seed=7))
    dataset = load_dataset("nsmc", data_dir=small_nsmc, download=False)
    assert len(np.load(cache / "tiny_teacher" / "nsmc" / "logits.npy")) == len(dataset)
