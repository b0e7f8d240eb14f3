"""Baselines for sentence pairs with a similarity score, shown in every pair table.

``tfidf-cosine``: the cosine of the two sides' TF-IDF vectors (word 1–2-grams and ``char_wb``
1–4-grams, as :mod:`.tfidf`; the idf fitted on the training sides), no training at all.
``tfidf-ridge``: a ridge regression of the gold score on the pair's features
[|x_a − x_b| ; x_a ⊙ x_b ; cos(x_a, x_b)] (the sparse counterpart of Tang's siamese feature
vector), ``alpha`` chosen on valid Spearman, then tested once.

Both are reported (``metrics.json`` in the run folder), not served: a pair user's model to ship is
the student.
"""

from __future__ import annotations

import logging
import time

import numpy as np

from ..data.datasets import Dataset
from ..data.pairs import Text, correlation_scores, split_pairs
from ..rundir import RunDir
from .tfidf import BaselineConfig, _vectorizers

logger = logging.getLogger(__name__)

RIDGE_ALPHAS = (0.3, 1.0, 3.0, 10.0, 30.0)


def pair_vectors(vectorizers, texts: list[Text]):
    """``(x_a, x_b)``: each side's L2-normalised TF-IDF rows, ``(N, features)`` sparse."""
    from scipy.sparse import hstack

    firsts, seconds = split_pairs(texts)
    sides = [hstack([v.transform(side) for _, v in vectorizers]).tocsr() for side in (firsts, seconds)]
    blocks = len(vectorizers)  # each block is unit-length: rescale the stack to unit length too
    return sides[0] / np.sqrt(blocks), sides[1] / np.sqrt(blocks)


def pair_features(x_a, x_b):
    from scipy.sparse import csr_matrix, hstack

    cosine = np.asarray(x_a.multiply(x_b).sum(axis=1))  # (N, 1)
    return hstack([abs(x_a - x_b), x_a.multiply(x_b), csr_matrix(cosine)]).tocsr(), cosine[:, 0]


def train_pair_baselines(config: BaselineConfig, *, dataset: Dataset, alphas=RIDGE_ALPHAS) -> dict:
    """Both baselines on ``dataset`` (pairs, a regression task); writes and returns the metrics."""
    from sklearn.linear_model import Ridge

    if not (dataset.pairs and dataset.is_regression):
        raise ValueError(f"{dataset.name}: the pair baselines need sentence pairs with a score (task regression)")
    start = time.perf_counter()
    vectorizers = _vectorizers(config)
    firsts, seconds = split_pairs(dataset.split("train")["text"].tolist())
    for _, vectorizer in vectorizers:
        vectorizer.fit(firsts + seconds)
    splits = {}
    for name in ("train", "valid", "test"):
        frame = dataset.split(name)
        features, cosine = pair_features(*pair_vectors(vectorizers, frame["text"].tolist()))
        splits[name] = (features, cosine, frame["label"].to_numpy())
    rows = [
        {
            "kind": "tfidf-cosine",
            **{
                f"{s}_{k}": v
                for s in ("valid", "test")
                for k, v in correlation_scores(splits[s][2], splits[s][1]).items()
                if k != "examples"
            },
        }
    ]
    best = None
    for alpha in alphas:
        model = Ridge(alpha=alpha).fit(splits["train"][0], splits["train"][2])
        valid = correlation_scores(splits["valid"][2], model.predict(splits["valid"][0]))
        logger.info("ridge alpha=%g: valid Spearman %.4f", alpha, valid["spearman"])
        if best is None or valid["spearman"] > best[1]["spearman"]:
            best = (model, valid, alpha)
    model, valid, alpha = best
    test_start = time.perf_counter()
    test_scores = model.predict(splits["test"][0])
    test_seconds = time.perf_counter() - test_start
    test = correlation_scores(splits["test"][2], test_scores)
    rows.append(
        {
            "kind": "tfidf-ridge",
            "alpha": alpha,
            "params": int(model.coef_.size + 1),
            **{f"valid_{k}": v for k, v in valid.items() if k != "examples"},
            **{f"test_{k}": v for k, v in test.items() if k != "examples"},
            "examples_per_second": round(len(test_scores) / test_seconds, 1) if test_seconds else None,
        }
    )
    metrics = {
        "dataset": dataset.name,
        "dataset_fingerprint": dataset.fingerprint,
        "kind": "tfidf-pairs",
        "features": int(splits["train"][0].shape[1]),
        "baselines": rows,
        "train_seconds": round(time.perf_counter() - start, 2),
    }
    run = RunDir(config.run_dir().with_name(config.run_name or f"baseline-tfidf-pairs-{config.identity()[:6]}"))
    run.mkdir()
    run.write_config(config.to_dict())
    metrics["run_dir"] = str(run.path)
    run.write_metrics(metrics)
    return metrics
