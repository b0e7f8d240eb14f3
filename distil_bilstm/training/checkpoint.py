"""Trainer checkpoints: the best epoch's weights (safetensors) and the whole resumable state
(model, optimizer, schedule, RNG, progress; ``torch.save`` of tensors and plain values, read back
with ``weights_only=True``), both written atomically."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import torch
from safetensors.torch import save_file

from ..utils import atomic_path, read_safetensors

if TYPE_CHECKING:
    from .trainer import Trainer

# the Trainer's own progress counters, saved and restored by name
PROGRESS = (
    "epoch",
    "step_in_epoch",
    "global_step",
    "train_seconds",
    "train_examples_seen",
    "epoch_loss_sum",
    "epoch_loss_n",
)


def save_weights(model: torch.nn.Module, path: Path) -> None:
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    with atomic_path(path) as tmp:
        save_file(state, str(tmp))


def load_weights(model: torch.nn.Module, path: Path, *, device: torch.device) -> None:
    model.load_state_dict(read_safetensors(path, device=str(device)))


def save_checkpoint(trainer: "Trainer", path: Path) -> None:
    state = {
        "model": trainer.model.state_dict(),
        "optimizer": trainer.optimizer.state_dict(),
        "scheduler": trainer.scheduler.state_dict() if trainer.scheduler is not None else {},
        "torch_rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "progress": {**{key: getattr(trainer, key) for key in PROGRESS}, **trainer.best.state()},
        "history": trainer.history,
        "config_identity": trainer.identity,
    }
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def load_checkpoint(trainer: "Trainer", path: Path) -> None:
    """Restore ``trainer`` from ``path``; a checkpoint of another run (identity) is refused."""
    try:
        state = torch.load(path, map_location=trainer.device, weights_only=True)
    except (
        Exception
    ) as err:  # truncated (EOFError, RuntimeError "PytorchStreamReader failed"), or not a checkpoint at all
        raise ValueError(
            f"{path}: the resumable checkpoint cannot be read ({type(err).__name__}: {str(err)[:200]}); "
            "delete it to start the run over"
        ) from None
    if not isinstance(state, dict) or "config_identity" not in state:
        raise ValueError(f"{path}: not a checkpoint written by this trainer; delete it to start the run over")
    if state["config_identity"] != trainer.identity:
        raise ValueError(
            f"{path} was written by a run with other hyperparameters; use another run_name or delete the checkpoint"
        )
    trainer.model.load_state_dict(state["model"])
    trainer.optimizer.load_state_dict(state["optimizer"])
    if trainer.scheduler is not None:
        trainer.scheduler.load_state_dict(state["scheduler"])
    torch.set_rng_state(state["torch_rng"].cpu())
    if state["cuda_rng"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda_rng"]])
    progress = {"epoch_loss_sum": 0.0, "epoch_loss_n": 0, **state["progress"]}  # older checkpoints kept no epoch loss
    for key in PROGRESS:
        setattr(trainer, key, progress[key])
    trainer.best.load(progress)
    trainer.history = list(state["history"])
