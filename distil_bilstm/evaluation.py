"""``distil-bilstm evaluate``: a trained student's scores on a labelled split or file.

Accuracy, macro-F1, per-class precision / recall / F1 / support and the confusion matrix
(rows: gold label, columns: predicted), computed with numpy alone, plus examples/s.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Sequence

import numpy as np

from .inference import Predictor


def classification_scores(gold: np.ndarray, predicted: np.ndarray, label_names: Sequence[str]) -> dict:
    """Scores of ``predicted`` against ``gold`` (both class ids). A class never predicted has
    precision 0 (and F1 0), as scikit-learn's ``zero_division=0``."""
    k = len(label_names)
    confusion = np.zeros((k, k), dtype=np.int64)
    np.add.at(confusion, (gold, predicted), 1)
    tp = np.diag(confusion).astype(float)
    predicted_n, gold_n = confusion.sum(axis=0), confusion.sum(axis=1)
    precision = np.divide(tp, predicted_n, out=np.zeros(k), where=predicted_n > 0)
    recall = np.divide(tp, gold_n, out=np.zeros(k), where=gold_n > 0)
    f1 = np.divide(2 * precision * recall, precision + recall, out=np.zeros(k), where=(precision + recall) > 0)
    return {
        "examples": int(len(gold)),
        "accuracy": float(tp.sum() / len(gold)) if len(gold) else float("nan"),
        "macro_f1": float(f1.mean()),
        "per_class": {name: {"precision": float(precision[i]), "recall": float(recall[i]), "f1": float(f1[i]),
                             "support": int(gold_n[i])} for i, name in enumerate(label_names)},
        "confusion_matrix": confusion.tolist(),
        "labels": list(label_names),
    }


def evaluate_texts(predictor: Predictor, texts: Sequence[str], gold: Sequence[int]) -> dict:
    start = time.perf_counter()
    logits = predictor.logits(texts)
    seconds = time.perf_counter() - start
    scores = classification_scores(np.asarray(gold, dtype=np.int64), logits.argmax(axis=1), predictor.label_names)
    return {**scores, "seconds": round(seconds, 3), "examples_per_second": round(len(texts) / seconds, 1) if seconds else None,
            "model": predictor.source, "format": predictor.kind}


def read_evaluation_file(path: str | Path, *, label_names: Sequence[str], text_column: str, label_column: str) -> tuple[list[str], list[int]]:
    """Texts and class ids of a labelled CSV/TSV. A label may be a label name of the model or its
    id (``0``, ``1``, …); any other value is an error naming the line."""
    from .data import read_labelled_file

    path = Path(path)
    label_map: dict[str, int | None] = {name: i for i, name in enumerate(label_names)}
    label_map.update({str(i): i for i in range(len(label_names))})
    delimiter = "," if path.suffix.lower() == ".csv" else "\t"
    frame, _ = read_labelled_file(path, text_column=text_column, label_column=label_column, label_map=label_map,
                                  delimiter=delimiter, quoting=delimiter == ",", strict=True)
    return frame["text"].tolist(), frame["label"].tolist()
