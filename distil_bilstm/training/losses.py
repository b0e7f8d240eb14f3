"""Distillation losses. Every function returns a scalar mean over the batch.

Notation: ``s`` student logits, ``t`` teacher logits (both ``(batch, labels)``), ``y`` gold labels
``(batch,)`` with ``-1`` for examples that have none (transfer sets), α = ``alpha`` (the seed's
``loss_rate``), T = ``temperature``. For a regression task (a similarity score) ``s`` and ``t`` are
``(batch, 1)`` scores and ``y`` is float with NaN where there is no gold score.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

LOSSES = ("kl", "mse", "ce")
HIDDEN_LOSSES = ("none", "cos")
UNLABELLED = -1
TASKS = ("classification", "regression")


def soft_kl(s: torch.Tensor, t: torch.Tensor, temperature: float) -> torch.Tensor:
    """Per-example T²·KL(softmax(t/T) ‖ softmax(s/T)), shape ``(batch,)``.

    The T² factor keeps the soft-target gradients on the same scale as the hard ones when T
    changes (Hinton, Vinyals & Dean 2015, "Distilling the Knowledge in a Neural Network", §2).
    """
    log_p_s = F.log_softmax(s / temperature, dim=-1)
    log_p_t = F.log_softmax(t / temperature, dim=-1)
    kl = (log_p_t.exp() * (log_p_t - log_p_s)).sum(dim=-1)
    return kl * temperature**2


def soft_mse(s: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Per-example mean squared error between logits (Tang et al. 2019, "Distilling Task-Specific
    Knowledge from BERT into Simple Neural Networks", eq. 2), shape ``(batch,)``."""
    return ((s - t) ** 2).mean(dim=-1)


def _hard_ce(s: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-example CE; 0 where ``y`` is UNLABELLED."""
    return F.cross_entropy(s, y.clamp_min(0), reduction="none") * (y != UNLABELLED)


def kd_kl_loss(
    s: torch.Tensor,
    t: torch.Tensor,
    y: torch.Tensor,
    *,
    alpha: float,
    temperature: float,
    seen: torch.Tensor | None = None,
) -> torch.Tensor:
    """loss = α·CE(s, y) + (1 − α)·T²·KL(softmax(t/T) ‖ softmax(s/T))   (Hinton et al. 2015;
    DistilKoBiLSTM's default). An example without a gold label contributes only its soft term,
    with weight 1 (Tang et al. 2019 train their transfer-set examples on the teacher alone).
    ``seen`` (bool, per example; default all): where the teacher has logits; one it has none for
    (a tagger's token no teacher piece read) contributes its hard term alone."""
    return _mix(_hard_ce(s, y), soft_kl(s, t, temperature), y, alpha, seen=seen)


def kd_mse_loss(s: torch.Tensor, t: torch.Tensor, y: torch.Tensor, *, alpha: float) -> torch.Tensor:
    """loss = α·CE(s, y) + (1 − α)·MSE(s, t)   (Tang et al. 2019); unlabelled examples: MSE only."""
    return _mix(_hard_ce(s, y), soft_mse(s, t), y, alpha)


def ce_loss(s: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Plain cross entropy on gold labels: the no-teacher baseline (the seed's KoBiLSTM rows)."""
    labelled = y != UNLABELLED
    if not labelled.any():
        raise ValueError("the ce loss needs labelled examples; this batch has none")
    return F.cross_entropy(s[labelled], y[labelled])


def _mix(
    hard: torch.Tensor, soft: torch.Tensor, y: torch.Tensor, alpha: float, *, seen: torch.Tensor | None = None
) -> torch.Tensor:
    """The mean over examples of α·hard + (1 − α)·soft, soft alone without a gold label; with ``seen``,
    hard alone without a teacher's logits, and an example with neither left out of the mean."""
    labelled = y != UNLABELLED
    if seen is None:
        return torch.where(labelled, alpha * hard + (1.0 - alpha) * soft, soft).mean()
    both = alpha * hard + (1.0 - alpha) * soft
    per_example = torch.where(labelled & seen, both, torch.where(labelled, hard, soft))
    counted = labelled | seen
    return (per_example * counted).sum() / counted.sum().clamp_min(1)


def regression_kd_loss(s: torch.Tensor, t: torch.Tensor, y: torch.Tensor, *, alpha: float) -> torch.Tensor:
    """loss = α·(s − y)² + (1 − α)·(s − t)²   for a real-valued target: the squared error to the
    gold score and to the teacher's score, weighted as the classification losses weight their
    hard and soft terms (Tang et al. 2019 distil with MSE to the teacher's outputs, eq. 2). An
    example without a gold score (``y`` NaN: a transfer set) contributes only (s − t)²."""
    s, t = s.squeeze(-1), t.squeeze(-1)  # (batch,)
    labelled = ~torch.isnan(y)
    hard = (s - torch.where(labelled, y, s.detach())) ** 2
    soft = (s - t) ** 2
    return torch.where(labelled, alpha * hard + (1.0 - alpha) * soft, soft).mean()


def regression_gold_loss(s: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """loss = mean (s − y)² over the examples with a gold score: the no-teacher baseline of a
    regression task (and the cross-encoder teacher's own fine-tuning loss)."""
    labelled = ~torch.isnan(y)
    if not labelled.any():
        raise ValueError("the gold-score loss needs labelled examples; this batch has none")
    return ((s.squeeze(-1)[labelled] - y[labelled]) ** 2).mean()


def cosine_loss(h_s: torch.Tensor, h_t: torch.Tensor) -> torch.Tensor:
    """loss = mean over the batch of 1 − cos(h_s, h_t)   (DistilBERT's L_cos, Sanh et al. 2019,
    "DistilBERT, a distilled version of BERT", §3, which aligns the directions of the student's and
    the teacher's hidden states). ``h_s``, ``h_t``: ``(batch, hidden)``. DistilBERT compares token
    states of one shared tokenisation; our student reads its own vocabulary, so the states compared
    are each model's mean over its own tokens of the last layer (a sentence vector both have).

    A siamese student gives ``(batch, 2, hidden)``, one vector per side of a pair, against the
    teacher's states of each sentence read alone: the mean then runs over both sides, and the loss
    is Reimers & Gurevych's embedding distillation (2020, "Making Monolingual Sentence Embeddings
    Multilingual using Knowledge Distillation", §2) with the cosine in place of their squared error,
    since the pair score reads directions only (a · cos(W u, W v) + b)."""
    _check_same_shape(h_s, h_t, loss="the cosine loss")
    return (1.0 - F.cosine_similarity(h_s, h_t, dim=-1)).mean()


def _check_same_shape(h_s: torch.Tensor, h_t: torch.Tensor, *, loss: str) -> None:
    # broadcasting (batch, hidden) against (batch, 1, hidden) would compare every row with every row
    if h_s.shape != h_t.shape:
        raise ValueError(f"{loss} compares states of one shape; student {tuple(h_s.shape)}, teacher {tuple(h_t.shape)}")


def similarity_matrix_loss(h_s: torch.Tensor, h_t: torch.Tensor) -> torch.Tensor:
    """loss = mean over the pairs i < j of the batch's N sentence vectors of (cos(h_s_i, h_s_j) − cos(h_t_i, h_t_j))²

    Similarity-preserving distillation (Tung & Mori 2019, "Similarity-Preserving Knowledge
    Distillation", ICCV, eq. 2–4: the student's batch Gram matrix matched to the teacher's), with the
    Gram matrices of the L2-normalised vectors, i.e. their cosines. Where :func:`cosine_loss` aligns
    each student vector with its own teacher vector, this matches how every vector of the batch
    relates to every other one: for a bi-encoder teacher, whose score is scale · cos, it is the
    teacher's score of each of the N(N − 1)/2 sentence pairs the batch holds, not only of the B pairs
    it was given (scale² aside). ``h_s``, ``h_t``: ``(batch, hidden)`` or, a siamese student's,
    ``(batch, 2, hidden)``: every dimension but the last is flattened into the N vectors."""
    _check_same_shape(h_s, h_t, loss="the similarity-matrix loss")
    s = F.normalize(h_s.reshape(-1, h_s.shape[-1]), dim=-1, eps=1e-8)  # (N, hidden)
    t = F.normalize(h_t.reshape(-1, h_t.shape[-1]).to(s.dtype), dim=-1, eps=1e-8)  # (N, hidden)
    n = s.shape[0]
    if n < 2:
        return s.sum() * 0.0  # one vector has no pair: no term, still a graph for backward
    upper = torch.triu(torch.ones(n, n, dtype=torch.bool, device=s.device), diagonal=1)  # (N, N), i < j
    return ((s @ s.T - t @ t.T)[upper] ** 2).mean()


@dataclass(frozen=True)
class DistillationLoss:
    """The run's loss as one callable ``loss(s, t, y)``: what the Trainer is given instead of the
    run's config, so that it knows nothing about how the loss is chosen."""

    kind: str = "kl"
    alpha: float = 0.1
    temperature: float = 2.0
    hidden: str = "none"  # cos: + hidden_weight · cosine_loss(student state, teacher state)
    hidden_weight: float = 1.0
    similarity_weight: float = 0.0  # > 0: + similarity_weight · similarity_matrix_loss (needs hidden "cos")
    # regression: kind mse is regression_kd_loss, ce the gold score alone (regression_gold_loss)
    task: str = "classification"

    def __post_init__(self) -> None:
        if self.kind not in LOSSES:
            raise ValueError(f"DistillationLoss.kind must be one of {LOSSES}, got {self.kind!r}")
        if self.task not in TASKS:
            raise ValueError(f"DistillationLoss.task must be one of {TASKS}, got {self.task!r}")
        if self.task == "regression" and self.kind == "kl":
            raise ValueError(
                "loss 'kl' compares class distributions; a regression task (a score) distils with loss 'mse' "
                "(or trains on gold scores alone with 'ce')"
            )
        if self.hidden not in HIDDEN_LOSSES:
            raise ValueError(f"DistillationLoss.hidden must be one of {HIDDEN_LOSSES}, got {self.hidden!r}")
        if self.similarity_weight < 0 or (self.similarity_weight > 0 and self.hidden == "none"):
            raise ValueError(
                "DistillationLoss.similarity_weight must be >= 0, and > 0 only with a hidden loss "
                f"(it compares the same states), got {self.similarity_weight} with hidden {self.hidden!r}"
            )

    @property
    def needs_teacher(self) -> bool:
        return self.kind != "ce"

    @property
    def needs_features(self) -> bool:
        """The Trainer then asks the model for ``(logits, features)`` and passes both states."""
        return self.hidden != "none"

    def __call__(
        self,
        s: torch.Tensor,
        t: torch.Tensor | None,
        y: torch.Tensor,
        *,
        h_s: torch.Tensor | None = None,
        h_t: torch.Tensor | None = None,
    ) -> torch.Tensor:
        if self.task == "regression":
            if self.kind == "ce":
                loss = regression_gold_loss(s, y)
            elif t is None:
                raise ValueError(f"loss {self.kind!r} needs teacher scores")
            else:
                loss = regression_kd_loss(s, t, y, alpha=self.alpha)
        else:
            loss = distillation_loss(self.kind, s, t, y, alpha=self.alpha, temperature=self.temperature)
        if self.hidden == "cos":
            if h_s is None or h_t is None:
                raise ValueError("hidden loss 'cos' needs the student's and the teacher's hidden states")
            loss = loss + self.hidden_weight * cosine_loss(h_s, h_t)
            if self.similarity_weight > 0:
                loss = loss + self.similarity_weight * similarity_matrix_loss(h_s, h_t)
        return loss


def distillation_loss(
    kind: str, s: torch.Tensor, t: torch.Tensor | None, y: torch.Tensor, *, alpha: float, temperature: float
) -> torch.Tensor:
    """Dispatch on ``kind`` (``kl``, ``mse``, ``ce``)."""
    if kind == "ce":
        return ce_loss(s, y)
    if t is None:
        raise ValueError(f"loss {kind!r} needs teacher logits")
    if kind == "kl":
        return kd_kl_loss(s, t, y, alpha=alpha, temperature=temperature)
    if kind == "mse":
        return kd_mse_loss(s, t, y, alpha=alpha)
    raise ValueError(f"unknown loss {kind!r}; choose from {LOSSES}")
