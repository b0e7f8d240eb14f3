"""A token-classification teacher (named entities) and its per-token logits in a ragged store.

Each token of a sentence takes the logits of the teacher's piece that reads it (alignment.py: a
word's first piece; a KLUE character's covering piece, a later character of a piece with its
``B-`` moved to ``I-``); the labels of fine-tuning sit on the same pieces. A token no piece reads (a
bare space, a word past ``max_length`` pieces) has a row of zeros, which the students' losses read
as "no teacher view"; the store's header counts the words cut off.
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
from .alignment import align_pieces, inside_piece
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
        self,
        sentences: Sequence[Sequence[str]],
        *,
        batch_size: int = 64,
        max_length: int = 128,
        reads: str = "words",
        progress: bool = True,
    ) -> tuple[list[np.ndarray], int]:
        """Per sentence ``(tokens, num_labels)`` float32 logits of each token's piece (read as ``reads``
        says, alignment.py), and how many tokens other than spaces fell past ``max_length`` pieces
        (their rows, and a bare space's, are zeros)."""
        rows, alignments = align_pieces(self.tokenizer, sentences, max_length, reads=reads)
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
                    a = alignments[i]
                    out[i][a.tokens] = logits[row, a.pieces]
                    later = [k for k, c in zip(a.tokens, a.continues) if c]
                    if later and self.label_names:
                        out[i][later] = inside_piece(out[i][later], self.label_names)
                bar.update(len(batch))
        bar.close()
        unread = (
            sum(not t.isspace() for t in tokens) - len(alignments[i].tokens) for i, tokens in enumerate(sentences)
        )
        return out, sum(unread)


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


def open_tagged_store(
    store_dir: str | os.PathLike, dataset, *, teacher_hash: str, max_length: int, runtime: str = "torch"
) -> RaggedStore | None:
    """The ragged store in ``store_dir`` when one exists, checked against what it must have been made
    from (a stale one is refused naming what differs); None when there is none. Needs no loaded teacher:
    its weights hash is read from its files (``TeacherRef.weights_hash``)."""
    store_dir = Path(store_dir)
    if not (store_dir / HEADER).is_file():
        return None
    store = RaggedStore.open(
        store_dir,
        fingerprint=dataset.fingerprint,
        teacher_hash=teacher_hash,
        tag_names=dataset.tag_names,
        max_length=max_length,
        runtime=runtime,
        lengths=[len(s.tokens) for s in dataset.sentences],
    )
    logger.info("%s: cache hit, 0 teacher forward passes", store_dir)
    return store


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
    if not recompute:
        store = open_tagged_store(
            store_dir, dataset, teacher_hash=teacher.weights_hash, max_length=max_length, runtime=teacher.runtime
        )
        if store is not None:
            return store, 0
    if teacher.num_labels != len(dataset.tag_names):
        raise ValueError(
            f"teacher {teacher.path} has {teacher.num_labels} tags but {dataset.name} has {len(dataset.tag_names)}"
        )
    start = time.perf_counter()
    reads = dataset.unit
    rows, truncated = teacher.word_logits(
        [s.tokens for s in dataset.sentences], batch_size=batch_size, max_length=max_length, reads=reads
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
        "reads": reads,
        "teacher_trained_on": teacher.trained_on,
        "labelling_seconds": round(time.perf_counter() - start, 1),
        **({"label_order": order} if order else {}),
    }
    return finish_ragged_store(store_dir, rows, header), len(rows)
