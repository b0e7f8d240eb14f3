"""``DistillationSettings``: what a student (or a teacher fine-tuned from another's logits) learns
from its teacher — the KD loss (kind, α, T), the teacher or its logit store, transfer sets, and the
hidden-state losses. Composed by ``DistilConfig`` (runs/config.py) and ``FinetuneConfig``
(teachers/tuning/finetune.py); it checks its own values when made."""

from __future__ import annotations

from dataclasses import dataclass

from ..utils import field_checker
from .losses import HIDDEN_LOSSES, LOSSES, DistillationLoss


@dataclass(kw_only=True, frozen=True)
class DistillationSettings:
    loss: str = "kl"
    loss_rate: float = 0.1  # α: weight of the hard-label CE term
    temperature: float = 2.0
    teacher_path: str | None = None  # teacher checkpoint folder, or a logit store folder
    # pieces the teacher reads of each text when it labels (max_length counts the student's tokens):
    # None: the length it was fine-tuned with (its eval.json), else 128; a store given as teacher_path
    # is checked against it when set
    teacher_max_length: int | None = None
    cache_dir: str = "teacher_model/logits"
    # transfer sets: unlabelled or augmented texts (paths or data-dir names) whose rows join the
    # training split with label -1 (soft loss only); their logits are cached like the dataset's.
    transfer_sets: tuple[str, ...] = ()
    transfer_per_epoch: int | None = None  # transfer rows drawn per epoch (None: all of them)
    # DistilBERT's cosine loss between student and teacher sentence states (transformer students; the
    # siamese student's cosine-head embeddings of each side: embedding distillation), transfer rows too
    hidden_loss: str = "none"
    hidden_loss_weight: float = 1.0
    # > 0: + this weight · the squared error between the student's and the teacher's cosines of every two
    # sentence states in a batch (similarity-preserving distillation; the same states as hidden_loss)
    similarity_loss_weight: float = 0.0

    def __post_init__(self) -> None:
        check = field_checker(self)
        check(self.loss in LOSSES, "loss", f"must be one of {LOSSES}")
        check(0.0 <= self.loss_rate <= 1.0, "loss_rate", "must be in [0, 1]")
        check(self.temperature > 0, "temperature", "must be > 0")
        check(self.loss == "ce" or bool(self.teacher_path), "teacher_path", f"is required for loss={self.loss!r}")
        check(
            self.teacher_max_length is None or self.teacher_max_length >= 2,
            "teacher_max_length",
            "must be >= 2 or null",
        )
        check(
            not self.transfer_sets or self.loss != "ce",
            "transfer_sets",
            "need a distillation loss (kl or mse): transfer rows have no gold label, only the teacher's logits",
        )
        check(
            self.transfer_per_epoch is None or self.transfer_per_epoch >= 1,
            "transfer_per_epoch",
            "must be >= 1 or null",
        )
        check(self.hidden_loss in HIDDEN_LOSSES, "hidden_loss", f"must be one of {HIDDEN_LOSSES}")
        check(self.hidden_loss_weight > 0, "hidden_loss_weight", "must be > 0")
        check(self.hidden_loss == "none" or bool(self.teacher_path), "hidden_loss", "needs teacher_path")
        check(self.similarity_loss_weight >= 0, "similarity_loss_weight", "must be >= 0")
        check(
            self.similarity_loss_weight == 0 or self.hidden_loss != "none",
            "similarity_loss_weight",
            "compares the same sentence states as hidden_loss and needs hidden_loss: cos",
        )

    def loss_function(self) -> DistillationLoss:
        return DistillationLoss(
            kind=self.loss,
            alpha=self.loss_rate,
            temperature=self.temperature,
            hidden=self.hidden_loss,
            hidden_weight=self.hidden_loss_weight,
            similarity_weight=self.similarity_loss_weight,
        )

    def inert_keys(self) -> set[str]:
        """CE ignores α and T; MSE ignores T; ``transfer_per_epoch`` needs transfer sets (and leaving
        them out keeps the names of runs made before they existed); the weight needs a hidden loss."""
        inert = set() if self.transfer_sets else {"transfer_sets", "transfer_per_epoch"}
        inert |= {"hidden_loss_weight"} if self.hidden_loss == "none" else set()
        if self.loss == "ce":
            return inert | {"loss_rate", "temperature"}
        return inert | ({"temperature"} if self.loss == "mse" else set())
