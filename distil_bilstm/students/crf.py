"""A linear-chain CRF over a tagger's emission scores (Lafferty et al. 2001; Lample et al. 2016).

A tag sequence y of a sentence of n tokens with emissions e (n, tags) scores

    score(y) = start[y_1] + Σ_i e_i[y_i] + Σ_{i>1} A[y_{i-1}, y_i] + end[y_n]

and p(y) = exp(score(y)) / Z, Z = Σ_y' exp(score(y')) by the forward algorithm (log-space). Training
minimises −log p(gold); decoding is Viterbi's argmax_y score(y). Both run over right-padded batches,
each sentence to its own length; a test checks both against enumerating every sequence.
"""

from __future__ import annotations

import torch
from torch import nn

from ..training.masks import length_mask


class CRF(nn.Module):
    def __init__(self, num_tags: int):
        super().__init__()
        self.transitions = nn.Parameter(torch.zeros(num_tags, num_tags))  # A[from, to]
        self.start = nn.Parameter(torch.zeros(num_tags))
        self.end = nn.Parameter(torch.zeros(num_tags))

    def _last(self, values: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """``values (batch, seq)`` at each row's last position → ``(batch,)``."""
        return values.gather(1, (lengths - 1).unsqueeze(1)).squeeze(1)

    def score(self, emissions: torch.Tensor, tags: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """``score(y)`` of ``tags (batch, seq)`` (anything past a length, -1 included, is ignored) →
        ``(batch,)``."""
        lengths = lengths.to(emissions.device)
        mask = length_mask(lengths, emissions.shape[1])  # (batch, seq)
        tags = tags.clamp_min(0) * mask  # padding read as tag 0, then masked out
        emitted = (emissions.gather(2, tags.unsqueeze(2)).squeeze(2) * mask).sum(1)  # (batch,)
        moves = (self.transitions[tags[:, :-1], tags[:, 1:]] * mask[:, 1:]).sum(1)  # (batch,)
        return self.start[tags[:, 0]] + emitted + moves + self.end[self._last(tags, lengths)]

    def log_partition(self, emissions: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """``log Z`` of each sentence → ``(batch,)`` (the forward algorithm)."""
        lengths = lengths.to(emissions.device)
        alpha = self.start + emissions[:, 0]  # (batch, tags)
        for i in range(1, emissions.shape[1]):
            # (batch, from, 1) + (from, to) + (batch, 1, to) → logsumexp over from → (batch, to)
            step = torch.logsumexp(alpha.unsqueeze(2) + self.transitions + emissions[:, i].unsqueeze(1), dim=1)
            alpha = torch.where((i < lengths).unsqueeze(1), step, alpha)
        return torch.logsumexp(alpha + self.end, dim=1)

    def nll(self, emissions: torch.Tensor, tags: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """``−log p(tags)`` of each sentence → ``(batch,)``."""
        return self.log_partition(emissions, lengths) - self.score(emissions, tags, lengths)

    @torch.no_grad()
    def decode(self, emissions: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Viterbi: the best tags ``(batch, seq)`` of each sentence (0 past its length)."""
        lengths = lengths.to(emissions.device)
        batch, seq, _ = emissions.shape
        best = self.start + emissions[:, 0]  # (batch, tags)
        pointers = []
        for i in range(1, seq):
            scores = best.unsqueeze(2) + self.transitions  # (batch, from, to)
            top, came_from = scores.max(dim=1)  # (batch, to)
            live = (i < lengths).unsqueeze(1)
            best = torch.where(live, top + emissions[:, i], best)
            # past a sentence's end each tag points to itself, so the walk back passes through unchanged
            pointers.append(torch.where(live, came_from, torch.arange(best.shape[1], device=best.device)))
        tag = (best + self.end).argmax(dim=1)  # (batch,) the last tag of each sentence
        path = [tag]
        for came_from in reversed(pointers):
            tag = came_from.gather(1, tag.unsqueeze(1)).squeeze(1)
            path.append(tag)
        tags = torch.stack(path[::-1], dim=1)  # (batch, seq)
        return tags * length_mask(lengths, seq)
