"""The n-gram baseline at inference time: TF-IDF features and a linear model, in numpy alone.

A baseline run (``distil-bilstm baseline``) is trained with scikit-learn's ``TfidfVectorizer`` and
``LogisticRegression`` but saved without pickle: the n-gram vocabularies as JSON and the idf
weights, coefficients and intercepts as safetensors. This module turns those back into a model
without importing scikit-learn, so ``predict``, ``evaluate`` and ``serve`` load a baseline like a
student. Its analyzers reproduce scikit-learn's (lowercase; words: ``(?u)\\b\\w\\w+\\b`` and their
n-grams joined by a space; ``char_wb``: character n-grams of each whitespace-separated word padded
with one space each side), and the weighting is scikit-learn's with ``sublinear_tf``:

    x_t = (1 + ln tf_t) · idf_t,   then x / ‖x‖₂   (per analyzer),   logits = [x_word ; x_char] · Wᵀ + b

A test checks the features and probabilities against scikit-learn's on real text.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Sequence

import numpy as np

from ..data.pairs import Text, bag_text
from ..utils import read_json

_WHITE_SPACES = re.compile(r"\s\s+")
_WORD = re.compile(r"(?u)\b\w\w+\b")

VOCAB_FILE = "ngrams.json"  # in the run's vocab/ folder


def word_ngrams(text: str, n_range: tuple[int, int]) -> list[str]:
    tokens = _WORD.findall(text.lower())
    low, high = n_range
    grams = list(tokens) if low == 1 else []
    for n in range(max(low, 2), min(high, len(tokens)) + 1):
        grams.extend(" ".join(tokens[i : i + n]) for i in range(len(tokens) - n + 1))
    return grams


def char_wb_ngrams(text: str, n_range: tuple[int, int]) -> list[str]:
    low, high = n_range
    grams = []
    for word in _WHITE_SPACES.sub(" ", text.lower()).split():
        padded = f" {word} "
        for n in range(low, high + 1):
            if len(padded) <= n:  # a short word counts once, whole
                grams.append(padded)
                break
            grams.extend(padded[i : i + n] for i in range(len(padded) - n + 1))
    return grams


ANALYZERS = {"word": word_ngrams, "char_wb": char_wb_ngrams}


class TfidfBlock:
    """One analyzer's vocabulary and idf: texts → L2-normalised sublinear TF-IDF rows."""

    def __init__(self, analyzer: str, n_range: Sequence[int], terms: Sequence[str], idf: np.ndarray):
        if analyzer not in ANALYZERS:
            raise ValueError(f"unknown analyzer {analyzer!r}; known: {sorted(ANALYZERS)}")
        if len(terms) != len(idf):
            raise ValueError(f"{analyzer}: {len(terms)} terms but {len(idf)} idf weights")
        self.analyze, self.n_range = ANALYZERS[analyzer], (int(n_range[0]), int(n_range[1]))
        self.index = {term: i for i, term in enumerate(terms)}
        self.idf = np.asarray(idf, dtype=np.float64)

    def __len__(self) -> int:
        return len(self.idf)

    def transform(self, texts: Sequence[Text]) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per text (a pair: both sides' words): (feature indices, L2-normalised weights), a sparse row."""
        rows = []
        for text in map(bag_text, texts):
            counts = Counter(i for i in (self.index.get(g) for g in self.analyze(text, self.n_range)) if i is not None)
            idx = np.fromiter(counts.keys(), dtype=np.int64, count=len(counts))
            tf = np.fromiter(counts.values(), dtype=np.float64, count=len(counts))
            weights = (1.0 + np.log(tf)) * self.idf[idx]
            norm = np.sqrt((weights**2).sum())
            rows.append((idx, weights / norm if norm > 0 else weights))
        return rows


class TfidfLinearModel:
    """TF-IDF blocks side by side, then a linear layer: the baseline's whole inference."""

    def __init__(self, blocks: list[TfidfBlock], coef: np.ndarray, intercept: np.ndarray):
        self.blocks, self.coef, self.intercept = (
            blocks,
            np.asarray(coef, dtype=np.float64),
            np.asarray(intercept, dtype=np.float64),
        )
        self.offsets = np.cumsum([0] + [len(b) for b in blocks])[:-1]
        if self.coef.shape[1] != sum(len(b) for b in blocks):
            raise ValueError(
                f"coefficients have {self.coef.shape[1]} features, the vocabularies {sum(len(b) for b in blocks)}"
            )

    @classmethod
    def load(cls, *, weights_file: str | Path, vocab_file: str | Path) -> "TfidfLinearModel":
        from safetensors.numpy import load_file

        spec = read_json(vocab_file)
        tensors = load_file(str(weights_file))
        blocks = [
            TfidfBlock(b["analyzer"], b["ngram_range"], b["terms"], tensors[f"idf_{i}"])
            for i, b in enumerate(spec["blocks"])
        ]
        return cls(blocks, tensors["coef"], tensors["intercept"])

    @classmethod
    def load_run(cls, path: str | Path) -> "TfidfLinearModel":
        """The model of a baseline run folder (``distil-bilstm baseline``)."""
        from ..rundir import RunDir

        run = RunDir(path)
        return cls.load(weights_file=run.weights_file, vocab_file=run.vocab_dir / VOCAB_FILE)

    def logits(self, texts: Sequence[Text]) -> np.ndarray:
        """``(len(texts), num_labels)``. A binary logistic regression has one coefficient row: its
        logits are ``[0, x·w + b]``, whose softmax is the model's ``[1 - p, p]``."""
        scores = np.tile(self.intercept, (len(texts), 1))
        for block, offset in zip(self.blocks, self.offsets):
            coef = self.coef[:, offset : offset + len(block)]  # (rows of W, block features)
            for r, (idx, weights) in enumerate(block.transform(texts)):
                scores[r] += coef[:, idx] @ weights
        if scores.shape[1] == 1:
            scores = np.concatenate([np.zeros_like(scores), scores], axis=1)
        return scores.astype(np.float32)

    @property
    def num_parameters(self) -> int:
        return int(self.coef.size + self.intercept.size)
