"""The siamese BiLSTM for sentence pairs (Tang et al. 2019, "Distilling Task-Specific Knowledge
from BERT into Simple Neural Networks", §3.2).

One BiLSTM encoder, shared by both sentences, gives sentence vectors u and v; the head reads
Tang's feature vector f = [u ; v ; |u − v| ; u ⊙ v] (width 4 · 2 · hidden) through a ReLU layer
(``relu_dim``) into the outputs (one score for a regression task such as KorSTS).

``head="cosine"`` scores a pair as a bi-encoder teacher does (Reimers & Gurevych 2019,
Sentence-BERT §3): s = a · cos(W u, W v) + b, W the ``relu_dim`` projection (none when 0), a and b
learned, starting at 2.5 and 2.5 (cosine's [−1, 1] onto a 0–5 scale such as KorSTS's). One output,
symmetric in its two sentences, and each sentence's vector W u is an embedding to compare by cosine.
With ``relu_dim`` set to the teacher's hidden size, ``forward(..., return_features=True)`` also
gives (W u, W v), which the cosine hidden-state loss pulls towards the teacher's own sentence states
(embedding distillation: Reimers & Gurevych 2020, §2).

A pair arrives as one row ``A [SEP] B`` (data/vocab.py ``pair_token_rows``), so that the Trainer,
batching, inference and export see one sequence as for every other student; ``forward`` splits it
at the first [SEP]. Both halves are encoded in one batch of 2·batch rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..data.specials import SPECIAL_TOKENS
from ..utils import field_checker
from .bilstm import BiLSTMClassifier, StudentConfig

SEP_ID = SPECIAL_TOKENS.index("[SEP]")  # every student vocabulary lists the specials first, in this order
HEADS = ("features", "cosine")  # Tang's MLP over [u ; v ; |u − v| ; u ⊙ v] | Sentence-BERT's cosine


@dataclass
class SiameseConfig(StudentConfig):
    sep_id: int = SEP_ID  # the token between the two sides (relu_dim > 0: Tang's ReLU layer before the output)
    head: str = "features"

    def __post_init__(self) -> None:
        super().__post_init__()
        check = field_checker(self)
        check(self.head in HEADS, "head", f"must be one of {HEADS}")
        check(self.head != "cosine" or self.num_labels == 1, "head", "'cosine' gives one score: num_labels must be 1")


def split_at_separator(
    input_ids: torch.Tensor, lengths: torch.Tensor, sep_id: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """``input_ids (batch, seq)`` rows ``A [SEP] B`` → ``(ids_a, lengths_a, ids_b, lengths_b)``, each
    side right-padded with 0 and of length ≥ 1 (a row without a separator is all first side, and
    its second side one [PAD]: the model still runs, on an empty sentence)."""
    batch, seq = input_ids.shape
    lengths = lengths.to(input_ids.device)
    steps = torch.arange(seq, device=input_ids.device).unsqueeze(0)  # (1, seq)
    is_sep = (input_ids == sep_id) & (steps < lengths.unsqueeze(1))  # (batch, seq)
    sep_pos = torch.where(is_sep.any(dim=1), is_sep.int().argmax(dim=1), lengths)  # (batch,)
    lengths_a = sep_pos.clamp_min(1)
    lengths_b = (lengths - sep_pos - 1).clamp_min(1)
    ids_a = input_ids.masked_fill(steps >= lengths_a.unsqueeze(1), 0)  # (batch, seq)
    positions = (sep_pos.unsqueeze(1) + 1 + steps).clamp_max(seq - 1)  # (batch, seq) into the row
    ids_b = input_ids.gather(1, positions).masked_fill(steps >= (lengths - sep_pos - 1).unsqueeze(1), 0)
    return ids_a, lengths_a, ids_b, lengths_b


def _exporting() -> bool:
    return (
        torch.jit.is_tracing()
        or torch.jit.is_scripting()
        or torch.onnx.is_in_onnx_export()
        or torch.compiler.is_compiling()
        or torch.compiler.is_exporting()
    )  # torch.export (the dynamo ONNX exporter) traces through dynamo


class SiameseBiLSTM(BiLSTMClassifier):
    def __init__(self, config: SiameseConfig):
        super().__init__(config)
        if config.head == "cosine":  # the MLP head made above is replaced by a projection and an affine score
            width = 2 * config.hidden_dim
            self.hidden = nn.Linear(width, config.relu_dim) if config.relu_dim else None
            self.classifier = None
            self.cosine_affine = nn.Parameter(torch.tensor([2.5, 2.5]))  # (a, b) of a · cos + b

    def head_features(self) -> int:
        return 4 * 2 * self.config.hidden_dim  # [u ; v ; |u − v| ; u ⊙ v]

    @property
    def embedding_width(self) -> int:
        """Width of a sentence's embedding W u (the cosine head's; ``relu_dim``, or the BiLSTM's 2 · hidden)."""
        return self.config.relu_dim or 2 * self.config.hidden_dim

    def embed(self, u: torch.Tensor) -> torch.Tensor:
        """The cosine head's sentence embedding: ``(batch, 2 * hidden)`` → W u ``(batch, embedding_width)``."""
        u = self.dropout(u)
        return self.hidden(u) if self.hidden is not None else u

    def pair_score(self, u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """Sentence vectors ``u, v (batch, 2 * hidden)`` → ``(batch, labels)``."""
        if self.config.head == "features":
            return self.head(torch.cat([u, v, (u - v).abs(), u * v], dim=1))
        return self.cosine_score(self.embed(u), self.embed(v))

    def cosine_score(self, wu: torch.Tensor, wv: torch.Tensor) -> torch.Tensor:
        """Embeddings ``(batch, embedding_width)`` each → a · cos(W u, W v) + b ``(batch, 1)``."""
        cosine = torch.nn.functional.cosine_similarity(wu, wv, dim=1, eps=1e-8).unsqueeze(1)  # (batch, 1)
        return self.cosine_affine[0] * cosine + self.cosine_affine[1]

    def forward(self, input_ids: torch.Tensor, lengths: torch.Tensor, return_features: bool = False):
        """``input_ids (batch, seq)`` rows ``A [SEP] B`` padded with 0 → ``(batch, labels)``; with
        ``return_features`` (cosine head only) also both sentences' embeddings ``(batch, 2, embedding_width)``,
        what the cosine hidden-state loss compares with the teacher's per-side states."""
        ids_a, lengths_a, ids_b, lengths_b = split_at_separator(input_ids, lengths, self.config.sep_id)
        width = max(int(lengths_a.max()), int(lengths_b.max())) if not _exporting() else input_ids.shape[1]
        # each side is at most half the row: run the LSTM over its own width, not the pair's (about half the
        # compute; the result is the same, the BiLSTM being exact on padding). An export keeps the full width,
        # since a width read from the data would be frozen into the traced graph.
        ids = torch.cat([ids_a[:, :width], ids_b[:, :width]])  # (2 * batch, width)
        both = self.encode(ids, torch.cat([lengths_a, lengths_b]))  # (2 * batch, 2 * hidden)
        u, v = both.chunk(2)  # (batch, 2 * hidden) each
        if not return_features:
            return self.pair_score(u, v)
        if self.config.head != "cosine":
            raise ValueError(
                "only the cosine head has sentence embeddings to compare with the teacher's (pair_head: cosine)"
            )
        wu, wv = self.embed(u), self.embed(v)  # (batch, embedding_width) each
        return self.cosine_score(wu, wv), torch.stack([wu, wv], dim=1)
