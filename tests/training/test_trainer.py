from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file

from distil_bilstm.data.datasets import load_dataset
from distil_bilstm.data.vocab import (
    EncodedTexts,
    VocabConfig,
    encode_texts,
    load_vocab,
    save_vocab,
    train_wordpiece,
)
from distil_bilstm.rundir import RunDir
from distil_bilstm.runs.config import DistilConfig
from distil_bilstm.students.bilstm import BiLSTMClassifier, StudentConfig
from distil_bilstm.training.batching import SplitTensors
from distil_bilstm.training.callbacks import Callback
from distil_bilstm.training.optim import linear_lr_factor
from distil_bilstm.training.trainer import Trainer


@pytest.fixture
def splits(small_nsmc, tmp_path):
    dataset = load_dataset("nsmc", data_dir=small_nsmc, download=False)
    config = VocabConfig(vocab_size=300, min_frequency=1, limit_alphabet=200)
    save_vocab(train_wordpiece(dataset.split("train")["text"], config), tmp_path / "vocab", config)
    tokenizer = load_vocab(tmp_path / "vocab")
    generator = torch.Generator().manual_seed(0)
    out = {}
    for name in ("train", "valid", "test"):
        frame = dataset.split(name)
        out[name] = SplitTensors(
            encoded=encode_texts(tokenizer, frame["text"].tolist(), max_length=32),
            labels=torch.tensor(frame["label"].to_numpy()),
            teacher=torch.randn(len(frame), 2, generator=generator),  # fixed "teacher" logits: plain data
        )
    return out, len(tokenizer)


def make_trainer(splits, run_dir, **overrides):
    data, vocab_size = splits
    config = DistilConfig(
        **{
            "loss": "kl",
            "teacher_path": "t",
            "batch_size": 16,
            "train_epoch": 3,
            "patience": 0,
            "log_every": 1,
            "scheduler": "step",
            "dropout": 0.3,
            **overrides,
        }
    )
    torch.manual_seed(config.seed)
    model = BiLSTMClassifier(
        StudentConfig(vocab_size=vocab_size, embedding_dim=8, hidden_dim=8, dropout=config.dropout)
    )
    return Trainer(
        model,
        config=config.training_config(),
        loss=config.loss_function(),
        identity=config.identity(),
        train=data["train"],
        valid=data["valid"],
        test=data["test"],
        run_dir=run_dir,
        device=torch.device("cpu"),
    )


class StopAt(Callback):
    def __init__(self, step):
        self.step = step

    def on_step(self, trainer, *, loss, lr):
        if trainer.global_step == self.step:
            trainer.request_stop()


def test_fit_writes_best_weights_and_metrics(splits, tmp_path):
    metrics = make_trainer(splits, tmp_path / "run").fit()
    assert metrics["epochs_trained"] == 3 and len(metrics["history"]) == 3
    assert metrics["valid_accuracy"] == max(h["valid_accuracy"] for h in metrics["history"])
    assert metrics["params"] == sum(t.numel() for t in load_file(tmp_path / "run" / "model.safetensors").values())
    assert 0.0 <= metrics["test_accuracy"] <= 1.0 and metrics["examples_per_second"] > 0
    assert metrics["history"][1]["lr"] == pytest.approx(0.002 * 0.5**2)  # StepLR(step_size=1, gamma=0.5)


@pytest.mark.parametrize("stop_step", [3, 8])  # inside epoch 1, and exactly at the end of epoch 1 (8 steps/epoch)
def test_resume_reaches_the_same_weights(splits, tmp_path, stop_step):
    reference = make_trainer(splits, tmp_path / "ref")
    reference.fit()
    interrupted = make_trainer(splits, tmp_path / "run")
    interrupted.callbacks.append(StopAt(stop_step))
    with pytest.raises(KeyboardInterrupt, match="checkpoint saved"):
        interrupted.fit()
    assert (tmp_path / "run" / RunDir.CHECKPOINT).is_file()
    resumed = make_trainer(splits, tmp_path / "run")
    metrics = resumed.fit(resume=True)
    assert metrics["epochs_trained"] == 3
    for (name, a), b in zip(reference.model.state_dict().items(), resumed.model.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=f"{name} differs after resume")


def test_resume_refuses_other_hyperparameters(splits, tmp_path):
    first = make_trainer(splits, tmp_path / "run")
    first.callbacks.append(StopAt(2))
    with pytest.raises(KeyboardInterrupt):
        first.fit()
    with pytest.raises(ValueError, match="written by a run with other hyperparameters"):
        make_trainer(splits, tmp_path / "run", temperature=5.0).fit(resume=True)


def test_early_stopping_with_patience(splits, tmp_path):
    metrics = make_trainer(splits, tmp_path / "run", lr=1e-9, train_epoch=10, patience=2).fit()
    # with a frozen model valid accuracy never improves after epoch 1
    assert metrics["early_stopped"] and metrics["epochs_trained"] == 3 and metrics["best_epoch"] == 1


def test_ce_baseline_needs_no_teacher(splits, tmp_path):
    data, vocab_size = splits
    data = {k: SplitTensors(v.encoded, v.labels, None) for k, v in data.items()}
    metrics = make_trainer((data, vocab_size), tmp_path / "run", loss="ce", teacher_path=None, train_epoch=1).fit()
    assert metrics["epochs_trained"] == 1
    with pytest.raises(ValueError, match="loss 'kl' needs teacher logits"):
        make_trainer((data, vocab_size), tmp_path / "run2")


@pytest.mark.parametrize("scheduler", ["linear", "linear_epochs"])
def test_adamw_with_warmup_resumes_exactly_from_a_mid_epoch_checkpoint(splits, tmp_path, scheduler):
    overrides = dict(
        optimizer="adamw", weight_decay=0.01, scheduler=scheduler, warmup_ratio=0.25, lr=1e-2, checkpoint_every=5
    )
    if scheduler == "linear_epochs":
        overrides["epoch_lrs"] = [1e-2, 5e-3, 1e-3]
    reference = make_trainer(splits, tmp_path / "ref", **overrides)
    rates = []

    class Rates(Callback):
        def on_step(self, trainer, *, loss, lr):
            rates.append(lr)

    reference.callbacks.append(Rates())
    reference.fit()
    assert isinstance(reference.optimizer, torch.optim.AdamW)
    steps = reference.steps_per_epoch
    if scheduler == "linear":  # one warmup over the whole run (6 of 24 steps), then down to 0

        def factor(step):
            return linear_lr_factor(step, config=reference.config, steps_per_epoch=steps)

        assert (factor(0), factor(5), factor(6), factor(24)) == (pytest.approx(1 / 6), 1.0, pytest.approx(18 / 18), 0.0)
        assert factor(15) == pytest.approx(9 / 18) and max(rates) == pytest.approx(1e-2)
    else:  # every epoch warms up to its own peak
        assert max(rates[:steps]) == pytest.approx(1e-2) and max(rates[steps : 2 * steps]) == pytest.approx(5e-3)
    interrupted = make_trainer(splits, tmp_path / "run", **overrides)
    interrupted.callbacks.append(StopAt(11))
    with pytest.raises(KeyboardInterrupt):
        interrupted.fit()
    resumed = make_trainer(splits, tmp_path / "run", **overrides)
    resumed.fit(resume=True)
    assert resumed.history == reference.history  # the resumed epoch's mean loss covers the whole epoch
    for (name, a), b in zip(reference.model.state_dict().items(), resumed.model.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=f"{name} differs after resume")


def test_a_missing_valid_split_keeps_the_last_epoch(splits, tmp_path):
    data, vocab_size = splits
    nothing = torch.zeros(0, dtype=torch.int64)
    empty = SplitTensors(encoded=EncodedTexts.from_lengths(nothing, nothing), labels=nothing)
    trainer = make_trainer(((dict(data, valid=empty)), vocab_size), tmp_path / "run", train_epoch=2)
    metrics = trainer.fit()
    assert metrics["best_epoch"] == 2 and metrics["test_accuracy"] is not None


def test_a_nan_loss_stops_the_run_naming_the_step_and_saves_nothing_after_it(splits, tmp_path):
    from dataclasses import replace

    from distil_bilstm.training.trainer import NonFiniteLossError

    data, vocab_size = splits
    poisoned = dict(data, train=replace(data["train"], teacher=torch.full_like(data["train"].teacher, float("nan"))))
    trainer = make_trainer((poisoned, vocab_size), tmp_path / "run")
    with pytest.raises(
        NonFiniteLossError, match=r"the training loss is nan at epoch 1, step 1 \(global step 1, .*nothing was saved"
    ):
        trainer.fit()
    assert not (tmp_path / "run" / "model.safetensors").exists()


def test_weights_blown_up_by_the_learning_rate_stop_the_run_and_keep_the_last_checkpoint(splits, tmp_path):
    from distil_bilstm.training.trainer import NonFiniteLossError

    good = make_trainer(splits, tmp_path / "run", train_epoch=1)
    good.fit()
    checkpoint = (tmp_path / "run" / "checkpoint.pt").read_bytes()
    # 1e30 is a finite rate (the config refuses inf): the first updates make the weights overflow
    trainer = make_trainer(splits, tmp_path / "run", train_epoch=1, lr=1e30, optimizer="adamw", weight_decay=0.5)
    with pytest.raises(
        NonFiniteLossError,
        match=r"the training loss is (nan|inf) at epoch 1, step [2-8] .* kept as they were: .*checkpoint.pt",
    ):
        trainer.fit()
    assert (tmp_path / "run" / "checkpoint.pt").read_bytes() == checkpoint


def test_a_truncated_checkpoint_is_refused_naming_it(splits, tmp_path):
    make_trainer(splits, tmp_path / "run", train_epoch=1).fit()
    path = tmp_path / "run" / "checkpoint.pt"
    path.write_bytes(path.read_bytes()[:500])
    with pytest.raises(ValueError, match=r"checkpoint.pt: the resumable checkpoint cannot be read .*delete it"):
        make_trainer(splits, tmp_path / "run", train_epoch=1).fit(resume=True)
