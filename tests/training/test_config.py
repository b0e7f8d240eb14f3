from __future__ import annotations

import pytest
import torch

from distil_bilstm.runs.config import DistilConfig
from distil_bilstm.training.config import TrainingConfig
from distil_bilstm.training.losses import DistillationLoss, distillation_loss


def test_training_config_checks_each_value_when_made():
    with pytest.raises(ValueError, match=r"TrainingConfig.gamma must be in \(0, 1\], got 1.5"):
        TrainingConfig(gamma=1.5)
    with pytest.raises(ValueError, match="TrainingConfig.select_metric must be one of"):
        TrainingConfig(select_metric="f1")
    with pytest.raises(ValueError, match=r"unknown TrainingConfig key\(s\) \['loss'\]"):
        TrainingConfig.from_dict({"loss": "kl"})
    config = TrainingConfig(lr=1e-3, scheduler="step")
    assert TrainingConfig.from_dict(config.to_dict()) == config


def test_run_config_hands_the_trainer_only_its_part():
    run = DistilConfig(teacher_path="t", lr=1e-3, patience=5, loss="mse", loss_rate=0.3, dropout=0.1)
    training = run.training_config()
    assert (training.lr, training.patience) == (1e-3, 5) and not hasattr(training, "dropout")
    assert run.loss_function() == DistillationLoss(kind="mse", alpha=0.3, temperature=2.0)
    # the run config reports a bad optimisation value under its own name
    with pytest.raises(ValueError, match="DistilConfig.clip_grad must be > 0"):
        DistilConfig(loss="ce", clip_grad=0)


def test_distillation_loss_object_is_the_loss_function():
    s, t, y = torch.randn(4, 2), torch.randn(4, 2), torch.tensor([0, 1, -1, 1])
    loss = DistillationLoss(kind="kl", alpha=0.2, temperature=3.0)
    assert loss(s, t, y).item() == pytest.approx(distillation_loss("kl", s, t, y, alpha=0.2, temperature=3.0).item())
    assert loss.needs_teacher and not DistillationLoss(kind="ce").needs_teacher
    with pytest.raises(ValueError, match="DistillationLoss.kind must be one of"):
        DistillationLoss(kind="cosine")


def test_optimiser_and_schedule_keys_are_checked_when_made():
    with pytest.raises(ValueError, match="TrainingConfig.optimizer must be one of"):
        TrainingConfig(optimizer="sgd")
    with pytest.raises(ValueError, match="TrainingConfig.epoch_lrs must be null, or one positive rate per epoch"):
        TrainingConfig(scheduler="linear_epochs", train_epoch=2, epoch_lrs=[1e-4])
    with pytest.raises(ValueError, match=r"TrainingConfig.warmup_ratio must be in \[0, 1\)"):
        TrainingConfig(scheduler="linear", warmup_ratio=1.0)
    assert TrainingConfig(scheduler="linear_epochs", train_epoch=2, epoch_lrs=[2e-4, 5e-5]).peak_lr(1) == 5e-5


def test_run_config_is_made_of_typed_settings_and_reads_flat_or_grouped_files(tmp_path):
    flat = tmp_path / "flat.yaml"
    flat.write_text("dataset: sst2\nvocab_size: 5000\nhidden_dim: 256\nloss_rate: 0.3\nteacher_path: t\nlr: 0.001\n")
    grouped = tmp_path / "grouped.yaml"
    grouped.write_text(
        "data: {dataset: sst2, vocab_size: 5000}\nstudent: {hidden_dim: 256}\n"
        "distillation: {loss_rate: 0.3, teacher_path: t}\ntraining: {lr: 0.001}\n"
    )
    a, b = DistilConfig.from_file(flat), DistilConfig.from_file(grouped)
    assert a == b and a.identity() == b.identity()
    assert (
        a.data_settings().vocab_size,
        a.student_settings().hidden_dim,
        a.distillation_settings().loss_rate,
        a.training_config().lr,
    ) == (5000, 256, 0.3, 0.001)
    transformer = tmp_path / "transformer.yaml"
    transformer.write_text("student: {family: transformer, layers: [0, 2, 4]}\ndistillation: {teacher_path: t}\n")
    assert DistilConfig.from_file(transformer).student_settings().layers == (0, 2, 4)
    bad = tmp_path / "bad.yaml"
    bad.write_text("student: {lr: 0.1}\n")
    with pytest.raises(ValueError, match=r"config section student: unknown key 'lr'"):
        DistilConfig.from_file(bad)
    with pytest.raises(ValueError, match=r"DistilConfig.valid_size must be in \(0, 1\)"):
        DistilConfig(valid_size=1.5, loss="ce")


def test_old_flat_configs_keep_their_identity():
    # the identity of a run made before the student, optimiser and schedule keys existed
    old = DistilConfig(
        teacher_path="../shared/teachers/minilm-l6-nsmc",
        vocab_size=3000,
        preset="base",
        loss="kl",
        loss_rate=0.1,
        temperature=2.0,
        batch_size=64,
        lr=0.002,
        train_epoch=20,
        patience=3,
        seed=42,
        transfer_per_epoch=100000,
    )
    assert old.default_run_name() == "nsmc/base-v3000-kl-a0.1-T2-lr0.002-bs64-s42-f2cbf7"
