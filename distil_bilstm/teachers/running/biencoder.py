"""A bi-encoder teacher for sentence pairs: each side encoded alone, the score the cosine of the two
mean-pooled states (Reimers & Gurevych 2019, "Sentence-BERT"; the way E5 itself was trained).

    score(A, B) = scale · cos(mean(H_A), mean(H_B))

``H_X`` the encoder's last-layer states over X's tokens (padding excluded) and ``scale`` the top of
the training scores (5 for KorSTS), so that the score lives on the gold labels' scale and the
regression losses (training/losses.py) compare like with like. Fine-tuned with ``MSE(score, y)``,
which is Sentence-BERT's CosineSimilarityLoss ``MSE(cos, y / scale)`` times ``scale²``.

A bi-encoder checkpoint is a Hugging Face encoder folder (``AutoModel``) with ``biencoder.json``
beside its weights; :func:`load_teacher` recognises it by that file. Against a cross-encoder it
reads each sentence once, so a transfer set of pairs that share sentences is labelled faster, and
its two sides mirror the siamese student's.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from torch import nn
from transformers import AutoModel, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from ...data.pairs import Text, is_pair, split_pairs
from ...training.masks import length_mask, masked_mean
from ...utils import read_json, resolve_device, write_json
from .states import encode_sides
from .teacher import Teacher, recorded_trained_on, sentence_states

BIENCODER_FILE = "biencoder.json"


def write_biencoder_info(folder: Path, *, scale: float) -> None:
    write_json(folder / BIENCODER_FILE, {"similarity": "cosine", "pooling": "mean", "scale": float(scale)})


def pair_rows(tokenizer: PreTrainedTokenizerBase, texts: Sequence[Text], max_length: int) -> list[list[int]]:
    """Each pair's two sides tokenized alone (``<s> A </s>``, ``<s> B </s>``, each at most
    ``max_length``) and concatenated into one row: :func:`split_rows` cuts it again at B's ``<s>``."""
    firsts, seconds = split_pairs(texts)
    rows_a = tokenizer(firsts, truncation=True, max_length=max_length)["input_ids"]
    rows_b = tokenizer(seconds, truncation=True, max_length=max_length)["input_ids"]
    return [a + b for a, b in zip(rows_a, rows_b)]


def split_rows(
    input_ids: torch.Tensor, lengths: torch.Tensor, *, cls_id: int, pad_id: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """``input_ids (batch, seq)`` rows made by :func:`pair_rows` → ``(ids, mask)`` of both sides
    stacked, ``(2 · batch, width)``: the first ``batch`` rows are the A sides, the rest the B sides,
    each right-padded with ``pad_id`` to the longest side. B starts at the row's second ``cls_id``
    (a start token appears only where a side starts); a row without one is refused."""
    batch, seq = input_ids.shape
    lengths = lengths.to(input_ids.device)
    steps = torch.arange(seq, device=input_ids.device).unsqueeze(0)  # (1, seq)
    starts = (input_ids == cls_id) & (steps >= 1) & (steps < lengths.unsqueeze(1))  # (batch, seq)
    if not bool(starts.any(dim=1).all()):
        raise ValueError("a bi-encoder row has no second side: rows must be made by biencoder.pair_rows")
    split = starts.int().argmax(dim=1)  # (batch,) where B starts
    lengths_a, lengths_b = split, lengths - split
    width = int(torch.maximum(lengths_a, lengths_b).max())
    positions = (split.unsqueeze(1) + steps[:, :width]).clamp_max(seq - 1)  # (batch, width) into the row
    ids = torch.cat([input_ids[:, :width], input_ids.gather(1, positions)])  # (2·batch, width)
    mask = length_mask(torch.cat([lengths_a, lengths_b]), width)  # (2·batch, width)
    return ids.masked_fill(~mask, pad_id), mask


class BiEncoderRegressor(nn.Module):
    """An encoder behind the Trainer's ``model(input_ids, lengths)`` call, scoring pair rows
    (:func:`pair_rows`) as ``scale · cos`` → ``(batch, 1)``."""

    def __init__(self, model: PreTrainedModel, *, cls_id: int, pad_id: int, scale: float):
        super().__init__()
        self.model = model
        self.cls_id, self.pad_id, self.scale = cls_id, pad_id, float(scale)

    def forward(self, input_ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        ids, mask = split_rows(input_ids, lengths, cls_id=self.cls_id, pad_id=self.pad_id)
        states = self.model(input_ids=ids, attention_mask=mask.long()).last_hidden_state  # (2·batch, width, hidden)
        pooled = masked_mean(states, mask)  # (2·batch, hidden)
        first, second = pooled.chunk(2)
        return self.scale * nn.functional.cosine_similarity(first, second, dim=-1).unsqueeze(1)  # (batch, 1)


@dataclass
class BiEncoderTeacher(Teacher):
    scale: float = 5.0

    @property
    def num_labels(self) -> int:
        return 1

    def logits(
        self,
        texts: Sequence[Text],
        *,
        batch_size: int = 128,
        max_length: int = 128,
        progress: bool = True,
        on_batch: Callable[[int], None] | None = None,
    ) -> np.ndarray:
        """``(len(texts), 1)`` scores of sentence pairs; each distinct sentence is encoded once."""
        texts = list(texts)
        if texts and not is_pair(texts[0]):
            raise ValueError(f"{self.path} is a bi-encoder: it scores sentence pairs, not single texts")
        a, b = encode_sides(
            texts,
            lambda sentences: self.sentence_embeddings(
                sentences, batch_size=batch_size, max_length=max_length, progress=progress
            ),
        )
        if on_batch:
            on_batch(len(texts))
        return (self.scale * (a * b).sum(axis=1, keepdims=True)).astype(np.float32)

    def sentence_embeddings(
        self, sentences: Sequence[str], *, batch_size: int = 128, max_length: int = 128, progress: bool = True
    ) -> np.ndarray:
        """Unit-length mean-pooled states ``(len(sentences), hidden)``."""
        states = sentence_states(
            self, sentences, batch_size=batch_size, max_length=max_length, desc="bi-encoder", progress=progress
        )
        return states / np.linalg.norm(states, axis=1, keepdims=True).clip(min=1e-12)  # as torch's normalize


def load_biencoder_teacher(
    path: str | os.PathLike, *, device: str | torch.device = "auto", weights_hash: str
) -> BiEncoderTeacher:
    """A pair bi-encoder checkpoint (``teachers.reference.load_teacher`` decides that ``path`` is one)."""
    device = resolve_device(device)
    folder = Path(path)
    info = read_json(folder / BIENCODER_FILE)
    if info.get("similarity") != "cosine" or info.get("pooling") != "mean" or not float(info.get("scale", 0)) > 0:
        raise ValueError(
            f"{folder / BIENCODER_FILE}: expected similarity 'cosine', pooling 'mean' and a positive scale, got {info}"
        )
    model = AutoModel.from_pretrained(str(folder)).to(device).eval()
    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    return BiEncoderTeacher(
        model=model,
        tokenizer=tokenizer,
        path=str(path),
        weights_hash=weights_hash,
        device=device,
        trained_on=recorded_trained_on(folder),
        scale=float(info["scale"]),
    )
