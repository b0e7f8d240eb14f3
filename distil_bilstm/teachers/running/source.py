"""``teacher_path`` resolved once: a logit store, or a teacher checkpoint whose stores live under
``cache_dir``. Everything that needs the teacher's logits, its transfer-set logits or its weights
asks this object instead of re-guessing from the path.

    store S:       logits  S                          transfer sets  S.transfer.<stem> (beside S)
    checkpoint C:  logits  <cache_dir>/<C's name>/<dataset>   transfer sets  <cache_dir>/<C's name>/<dataset>.transfer.<stem>
    either:        sentence states (teachers/running/states.py) beside the logits of the same rows, in <that folder>.states

For a store made by ``teacher logits`` both rules name the same folders.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ...data.datasets import transfer_name
from ..stores.store import HEADER, LogitStore, default_store_dir
from .reference import TeacherRef, is_checkpoint
from .states import states_dir


@dataclass(frozen=True)
class TeacherSource:
    """A teacher (:class:`TeacherRef`: what its files say it is) and where its stores live."""

    reference: TeacherRef
    cache_dir: Path

    @classmethod
    def resolve(cls, teacher_path: str | os.PathLike, *, cache_dir: str | os.PathLike) -> "TeacherSource":
        """The teacher at ``teacher_path``, decided now: a path that is no logit store, no TF-IDF baseline
        run and no checkpoint (a hub id passes) is refused naming it, before any work."""
        return cls(reference=TeacherRef.resolve(teacher_path), cache_dir=Path(cache_dir))

    @property
    def path(self) -> Path:
        return self.reference.path

    @property
    def is_store(self) -> bool:
        return self.reference.kind == "store"

    def check(self) -> "TeacherSource":
        """Itself: a source is checked when it is resolved."""
        return self

    def store_dir(self, dataset_name: str) -> Path:
        """The folder holding (or about to hold) the teacher's logits of ``dataset_name``."""
        return self.path if self.is_store else default_store_dir(self.cache_dir, self.path.name, dataset_name)

    def transfer_store_dir(self, dataset_name: str, transfer_path: str | os.PathLike) -> Path:
        if self.is_store:
            return self.path.parent / transfer_name(self.path.name, transfer_path)
        return default_store_dir(self.cache_dir, self.path.name, transfer_name(dataset_name, transfer_path))

    def open_transfer_store(
        self, dataset, transfer_path: str | os.PathLike, *, fingerprint: str, max_length: int | None = None
    ) -> LogitStore:
        """The logits of a transfer set's rows (``fingerprint``: the set's), or a clear error naming the
        command that makes them when they are not there; a store made by another teacher, with other
        labels or (``max_length`` given) at another length is refused."""
        store_dir = self.transfer_store_dir(dataset.name, transfer_path)
        if not (store_dir / HEADER).is_file():
            raise FileNotFoundError(
                f"transfer set {transfer_path}: no logits at {store_dir}; label it with the teacher behind {self.path}: "
                f"distil-bilstm teacher logits --dataset {dataset.name} --teacher TEACHER --transfer-set {transfer_path}"
            )
        return self._open(store_dir, dataset, fingerprint=fingerprint, max_length=max_length)

    def open_store(self, dataset, *, max_length: int | None = None) -> LogitStore | None:
        """The teacher's logits of ``dataset`` when a store of them exists (None when not): checked
        against everything that made it without loading the teacher (the weights' hash comes from
        its files). A checkpoint's store must hold ``max_length`` pieces (None: its labelling length),
        a store given as the teacher only when ``max_length`` is set."""
        store_dir = self.store_dir(dataset.name)
        if not self.is_store and self.reference.weights_hash is None:  # a hub id: its hash is known once loaded
            return None
        if not (store_dir / HEADER).is_file():
            if self.is_store:  # resolved as a store: its header went away since
                raise FileNotFoundError(f"{store_dir}: the logit store is gone ({HEADER} missing)")
            return None
        if not self.is_store:
            max_length = self.reference.labelling_length(max_length)
        return self._open(store_dir, dataset, fingerprint=dataset.fingerprint, max_length=max_length)

    def _open(self, store_dir: Path, dataset, *, fingerprint: str, max_length: int | None) -> LogitStore:
        """A store of this teacher's logits of ``dataset``'s rows (or a transfer set's: ``fingerprint``),
        refused when its rows, labels, length or (a checkpoint's) weights are not these."""
        return LogitStore.open(
            store_dir,
            fingerprint=fingerprint,
            num_labels=dataset.num_labels,
            max_length=max_length,
            label_names=dataset.label_names,
            teacher_hash=None if self.is_store else self.reference.weights_hash,
        )

    def states_dir(self, dataset_name: str, transfer_path: str | os.PathLike | None = None) -> Path:
        """The teacher's sentence states of a dataset's training split (or of a transfer set's rows),
        beside the logits of the same rows: ``<logits folder>.states``."""
        return states_dir(
            self.store_dir(dataset_name)
            if transfer_path is None
            else self.transfer_store_dir(dataset_name, transfer_path)
        )

    def checkpoint_dir(self, store_header: dict | None = None) -> Path:
        """The teacher's weights: the checkpoint itself, the one a store records it came from, or, for
        an ensemble's store, its one member that is a checkpoint (a TF-IDF member has no layers)."""
        if self.reference.kind in ("checkpoint", "biencoder"):
            return self.path
        header = store_header or {}
        if not self.is_store:
            recorded = [self.path]
        elif header.get("members"):
            recorded = [Path(m.get("teacher_path", "")) for m in header["members"]]
        else:
            recorded = [Path(header.get("teacher_path", ""))]
        found = [path for path in recorded if is_checkpoint(path)]
        if len(found) != 1:
            named = ", ".join(str(p) for p in recorded)
            why = "are not one" if not found else "are all checkpoints: which one is ambiguous"
            raise FileNotFoundError(
                f"embedding_init=teacher and transformer students need the teacher checkpoint; "
                f"{self.path} and {named} {why}"
            )
        return found[0]
