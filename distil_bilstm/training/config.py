"""``TrainingConfig``: how the Trainer optimises (optimiser, schedule, epochs, early stopping),
and nothing about data, student or teacher. ``DistilConfig.training_config()`` makes one from a
run's flat keys (the names DistilKoBiLSTM's configs use); every value is checked here."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from ..utils import dataclass_from_dict, field_checker
from .metrics import SELECT_METRICS

SCHEDULERS = ("none", "step", "cyclic", "linear", "linear_epochs")
OPTIMIZERS = ("adam", "adamw")


@dataclass(kw_only=True, frozen=True)
class TrainingConfig:
    batch_size: int = 64
    optimizer: str = "adam"  # adam (DistilKoBiLSTM) | adamw (BERT's: no decay on biases and LayerNorm)
    lr: float = 2e-3
    # linear_epochs only: one peak rate per epoch (the shared NSMC teacher's [2e-4, 5e-5]); None: lr
    epoch_lrs: tuple[float, ...] | None = None
    weight_decay: float = 0.0
    # none | step (StepLR, stepped per epoch) | cyclic (CyclicLR, per batch) | linear (warmup over
    # warmup_ratio of all steps, then linear decay to 0: BERT's) | linear_epochs (that shape within
    # every epoch, peaking at epoch_lrs[epoch])
    scheduler: str = "none"
    warmup_ratio: float = 0.1
    step_size: int = 1  # StepLR: epochs per decay; CyclicLR: half-cycle in epochs
    gamma: float = 0.5
    train_epoch: int = 20  # maximum epochs; early stopping usually ends sooner
    patience: int = 3  # epochs without a better valid score before stopping (0: never stop early)
    select_metric: str = "accuracy"  # the valid score that picks the best epoch
    clip_grad: float = 5.0
    seed: int = 42
    eval_batch_size: int = 512
    log_every: int = 50
    checkpoint_every: int = 0  # training steps between mid-epoch checkpoints (0: at epoch ends only)
    device: str = "auto"  # resolved once by the caller, which hands the Trainer the torch.device

    def __post_init__(self) -> None:
        check = field_checker(self)

        if self.epoch_lrs is not None:  # YAML gives a list; a frozen config keeps a tuple
            object.__setattr__(self, "epoch_lrs", tuple(float(v) for v in self.epoch_lrs))
        check(self.batch_size >= 1, "batch_size", "must be >= 1")
        check(self.optimizer in OPTIMIZERS, "optimizer", f"must be one of {OPTIMIZERS}")
        check(
            self.epoch_lrs is None
            or (
                self.scheduler == "linear_epochs"
                and len(self.epoch_lrs) == self.train_epoch
                and all(v > 0 for v in self.epoch_lrs)
            ),
            "epoch_lrs",
            "must be null, or one positive rate per epoch (train_epoch of them) with scheduler linear_epochs",
        )
        check(0.0 <= self.warmup_ratio < 1.0, "warmup_ratio", "must be in [0, 1)")
        check(self.checkpoint_every >= 0, "checkpoint_every", "must be >= 0")
        check(self.lr > 0, "lr", "must be > 0")
        check(self.weight_decay >= 0, "weight_decay", "must be >= 0")
        check(self.scheduler in SCHEDULERS, "scheduler", f"must be one of {SCHEDULERS}")
        check(self.step_size >= 1, "step_size", "must be >= 1")
        check(0.0 < self.gamma <= 1.0, "gamma", "must be in (0, 1]")
        check(self.train_epoch >= 1, "train_epoch", "must be >= 1")
        check(self.patience >= 0, "patience", "must be >= 0")
        check(self.select_metric in SELECT_METRICS, "select_metric", f"must be one of {SELECT_METRICS}")
        check(self.clip_grad > 0, "clip_grad", "must be > 0")
        check(self.eval_batch_size >= 1, "eval_batch_size", "must be >= 1")
        check(self.log_every >= 1, "log_every", "must be >= 1 (training steps between loss logs)")

    def peak_lr(self, epoch: int) -> float:
        return self.epoch_lrs[epoch] if self.epoch_lrs else self.lr

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "TrainingConfig":
        return dataclass_from_dict(cls, values)
