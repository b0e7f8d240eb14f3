"""Padding masks from lengths, and the masked mean: what the students, the fine-tuning wrapper
and the teacher's sentence states share, so that a sentence vector means the same everywhere."""

from __future__ import annotations

import torch


def length_mask(lengths: torch.Tensor, seq_len: int) -> torch.Tensor:
    """``(batch, seq_len)`` bool, True at each row's first ``lengths[i]`` (right-padded) positions;
    on ``lengths``' device."""
    return torch.arange(seq_len, device=lengths.device).unsqueeze(0) < lengths.unsqueeze(1)


def masked_mean(states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``states (batch, seq, hidden)`` averaged over the positions where ``mask (batch, seq)`` is
    set → ``(batch, hidden)``."""
    weights = mask.unsqueeze(-1).to(states.dtype)  # (batch, seq, 1)
    return (states * weights).sum(dim=1) / weights.sum(dim=1)
