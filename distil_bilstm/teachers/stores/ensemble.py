"""``distil-bilstm teacher ensemble``: one logit store from several teachers' stores.

Hinton et al. 2015 distil an ensemble into one small model; a transformer and an n-gram model
make different mistakes, so the mean of their probabilities is a better teacher than either. The
ensemble store holds, per example,

    z = log Σ_i w_i · softmax(z_i)        (Σ_i w_i = 1)

the log of the weighted mean of the members' probabilities: softmax(z) is that mean, so a
student distils from it with ``teacher_path: <ensemble store>`` and nothing else changes.

Weights are given, or ``auto``: the weights on a grid of the simplex (step 0.05 for two members,
0.1 for more) with the best accuracy on the validation split. ``auto`` is refused when a member
trained on that split or does not record what it trained on (its store header's
``teacher_trained_on``): weights chosen there would be chosen on the members' training data.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import os
from pathlib import Path
from typing import Sequence

import numpy as np

from ...utils import softmax
from .store import LogitStore, finish_store

logger = logging.getLogger(__name__)


def log_mean_probabilities(members: Sequence[np.ndarray], weights: Sequence[float]) -> np.ndarray:
    """``log Σ_i w_i softmax(z_i)`` of member logits ``(N, C)`` each, computed stably."""
    total = sum(w * softmax(np.asarray(z, dtype=np.float64)) for z, w in zip(members, weights))
    return np.log(np.clip(total, 1e-300, None)).astype(np.float32)


def simplex_grid(k: int) -> list[tuple[float, ...]]:
    """Weight vectors summing to 1 on a regular grid (step 0.05 for 2 members, 0.1 for more)."""
    steps = 20 if k == 2 else 10
    return [
        tuple(c / steps for c in combo)
        for combo in itertools.product(range(steps + 1), repeat=k)
        if sum(combo) == steps
    ]


def auto_weights(members: Sequence[np.ndarray], labels: np.ndarray) -> tuple[tuple[float, ...], float]:
    """The grid weights with the best accuracy on ``labels``; ties go to the most even weights."""
    probs = [softmax(m) for m in members]  # once, not once per weight vector
    best = None
    for weights in simplex_grid(len(members)):
        mixed = sum(w * p for w, p in zip(weights, probs))
        accuracy = float((mixed.argmax(1) == labels).mean())
        evenness = -float(np.abs(np.asarray(weights) - 1 / len(weights)).sum())
        if best is None or (accuracy, evenness) > best[0]:
            best = ((accuracy, evenness), weights)
    return best[1], best[0][0]


def build_ensemble(
    store_paths: Sequence[str | os.PathLike], *, out: str | os.PathLike, weights: Sequence[float] | str, dataset=None
) -> dict:
    """Write the ensemble store of ``store_paths`` to ``out``; returns its header.

    ``dataset`` (the one the stores were computed on) is needed for ``weights="auto"`` and to
    record the ensemble's validation and test accuracy; its fingerprint must match every store.
    """
    if len(store_paths) < 2:
        raise ValueError("an ensemble needs at least two --store")
    if (Path(out) / "header.json").is_file():
        raise ValueError(f"{out} already holds a logit store; choose another --out or delete it")
    stores = [LogitStore.open(p) for p in store_paths]
    for store in stores:
        if store.header.get("task") == "regression":
            raise ValueError(
                f"{store.path} holds a regression teacher's scores; an ensemble mixes class probabilities, "
                "and scores are not combined by this command"
            )
    first = stores[0]
    for store in stores[1:]:
        for key in ("dataset_fingerprint", "num_labels"):
            if store.header.get(key) != first.header.get(key):
                raise ValueError(
                    f"{store.path}: {key} {str(store.header.get(key))[:12]} differs from {first.path}'s "
                    f"{str(first.header.get(key))[:12]}; every member must be a store of the same data"
                )
    if dataset is not None and dataset.fingerprint != first.header["dataset_fingerprint"]:
        stored = str(first.header.get("dataset"))
        if stored.startswith(f"{dataset.name}.transfer."):  # a transfer set has no split to pick weights on or score
            raise ValueError(
                f"{first.path} holds the logits of a transfer set ({stored}), not of {dataset.name}: leave out "
                "--dataset and give the weights chosen for the dataset's own stores"
            )
        raise ValueError(f"{first.path} was computed on other data than {dataset.name} (fingerprints differ)")
    members = [s.logits.numpy().astype(np.float64) for s in stores]

    valid_accuracy = None
    if weights == "auto":
        if dataset is None:
            raise ValueError("--weights auto picks weights on the validation split: give the dataset (--dataset)")
        for store in stores:
            seen = store.header.get("teacher_trained_on")
            if seen is None or "valid" in seen:
                why = (
                    "does not record which splits its teacher trained on"
                    if seen is None
                    else "its teacher trained on the validation split"
                )
                raise ValueError(
                    f"{store.path}: {why}, so weights chosen on that split would be chosen on training data; "
                    "give --weights explicitly"
                )
        rows = (dataset.table["split"] == "valid").to_numpy()
        weights, valid_accuracy = auto_weights([m[rows] for m in members], dataset.table["label"].to_numpy()[rows])
        logger.info("auto weights %s: valid accuracy %.4f", weights, valid_accuracy)
    weights = [float(w) for w in weights]
    if len(weights) != len(stores) or any(w < 0 for w in weights) or abs(sum(weights) - 1) > 1e-6:
        raise ValueError(f"--weights must be {len(stores)} non-negative numbers that sum to 1, got {weights}")

    logits = log_mean_probabilities(members, weights)
    digest = hashlib.sha256("".join(f"{s.header['teacher_hash']}:{w}" for s, w in zip(stores, weights)).encode())
    trained_on = [s.header.get("teacher_trained_on") for s in stores]
    header = {
        "teacher_path": "ensemble:" + "+".join(str(s.header.get("teacher_path")) for s in stores),
        "teacher_hash": digest.hexdigest(),
        "dataset": first.header.get("dataset"),
        "dataset_fingerprint": first.header["dataset_fingerprint"],
        "num_labels": first.num_labels,
        "label_names": first.header.get("label_names"),
        "max_length": None,
        "members": [
            {
                "store": str(s.path),
                "teacher_path": s.header.get("teacher_path"),
                "weight": w,
                "teacher_trained_on": s.header.get("teacher_trained_on"),
                "teacher_valid_accuracy": s.header.get("teacher_valid_accuracy"),
                "teacher_test_accuracy": s.header.get("teacher_test_accuracy"),
            }
            for s, w in zip(stores, weights)
        ],
        "weights": weights,
        "weights_chosen": "auto (valid accuracy)" if valid_accuracy is not None else "given",
        "teacher_trained_on": None if None in trained_on else sorted({split for t in trained_on for split in t}),
    }
    if dataset is not None:
        labels, split = dataset.table["label"].to_numpy(), dataset.table["split"].to_numpy()
        for name in ("valid", "test"):
            rows = (split == name) & (labels >= 0)
            if rows.any():
                header[f"teacher_{name}_accuracy"] = float((logits[rows].argmax(1) == labels[rows]).mean())
    finish_store(Path(out), logits, header)
    return LogitStore.open(out).header
