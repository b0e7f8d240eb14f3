"""Trainer: fits any ``model(input_ids, lengths) -> logits`` to gold labels and teacher logits.

It knows nothing about the model beyond that call (and, when the loss compares hidden states,
``model(input_ids, lengths, return_features=True) -> (logits, features)``), takes its own
``TrainingConfig`` (optimiser, schedule, epochs, early stopping) and the loss as a callable, and
nothing of the run's config: students of every family and teacher fine-tuning all train here. Optional behaviour (TensorBoard) hangs on
callbacks. Per epoch it evaluates on the valid split (accuracy, macro-F1, per-class scores), keeps
the best weights by ``select_metric`` (valid accuracy or macro-F1), stops early after
``patience`` epochs without improvement, and at the end reports the test scores of the best
weights.

Resuming is exact: the checkpoint holds model, optimizer, scheduler, torch RNG state, epoch and
step, and each epoch's batch order is a pure function of (seed, epoch), so a resumed run reaches
the same final weights as an uninterrupted one. Ctrl-C finishes the current step, saves a
checkpoint and stops; a second Ctrl-C aborts at once.
"""

from __future__ import annotations

import logging
import math
import random
import signal
import threading
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from torch import nn
from tqdm.auto import tqdm

from .batching import bucketed_batches, length_sorted_batches
from .losses import DistillationLoss
from .metrics import classification_scores
from .resumable import adamw
from .rundir import RunDir
from .tokenization import ConcatEncoded, EncodedTexts
from .training_config import TrainingConfig
from .utils import atomic_path

logger = logging.getLogger(__name__)


@dataclass
class SplitTensors:
    """One split, ready for batching: row ``i`` has tokens ``encoded[i]``, gold label ``labels[i]``
    (-1 when unlabelled) and teacher logits ``teacher[i]`` (gathered once from the store by idx)."""

    encoded: EncodedTexts | ConcatEncoded
    labels: torch.Tensor  # (N,) int64
    teacher: torch.Tensor | None = None  # (N, num_labels) float32
    teacher_features: torch.Tensor | None = None  # (N, hidden) float32: the teacher's states a hidden loss compares
    # rows from pool_start on form a pool (transfer sets) of which pool_per_epoch are drawn each
    # epoch; the rows before it are used every epoch. None: every row, every epoch.
    pool_start: int | None = None
    pool_per_epoch: int | None = None

    def __len__(self) -> int:
        return len(self.labels)

    def epoch_rows(self, *, seed: int, epoch: int) -> np.ndarray:
        """The rows one training epoch uses: a pure function of (seed, epoch), so resume replays it."""
        everything = np.arange(len(self), dtype=np.int64)
        if self.pool_start is None or self.pool_per_epoch is None or self.pool_per_epoch >= len(self) - self.pool_start:
            return everything
        rng = np.random.default_rng([seed, epoch])
        drawn = self.pool_start + rng.choice(len(self) - self.pool_start, size=self.pool_per_epoch, replace=False)
        return np.concatenate([everything[: self.pool_start], np.sort(drawn)])

    def epoch_size(self) -> int:
        if self.pool_start is None or self.pool_per_epoch is None:
            return len(self)
        return self.pool_start + min(self.pool_per_epoch, len(self) - self.pool_start)


class Callback:
    """Hooks; every method is optional."""

    def on_step(self, trainer: "Trainer", *, loss: float, lr: float) -> None: ...

    def on_epoch_end(self, trainer: "Trainer", *, metrics: dict) -> None: ...

    def on_fit_end(self, trainer: "Trainer", *, metrics: dict) -> None: ...


class Trainer:
    def __init__(
        self,
        model: nn.Module,
        *,
        config: TrainingConfig,
        loss: DistillationLoss,
        identity: str,
        train: SplitTensors,
        valid: SplitTensors,
        test: SplitTensors | None,
        run_dir: str | Path,
        device: torch.device,
        callbacks: Sequence[Callback] = (),
        label_names: Sequence[str] | None = None,
    ):
        if loss.needs_teacher and train.teacher is None:
            raise ValueError(f"loss {loss.kind!r} needs teacher logits for the training split")
        if loss.needs_features and train.teacher_features is None:
            raise ValueError(f"hidden loss {loss.hidden!r} needs the teacher's hidden states for the training split")
        self.model = model.to(device)
        self.config = config
        self.loss = loss
        self.identity = identity  # of the run: a checkpoint of another run is refused on resume
        self.train_data, self.valid_data, self.test_data = train, valid, test
        self.run = RunDir(run_dir)  # where checkpoints and the best weights go
        self.device = device
        self.callbacks = list(callbacks)
        self.label_names = list(label_names) if label_names else None  # per-class scores are keyed by them
        self.optimizer = self._make_optimizer()
        self.steps_per_epoch = math.ceil(train.epoch_size() / config.batch_size)
        self.scheduler = self._make_scheduler()
        # progress state: all of it goes into the checkpoint
        self.epoch = 0  # epochs fully done
        self.step_in_epoch = 0  # steps done inside the current epoch
        self.global_step = 0
        self.best_valid_score = -1.0  # of config.select_metric
        self.best_valid_accuracy = -1.0  # the scores of the best epoch
        self.best_valid_macro_f1 = -1.0
        self.best_epoch = 0
        self.epochs_without_improvement = 0
        self.train_seconds = 0.0
        self.train_examples_seen = 0
        self.epoch_loss_sum, self.epoch_loss_n = 0.0, 0  # this epoch's so far: a resumed epoch reports the whole mean
        self.history: list[dict] = []
        self._stop_requested = False

    # ------------------------------------------------------------------ setup

    def _make_optimizer(self) -> torch.optim.Optimizer:
        c = self.config
        if c.optimizer == "adamw":
            return adamw(self.model, lr=c.lr, weight_decay=c.weight_decay)
        return torch.optim.Adam(self.model.parameters(), lr=c.lr, weight_decay=c.weight_decay)

    def _make_scheduler(self):
        c = self.config
        if c.scheduler == "step":  # stepped once per epoch
            return torch.optim.lr_scheduler.StepLR(self.optimizer, step_size=c.step_size, gamma=c.gamma)
        if c.scheduler == "cyclic":  # stepped once per batch; Adam has no momentum to cycle
            return torch.optim.lr_scheduler.CyclicLR(
                self.optimizer, base_lr=c.lr * 0.1, max_lr=c.lr, step_size_up=max(1, c.step_size * self.steps_per_epoch),
                cycle_momentum=False,
            )
        if c.scheduler in ("linear", "linear_epochs"):  # stepped once per batch
            return torch.optim.lr_scheduler.LambdaLR(self.optimizer, self._linear_factor)
        return None

    def _linear_factor(self, step: int) -> float:
        """Multiplier of ``lr`` at global ``step``: warmup over ``warmup_ratio`` of the span, then
        linear decay to 0 (Devlin et al. 2019); the span is the whole run (``linear``) or each epoch,
        peaking at that epoch's rate (``linear_epochs``)."""
        c = self.config
        span, position, peak = c.train_epoch * self.steps_per_epoch, step, 1.0
        if c.scheduler == "linear_epochs":
            epoch = min(step // self.steps_per_epoch, c.train_epoch - 1)
            span, position, peak = self.steps_per_epoch, step - epoch * self.steps_per_epoch, c.peak_lr(epoch) / c.lr
        warmup = math.ceil(c.warmup_ratio * span)
        if position < warmup:
            return peak * (position + 1) / warmup
        return peak * max(0.0, (span - position) / max(1, span - warmup))

    def request_stop(self) -> None:
        """Stop after the current step, saving a checkpoint (what Ctrl-C does)."""
        self._stop_requested = True

    # ------------------------------------------------------------------ batches

    def epoch_batches(self, epoch: int) -> list:
        """The batch order of ``epoch``: depends only on (seed, epoch), so resume replays it."""
        rng = random.Random(self.config.seed * 1_000_003 + epoch)
        rows = self.train_data.epoch_rows(seed=self.config.seed, epoch=epoch)  # (epoch_size,)
        lengths = self.train_data.encoded.lengths.numpy()[rows]
        return [rows[positions] for positions in bucketed_batches(lengths.tolist(), self.config.batch_size, rng)]

    def _batch(self, split: SplitTensors, rows: torch.Tensor):
        input_ids, lengths = split.encoded.batch(rows)
        teacher = split.teacher.index_select(0, rows).to(self.device) if split.teacher is not None else None
        return input_ids.to(self.device), lengths, split.labels.index_select(0, rows).to(self.device), teacher

    # ------------------------------------------------------------------ training

    def train_epoch(self) -> float:
        """Run the rest of the current epoch; returns its mean training loss."""
        c = self.config
        self.model.train()
        batches = self.epoch_batches(self.epoch)
        bar = tqdm(total=len(batches), initial=self.step_in_epoch, desc=f"epoch {self.epoch + 1}/{c.train_epoch}",
                   unit="batch", leave=False)
        start = time.perf_counter()
        for positions in batches[self.step_in_epoch :]:
            rows = torch.from_numpy(positions)
            input_ids, lengths, labels, teacher = self._batch(self.train_data, rows)
            if self.loss.needs_features:
                logits, features = self.model(input_ids, lengths, return_features=True)  # (batch, labels), (batch, hidden)
                target = self.train_data.teacher_features.index_select(0, rows).to(self.device)
                loss = self.loss(logits, teacher, labels, h_s=features, h_t=target)
            else:
                logits = self.model(input_ids, lengths)  # (batch, labels)
                loss = self.loss(logits, teacher, labels)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if c.clip_grad:
                nn.utils.clip_grad_norm_(self.model.parameters(), c.clip_grad)
            self.optimizer.step()
            if c.scheduler in ("cyclic", "linear", "linear_epochs"):
                self.scheduler.step()
            self.step_in_epoch += 1
            self.global_step += 1
            value = loss.item()
            self.epoch_loss_sum += value * len(rows)
            self.epoch_loss_n += len(rows)
            self.train_examples_seen += len(rows)
            if self.global_step % c.log_every == 0:
                for cb in self.callbacks:
                    cb.on_step(self, loss=value, lr=self.optimizer.param_groups[0]["lr"])
                bar.set_postfix(loss=f"{value:.4f}")
            bar.update(1)
            if c.checkpoint_every and self.global_step % c.checkpoint_every == 0 and self.step_in_epoch < len(batches):
                self.train_seconds += time.perf_counter() - start
                start = time.perf_counter()
                self.save_checkpoint()
            if self._stop_requested:
                self.train_seconds += time.perf_counter() - start
                bar.close()
                self.save_checkpoint()
                raise KeyboardInterrupt(f"stopped at epoch {self.epoch + 1} step {self.step_in_epoch}; checkpoint saved in {self.run.path}")
        bar.close()
        self.train_seconds += time.perf_counter() - start
        mean = self.epoch_loss_sum / max(1, self.epoch_loss_n)
        self.epoch_loss_sum, self.epoch_loss_n = 0.0, 0
        return mean

    @torch.inference_mode()
    def evaluate(self, split: SplitTensors) -> dict:
        """Accuracy, macro-F1, per-class scores and CE loss on gold labels (rows with label -1 are skipped)."""
        self.model.eval()
        gold, predicted, loss_sum = [], [], 0.0
        num_labels = None
        for positions in length_sorted_batches(split.encoded.lengths.tolist(), self.config.eval_batch_size):
            input_ids, lengths, labels, _ = self._batch(split, torch.from_numpy(positions))
            logits = self.model(input_ids, lengths)  # (batch, labels)
            num_labels = logits.shape[1]
            keep = labels >= 0
            if keep.any():
                loss_sum += float(F.cross_entropy(logits[keep], labels[keep], reduction="sum"))
                gold.append(labels[keep].cpu().numpy())
                predicted.append(logits.argmax(dim=1)[keep].cpu().numpy())
        if not gold:
            return {"accuracy": float("nan"), "macro_f1": float("nan"), "loss": float("nan"), "per_class": {}}
        names = self.label_names or [str(i) for i in range(num_labels)]
        scores = classification_scores(np.concatenate(gold), np.concatenate(predicted), names)
        return {"accuracy": scores["accuracy"], "macro_f1": scores["macro_f1"], "loss": loss_sum / scores["examples"],
                "per_class": scores["per_class"]}

    def fit(self, *, resume: bool = False) -> dict:
        c = self.config
        self.run.mkdir()
        if resume and self.run.has_checkpoint():
            self.load_checkpoint()
            logger.info("resumed from %s at epoch %d step %d", self.run.checkpoint_file, self.epoch + 1, self.step_in_epoch)
        previous = self._install_sigint()
        try:
            while self.epoch < c.train_epoch and not self._early_stopped():
                train_loss = self.train_epoch()
                valid = self.evaluate(self.valid_data)
                # no valid split (a teacher trained on train + valid): every epoch counts as the best
                improved = not len(self.valid_data) or valid[c.select_metric] > self.best_valid_score
                if improved:
                    self.best_valid_score, self.best_epoch = valid[c.select_metric], self.epoch + 1
                    self.best_valid_accuracy, self.best_valid_macro_f1 = valid["accuracy"], valid["macro_f1"]
                    self.epochs_without_improvement = 0
                    self._save_best()
                else:
                    self.epochs_without_improvement += 1
                if c.scheduler == "step":
                    with warnings.catch_warnings():
                        # A resume that lands on an epoch's last step takes no optimizer.step() in this
                        # process before this call; PyTorch then warns although the order is right.
                        warnings.filterwarnings("ignore", message=r"Detected call of `lr_scheduler\.step\(\)` before")
                        self.scheduler.step()
                metrics = {"epoch": self.epoch + 1, "train_loss": train_loss, "valid_accuracy": valid["accuracy"],
                           "valid_macro_f1": valid["macro_f1"], "valid_loss": valid["loss"],
                           "lr": self.optimizer.param_groups[0]["lr"], "improved": improved}
                self.history.append(metrics)
                logger.info("epoch %d: train loss %.4f, valid acc %.4f%s", self.epoch + 1, train_loss, valid["accuracy"],
                            " (best)" if improved else "")
                self.epoch += 1
                self.step_in_epoch = 0
                for cb in self.callbacks:
                    cb.on_epoch_end(self, metrics=metrics)
                self.save_checkpoint()
        finally:
            self._restore_sigint(previous)
        return self._final_metrics()

    def _early_stopped(self) -> bool:
        return bool(self.config.patience) and self.epochs_without_improvement >= self.config.patience

    def _final_metrics(self) -> dict:
        from safetensors.torch import load_file

        self.model.load_state_dict(load_file(self.run.weights_file, device=str(self.device)))
        test = self.evaluate(self.test_data) if self.test_data is not None and len(self.test_data) else {}
        metrics = {
            "select_metric": self.config.select_metric,
            "valid_accuracy": self.best_valid_accuracy,
            "valid_macro_f1": self.best_valid_macro_f1,
            "test_accuracy": test.get("accuracy"),
            "test_macro_f1": test.get("macro_f1"),
            "test_per_class": test.get("per_class"),
            "best_epoch": self.best_epoch,
            "epochs_trained": self.epoch,
            "early_stopped": self._early_stopped(),
            "params": sum(p.numel() for p in self.model.parameters()),
            "size_bytes": self.run.weights_file.stat().st_size,
            "train_seconds": round(self.train_seconds, 2),
            "examples_per_second": round(self.train_examples_seen / self.train_seconds, 1) if self.train_seconds else None,
            "history": self.history,
        }
        for cb in self.callbacks:
            cb.on_fit_end(self, metrics=metrics)
        return metrics

    # ------------------------------------------------------------------ checkpoints

    def _save_best(self) -> None:
        state = {k: v.detach().cpu().contiguous() for k, v in self.model.state_dict().items()}
        with atomic_path(self.run.weights_file) as tmp:
            save_file(state, str(tmp))

    def save_checkpoint(self) -> None:
        state = {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None else {},
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "progress": {
                "epoch": self.epoch, "step_in_epoch": self.step_in_epoch, "global_step": self.global_step,
                "best_valid_score": self.best_valid_score, "best_valid_accuracy": self.best_valid_accuracy,
                "best_valid_macro_f1": self.best_valid_macro_f1, "best_epoch": self.best_epoch,
                "epochs_without_improvement": self.epochs_without_improvement, "train_seconds": self.train_seconds,
                "train_examples_seen": self.train_examples_seen, "epoch_loss_sum": self.epoch_loss_sum,
                "epoch_loss_n": self.epoch_loss_n,
            },
            "history": self.history,
            "config_identity": self.identity,
        }
        with atomic_path(self.run.checkpoint_file) as tmp:
            torch.save(state, tmp)

    def load_checkpoint(self) -> None:
        state = torch.load(self.run.checkpoint_file, map_location=self.device, weights_only=True)
        if state["config_identity"] != self.identity:
            raise ValueError(
                f"{self.run.checkpoint_file} was written by a run with other hyperparameters; "
                "use another run_name or delete the checkpoint"
            )
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler is not None:
            self.scheduler.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["torch_rng"].cpu())
        if state["cuda_rng"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda_rng"]])
        progress = state["progress"]
        # checkpoints from before select_metric selected on accuracy and kept no macro-F1
        progress.setdefault("best_valid_score", progress["best_valid_accuracy"])
        progress.setdefault("best_valid_macro_f1", float("nan"))
        progress.setdefault("epoch_loss_sum", 0.0)  # checkpoints from before the epoch's loss was kept
        progress.setdefault("epoch_loss_n", 0)
        for key, value in progress.items():
            setattr(self, key, value)
        self.history = list(state["history"])

    # ------------------------------------------------------------------ Ctrl-C

    def _install_sigint(self):
        if threading.current_thread() is not threading.main_thread():
            return None

        def handler(signum, frame):
            if self._stop_requested:  # second Ctrl-C: abort now
                raise KeyboardInterrupt
            logger.warning("Ctrl-C: saving a checkpoint after this step (press again to abort)")
            self._stop_requested = True

        return signal.signal(signal.SIGINT, handler)

    @staticmethod
    def _restore_sigint(previous) -> None:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)


class TensorBoardCallback(Callback):
    """Scalars per step (loss, lr) and per epoch (accuracy, loss); hparams at the end."""

    def __init__(self, log_dir: str | Path, hparams: dict):
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(log_dir=str(log_dir))
        # TensorBoard's HParams dashboard takes only scalars and strings
        self.hparams = {k: (v if isinstance(v, (int, float, str, bool)) else str(v)) for k, v in hparams.items()}

    def on_step(self, trainer: Trainer, *, loss: float, lr: float) -> None:
        self.writer.add_scalar("train/loss", loss, trainer.global_step)
        self.writer.add_scalar("train/lr", lr, trainer.global_step)

    def on_epoch_end(self, trainer: Trainer, *, metrics: dict) -> None:
        for key in ("train_loss", "valid_accuracy", "valid_macro_f1", "valid_loss", "lr"):
            self.writer.add_scalar(f"epoch/{key}", metrics[key], metrics["epoch"])
        self.writer.flush()

    def on_fit_end(self, trainer: Trainer, *, metrics: dict) -> None:
        final = {f"hparam/{k}": metrics[k] for k in ("valid_accuracy", "valid_macro_f1", "test_accuracy", "test_macro_f1")
                 if metrics.get(k) is not None}
        self.writer.add_hparams(self.hparams, final, run_name=".")
        self.writer.close()
