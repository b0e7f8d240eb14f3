"""Which teacher a path names, decided once and from its files alone (no weights are loaded).

    kind         how it is read                                  label names from       max length from
    store        a logit store (``header.json``)                 its header             its header
    baseline     a TF-IDF baseline run (``distil-bilstm baseline``) its student.json    (reads whole texts)
    biencoder    a pair bi-encoder checkpoint (``biencoder.json``)  (one score)          its eval.json
    tagger       a token classifier (named entities)             config.json id2label   its eval.json
    checkpoint   a Hugging Face sequence classifier folder       config.json id2label   its eval.json
    hub          a hub id (only where a network or cache has it)  (after loading)       (unknown)

:func:`teacher_kind` is the one place that tells them apart; :class:`TeacherRef` carries what a cache
key needs (kind, weights hash, label names, the max length it was trained with, the splits it saw),
so a cache hit is decided without loading the model, and :func:`load_teacher` loads the weights only
when a store must be computed.
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import torch

from ...rundir import RunDir, split_student_json
from ...utils import read_json, sha256_file
from ..stores.store import HEADER
from .biencoder import BIENCODER_FILE, load_biencoder_teacher
from .tagger import is_tagger, load_tagger
from .teacher import (
    check_checkpoint_path,
    load_classifier,
    load_ngram_teacher,
    named_labels,
    recorded_trained_on,
    teacher_weights_hash,
)

logger = logging.getLogger(__name__)

KINDS = ("store", "baseline", "biencoder", "tagger", "checkpoint", "hub")


def teacher_kind(path: str | os.PathLike) -> str:
    """One of :data:`KINDS` for ``path``; a path that is none of them is refused naming it (a run folder
    of a student, a folder without ``config.json``, a mistyped local path)."""
    folder = Path(path)
    if (folder / HEADER).is_file():
        return "store"
    run = RunDir(folder)
    if run.is_run() and run.read_student().get("architecture") == "tfidf-lr":
        return "baseline"
    if not check_checkpoint_path(str(path)):  # raises for anything local that is no checkpoint
        return "hub"
    if (folder / BIENCODER_FILE).is_file():
        return "biencoder"
    return "tagger" if is_tagger(read_json(folder / "config.json")) else "checkpoint"


def is_checkpoint(path: str | os.PathLike) -> bool:
    """A local teacher with transformer layers (a classifier or a bi-encoder checkpoint)."""
    try:
        return teacher_kind(path) in ("checkpoint", "biencoder")
    except (FileNotFoundError, ValueError):
        return False


@dataclass(frozen=True)
class TeacherRef:
    """A teacher as its files describe it. ``label_names`` is None where they are not named (matched
    by position); ``max_length`` the pieces it was trained (or a store labelled) with, None if unknown."""

    path: Path
    kind: str
    label_names: tuple[str, ...] | None = None
    max_length: int | None = None
    trained_on: tuple[str, ...] | None = None

    @classmethod
    def resolve(cls, path: str | os.PathLike) -> "TeacherRef":
        kind = teacher_kind(path)
        folder = Path(path)
        names, max_length, trained_on = None, None, None
        if kind == "store":
            header = read_json(folder / HEADER)
            names, max_length = header.get("label_names"), header.get("max_length")
            trained_on = header.get("teacher_trained_on")
        elif kind == "baseline":
            _, _, names = split_student_json(RunDir(folder).read_student())
            trained_on = ["train"]
        elif kind in ("checkpoint", "biencoder", "tagger"):
            config = read_json(folder / "config.json")
            id2label = config.get("id2label") or {}
            names = [id2label[k] for k in sorted(id2label, key=int)] if kind != "biencoder" else None
            report = read_json(folder / "eval.json") if (folder / "eval.json").is_file() else {}
            max_length = (report.get("config") or {}).get("max_length") or report.get("max_length")
            trained_on = recorded_trained_on(folder)
        return cls(
            path=folder,
            kind=kind,
            label_names=named_labels(names) if kind in ("checkpoint", "tagger") else _tuple(names),
            max_length=int(max_length) if max_length else None,
            trained_on=_tuple(trained_on),
        )

    @cached_property
    def weights_hash(self) -> str | None:
        """What a logit store records as ``teacher_hash``: a hash of the files that make the teacher's
        outputs (None for a hub id, known only once loaded)."""
        if self.kind in ("checkpoint", "tagger"):
            return teacher_weights_hash(self.path)
        if self.kind == "biencoder":
            return biencoder_hash(self.path)
        if self.kind == "baseline":
            return baseline_hash(self.path)
        if self.kind == "store":
            return read_json(self.path / HEADER).get("teacher_hash")
        return None

    def labelling_length(self, asked: int | None) -> int:
        """The pieces a text may have when this teacher labels it: ``asked``, else the length it was
        trained with (a teacher fine-tuned at 64 pieces labels at 64), else 128."""
        return int(asked or self.max_length or 128)

    def load(self, *, device: str | torch.device = "auto", num_labels: int | None = None):
        """The teacher's model, loaded now (a store has none to load)."""
        if self.kind == "store":
            raise ValueError(f"{self.path} is a logit store: it has no model to run (its logits are read as they are)")
        if self.kind == "baseline":
            teacher = load_ngram_teacher(self.path, weights_hash=self.weights_hash, label_names=self.label_names)
            if num_labels is not None and teacher.num_labels != num_labels:
                raise ValueError(
                    f"baseline {self.path} has {teacher.num_labels} labels but the dataset has {num_labels}"
                )
            return teacher
        if self.kind == "biencoder":
            if num_labels is not None and num_labels != 1:
                raise ValueError(
                    f"teacher {self.path} is a bi-encoder (one similarity score) but the dataset has {num_labels} labels"
                )
            return load_biencoder_teacher(self.path, device=device, weights_hash=self.weights_hash)
        if self.kind == "tagger":
            return load_tagger(self.path, device=device, weights_hash=self.weights_hash, trained_on=self.trained_on)
        return load_classifier(
            str(self.path),
            device=device,
            num_labels=num_labels,
            weights_hash=self.weights_hash,
            trained_on=self.trained_on,
        )


def _tuple(values) -> tuple | None:
    return tuple(values) if values else None


def biencoder_hash(folder: str | os.PathLike) -> str:
    """A bi-encoder's outputs depend on its weights and on biencoder.json (the score's scale)."""
    folder = Path(folder)
    return hashlib.sha256((teacher_weights_hash(folder) + (folder / BIENCODER_FILE).read_text()).encode()).hexdigest()


def baseline_hash(path: str | os.PathLike) -> str:
    """A TF-IDF baseline's outputs depend on its weights and its vocabulary files."""
    run = RunDir(path)
    digest = hashlib.sha256()
    for file in (run.weights_file, *sorted(run.vocab_dir.iterdir())):
        digest.update(sha256_file(file).encode())
    return digest.hexdigest()


def load_teacher(path: str | os.PathLike, *, device: str | torch.device = "auto", num_labels: int | None = None):
    """A teacher model from ``path`` (a checkpoint, a bi-encoder, a TF-IDF baseline run or a hub id),
    checked to have ``num_labels`` outputs."""
    return TeacherRef.resolve(path).load(device=device, num_labels=num_labels)
