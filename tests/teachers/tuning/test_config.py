"""``FinetuneConfig``: composed of the shared settings, checked when made, older keys still read."""

from __future__ import annotations

import logging

import pytest

from distil_bilstm.teachers.tuning.config import FinetuneConfig, recipe_identity
from distil_bilstm.training.config import TrainingConfig
from distil_bilstm.training.distillation import DistillationSettings


def test_each_key_is_declared_once_in_its_settings_and_checked_there():
    config = FinetuneConfig(base="x", out="y", lr="2e-5", train_epoch=3)  # a number as YAML or --set gives it
    assert config.lr == 2e-5 and isinstance(config.training_config(), TrainingConfig)
    assert config.training_config().optimizer == "adamw" and config.training_config().scheduler == "linear_epochs"
    assert isinstance(config.distillation_settings(), DistillationSettings) and config.loss == "ce"
    with pytest.raises(ValueError, match=r"FinetuneConfig.epoch_lrs must be null, or one positive rate per epoch"):
        FinetuneConfig(base="x", out="y", train_epoch=2, epoch_lrs=[1e-4, 1e-5, 1e-6])
    with pytest.raises(ValueError, match="FinetuneConfig.lr must be a finite number"):
        FinetuneConfig(base="x", out="y", lr=float("inf"))
    with pytest.raises(ValueError, match="FinetuneConfig.transfer_sets need a distillation loss"):
        FinetuneConfig(base="x", out="y", transfer_sets=["u.txt"])
    with pytest.raises(ValueError, match=r"FinetuneConfig.loss_rate must be in \[0, 1\]"):
        FinetuneConfig(base="x", out="y", teacher_path="s", loss="kl", loss_rate=1.5)
    with pytest.raises(ValueError, match="FinetuneConfig.temperature must be > 0"):
        FinetuneConfig(base="x", out="y", teacher_path="s", loss="kl", temperature=0)
    with pytest.raises(ValueError, match="FinetuneConfig.transfer_per_epoch must be >= 1"):
        FinetuneConfig(base="x", out="y", teacher_path="s", loss="kl", transfer_sets=["u.txt"], transfer_per_epoch=0)
    with pytest.raises(
        ValueError, match="FinetuneConfig.teacher_path a bi-encoder learns its cosine from gold scores only"
    ):
        FinetuneConfig(base="x", out="y", teacher_path="s", loss="mse", pair_encoder="bi")
    with pytest.raises(ValueError, match="FinetuneConfig.loss 'ce' learns from gold labels only"):
        FinetuneConfig(base="x", out="y", teacher_path="s")
    with pytest.raises(ValueError, match="FinetuneConfig.hidden_loss must be 'none'"):
        FinetuneConfig(base="x", out="y", teacher_path="s", loss="kl", hidden_loss="cos")
    with pytest.raises(ValueError, match="FinetuneConfig.max_train_examples must be >= 1"):
        FinetuneConfig(base="x", out="y", max_train_examples=0)


def test_the_trainer_config_selects_as_the_task_allows():
    config = FinetuneConfig(base="x", out="y", select_metric="macro_f1", epoch_lrs=[2e-4, 5e-5])
    assert config.training_config().select_metric == "macro_f1" and config.training_config().peak_lr(1) == 5e-5
    assert config.training_config(has_valid=False).select_metric == "accuracy"
    assert config.training_config(regression=True).select_metric == "spearman"


def test_older_keys_are_read_with_one_deprecation_line_each(caplog):
    older = {
        "base": "x",
        "out": "y",
        "epochs": 2,
        "lr": [2e-4, 5e-5],
        "distill_from": "store",
        "distill_alpha": 0.3,
        "distill_temperature": 4.0,
    }
    with caplog.at_level(logging.WARNING):
        config = FinetuneConfig.from_dict(older)
    assert (config.train_epoch, config.lr, tuple(config.epoch_lrs)) == (2, 2e-4, (2e-4, 5e-5))
    assert (config.teacher_path, config.loss, config.loss_rate, config.temperature) == ("store", "kl", 0.3, 4.0)
    for old, new in [("epochs", "train_epoch"), ("distill_from", "teacher_path"), ("distill_alpha", "loss_rate")]:
        assert f"key {old!r} is deprecated: it is now {new!r}" in caplog.text
    assert "'lr' as a list of per-epoch rates is deprecated" in caplog.text
    assert FinetuneConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match="both 'epochs' and 'train_epoch' are given"):
        FinetuneConfig.from_dict({"base": "x", "out": "y", "epochs": 2, "train_epoch": 3})
    with pytest.raises(ValueError, match=r"unknown FinetuneConfig key\(s\) \['epoch'\]"):
        FinetuneConfig.from_dict({"base": "x", "out": "y", "epoch": 2})


def test_a_fine_tuning_started_under_the_older_keys_keeps_its_resumable_identity():
    """The identity an older version gave its resumable state (its recipe hashed under the old names,
    less out/device/eval_batch_size/checkpoint_every and the later keys at their defaults) is the new one."""
    import hashlib
    import json

    older = {
        "base": "b",
        "out": "o",
        "epochs": 1,
        "lr": [2e-5],
        "batch_size": 32,
        "max_length": 64,
        "warmup_ratio": 0.06,
        "weight_decay": 0.01,
        "max_train_examples": None,
        "adapt_vocab": None,
        "adapt_texts": [],
        "adapt_alphabet": 2000,
        "include_valid": False,
        "mlm_texts": [],
        "mlm_epochs": 1,
        "mlm_lr": 1e-4,
        "mlm_max_texts": None,
        "select_metric": "accuracy",
        "freeze_layers": 0,
        "pair_encoder": "cross",
        "distill_from": None,
        "distill_alpha": 0.1,
        "distill_temperature": 2.0,
        "transfer_sets": [],
        "transfer_per_epoch": None,
        "eval_batch_size": 128,
        "checkpoint_every": 200,
        "seed": 42,
        "device": "auto",
    }
    facts = {"dataset": "f" * 64, "train": 100, "vocab": "v" * 64}
    later = {
        "freeze_layers": 0,
        "pair_encoder": "cross",
        "distill_from": None,
        "distill_alpha": 0.1,
        "distill_temperature": 2.0,
        "transfer_sets": [],
        "transfer_per_epoch": None,
    }
    recipe = {
        k: v
        for k, v in older.items()
        if k not in ("out", "device", "eval_batch_size", "checkpoint_every") and not (k in later and v == later[k])
    }
    then = hashlib.sha256(json.dumps({"config": recipe, **facts}, sort_keys=True).encode()).hexdigest()
    now = FinetuneConfig.from_dict(older)
    assert recipe_identity(now, regression=False, **facts) == then
    assert recipe_identity(FinetuneConfig.from_dict({**older, "seed": 1}), regression=False, **facts) != then
    assert (
        recipe_identity(FinetuneConfig.from_dict({**older, "scheduler": "linear"}), regression=False, **facts) != then
    )
