"""Sentence pairs with a regression target end to end: a cross-encoder teacher's scores in a
one-column store, a siamese student distilled from them, Spearman as the selection metric."""

from __future__ import annotations

import math

import pytest

from distil_bilstm.runs.config import DistilConfig
from distil_bilstm.runs.pipeline import run_distillation
from distil_bilstm.teachers.stores.store import LogitStore
from tests.conftest import write_lines


def _config(tmp_path, data_dir, **overrides) -> DistilConfig:
    values = dict(
        dataset="korsts",
        data_dir=str(data_dir),
        vocab_size=120,
        vocab_root=str(tmp_path / "tok"),
        student="siamese_bilstm",
        preset="tiny",
        relu_dim=16,
        loss="mse",
        loss_rate=0.5,
        batch_size=16,
        lr=0.01,
        train_epoch=2,
        patience=0,
        cache_dir=str(tmp_path / "logits"),
        run_root=str(tmp_path / "runs"),
        device="cpu",
    )
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


def test_a_regression_run_refuses_the_kl_loss_and_a_siamese_student_refuses_single_texts(
    tmp_path, small_korsts, small_nsmc, tiny_pair_teacher_dir
):
    with pytest.raises(ValueError, match="korsts: loss 'kl' compares class distributions"):
        run_distillation(_config(tmp_path, small_korsts, loss="kl", teacher_path=str(tiny_pair_teacher_dir)))
    with pytest.raises(ValueError, match="reads sentence pairs; nsmc has one text per example"):
        run_distillation(_config(tmp_path, small_nsmc, dataset="nsmc", loss="ce"))


def test_embedding_distillation_pulls_each_side_towards_the_teachers_states_on_transfer_pairs_too(
    tmp_path, small_korsts, tiny_pair_teacher_dir
):
    transfer = write_lines(
        tmp_path / "aug.tsv", ["sentence1\tsentence2", "가 나 다\t라 마", "바 사\t가 나", "아 자 차\t카 타 파"]
    )
    config = _config(
        tmp_path,
        small_korsts,
        teacher_path=str(tiny_pair_teacher_dir),
        pair_head="cosine",
        loss_rate=0.0,
        hidden_loss="cos",
        transfer_sets=[str(transfer)],
    )
    metrics = run_distillation(config)
    assert "-cos-tr1-" in metrics["run_dir"] and -1.0 <= metrics["test_spearman"] <= 1.0
    logits = tmp_path / "logits" / "tiny_pair_teacher"
    train_states = LogitStore.open(logits / "korsts.states")
    transfer_states = LogitStore.open(logits / "korsts.transfer.aug.states")
    assert train_states.logits.shape == (160, 2 * 16) and train_states.header["shape"] == "per_side"
    assert transfer_states.logits.shape == (3, 2 * 16)
    # the teacher's states are 16 wide: an embedding of another width is refused before any teacher pass
    with pytest.raises(ValueError, match=r"W·u \(32 wide\) with the teacher's states \(16 wide.*set relu_dim: 16"):
        run_distillation(
            _config(
                tmp_path,
                small_korsts,
                teacher_path=str(tiny_pair_teacher_dir),
                pair_head="cosine",
                hidden_loss="cos",
                relu_dim=0,
                run_name="other-width",
            )
        )
    with pytest.raises(
        ValueError, match="DistilConfig.hidden_loss .* or student: siamese_bilstm with pair_head: cosine"
    ):
        _config(tmp_path, small_korsts, teacher_path=str(tiny_pair_teacher_dir), hidden_loss="cos")


def test_the_in_batch_similarity_loss_runs_beside_the_states_and_needs_them(
    tmp_path, small_korsts, tiny_pair_teacher_dir
):
    config = _config(
        tmp_path,
        small_korsts,
        teacher_path=str(tiny_pair_teacher_dir),
        pair_head="cosine",
        loss_rate=0.0,
        hidden_loss="cos",
        similarity_loss_weight=25,
    )
    metrics = run_distillation(config)
    assert "-cos-sim25-lr" in metrics["run_dir"] and -1.0 <= metrics["test_spearman"] <= 1.0
    assert DistilConfig.from_dict(config.to_dict()).similarity_loss_weight == 25.0
    # the weight left at 0 keeps the identity of runs made before the key existed
    assert (
        _config(tmp_path, small_korsts, loss="ce").identity()
        == _config(tmp_path, small_korsts, loss="ce", similarity_loss_weight=0).identity()
    )
    with pytest.raises(
        ValueError, match="DistilConfig.similarity_loss_weight compares the same sentence states as hidden_loss"
    ):
        _config(
            tmp_path,
            small_korsts,
            teacher_path=str(tiny_pair_teacher_dir),
            pair_head="cosine",
            similarity_loss_weight=1,
        )
    with pytest.raises(ValueError, match="DistilConfig.similarity_loss_weight must be >= 0"):
        _config(
            tmp_path,
            small_korsts,
            teacher_path=str(tiny_pair_teacher_dir),
            pair_head="cosine",
            hidden_loss="cos",
            similarity_loss_weight=-1,
        )
