"""AdamW with BERT's no-decay parameter groups (the Trainer's ``optimizer: adamw`` and masked-LM
adaptation), and what masked-LM adaptation's own loop needs to resume: one file holding a
training state (weights, optimizer, dropout RNG, plus whatever the loop adds) that is refused when
it belongs to another setup."""

from __future__ import annotations

from pathlib import Path

import torch

from .utils import atomic_path

# BERT's recipe: no weight decay on biases and LayerNorm weights
NO_DECAY = ("bias", "LayerNorm.weight", "layer_norm.weight")


def adamw(model: torch.nn.Module, *, lr: float, weight_decay: float) -> torch.optim.AdamW:
    named = list(model.named_parameters())
    return torch.optim.AdamW([
        {"params": [p for n, p in named if not any(k in n for k in NO_DECAY)], "weight_decay": weight_decay},
        {"params": [p for n, p in named if any(k in n for k in NO_DECAY)], "weight_decay": 0.0},
    ], lr=lr)


def save_state(path: Path, *, identity: dict, model: torch.nn.Module, optimizer: torch.optim.Optimizer, **extra) -> None:
    """Write the state atomically: an interruption while saving leaves the previous one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        torch.save({"identity": identity, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                    "torch_rng": torch.get_rng_state(), **extra}, tmp)


def load_state(path: Path, *, identity: dict, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
               device: torch.device, what: str) -> dict | None:
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


def optimizer_step(loss: torch.Tensor, *, model: torch.nn.Module, optimizer: torch.optim.Optimizer, scheduler,
                   max_grad_norm: float = 1.0) -> None:
    """One update: backward, clip the gradient norm (BERT's 1.0), step the optimizer and the schedule."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
    optimizer.step()
    scheduler.step()
