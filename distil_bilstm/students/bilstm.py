"""BiLSTM students (DistilKoBiLSTM; Tang et al. 2019).

embedding (padding_idx 0) → bidirectional LSTM → [final forward state ; final backward state]
(or attention, mean or max pooling over the outputs) → dropout → (optional ReLU layer) → linear.

The LSTM is exact on right-padded batches: the forward direction reads the padded batch (its
state at ``length - 1`` has seen no padding), and the backward direction reads each sentence
reversed *within its own length* (padding stays at the end), so a sentence gets the same logits
alone and inside any padded batch. This runs on the dense LSTM kernels, which are faster on CPU
than packed sequences (bench/train_speed.py), with the same parameters as ``nn.LSTM(bidirectional=True)``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from ..training.masks import length_mask
from ..utils import dataclass_from_dict, field_checker

# (embedding_dim, hidden_dim): DistilKoBiLSTM's sizes; at vocab 3,000 and 2 labels these give
# 1,175,554 / 391,170 / 146,434 / 52,418 / 27,394 parameters.
PRESETS: dict[str, tuple[int, int]] = {
    "large": (128, 256),
    "base": (64, 128),
    "small": (32, 64),
    "mini": (16, 16),
    "tiny": (8, 16),
}
# last: the final states (DistilKoBiLSTM); attention: a learned softmax over the outputs; mean / max: over
# the outputs within each length (max: InferSent's choice for sentence embeddings, Conneau et al. 2017)
POOLINGS = ("last", "attention", "mean", "max")


@dataclass
class StudentConfig:
    vocab_size: int
    num_labels: int = 2
    embedding_dim: int = 64
    hidden_dim: int = 128
    num_layers: int = 1
    dropout: float = 0.3
    pooling: str = "last"  # one of POOLINGS
    relu_dim: int = 0  # > 0: an extra ReLU layer of this width before the classifier (Tang et al.: 400)

    def __post_init__(self) -> None:
        check = field_checker(self)
        for name in ("vocab_size", "embedding_dim", "hidden_dim", "num_layers"):
            check(getattr(self, name) >= 1, name, "must be >= 1")
        check(self.num_labels >= 1, "num_labels", "must be >= 1 (1: a regression score)")
        check(0.0 <= self.dropout < 1.0, "dropout", "must be in [0, 1)")
        check(self.pooling in POOLINGS, "pooling", f"must be one of {POOLINGS}")
        check(self.relu_dim >= 0, "relu_dim", "must be >= 0")

    @classmethod
    def from_preset(cls, preset: str, **overrides) -> "StudentConfig":
        if preset not in PRESETS:
            raise ValueError(f"unknown preset {preset!r}; choose from {list(PRESETS)}")
        embedding_dim, hidden_dim = PRESETS[preset]
        return cls(**{"embedding_dim": embedding_dim, "hidden_dim": hidden_dim, **overrides})

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "StudentConfig":
        return dataclass_from_dict(cls, values)


def reversal_index(lengths: torch.Tensor, seq_len: int) -> torch.Tensor:
    """``(batch, seq)`` positions that reverse each row within its length and keep padding in place.
    Applying it twice is the identity."""
    steps = torch.arange(seq_len, device=lengths.device).unsqueeze(0)  # (1, seq)
    lengths = lengths.unsqueeze(1)  # (batch, 1)
    return torch.where(steps < lengths, lengths - 1 - steps, steps)


class ExactBiLSTM(nn.Module):
    """Bidirectional LSTM over right-padded batches whose results do not depend on the padding."""

    def __init__(self, input_dim: int, hidden_dim: int, *, num_layers: int = 1, dropout: float = 0.0):
        super().__init__()
        dims = [input_dim] + [2 * hidden_dim] * (num_layers - 1)
        self.forward_layers = nn.ModuleList(nn.LSTM(d, hidden_dim, batch_first=True) for d in dims)
        self.backward_layers = nn.ModuleList(nn.LSTM(d, hidden_dim, batch_first=True) for d in dims)
        self.dropout = nn.Dropout(dropout)

    def forward(self, inputs: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``inputs (batch, seq, in)``, ``lengths (batch,)`` →
        ``outputs (batch, seq, 2 * hidden)`` (position-aligned, garbage past each length) and
        ``final (batch, 2 * hidden)`` = [forward state at length-1 ; backward state at position 0]."""
        lengths = lengths.to(inputs.device)
        rev = reversal_index(lengths, inputs.shape[1])  # (batch, seq)
        last = (lengths - 1).view(-1, 1, 1)
        x = inputs
        for layer, (fwd, bwd) in enumerate(zip(self.forward_layers, self.backward_layers)):
            if layer:
                x = self.dropout(x)
            out_f, _ = fwd(x)  # (batch, seq, hidden)
            out_b_rev, _ = bwd(x.gather(1, rev.unsqueeze(-1).expand(-1, -1, x.shape[-1])))  # reversed time
            hidden = out_f.shape[-1]
            final = torch.cat(
                [
                    out_f.gather(1, last.expand(-1, 1, hidden)).squeeze(1),
                    out_b_rev.gather(1, last.expand(-1, 1, hidden)).squeeze(1),
                ],
                dim=1,
            )
            out_b = out_b_rev.gather(1, rev.unsqueeze(-1).expand(-1, -1, hidden))  # back to input order
            x = torch.cat([out_f, out_b], dim=-1)  # (batch, seq, 2 * hidden)
        return x, final


class BiLSTMClassifier(nn.Module):
    def __init__(self, config: StudentConfig):
        super().__init__()
        self.config = config
        self.pooling = config.pooling  # a str TorchScript can read; the dataclass it cannot
        self.embedding = nn.Embedding(config.vocab_size, config.embedding_dim, padding_idx=0)
        self.lstm = ExactBiLSTM(
            config.embedding_dim,
            config.hidden_dim,
            num_layers=config.num_layers,
            dropout=config.dropout if config.num_layers > 1 else 0.0,
        )
        self.attention = nn.Linear(2 * config.hidden_dim, 1) if config.pooling == "attention" else None
        self.dropout = nn.Dropout(config.dropout)
        features = self.head_features()
        self.hidden = nn.Sequential(nn.Linear(features, config.relu_dim), nn.ReLU()) if config.relu_dim else None
        self.classifier = nn.Linear(config.relu_dim or features, config.num_labels)

    def head_features(self) -> int:
        """Width of what the head reads: one sentence vector [forward ; backward]."""
        return 2 * self.config.hidden_dim

    def forward(self, input_ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """``input_ids (batch, seq)`` padded with 0, ``lengths (batch,)`` ≥ 1 → logits ``(batch, labels)``."""
        return self.head(self.encode(input_ids, lengths))

    def head(self, features: torch.Tensor) -> torch.Tensor:
        """``(batch, head_features)`` → logits ``(batch, labels)``: dropout, optional ReLU layer, linear."""
        features = self.dropout(features)
        if self.hidden is not None:
            features = self.dropout(self.hidden(features))
        return self.classifier(features)

    def encode(self, input_ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """The sentence vector ``(batch, 2 * hidden)``: final states, or a pooling of the outputs."""
        embedded = self.embedding(input_ids)  # (batch, seq, emb)
        outputs, final = self.lstm(embedded, lengths)  # (batch, seq, 2 * hidden), (batch, 2 * hidden)
        if self.pooling == "last":
            return final
        mask = length_mask(lengths.to(input_ids.device), input_ids.shape[1])  # (batch, seq)
        if self.pooling == "max":
            return outputs.masked_fill(~mask.unsqueeze(-1), float("-inf")).amax(dim=1)  # padding never wins
        if self.attention is None:  # "mean"; the None test also lets TorchScript drop the attention branch
            kept = mask.unsqueeze(-1).to(outputs.dtype)  # (batch, seq, 1)
            return (outputs * kept).sum(dim=1) / kept.sum(dim=1)  # padding outputs are garbage: zeroed first
        scores = self.attention(outputs).squeeze(-1)  # (batch, seq)
        weights = torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=1)  # padding gets weight 0
        return torch.bmm(weights.unsqueeze(1), outputs).squeeze(1)  # (batch, 2 * hidden)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def preset_table(vocab_size: int = 3000, num_labels: int = 2) -> list[dict]:
    """Rows of (preset, embedding, hidden, parameters, float32 size) for ``distil-bilstm presets``."""
    rows = []
    for name, (embedding_dim, hidden_dim) in PRESETS.items():
        model = BiLSTMClassifier(StudentConfig.from_preset(name, vocab_size=vocab_size, num_labels=num_labels))
        params = count_parameters(model)
        rows.append(
            {
                "preset": name,
                "embedding_dim": embedding_dim,
                "hidden_dim": hidden_dim,
                "params": params,
                "size_mb": round(params * 4 / 2**20, 2),
            }
        )
    return rows
