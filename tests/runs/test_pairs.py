"""Sentence pairs with a regression target end to end: a cross-encoder teacher's scores in a
one-column store, a siamese student distilled from them, Spearman as the selection metric."""

from __future__ import annotations

import math

import pytest

from distil_bilstm.runs.config import DistilConfig
from distil_bilstm.runs.pipeline import run_distillation
from distil_bilstm.teachers.store import LogitStore


def _config(tmp_path, data_dir, **overrides) -> DistilConfig:
    values = dict(dataset="korsts", data_dir=str(data_dir), vocab_size=120, vocab_root=str(tmp_path / "tok"),
                  student="siamese_bilstm", preset="tiny", relu_dim=16, loss="mse", loss_rate=0.5, batch_size=16, lr=0.01,
                  train_epoch=2, patience=0, cache_dir=str(tmp_path / "logits"), run_root=str(tmp_path / "runs"), device="cpu")
    return DistilConfig(**{**values, **overrides})


def test_a_siamese_student_distils_a_cross_encoder_teacher_on_pairs(tmp_path, small_korsts, tiny_pair_teacher_dir):
    metrics = run_distillation(_config(tmp_path, small_korsts, teacher_path=str(tiny_pair_teacher_dir)))
    store = LogitStore.open(tmp_path / "logits" / "tiny_pair_teacher" / "korsts")
    assert store.logits.shape == (240, 1) and store.header["task"] == "regression"
    assert "teacher_test_spearman" in store.header and "teacher_test_accuracy" not in store.header
    assert metrics["task"] == "regression" and metrics["select_metric"] == "spearman"
    assert metrics["student"] == "siamese_bilstm" and -1.0 <= metrics["test_spearman"] <= 1.0
    assert {"valid_spearman", "valid_pearson", "test_pearson", "test_mse"} <= set(metrics)
    assert all("valid_spearman" in h for h in metrics["history"])


def test_without_a_teacher_the_student_learns_the_gold_scores(tmp_path, small_korsts):
    metrics = run_distillation(_config(tmp_path, small_korsts, loss="ce", train_epoch=6))
    assert metrics["test_spearman"] > 0.3  # the synthetic score is word overlap: learnable from 160 pairs
    assert math.isnan(metrics["test_accuracy"])


def test_a_regression_run_refuses_the_kl_loss_and_a_siamese_student_refuses_single_texts(tmp_path, small_korsts, small_nsmc,
                                                                                           tiny_pair_teacher_dir):
    with pytest.raises(ValueError, match="korsts: loss 'kl' compares class distributions"):
        run_distillation(_config(tmp_path, small_korsts, loss="kl", teacher_path=str(tiny_pair_teacher_dir)))
    with pytest.raises(ValueError, match="reads sentence pairs; nsmc has one text per example"):
        run_distillation(_config(tmp_path, small_nsmc, dataset="nsmc", loss="ce"))
