"""A token-classification teacher (named entities) and its per-word logits in a ragged store.

The teacher reads each sentence as its words (``is_split_into_words``: a KLUE sentence's words are
its characters) cut into its own pieces; a word's logits are those of its first piece, the labels
of fine-tuning sit on the same pieces (Devlin et al. 2019's NER recipe). A word past ``max_length``
pieces has no piece: its row is all zeros (a uniform distribution) and the store's header counts it.
The teacher's columns are matched to the dataset's tags by name, as a sentence teacher's labels are.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from tqdm.auto import tqdm
from transformers import (
    AutoModelForTokenClassification,
    AutoTokenizer,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

from ...training.batching import length_sorted_batches
from ...utils import resolve_device
from ..stores.ragged import RaggedStore, finish_ragged_store
from ..stores.store import HEADER
from .teacher import loading, match_labels, named_labels, pad_batch

logger = logging.getLogger(__name__)


@dataclass
class TokenTeacher:
    model: PreTrainedModel
    tokenizer: PreTrainedTokenizerBase
    path: str
    weights_hash: str
    device: torch.device
    label_names: tuple[str, ...] | None = None
    trained_on: list[str] | None = None
    runtime = "torch"

    @property
    def num_labels(self) -> int:
        return int(self.model.config.num_labels)

    def word_logits(
        self, sentences: Sequence[Sequence[str]], *, batch_size: int = 64, max_length: int = 128, progress: bool = True
    ) -> tuple[list[np.ndarray], int]:
        """Per sentence ``(words, num_labels)`` float32 logits of each word's first piece, and how many
        words fell past ``max_length`` pieces (their rows are zeros)."""
        rows, firsts = first_pieces(self.tokenizer, sentences, max_length)
        out = [np.zeros((len(words), self.num_labels), dtype=np.float32) for words in sentences]
        pad_id = self.tokenizer.pad_token_id or 0
        bar = tqdm(total=len(rows), desc="tagger", unit="sent", disable=not progress, leave=False)
        with torch.inference_mode():
            for batch in length_sorted_batches([len(r) for r in rows], batch_size):
                ids, mask = pad_batch([rows[i] for i in batch], pad_id)
                logits = self.model(
                    input_ids=ids.to(self.device), attention_mask=mask.to(self.device)
                ).logits  # (B, T, L)
                logits = logits.float().cpu().numpy()
                for row, i in enumerate(batch):
                    words, pieces = firsts[i]
                    out[i][words] = logits[row, pieces]
                bar.update(len(batch))
        bar.close()
        truncated = sum(len(words) - len(firsts[i][0]) for i, words in enumerate(sentences))
        return out, truncated


def first_pieces(
    tokenizer: PreTrainedTokenizerBase, sentences: Sequence[Sequence[str]], max_length: int
) -> tuple[list[list[int]], list[tuple[list[int], list[int]]]]:
    """The teacher's ids of each sentence (special tokens included, cut at ``max_length``) and, per
    sentence, (word positions, piece positions) of each word's first piece that fits."""
    encoded = tokenizer(
        [list(words) for words in sentences], is_split_into_words=True, truncation=True, max_length=max_length
    )
    firsts = []
    for i in range(len(sentences)):
        words, pieces, seen = [], [], set()
        for piece, word in enumerate(encoded.word_ids(i)):
            if word is not None and word not in seen:
                seen.add(word)
                words.append(word)
                pieces.append(piece)
        firsts.append((words, pieces))
    return encoded["input_ids"], firsts


def is_tagger(config: dict) -> bool:
    """A checkpoint's config.json names a token classifier."""
    return any(str(a).endswith("ForTokenClassification") for a in config.get("architectures") or ())


def load_tagger(
    path: str | os.PathLike,
    *,
    device: str | torch.device = "auto",
    weights_hash: str,
    trained_on: Sequence[str] | None = None,
) -> TokenTeacher:
    device = resolve_device(device)
    with loading(str(path)):
        model = AutoModelForTokenClassification.from_pretrained(str(path))
        tokenizer = AutoTokenizer.from_pretrained(str(path))
    if not tokenizer.is_fast:  # word_ids() needs a fast tokenizer
        raise ValueError(f"{path}: a token teacher needs a fast tokenizer (tokenizer.json), to map pieces to words")
    model.to(device).eval()
    names = named_labels([model.config.id2label[i] for i in sorted(model.config.id2label)])
    return TokenTeacher(
        model=model,
        tokenizer=tokenizer,
        path=str(path),
        weights_hash=weights_hash,
        device=device,
        label_names=names,
        trained_on=list(trained_on) if trained_on else None,
    )


def label_tagged(
    teacher: TokenTeacher,
    dataset,
    *,
    store_dir: str | os.PathLike,
    batch_size: int = 64,
    max_length: int = 128,
    recompute: bool = False,
) -> tuple[RaggedStore, int]:
    """The teacher's per-word logits of every sentence of ``dataset`` (a ``TaggedDataset``) in a ragged
    store, reused when one made from the same teacher, data, tags and length exists; returns it and
    the sentences the teacher ran on."""
    order = match_labels(teacher.label_names, dataset.tag_names, teacher=teacher.path, dataset=dataset.name)
    store_dir = Path(store_dir)
    lengths = [len(s.tokens) for s in dataset.sentences]
    expect = dict(
        fingerprint=dataset.fingerprint,
        teacher_hash=teacher.weights_hash,
        tag_names=dataset.tag_names,
        max_length=max_length,
        runtime=teacher.runtime,
        lengths=lengths,
    )
    if (store_dir / HEADER).is_file() and not recompute:
        store = RaggedStore.open(store_dir, **expect)
        logger.info("%s: cache hit, 0 teacher forward passes", store_dir)
        return store, 0
    if teacher.num_labels != len(dataset.tag_names):
        raise ValueError(
            f"teacher {teacher.path} has {teacher.num_labels} tags but {dataset.name} has {len(dataset.tag_names)}"
        )
    start = time.perf_counter()
    rows, truncated = teacher.word_logits(
        [s.tokens for s in dataset.sentences], batch_size=batch_size, max_length=max_length
    )
    if order is not None:
        rows = [r[:, order] for r in rows]
    if truncated:
        logger.warning(
            "%d words of %s fell past %d teacher pieces: their logits are zeros", truncated, dataset.name, max_length
        )
    header = {
        "teacher_path": str(teacher.path),
        "teacher_hash": teacher.weights_hash,
        "dataset": dataset.name,
        "dataset_fingerprint": dataset.fingerprint,
        "label_names": list(dataset.tag_names),
        "max_length": max_length,
        "runtime": teacher.runtime,
        "truncated_words": truncated,
        "teacher_trained_on": teacher.trained_on,
        "labelling_seconds": round(time.perf_counter() - start, 1),
        **({"label_order": order} if order else {}),
    }
    return finish_ragged_store(store_dir, rows, header), len(rows)
