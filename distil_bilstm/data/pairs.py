"""Sentence pairs and real-valued targets: the one place that knows how a pair is carried.

A pair ``(a, b)`` travels through the pipeline as one text, ``a + PAIR_SEP + b``. The data
table, the logit stores (keyed and fingerprinted by text), the leakage guard (a transfer pair is
dropped when it equals a held-out pair, both sides), the student vocabularies (built over both
sides) and the transfer sets therefore need nothing of their own for pairs. Only the encoders
split it again: the teacher's tokenizer reads ``<s> A </s></s> B </s>`` (a cross-encoder), the
student's vocabulary ``A [SEP] B`` (the siamese student splits at the [SEP]). The separator is a
tab, which every tokenizer here reads as whitespace: a tab inside a side (from CSV, JSON or an HTTP
request) becomes a space when the pair is joined, which changes no token (tested), so the joined
text carries the pair losslessly. Pairs enter by name (two columns, ``--text-b``, ``{"pairs": …}``)
and a single text never becomes a pair: its tabs are whitespace too (data/files.py, serving).

A regression dataset (a 0–5 similarity score) has one "label", named ``score``: its stores have
one column, its ``label`` column is float, and an unlabelled row holds NaN.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

PAIR_SEP = "\t"
TASKS = ("classification", "regression")
SCORE_NAME = "score"  # the label_names of a regression dataset: ["score"]


def join_pair(a: str, b: str, *, where: str = "pair") -> str:
    """One pair as the text the pipeline carries (a tab inside a side is whitespace: a space)."""
    for side, text in (("first", a), ("second", b)):
        if not isinstance(text, str):
            raise ValueError(f"{where}: the {side} text is a {type(text).__name__}, not a string")
    return f"{a.replace(PAIR_SEP, ' ').strip()}{PAIR_SEP}{b.replace(PAIR_SEP, ' ').strip()}"


def split_pair(text: str) -> tuple[str, str]:
    """The two sides of a joined pair (a text without the separator has an empty second side)."""
    a, _, b = text.partition(PAIR_SEP)
    return a, b


def is_pair(text: str) -> bool:
    return PAIR_SEP in text


def split_pairs(texts: Sequence[str]) -> tuple[list[str], list[str]]:
    firsts, seconds = [], []
    for text in texts:
        a, b = split_pair(text)
        firsts.append(a)
        seconds.append(b)
    return firsts, seconds


def parse_score(raw: str) -> float | None:
    """A regression target from its field; None when it is not a finite number."""
    try:
        value = float(raw)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def correlation_scores(gold: np.ndarray, predicted: np.ndarray) -> dict:
    """Spearman's ρ and Pearson's r of ``predicted`` against ``gold`` (both ``(N,)`` floats), and
    the mean squared error: what STS benchmarks report (KorSTS: Ham et al. 2020, ×100)."""
    from scipy.stats import pearsonr, spearmanr

    gold = np.asarray(gold, dtype=np.float64)
    predicted = np.asarray(predicted, dtype=np.float64)
    constant = len(gold) < 2 or np.ptp(predicted) == 0 or np.ptp(gold) == 0
    return {
        "examples": int(len(gold)),
        "spearman": float("nan") if constant else float(spearmanr(gold, predicted).statistic),
        "pearson": float("nan") if constant else float(pearsonr(gold, predicted).statistic),
        "mse": float(np.mean((gold - predicted) ** 2)) if len(gold) else float("nan"),
    }
