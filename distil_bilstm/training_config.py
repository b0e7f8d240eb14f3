"""``TrainingConfig``: how the Trainer optimises (optimiser, schedule, epochs, early stopping),
and nothing about data, student or teacher. ``DistilConfig.training_config()`` makes one from a
run's flat keys (the names DistilKoBiLSTM's configs use); every value is checked here."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from .metrics import SELECT_METRICS

SCHEDULERS = ("none", "step", "cyclic")


@dataclass(kw_only=True, frozen=True)
class TrainingConfig:
    batch_size: int = 64
    lr: float = 2e-3
    weight_decay: float = 0.0
    scheduler: str = "none"  # none | step (StepLR, stepped per epoch) | cyclic (CyclicLR, per batch)
    step_size: int = 1  # StepLR: epochs per decay; CyclicLR: half-cycle in epochs
    gamma: float = 0.5
    train_epoch: int = 20  # maximum epochs; early stopping usually ends sooner
    patience: int = 3  # epochs without a better valid score before stopping (0: never stop early)
    select_metric: str = "accuracy"  # the valid score that picks the best epoch
    clip_grad: float = 5.0
    seed: int = 42
    eval_batch_size: int = 512
    log_every: int = 50

    def __post_init__(self) -> None:
        def check(ok: bool, name: str, message: str) -> None:
            if not ok:
                raise ValueError(f"TrainingConfig.{name} {message}, got {getattr(self, name)!r}")

        check(self.batch_size >= 1, "batch_size", "must be >= 1")
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

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "TrainingConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown TrainingConfig key(s) {unknown}; known: {sorted(known)}")
        return cls(**values)

    @classmethod
    def keys(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))
