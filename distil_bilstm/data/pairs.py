"""Sentence pairs and real-valued targets: the one place that knows how a pair is carried.

An example of a pair dataset carries its two texts explicitly: its ``text`` is a :class:`Pair`
(``first``, ``second``), never a string with a separator in it, so no text becomes a pair by what
it holds. Every encoder asks for the two sides (:func:`split_pairs`): the teacher's tokenizer reads
``<s> A </s></s> B </s>`` (a cross-encoder), the student's vocabulary ``A [SEP] B`` (the siamese
student splits at the [SEP]), the bi-encoder each side alone. Where a pair needs one string — the
row fingerprint of the data table, the logit stores keyed by it, the leakage guard's set of
held-out pairs, a TSV file — :func:`text_key` gives ``first<TAB>second``, the form pairs were
carried in before (so every store built then keeps its fingerprint). A tab inside a side is
whitespace, a space, which changes no token of any tokenizer here (tested). Pairs enter by name:
two columns, ``--text-b``, ``{"pairs": …}``.

A regression dataset (a 0–5 similarity score) has one "label", named ``score``: its stores have
one column, its ``label`` column is float, and an unlabelled row holds NaN.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Sequence, Union

import numpy as np

PAIR_SEP = "\t"  # the join of text_key() and of pair files' plain lines; inside a side it is a space
TASKS = ("classification", "regression")
SCORE_NAME = "score"  # the label_names of a regression dataset: ["score"]


@dataclass(frozen=True, slots=True)
class Pair:
    """One sentence pair: the example's two texts, each stripped and free of tabs. Not a string
    and not a sequence, so code written for single texts fails on it instead of reading it wrong."""

    first: str
    second: str


Text = Union[str, Pair]  # what an example's ``text`` is: one string, or a Pair in a pair dataset


def make_pair(a: str, b: str, *, where: str = "pair") -> Pair:
    """A pair from its two texts (a tab inside a side is whitespace: a space)."""
    for side, text in (("first", a), ("second", b)):
        if not isinstance(text, str):
            raise ValueError(f"{where}: the {side} text is a {type(text).__name__}, not a string")
    return Pair(a.replace(PAIR_SEP, " ").strip(), b.replace(PAIR_SEP, " ").strip())


def text_key(text: Text) -> str:
    """The one string an example is keyed and fingerprinted by: a single text itself, a pair as
    ``first<TAB>second``."""
    return f"{text.first}{PAIR_SEP}{text.second}" if isinstance(text, Pair) else text


def pair_from_key(key: str, *, where: str = "pair") -> Pair:
    """The pair a ``first<TAB>second`` line (a plain pair file, a store's key) stands for."""
    first, sep, second = key.partition(PAIR_SEP)
    if not sep:
        raise ValueError(f"{where}: a pair needs two texts separated by a tab, found one")
    return make_pair(first, second, where=where)


def read_as(text: Text, *, pairs: bool, where: str) -> Text:
    """A text read from a file or stdin as examples hold it: for ``pairs`` a Pair (a plain
    ``A<TAB>B`` line is one; an empty line the empty pair), else one string whose tabs are
    whitespace. The wrong kind raises ValueError naming ``where``."""
    if isinstance(text, Pair):
        if not pairs:
            raise ValueError(f"{where}: a sentence pair, but single texts are expected")
        return text
    if not pairs:
        return text.replace(PAIR_SEP, " ")
    if not text.strip():
        return Pair("", "")
    return pair_from_key(text, where=f"{where} (sentence pairs are expected: two columns, or A<TAB>B)")


def bag_text(text: Text) -> str:
    """The words of ``text`` as one string, for a model that reads a pair as one bag of n-grams (the
    TF-IDF baseline of a pair classification task): the sides joined by a space."""
    return f"{text.first} {text.second}" if isinstance(text, Pair) else text


def is_pair(text: Text) -> bool:
    return isinstance(text, Pair)


def split_pair(text: Text) -> tuple[str, str]:
    """The two sides of a pair (a single text: itself and an empty second side)."""
    return (text.first, text.second) if isinstance(text, Pair) else (text, "")


def split_pairs(texts: Sequence[Text]) -> tuple[list[str], list[str]]:
    firsts, seconds = [], []
    for text in texts:
        a, b = split_pair(text)
        firsts.append(a)
        seconds.append(b)
    return firsts, seconds


def each_side(texts: Iterable[Text]) -> Iterable[str]:
    """Every single text in ``texts``: both sides of each pair, in order (what a vocabulary or a
    word-vector corpus is built over)."""
    for text in texts:
        if isinstance(text, Pair):
            yield text.first
            yield text.second
        else:
            yield text


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
