"""``distil-bilstm evaluate``: a trained student's scores on a labelled split or file.

Accuracy, macro-F1, per-class precision / recall / F1 / support and the confusion matrix
(rows: gold label, columns: predicted; :mod:`.metrics`), plus examples/s.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Sequence

import numpy as np

from ..data.pairs import correlation_scores
from ..training.metrics import classification_scores
from .inference import Predictor


def evaluate_texts(predictor: Predictor, texts: Sequence[str], gold: Sequence) -> dict:
    """Classification scores, or for a regression model (one output) Spearman, Pearson and MSE."""
    start = time.perf_counter()
    logits = predictor.logits(texts)
    seconds = time.perf_counter() - start
    if predictor.is_regression:
        scores = correlation_scores(np.asarray(gold, dtype=np.float64), logits[:, 0])
    else:
        scores = classification_scores(np.asarray(gold, dtype=np.int64), logits.argmax(axis=1), predictor.label_names)
    return {
        **scores,
        "seconds": round(seconds, 3),
        "examples_per_second": round(len(texts) / seconds, 1) if seconds else None,
        "model": predictor.source,
        "format": predictor.kind,
    }


def read_evaluation_file(
    path: str | Path,
    *,
    label_names: Sequence[str],
    text_column: str,
    label_column: str,
    text_b_column: str | None = None,
) -> tuple[list[str], list]:
    """Texts and class ids of a labelled CSV/TSV/JSONL/Parquet file (pairs: with ``text_b_column``).
    A label may be a label name of the model or its id (``0``, ``1``, …); a regression model's
    (one output) is a number. Any other value is an error naming the line."""
    from ..data.files import read_labelled_file

    path = Path(path)
    label_map: dict[str, int | None] = {name: i for i, name in enumerate(label_names)}
    label_map.update({str(i): i for i in range(len(label_names))})
    delimiter = "," if path.suffix.lower() == ".csv" else "\t"
    frame, _ = read_labelled_file(
        path,
        text_column=text_column,
        label_column=label_column,
        label_map=label_map,
        delimiter=delimiter,
        quoting=delimiter == ",",
        strict=True,
        text_b_column=text_b_column,
        task="regression" if len(label_names) == 1 else "classification",
    )
    return frame["text"].tolist(), frame["label"].tolist()
