"""Optional behaviour of the Trainer, on hooks: the ``Callback`` protocol, TensorBoard logging, and
Ctrl-C turned into a request to checkpoint and stop."""

from __future__ import annotations

import logging
import signal
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

from ..utils import signal_handler

if TYPE_CHECKING:
    from .trainer import Trainer

logger = logging.getLogger(__name__)


class Callback:
    """Hooks; every method is optional."""

    def on_step(self, trainer: "Trainer", *, loss: float, lr: float) -> None: ...

    def on_epoch_end(self, trainer: "Trainer", *, metrics: dict) -> None: ...

    def on_fit_end(self, trainer: "Trainer", *, metrics: dict) -> None: ...


HEADLINE_SCORES = ("accuracy", "macro_f1", "entity_f1", "spearman", "pearson")  # what a run may be judged by


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


class TensorBoardCallback(Callback):
    """Scalars per step (loss, lr) and per epoch (accuracy, loss); hparams at the end."""

    def __init__(self, log_dir: str | Path, hparams: dict):
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(log_dir=str(log_dir))
        # TensorBoard's HParams dashboard takes only scalars and strings
        self.hparams = {k: (v if isinstance(v, (int, float, str, bool)) else str(v)) for k, v in hparams.items()}

    def on_step(self, trainer: "Trainer", *, loss: float, lr: float) -> None:
        self.writer.add_scalar("train/loss", loss, trainer.global_step)
        self.writer.add_scalar("train/lr", lr, trainer.global_step)

    def on_epoch_end(self, trainer: "Trainer", *, metrics: dict) -> None:
        for key in ("train_loss", "valid_loss", "lr", *(f"valid_{name}" for name in HEADLINE_SCORES)):
            if _is_number(metrics.get(key)):  # a sentence run has accuracy, a tagger entity F1, a pair task Spearman
                self.writer.add_scalar(f"epoch/{key}", metrics[key], metrics["epoch"])
        self.writer.flush()

    def on_fit_end(self, trainer: "Trainer", *, metrics: dict) -> None:
        final = {
            f"hparam/{split}_{name}": metrics[f"{split}_{name}"]
            for split in ("valid", "test")
            for name in HEADLINE_SCORES
            if _is_number(metrics.get(f"{split}_{name}"))
        }
        self.writer.add_hparams(self.hparams, final, run_name=".")
        self.writer.close()


@contextmanager
def ctrl_c_requests_stop(trainer: "Trainer") -> Iterator[None]:
    """While inside, the first Ctrl-C asks ``trainer`` to checkpoint after its current step and
    stop; a second aborts at once. Only the main thread may install signal handlers: elsewhere (a
    grid worker thread) this does nothing."""

    def handler(signum, frame):
        if trainer.stop_requested:  # second Ctrl-C: abort now
            raise KeyboardInterrupt
        logger.warning("Ctrl-C: saving a checkpoint after this step (press again to abort)")
        trainer.request_stop()

    with signal_handler(signal.SIGINT, handler):
        yield
