"""The teacher's sentence states of the rows a student trains on, computed once into a store.

The cosine hidden-state loss (training/losses.py ``cosine_loss``) compares a student's sentence
vector with the teacher's: the teacher's last-layer states averaged over a text's tokens. They are
computed once per (teacher, rows, max_length) into a folder of the logit-store format
(teachers/stores/store.py: chunked, resumable, ``header.json`` written last), beside the logit store of the
same rows (:func:`states_dir`), so that the runs of a grid, in any process, share them; ``teacher
logits --states`` writes them ahead of a grid, and for a bi-encoder in the same pass as its scores.

Two shapes, as the student reads its input:

    whole     (N, 1, hidden)   the states of each row's text as the teacher reads it (a transformer
                               student: one sequence, a pair as the cross-encoder's <s> A </s></s> B </s>)
    per side  (N, 2, hidden)   a pair's two sentences each encoded alone (the siamese student, whose
                               W·u and W·v are compared with them: the embedding distillation of
                               Reimers & Gurevych 2020, "Making Monolingual Sentence Embeddings
                               Multilingual using Knowledge Distillation", §2)

Per side, each distinct sentence of a chunk is encoded once: an augmented transfer set repeats its
sentences across pairs.
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from ...data.datasets import Dataset
from ...data.pairs import Text, split_pairs
from ..stores.store import build_store
from .teacher import Teacher, sentence_states

logger = logging.getLogger(__name__)

SHAPES = {"whole": 1, "per_side": 2}  # sides per row


def states_dir(logits_dir: str | os.PathLike) -> Path:
    """Where the states of a logit store's rows live: beside it, ``<logits folder>.states``."""
    logits_dir = Path(logits_dir)
    return logits_dir.with_name(logits_dir.name + ".states")


def state_rows(target: Dataset) -> tuple[list[Text], str]:
    """The rows of ``target`` whose states a run reads, and their fingerprint: a dataset's train split
    (the only split a loss reads), a transfer set's every row (``data.datasets.load_transfer_set``)."""
    table = target.table
    if (table["split"] == "transfer").all():
        return table["text"].tolist(), target.fingerprint
    return target.split("train")["text"].tolist(), f"{target.fingerprint}:train"


def states_fingerprint(rows_fingerprint: str, shape: str, max_length: int) -> str:
    """The fingerprint a states store is checked against: the rows', how they were cut and read."""
    return hashlib.sha256(f"{rows_fingerprint}:states:{shape}:{max_length}".encode()).hexdigest()


def encode_sides(texts: Sequence[Text], encode: Callable[[list[str]], np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Pairs → ``(first sides, second sides)``, each ``(len(texts), width)``, from ``encode(sentences)
    -> (len(sentences), width)`` called once over the distinct sentences (in first-seen order)."""
    firsts, seconds = split_pairs(texts)
    sentences = list(dict.fromkeys(firsts + seconds))
    states = encode(sentences)
    row = {s: i for i, s in enumerate(sentences)}
    return states[[row[s] for s in firsts]], states[[row[s] for s in seconds]]


def teacher_state_rows(
    teacher: Teacher,
    texts: Sequence[Text],
    *,
    shape: str,
    batch_size: int = 128,
    max_length: int = 128,
    progress: bool = False,
) -> np.ndarray:
    """``(len(texts), sides · hidden)`` float32: each row's states, sides side by side."""

    def encode(sentences: Sequence[str]) -> np.ndarray:
        return sentence_states(teacher, sentences, batch_size=batch_size, max_length=max_length, progress=progress)

    return encode(texts) if shape == "whole" else np.concatenate(encode_sides(texts, encode), axis=1)


def cache_teacher_states(
    teacher: Teacher,
    texts: Sequence[Text],
    *,
    store_dir: str | os.PathLike,
    rows_fingerprint: str,
    shape: str,
    max_length: int = 128,
    batch_size: int = 128,
    progress: bool = True,
) -> torch.Tensor:
    """The teacher's states of ``texts`` ``(N, sides, hidden)`` from the store at ``store_dir``,
    computed (and written) first when it does not exist; a store of other rows, another teacher or
    another shape is refused as stale."""
    if shape not in SHAPES:
        raise ValueError(f"shape must be one of {tuple(SHAPES)}, got {shape!r}")
    sides, hidden = SHAPES[shape], int(teacher.model.config.hidden_size)
    header = {
        "kind": "teacher_states",
        "shape": shape,
        "teacher_path": str(teacher.path),
        "teacher_hash": teacher.weights_hash,
        "dataset_fingerprint": states_fingerprint(rows_fingerprint, shape, max_length),
        "rows_fingerprint": rows_fingerprint,
        "num_labels": sides * hidden,
        "max_length": max_length,
    }

    def compute(chunk: Sequence[Text], advance) -> np.ndarray:
        states = teacher_state_rows(teacher, chunk, shape=shape, batch_size=batch_size, max_length=max_length)
        advance(len(chunk))
        return states

    result = build_store(store_dir, texts=list(texts), compute=compute, header=header, progress=progress)
    if result.computed_examples:
        logger.info("teacher states (%s) of %d rows written to %s", shape, result.computed_examples, store_dir)
    return result.store.logits.view(len(texts), sides, hidden)
