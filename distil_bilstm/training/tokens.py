"""Per-token outputs (a tagger's): what the Trainer does differently when a model gives one row of
logits per token instead of one per text.

A token split holds its gold tags as ``(N, longest)`` int64 padded with -1 and, when distilled, its
teacher's logits as ``(N, longest, tags)``. Every position inside a sentence is an example (padding
never is): of the sentence-level cross entropy (losses.py) on gold tags alone, of
:class:`TokenKDLoss` when distilled, and a CRF tagger's :class:`CrfTagLoss` reads whole sentences.
Validation scores add the entity-level F1 of the tag sequences (entities.py).
"""

from __future__ import annotations

from typing import Sequence

import torch

from .entities import entity_scores
from .losses import kd_kl_loss, soft_kl
from .masks import length_mask


def flatten_tokens(
    logits: torch.Tensor, lengths: torch.Tensor, labels: torch.Tensor, teacher: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """``logits (batch, seq, tags)``, ``labels (batch, seq)`` and ``teacher (batch, seq, tags)`` →
    the positions inside each sentence: ``(n, tags)``, ``(n,)``, ``(n, tags)``, n = ``lengths.sum()``."""
    mask = length_mask(lengths.to(logits.device), logits.shape[1])  # (batch, seq)
    return logits[mask], labels[:, : logits.shape[1]][mask], None if teacher is None else teacher[mask]


def tag_sequences(predicted: torch.Tensor, labels: torch.Tensor, lengths: torch.Tensor) -> tuple[list, list]:
    """(predicted, gold) tag-id lists of each sentence of a batch, at the positions that have a gold
    tag: a student's every token; a fine-tuned teacher's first piece of each word (its other pieces
    and special tokens are -1), so both are scored per word. A sentence without any (a transfer
    sentence) is left out. ``predicted (batch, seq)``, ``labels (batch, seq)``, ``lengths (batch,)``."""
    gold_rows, predicted_rows = [], []
    for p, y, n in zip(predicted.tolist(), labels.tolist(), lengths.tolist()):
        kept = [i for i in range(n) if y[i] >= 0]
        if kept:
            predicted_rows.append([p[i] for i in kept])
            gold_rows.append([y[i] for i in kept])
    return predicted_rows, gold_rows


def entity_report(predicted: Sequence[Sequence[int]], gold: Sequence[Sequence[int]], tag_names: Sequence[str]) -> dict:
    """The entity scores of tag-id sequences, keyed as the Trainer reports them (``entity_f1`` …)."""
    scores = entity_scores(
        [[tag_names[i] for i in row] for row in gold], [[tag_names[i] for i in row] for row in predicted]
    )
    return {
        "entity_f1": scores["f1"],
        "entity_precision": scores["precision"],
        "entity_recall": scores["recall"],
        "per_type": scores["per_type"],
    }


def teacher_seen(teacher: torch.Tensor) -> torch.Tensor:
    """Which tokens the teacher has logits for: a row of zeros is a word it read no piece of (a KLUE
    space, a word past its max length; teachers/running/tagger.py). ``(..., tags)`` → ``(...)`` bool."""
    return teacher.abs().sum(dim=-1) > 0


KD_TOKENS = ("all", "agree")


def _check_kd_tokens(kd_tokens: str) -> None:
    if kd_tokens not in KD_TOKENS:
        raise ValueError(f"kd_tokens must be one of {KD_TOKENS}, got {kd_tokens!r}")


def taught_tokens(teacher: torch.Tensor, labels: torch.Tensor, *, kd_tokens: str = "all") -> torch.Tensor:
    """Which tokens learn from the teacher ``(...)`` bool: those it has logits for (``teacher_seen``);
    with ``kd_tokens="agree"``, of the gold-tagged ones only those whose gold tag is the teacher's best
    (a token without gold, label -1 — a transfer sentence's — keeps its teacher). Where a teacher that
    reads pieces labels characters (KLUE), its wrong tags are mostly a piece's inside an entity's end:
    taught there, the student learns the piece's boundary, not the entity's."""
    seen = teacher_seen(teacher)
    if kd_tokens == "agree":
        seen = seen & ((labels < 0) | (teacher.argmax(dim=-1) == labels))
    return seen


class TokenKDLoss:
    """A softmax tagger's distillation, per token (on the flattened tokens the Trainer passes):

        α · CE(y_i, s_i) + (1 − α) · T² · KL(softmax(t_i / T) ‖ softmax(s_i / T))

    averaged over tokens (Hinton et al. 2015 per token, as TextBrewer and XtremeDistil distil
    taggers). A token the teacher has no logits for learns from its gold tag alone; a transfer
    sentence's tokens (no gold) from the teacher alone."""

    kind = "kl"
    needs_teacher = True
    needs_features = False

    def __init__(self, *, alpha: float = 0.1, temperature: float = 2.0, kd_tokens: str = "all"):
        _check_kd_tokens(kd_tokens)
        self.alpha, self.temperature, self.kd_tokens = alpha, temperature, kd_tokens

    def __call__(self, s: torch.Tensor, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        seen = taught_tokens(t, y, kd_tokens=self.kd_tokens)
        return kd_kl_loss(s, t, y, alpha=self.alpha, temperature=self.temperature, seen=seen)


class CrfTagLoss:
    """A CRF tagger's loss (kind ``ce``: gold tags alone; ``kl``: and its teacher), per sequence:

        L = α · Σ_labelled −log p_CRF(y | e) / (their tokens)
            + (1 − α) · mean over the tokens the teacher read of T² · KL(softmax(t_i / T) ‖ softmax(e_i / T))

    the gold sequences' CRF negative log-likelihood per token, and Hinton et al.'s KD on the
    emission scores e (the teacher knows no transitions; Wang et al. 2021 compare it with structural
    KD). A transfer sentence (no gold tags) adds only the soft term; ``ce`` is α = 1."""

    per_sequence = True  # the Trainer passes the padded batch and its lengths, not flattened tokens
    needs_features = False

    def __init__(self, crf, *, kind: str = "ce", alpha: float = 0.1, temperature: float = 2.0, kd_tokens: str = "all"):
        if kind not in ("ce", "kl"):
            raise ValueError(
                f"a CRF tagger distils with loss 'kl' (on its emissions) or learns with 'ce'; got {kind!r}"
            )
        _check_kd_tokens(kd_tokens)
        self.crf, self.kind, self.alpha, self.temperature = crf, kind, alpha, temperature
        self.kd_tokens = kd_tokens

    @property
    def needs_teacher(self) -> bool:
        return self.kind != "ce"

    def __call__(self, logits, teacher, labels, *, lengths) -> torch.Tensor:
        lengths = lengths.to(logits.device)
        labelled = labels[:, 0] >= 0  # (batch,) sentences with gold tags
        hard = None
        if labelled.any():
            nll = self.crf.nll(logits[labelled], labels[labelled], lengths[labelled])  # (labelled,)
            hard = nll.sum() / lengths[labelled].sum()
        if self.kind == "ce":
            if hard is None:
                raise ValueError("the ce loss needs labelled sentences; this batch has none")
            return hard
        mask = length_mask(lengths, logits.shape[1])
        targets = teacher[:, : logits.shape[1]][mask]  # (tokens, tags)
        seen = taught_tokens(targets, labels[:, : logits.shape[1]][mask], kd_tokens=self.kd_tokens)  # (tokens,)
        soft = soft_kl(logits[mask][seen], targets[seen], self.temperature).mean() if seen.any() else None
        if soft is None or hard is None:
            return hard if soft is None else soft
        return self.alpha * hard + (1.0 - self.alpha) * soft
