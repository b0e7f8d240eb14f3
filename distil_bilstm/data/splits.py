"""Deterministic train / valid / test splits of a dataset's rows.

Official files keep their split; a validation split is carved from train unless a validation file
exists; a single-file dataset loses ``test_size`` of its rows to test, then ``valid_size`` of the
rest to valid (DistilKoBiLSTM's 0.1 / 0.05 with ``random_state=1``). Stratified where every class
has two members; rows too few for both sides of a carve are refused."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from .files import DataFormatError


def split_indices(labels: np.ndarray, fraction: float, seed: int, *, held_out: str) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic (stratified where every class has two members) split of positions; rows too
    few for both sides (``held_out``: the split being carved) are refused."""
    positions = np.arange(len(labels))
    n_held = int(np.ceil(fraction * len(labels)))  # how scikit-learn sizes a fractional test_size
    if n_held < 1 or n_held >= len(labels):
        raise DataFormatError(
            f"{len(labels)} labelled row(s) are too few to carve a {held_out} split of {fraction:g} "
            f"and keep rows to train on"
        )
    classes = np.issubdtype(labels.dtype, np.integer)  # a regression score is split plainly
    counts = np.bincount(labels) if len(labels) and classes else np.array([])
    stratify = labels if len(counts) and counts[counts > 0].min() >= 2 else None
    try:
        keep, held = train_test_split(positions, test_size=fraction, random_state=seed, stratify=stratify)
    except ValueError:  # too few rows per class for the held-out size: fall back to a plain split
        keep, held = train_test_split(positions, test_size=fraction, random_state=seed)
    return np.sort(keep), np.sort(held)


def assign_splits(
    frame: pd.DataFrame, *, has_test: bool, valid_size: float, test_size: float, seed: int
) -> pd.DataFrame:
    """``frame`` (its rows' ``file_split``: the file each came from) with a ``split`` column."""
    split = np.array(["train"] * len(frame), dtype=object)
    file_split = frame["file_split"].to_numpy()
    if has_test:
        split[file_split == "test"] = "test"
    else:
        _, test_pos = split_indices(frame["label"].to_numpy(), test_size, seed, held_out="test")
        split[test_pos] = "test"
    if (file_split == "valid").any():  # an official validation file: nothing is carved from train
        split[file_split == "valid"] = "valid"
    else:
        train_pos = np.flatnonzero(split == "train")
        _, valid_rel = split_indices(frame["label"].to_numpy()[train_pos], valid_size, seed, held_out="validation")
        split[train_pos[valid_rel]] = "valid"
    frame = frame.copy()
    frame["split"] = split
    return frame
