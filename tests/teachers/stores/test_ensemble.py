from __future__ import annotations

import numpy as np
import pytest

from distil_bilstm.baselines.tfidf import BaselineConfig, train_baseline
from distil_bilstm.cli import main
from distil_bilstm.data.datasets import load_dataset, load_transfer_set
from distil_bilstm.teachers.running.labelling import cache_dataset_logits
from distil_bilstm.teachers.running.reference import load_teacher
from distil_bilstm.teachers.stores.ensemble import build_ensemble, log_mean_probabilities, simplex_grid
from distil_bilstm.teachers.stores.store import LogitStore, finish_store

from ...conftest import write_reviews


@pytest.fixture
def reviews(tmp_path):
    return load_dataset("sst2", data_dir=write_reviews(tmp_path / "data"), download=False)


def hand_store(path, dataset, logits, *, trained_on=("train",), name="t"):
    finish_store(
        path,
        np.asarray(logits, dtype=np.float32),
        {
            "teacher_path": name,
            "teacher_hash": f"hash-{name}",
            "dataset": dataset.name,
            "dataset_fingerprint": dataset.fingerprint,
            "num_labels": 2,
            "label_names": dataset.label_names,
            "teacher_trained_on": list(trained_on) if trained_on is not None else None,
        },
    )
    return path


def test_ensemble_of_two_stores_is_the_log_of_the_weighted_mean(tmp_path, reviews):
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(len(reviews), 2)), 3 * rng.normal(size=(len(reviews), 2))
    header = build_ensemble(
        [hand_store(tmp_path / "a", reviews, a, name="a"), hand_store(tmp_path / "b", reviews, b, name="b")],
        out=tmp_path / "ens",
        weights=[0.3, 0.7],
        dataset=reviews,
    )
    softmax = lambda z: np.exp(z) / np.exp(z).sum(1, keepdims=True)  # noqa: E731
    expected = np.log(0.3 * softmax(a) + 0.7 * softmax(b))
    store = LogitStore.open(tmp_path / "ens", fingerprint=reviews.fingerprint, num_labels=2)
    np.testing.assert_allclose(store.logits.numpy(), expected, atol=1e-5)
    assert header["weights"] == [0.3, 0.7] and [m["teacher_path"] for m in header["members"]] == ["a", "b"]
    test = (reviews.table["split"] == "test").to_numpy()
    assert header["teacher_test_accuracy"] == pytest.approx(
        float((expected[test].argmax(1) == reviews.table["label"].to_numpy()[test]).mean())
    )
    np.testing.assert_allclose(log_mean_probabilities([a], [1.0]), np.log(softmax(a)), atol=1e-5)


def test_auto_weights_and_refusals(tmp_path, reviews, caplog):
    labels = reviews.table["label"].to_numpy()
    good = np.stack([3.0 * (labels == 0), 3.0 * (labels == 1)], axis=1)  # right everywhere
    noise = np.random.default_rng(1).normal(size=(len(reviews), 2))
    a, b = hand_store(tmp_path / "a", reviews, good, name="a"), hand_store(tmp_path / "b", reviews, noise, name="b")
    header = build_ensemble([a, b], out=tmp_path / "ens", weights="auto", dataset=reviews)
    assert header["weights_chosen"] == "auto (valid accuracy)" and header["teacher_valid_accuracy"] == 1.0
    assert header["weights"][0] >= 0.5

    saw_valid = hand_store(tmp_path / "v", reviews, noise, trained_on=("train", "valid"), name="v")
    with pytest.raises(ValueError, match="its teacher trained on the validation split"):
        build_ensemble([a, saw_valid], out=tmp_path / "x", weights="auto", dataset=reviews)
    unknown = hand_store(tmp_path / "u", reviews, noise, trained_on=None, name="u")
    with pytest.raises(ValueError, match="does not record which splits its teacher trained on"):
        build_ensemble([a, unknown], out=tmp_path / "x", weights="auto", dataset=reviews)
    assert (
        build_ensemble([a, unknown], out=tmp_path / "given", weights=[0.5, 0.5], dataset=reviews)["teacher_trained_on"]
        is None
    )

    other = load_dataset("sst2", data_dir=write_reviews(tmp_path / "other", seed=5), download=False)
    mismatch = hand_store(tmp_path / "m", other, noise[: len(other)], name="m")
    with pytest.raises(ValueError, match="dataset_fingerprint .* differs from"):
        build_ensemble([a, mismatch], out=tmp_path / "x", weights=[0.5, 0.5])
    with pytest.raises(ValueError, match="must be 2 non-negative numbers that sum to 1"):
        build_ensemble([a, b], out=tmp_path / "x", weights=[0.5, 0.6])
    with pytest.raises(ValueError, match="already holds a logit store"):
        build_ensemble([a, b], out=tmp_path / "ens", weights=[0.5, 0.5])
    assert len(simplex_grid(2)) == 21 and all(abs(sum(w) - 1) < 1e-9 for w in simplex_grid(3))


def test_transfer_set_stores_ensemble_without_the_dataset(tmp_path, reviews):
    (tmp_path / "extra.txt").write_text("text\nan unlabelled review\nanother one, longer\n", encoding="utf-8")
    transfer = load_transfer_set(tmp_path / "extra.txt", dataset=reviews)
    rng = np.random.default_rng(0)
    stores = [
        hand_store(tmp_path / name, transfer, rng.normal(size=(len(transfer), 2)), name=name) for name in ("a", "b")
    ]
    with pytest.raises(
        ValueError, match=r"holds the logits of a transfer set \(sst2\.transfer\.extra\).*leave out --dataset"
    ):
        build_ensemble(stores, out=tmp_path / "x", weights=[0.5, 0.5], dataset=reviews)
    assert build_ensemble(stores, out=tmp_path / "ens", weights=[0.5, 0.5])["dataset"] == "sst2.transfer.extra"


def test_a_baseline_run_is_a_teacher(tmp_path, reviews, capsys):
    metrics = train_baseline(
        BaselineConfig(dataset="sst2", c_values=[1.0], run_root=str(tmp_path / "runs")), dataset=reviews
    )
    teacher = load_teacher(metrics["run_dir"], num_labels=2)
    result = cache_dataset_logits(teacher, reviews, store_dir=tmp_path / "store", progress=False)
    store = result.store
    assert result.computed_examples == len(reviews) and store.header["teacher_trained_on"] == ["train"]
    assert np.exp(store.logits.numpy()).sum(1) == pytest.approx(1.0, abs=1e-5)  # log-probabilities
    assert store.header["teacher_test_accuracy"] == pytest.approx(metrics["test_accuracy"])
    again = cache_dataset_logits(
        load_teacher(metrics["run_dir"]), reviews, store_dir=tmp_path / "store", progress=False
    )
    assert again.computed_examples == 0

    # ensemble it with itself through the CLI: the same probabilities
    assert (
        main(
            [
                "teacher",
                "ensemble",
                "--store",
                str(tmp_path / "store"),
                "--store",
                str(tmp_path / "store"),
                "--weights",
                "0.5,0.5",
                "--out",
                str(tmp_path / "ens"),
            ]
        )
        == 0
    )
    assert "teacher_path=" in capsys.readouterr().out
    np.testing.assert_allclose(LogitStore.open(tmp_path / "ens").logits.numpy(), store.logits.numpy(), atol=1e-5)


def test_regression_stores_are_refused(tmp_path, reviews):
    stores = []
    for name in ("a", "b"):
        path = tmp_path / name
        finish_store(
            path,
            np.zeros((len(reviews), 1), dtype=np.float32),
            {
                "teacher_path": name,
                "teacher_hash": f"hash-{name}",
                "dataset": reviews.name,
                "task": "regression",
                "dataset_fingerprint": reviews.fingerprint,
                "num_labels": 1,
                "label_names": ["score"],
                "teacher_trained_on": ["train"],
            },
        )
        stores.append(path)
    with pytest.raises(ValueError, match="holds a regression teacher's scores"):
        build_ensemble(stores, out=tmp_path / "ens", weights=[0.5, 0.5])
