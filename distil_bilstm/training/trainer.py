"""Trainer: fits any ``model(input_ids, lengths) -> logits`` to gold labels and teacher logits.

A tagger's ``logits (batch, seq, tags)`` with gold tags ``(N, longest)`` train per token
(tokens.py): each position inside a sentence is an example of the same losses, and validation adds
the entity F1 of the tag sequences (``select_metric="entity_f1"``).

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
import time
import warnings
from pathlib import Path
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from ..data.pairs import correlation_scores
from ..rundir import RunDir
from .batching import SplitTensors, bucketed_batches, length_sorted_batches
from .callbacks import Callback, ctrl_c_requests_stop
from .checkpoint import load_checkpoint, load_weights, save_checkpoint, save_weights
from .config import TrainingConfig
from .losses import DistillationLoss
from .metrics import classification_scores
from .optim import PER_BATCH_SCHEDULERS, make_optimizer, make_scheduler
from .selection import BestEpoch
from .tokens import entity_report, flatten_tokens, tag_sequences

logger = logging.getLogger(__name__)


class NonFiniteLossError(ValueError):
    """Training produced a NaN or infinite loss or weights; the run stops and keeps what it had saved."""


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
        # float gold labels are scores: a regression task, evaluated by correlation (NaN: no gold score)
        self.regression = train.labels.is_floating_point()
        self.per_token = train.labels.dim() == 2  # (N, longest) gold tags: a tagger
        if (config.select_metric == "entity_f1") != self.per_token:
            why = (
                "scores texts, not tags; a tagger selects on 'entity_f1'"
                if self.per_token
                else "is a tagger's: the gold labels are one per text"
            )
            raise ValueError(f"select_metric {config.select_metric!r} {why}")
        self.optimizer = make_optimizer(self.model, config)
        self.steps_per_epoch = math.ceil(train.epoch_size() / config.batch_size)
        self.scheduler = make_scheduler(self.optimizer, config, steps_per_epoch=self.steps_per_epoch)
        # progress state: all of it goes into the checkpoint (checkpoint.PROGRESS, best, history)
        self.epoch = 0  # epochs fully done
        self.step_in_epoch = 0  # steps done inside the current epoch
        self.global_step = 0
        self.best = BestEpoch(patience=config.patience)
        self.train_seconds = 0.0
        self.train_examples_seen = 0
        self.epoch_loss_sum, self.epoch_loss_n = 0.0, 0  # this epoch's so far: a resumed epoch reports the whole mean
        self.history: list[dict] = []
        self.stop_requested = False

    def request_stop(self) -> None:
        """Stop after the current step, saving a checkpoint (what Ctrl-C does)."""
        self.stop_requested = True

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
        labels = split.labels.index_select(0, rows).to(self.device)
        if self.per_token:  # (batch, longest of the split) → (batch, longest of the batch)
            seq = int(lengths.max())
            labels, teacher = labels[:, :seq], None if teacher is None else teacher[:, :seq]
        return input_ids.to(self.device), lengths, labels, teacher

    # ------------------------------------------------------------------ training

    def fit(self, *, resume: bool = False) -> dict:
        """Train until ``train_epoch`` epochs or early stopping; returns the final metrics (test
        scores of the best epoch's weights)."""
        self.run.mkdir()
        if resume and self.run.has_checkpoint():
            load_checkpoint(self, self.run.checkpoint_file)
            logger.info(
                "resumed from %s at epoch %d step %d", self.run.checkpoint_file, self.epoch + 1, self.step_in_epoch
            )
        with ctrl_c_requests_stop(self):
            while self.epoch < self.config.train_epoch and not self.best.stopped:
                train_loss = self.train_epoch()
                self._end_epoch(train_loss, self.evaluate(self.valid_data))
        return self._final_metrics()

    def train_epoch(self) -> float:
        """Run the rest of the current epoch; returns its mean training loss."""
        batches = self.epoch_batches(self.epoch)
        bar = tqdm(
            total=len(batches),
            initial=self.step_in_epoch,
            desc=f"epoch {self.epoch + 1}/{self.config.train_epoch}",
            unit="batch",
            leave=False,
        )
        self.model.train()
        start = time.perf_counter()
        for positions in batches[self.step_in_epoch :]:
            value = self._train_step(torch.from_numpy(positions))
            bar.set_postfix(loss=f"{value:.4f}", refresh=False)
            bar.update(1)
            every = self.config.checkpoint_every
            if self.stop_requested or (every and self.global_step % every == 0 and self.step_in_epoch < len(batches)):
                self.train_seconds, start = self.train_seconds + time.perf_counter() - start, time.perf_counter()
                save_checkpoint(self, self.run.checkpoint_file)
            if self.stop_requested:
                bar.close()
                raise KeyboardInterrupt(
                    f"stopped at epoch {self.epoch + 1} step {self.step_in_epoch}; checkpoint saved in {self.run.path}"
                )
        bar.close()
        self.train_seconds += time.perf_counter() - start
        mean = self.epoch_loss_sum / max(1, self.epoch_loss_n)
        self.epoch_loss_sum, self.epoch_loss_n = 0.0, 0
        return mean

    def _train_step(self, rows: torch.Tensor) -> float:
        """One optimiser update on the training rows ``rows``; returns the batch's loss."""
        c = self.config
        input_ids, lengths, labels, teacher = self._batch(self.train_data, rows)
        if self.loss.needs_features:
            logits, features = self.model(input_ids, lengths, return_features=True)  # (batch, labels), (batch, hidden)
            target = self.train_data.teacher_features.index_select(0, rows).to(self.device)
            loss = self.loss(logits, teacher, labels, h_s=features, h_t=target)
        else:
            logits = self.model(input_ids, lengths)  # (batch, labels), or a tagger's (batch, seq, tags)
            if getattr(self.loss, "per_sequence", False):  # a CRF's: it reads whole sentences
                loss = self.loss(logits, teacher, labels, lengths=lengths)
            else:
                if self.per_token:  # every token inside a sentence is an example
                    logits, labels, teacher = flatten_tokens(logits, lengths, labels, teacher)
                loss = self.loss(logits, teacher, labels)
        value = loss.item()
        if not math.isfinite(value):  # checked before backward: a NaN or inf loss never reaches the weights
            raise self._non_finite(f"the training loss is {value}")
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if c.clip_grad:
            nn.utils.clip_grad_norm_(self.model.parameters(), c.clip_grad)
        self.optimizer.step()
        if c.scheduler in PER_BATCH_SCHEDULERS:
            self.scheduler.step()
        self.step_in_epoch += 1
        self.global_step += 1
        self.epoch_loss_sum += value * len(rows)
        self.epoch_loss_n += len(rows)
        self.train_examples_seen += len(rows)
        if self.global_step % c.log_every == 0:
            for cb in self.callbacks:
                cb.on_step(self, loss=value, lr=self.optimizer.param_groups[0]["lr"])
        return value

    def _non_finite(self, what: str) -> "NonFiniteLossError":
        """The error that stops a run whose numbers went NaN or inf, naming where, with what is kept:
        the last checkpoint and best weights written before it (nothing is written after it)."""
        kept = [str(p) for p in (self.run.checkpoint_file, self.run.weights_file) if p.is_file()]
        return NonFiniteLossError(
            f"{what} at epoch {self.epoch + 1}, step {self.step_in_epoch + 1} (global step {self.global_step + 1}, learning "
            f"rate {self.optimizer.param_groups[0]['lr']:g}): training stopped; "
            + (f"kept as they were: {', '.join(kept)}" if kept else "nothing was saved")
            + ". A lower lr or clip_grad may help"
        )

    def _end_epoch(self, train_loss: float, valid: dict) -> None:
        """Keep the weights if the epoch is the best, step a per-epoch schedule, report, checkpoint."""
        # the last step's update may have made the weights NaN although its loss was finite
        if not all(bool(torch.isfinite(p).all()) for p in self.model.parameters()):
            self.step_in_epoch -= 1
            self.global_step -= 1
            raise self._non_finite("the weights are not finite after the epoch's last update")
        improved = self.best.update(
            valid, epoch=self.epoch + 1, select_metric=self.config.select_metric, has_valid=bool(len(self.valid_data))
        )
        if improved:
            save_weights(self.model, self.run.weights_file)
        if self.config.scheduler == "step":
            with warnings.catch_warnings():
                # A resume that lands on an epoch's last step takes no optimizer.step() in this
                # process before this call; PyTorch then warns although the order is right.
                warnings.filterwarnings("ignore", message=r"Detected call of `lr_scheduler\.step\(\)` before")
                self.scheduler.step()
        metrics = {
            "epoch": self.epoch + 1,
            "train_loss": train_loss,
            "valid_accuracy": valid["accuracy"],
            "valid_macro_f1": valid["macro_f1"],
            "valid_loss": valid["loss"],
            **{f"valid_{k}": valid[k] for k in ("spearman", "pearson", "entity_f1") if k in valid},
            "lr": self.optimizer.param_groups[0]["lr"],
            "improved": improved,
        }
        self.history.append(metrics)
        shown = self.config.select_metric
        logger.info(
            "epoch %d: train loss %.4f, valid %s %.4f%s",
            self.epoch + 1,
            train_loss,
            shown,
            valid[shown],
            " (best)" if improved else "",
        )
        self.epoch += 1
        self.step_in_epoch = 0
        for cb in self.callbacks:
            cb.on_epoch_end(self, metrics=metrics)
        save_checkpoint(self, self.run.checkpoint_file)

    @torch.inference_mode()
    def evaluate(self, split: SplitTensors) -> dict:
        """Accuracy, macro-F1, per-class scores and CE loss on gold labels (rows with label -1 are
        skipped); for a regression task Spearman, Pearson and the squared error instead (rows with
        a NaN score skipped)."""
        self.model.eval()
        logits, labels, sequences = self._gold_outputs(split)  # (n, outputs), (n,): the rows with a gold label
        nan = float("nan")
        if not len(labels):
            return {
                "accuracy": nan,
                "macro_f1": nan,
                "loss": nan,
                "per_class": {},
                **({"spearman": nan, "pearson": nan} if self.regression else {}),
                **({"entity_f1": nan, "entity_precision": nan, "entity_recall": nan} if self.per_token else {}),
            }
        if self.regression:
            scores = correlation_scores(labels.numpy(), logits[:, 0].numpy())
            return {
                "accuracy": nan,
                "macro_f1": nan,
                "spearman": scores["spearman"],
                "pearson": scores["pearson"],
                "loss": scores["mse"],
                "per_class": {},
            }
        names = self.label_names or [str(i) for i in range(logits.shape[1])]
        scores = classification_scores(labels.numpy(), logits.argmax(dim=1).numpy(), names)
        return {
            "accuracy": scores["accuracy"],  # a tagger's: token accuracy
            "macro_f1": scores["macro_f1"],
            "loss": float(F.cross_entropy(logits, labels)),
            "per_class": scores["per_class"],
            **(entity_report(*sequences, names) if self.per_token else {}),
        }

    def _gold_outputs(self, split: SplitTensors) -> tuple[torch.Tensor, torch.Tensor, tuple[list, list]]:
        """The model's outputs ``(n, outputs)`` float32 on CPU and the gold labels ``(n,)`` of the rows
        (a tagger's: tokens) of ``split`` that have one, over length-sorted batches; and a tagger's
        (predicted, gold) tag-id sequences per sentence."""
        outputs, gold, predicted_tags, gold_tags = [], [], [], []
        for positions in length_sorted_batches(split.encoded.lengths.tolist(), self.config.eval_batch_size):
            input_ids, lengths, labels, _ = self._batch(split, torch.from_numpy(positions))
            logits = self.model(input_ids, lengths)  # (batch, outputs), or (batch, seq, tags)
            if self.per_token:  # a CRF tagger decodes its own tags (Viterbi); otherwise the argmax of each token
                decode = getattr(self.model, "decode", None)
                predicted = decode(logits, lengths) if decode is not None else logits.argmax(dim=-1)
                rows = tag_sequences(predicted.cpu(), labels.cpu(), lengths)
                predicted_tags += rows[0]
                gold_tags += rows[1]
                logits, labels, _ = flatten_tokens(logits, lengths, labels, None)
            keep = ~torch.isnan(labels) if self.regression else labels >= 0
            outputs.append(logits[keep].float().cpu())
            gold.append(labels[keep].cpu())
        if not outputs:
            return torch.zeros(0, 1), torch.zeros(0), ([], [])
        return torch.cat(outputs), torch.cat(gold), (predicted_tags, gold_tags)

    def _final_metrics(self) -> dict:
        load_weights(self.model, self.run.weights_file, device=self.device)
        test = self.evaluate(self.test_data) if self.test_data is not None and len(self.test_data) else {}
        metrics = {
            "select_metric": self.config.select_metric,
            "valid_accuracy": self.best.best_valid_accuracy,
            "valid_macro_f1": self.best.best_valid_macro_f1,
            "test_accuracy": test.get("accuracy"),
            "test_macro_f1": test.get("macro_f1"),
            "test_per_class": test.get("per_class"),
            **(
                {
                    "valid_spearman": (self.best.best_valid_correlation or {}).get("spearman"),
                    "valid_pearson": (self.best.best_valid_correlation or {}).get("pearson"),
                    "test_spearman": test.get("spearman"),
                    "test_pearson": test.get("pearson"),
                    "test_mse": test.get("loss"),
                }
                if self.regression
                else {}
            ),
            **(
                {
                    "valid_entity_f1": self.best.best_valid_score,
                    **{f"test_{k}": test.get(k) for k in ("entity_f1", "entity_precision", "entity_recall")},
                    "test_per_type": test.get("per_type"),
                }
                if self.per_token
                else {}
            ),
            "best_epoch": self.best.best_epoch,
            "epochs_trained": self.epoch,
            "early_stopped": self.best.stopped,
            "params": sum(p.numel() for p in self.model.parameters()),
            "size_bytes": self.run.weights_file.stat().st_size,
            "train_seconds": round(self.train_seconds, 2),
            "examples_per_second": round(self.train_examples_seen / self.train_seconds, 1)
            if self.train_seconds
            else None,
            "history": self.history,
        }
        for cb in self.callbacks:
            cb.on_fit_end(self, metrics=metrics)
        return metrics
