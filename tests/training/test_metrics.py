from __future__ import annotations

import random

import numpy as np
import pytest
from sklearn.metrics import f1_score, precision_recall_fscore_support

from distil_bilstm.runs.config import DistilConfig
from distil_bilstm.runs.pipeline import run_distillation
from distil_bilstm.training.metrics import classification_scores


def test_macro_f1_matches_scikit_learn_on_three_classes():
    gold = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2, 1])
    predicted = np.array([0, 1, 0, 1, 2, 2, 2, 0, 2, 1])
    scores = classification_scores(gold, predicted, ["none", "offensive", "hate"])
    assert scores["macro_f1"] == pytest.approx(f1_score(gold, predicted, average="macro"))
    p, r, f, support = precision_recall_fscore_support(gold, predicted, zero_division=0)
    for i, name in enumerate(["none", "offensive", "hate"]):
        assert scores["per_class"][name] == pytest.approx(
            {"precision": p[i], "recall": r[i], "f1": f[i], "support": support[i]}
        )
    # a class never predicted: precision and F1 0, as scikit-learn's zero_division=0
    never = classification_scores(np.array([0, 1, 2]), np.array([0, 1, 1]), ["a", "b", "c"])
    assert never["per_class"]["c"]["f1"] == 0.0 and never["macro_f1"] == pytest.approx(
        f1_score([0, 1, 2], [0, 1, 1], average="macro", zero_division=0)
    )


def three_class_csv(path, n=300, seed=0):
    words = {0: ["평범한", "그냥", "보통"], 1: ["짜증", "바보", "멍청"], 2: ["혐오", "증오", "꺼져"]}
    rng = random.Random(seed)
    lines = ["text,label"]
    for _ in range(n):
        label = rng.choice([0, 0, 0, 1, 2])  # unbalanced, as hate speech data are: accuracy and macro-F1 part ways
        noise = rng.choice(["영화", "댓글", "사람", "오늘"])
        lines.append(
            f"{rng.choice(words[label])} {noise} {rng.choice(words[rng.choice([0, 1, 2])])},{['none', 'offensive', 'hate'][label]}"
        )
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("metric", ["accuracy", "macro_f1"])
def test_select_metric_picks_the_best_epoch_by_that_metric(tmp_path, metric):
    data = three_class_csv(tmp_path / "hate.csv")
    config = DistilConfig(
        dataset=str(data),
        vocab_size=60,
        vocab_root=str(tmp_path / "tok"),
        preset="tiny",
        loss="ce",
        batch_size=16,
        train_epoch=5,
        patience=0,
        run_root=str(tmp_path / "runs"),
        device="cpu",
        valid_size=0.3,
        select_metric=metric,
    )
    metrics = run_distillation(config)
    history = [h[f"valid_{metric}"] for h in metrics["history"]]
    assert metrics["best_epoch"] == 1 + int(np.argmax(history))  # the first epoch with the best score
    best = metrics["history"][metrics["best_epoch"] - 1]
    assert (metrics["valid_accuracy"], metrics["valid_macro_f1"]) == (best["valid_accuracy"], best["valid_macro_f1"])
    assert metrics["select_metric"] == metric and set(metrics["test_per_class"]) == {"hate", "none", "offensive"}
    assert 0.0 <= metrics["test_macro_f1"] <= 1.0
    assert list(
        (tmp_path / "tok").glob("*/vocab_size_60/vocab.txt")
    )  # a dataset given as a file path: vocab under the root


def test_select_metric_is_checked_when_made():
    with pytest.raises(ValueError, match="DistilConfig.select_metric must be one of"):
        DistilConfig(loss="ce", select_metric="f1")
    # at its default the key leaves run identities (and folder names) as they were before it existed
    assert DistilConfig(loss="ce").identity().startswith("87e6a323f989")
    assert DistilConfig(loss="ce", select_metric="macro_f1").identity() != DistilConfig(loss="ce").identity()
