from __future__ import annotations

import pytest
import torch

from distil_bilstm.config import DistilConfig
from distil_bilstm.losses import DistillationLoss, distillation_loss
from distil_bilstm.training_config import TrainingConfig


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
