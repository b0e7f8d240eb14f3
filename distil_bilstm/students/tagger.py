"""BiLSTM taggers: one row of tag logits per token (Lample et al. 2016; Ma & Hovy 2016).

    token i → [word embedding ; char CNN of its characters] → dropout
            → bidirectional LSTM (ExactBiLSTM: padding never changes a sentence's outputs)
            → dropout → linear → logits_i (tags)

The character encoder (Ma & Hovy's) embeds a token's first ``max_chars`` characters, convolves
them (width 3, ``char_filters`` filters) and max-pools over the characters that are there: it reads
the form of a word the vocabulary does not hold (capitals, suffixes, digits). ``char_dim`` 0 leaves
it out (KLUE's tokens are single characters). Inputs are the rows of data/tag_units.py:
``input_ids (batch, seq, 1 + max_chars)``, word id first.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from ..utils import dataclass_from_dict, field_checker
from .bilstm import ExactBiLSTM
from .crf import CRF

CHAR_KERNEL = 3


@dataclass(kw_only=True, frozen=True)
class TaggerShape:
    """A tagger's sizes that do not depend on the data (a run config composes these)."""

    embedding_dim: int = 100
    char_dim: int = 30  # 0: no character encoder
    char_filters: int = 50
    hidden_dim: int = 200
    num_layers: int = 1
    dropout: float = 0.5
    crf: bool = False  # a linear-chain CRF over the tag scores (Lample et al.): Viterbi decoding

    def __post_init__(self) -> None:
        check = field_checker(self)
        for name in ("embedding_dim", "hidden_dim", "num_layers"):
            check(getattr(self, name) >= 1, name, "must be >= 1")
        for name in ("char_dim", "char_filters"):
            check(getattr(self, name) >= 0, name, "must be >= 0")
        check(0.0 <= self.dropout < 1.0, "dropout", "must be in [0, 1)")


@dataclass(kw_only=True, frozen=True)
class TaggerConfig(TaggerShape):
    """A tagger's constructor arguments: its shape and the sizes its data gives."""

    vocab_size: int  # words, [PAD] and [UNK] included
    num_tags: int
    char_vocab_size: int = 0  # characters, [PAD] and [UNK] included; 0: no character encoder

    def __post_init__(self) -> None:
        super().__post_init__()
        check = field_checker(self)
        check(self.vocab_size >= 2, "vocab_size", "must be >= 2 ([PAD] and [UNK])")
        check(self.num_tags >= 1, "num_tags", "must be >= 1")
        check(self.char_vocab_size >= 0, "char_vocab_size", "must be >= 0")

    @property
    def uses_chars(self) -> bool:
        return self.char_vocab_size > 0 and self.char_dim > 0 and self.char_filters > 0

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "TaggerConfig":
        return dataclass_from_dict(cls, values)


class CharCNN(nn.Module):
    """``chars (batch, seq, max_chars)`` → ``(batch, seq, filters)``: each token's characters
    embedded, convolved and max-pooled over the characters present (0 for an empty token)."""

    def __init__(self, vocab_size: int, dim: int, filters: int):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, dim, padding_idx=0)
        self.conv = nn.Conv1d(dim, filters, CHAR_KERNEL, padding=CHAR_KERNEL // 2)

    def forward(self, chars: torch.Tensor) -> torch.Tensor:
        batch, seq, width = chars.shape
        flat = chars.reshape(batch * seq, width)  # (tokens, width)
        x = self.conv(self.embedding(flat).transpose(1, 2))  # (tokens, filters, width)
        present = (flat != 0).unsqueeze(1)  # (tokens, 1, width)
        x = x.masked_fill(~present, float("-inf")).amax(dim=2)  # (tokens, filters)
        x = torch.where(torch.isfinite(x), x, torch.zeros_like(x))  # a token without characters: 0
        return x.view(batch, seq, -1)


class BiLSTMTagger(nn.Module):
    def __init__(self, config: TaggerConfig):
        super().__init__()
        self.config = config
        self.embedding = nn.Embedding(config.vocab_size, config.embedding_dim, padding_idx=0)
        self.chars = (
            CharCNN(config.char_vocab_size, config.char_dim, config.char_filters) if config.uses_chars else None
        )
        width = config.embedding_dim + (config.char_filters if self.chars is not None else 0)
        self.lstm = ExactBiLSTM(width, config.hidden_dim, num_layers=config.num_layers, dropout=config.dropout)
        self.dropout = nn.Dropout(config.dropout)
        self.head = nn.Linear(2 * config.hidden_dim, config.num_tags)
        self.crf = CRF(config.num_tags) if config.crf else None

    def forward(self, input_ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """``input_ids (batch, seq, 1 + max_chars)`` (or ``(batch, seq)``: word ids alone),
        ``lengths (batch,)`` → ``logits (batch, seq, tags)`` (past each length: padding's, unused)."""
        words = input_ids[..., 0] if input_ids.dim() == 3 else input_ids  # (batch, seq)
        x = self.embedding(words)  # (batch, seq, embedding_dim)
        if self.chars is not None:
            x = torch.cat([x, self.chars(input_ids[..., 1:])], dim=-1)  # (batch, seq, width)
        outputs, _ = self.lstm(self.dropout(x), lengths)  # (batch, seq, 2 * hidden)
        return self.head(self.dropout(outputs))

    def decode(self, logits: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """The tags ``(batch, seq)`` of ``forward``'s logits: Viterbi through the CRF, or each token's
        best tag."""
        return self.crf.decode(logits, lengths) if self.crf is not None else logits.argmax(dim=-1)
