"""Classification scores shared by training (per epoch, on validation and test) and
``distil-bilstm evaluate``: accuracy, macro-F1, per-class precision / recall / F1 / support and the
confusion matrix, with numpy alone."""

from __future__ import annotations

from typing import Sequence

import numpy as np

SELECT_METRICS = ("accuracy", "macro_f1", "spearman", "pearson", "entity_f1")  # spearman, pearson: a regression's;
# entity_f1: a tagger's
REGRESSION_METRICS = ("spearman", "pearson")


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
        "per_class": {
            name: {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(gold_n[i]),
            }
            for i, name in enumerate(label_names)
        },
        "confusion_matrix": confusion.tolist(),
        "labels": list(label_names),
    }
