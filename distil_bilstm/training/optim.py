"""Optimisers and learning-rate schedules: the Trainer's (``optimizer``/``scheduler`` of its
``TrainingConfig``), AdamW with BERT's no-decay parameter groups (also masked-LM adaptation's), and
what masked-LM adaptation's own loop needs to resume: one file holding a
training state (weights, optimizer, dropout RNG, plus whatever the loop adds) that is refused when
it belongs to another setup."""

from __future__ import annotations

import math
from pathlib import Path

import torch

from ..utils import atomic_path
from .config import TrainingConfig

# BERT's recipe: no weight decay on biases and LayerNorm weights
NO_DECAY = ("bias", "LayerNorm.weight", "layer_norm.weight")


def adamw(model: torch.nn.Module, *, lr: float, weight_decay: float) -> torch.optim.AdamW:
    named = list(model.named_parameters())
    return torch.optim.AdamW(
        [
            {"params": [p for n, p in named if not any(k in n for k in NO_DECAY)], "weight_decay": weight_decay},
            {"params": [p for n, p in named if any(k in n for k in NO_DECAY)], "weight_decay": 0.0},
        ],
        lr=lr,
    )


# schedules stepped after every batch; ``step`` is stepped once per epoch, ``none`` never
PER_BATCH_SCHEDULERS = ("cyclic", "linear", "linear_epochs")


def make_optimizer(model: torch.nn.Module, config: TrainingConfig) -> torch.optim.Optimizer:
    if config.optimizer == "adamw":
        return adamw(model, lr=config.lr, weight_decay=config.weight_decay)
    return torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)


def make_scheduler(optimizer: torch.optim.Optimizer, config: TrainingConfig, *, steps_per_epoch: int):
    """The schedule ``config.scheduler`` names, or None for a constant rate."""
    c = config
    if c.scheduler == "step":
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=c.step_size, gamma=c.gamma)
    if c.scheduler == "cyclic":  # Adam has no momentum to cycle
        return torch.optim.lr_scheduler.CyclicLR(
            optimizer,
            base_lr=c.lr * 0.1,
            max_lr=c.lr,
            step_size_up=max(1, c.step_size * steps_per_epoch),
            cycle_momentum=False,
        )
    if c.scheduler in ("linear", "linear_epochs"):
        return torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda step: linear_lr_factor(step, config=c, steps_per_epoch=steps_per_epoch)
        )
    return None


def linear_lr_factor(step: int, *, config: TrainingConfig, steps_per_epoch: int) -> float:
    """Multiplier of ``lr`` at global ``step``: warmup over ``warmup_ratio`` of the span, then
    linear decay to 0 (Devlin et al. 2019); the span is the whole run (``linear``) or each epoch,
    peaking at that epoch's rate (``linear_epochs``)."""
    c = config
    span, position, peak = c.train_epoch * steps_per_epoch, step, 1.0
    if c.scheduler == "linear_epochs":
        epoch = min(step // steps_per_epoch, c.train_epoch - 1)
        span, position, peak = steps_per_epoch, step - epoch * steps_per_epoch, c.peak_lr(epoch) / c.lr
    warmup = math.ceil(c.warmup_ratio * span)
    if position < warmup:
        return peak * (position + 1) / warmup
    return peak * max(0.0, (span - position) / max(1, span - warmup))


def save_state(
    path: Path, *, identity: dict, model: torch.nn.Module, optimizer: torch.optim.Optimizer, **extra
) -> None:
    """Write the state atomically: an interruption while saving leaves the previous one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        torch.save(
            {
                "identity": identity,
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "torch_rng": torch.get_rng_state(),
                **extra,
            },
            tmp,
        )


def load_state(
    path: Path,
    *,
    identity: dict,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    device: torch.device,
    what: str,
) -> dict | None:
    """Restore weights, optimizer and dropout RNG from ``path`` and return the whole state (the
    loop reads its own entries); None when there is no state yet."""
    if not path.is_file():
        return None
    state = torch.load(path, map_location=device, weights_only=True)
    if state["identity"] != identity:
        raise ValueError(f"{path} belongs to another {what} setup ({state['identity']}); delete it to start over")
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    torch.set_rng_state(state["torch_rng"].cpu())
    return state


def optimizer_step(
    loss: torch.Tensor,
    *,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler,
    max_grad_norm: float = 1.0,
) -> None:
    """One update: backward, clip the gradient norm (BERT's 1.0), step the optimizer and the schedule."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
    optimizer.step()
    scheduler.step()
