from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from distil_bilstm.data.files import DataFormatError
from distil_bilstm.data.splits import assign_splits, split_indices


def test_a_carve_is_deterministic_disjoint_and_stratified():
    labels = np.array([0] * 30 + [1] * 10)
    keep, held = split_indices(labels, 0.25, 1, held_out="test")
    again_keep, again_held = split_indices(labels, 0.25, 1, held_out="test")
    assert (held == again_held).all() and (keep == again_keep).all()
    assert len(held) == 10 and not set(keep) & set(held) and len(keep) + len(held) == 40
    assert (labels[held] == 1).sum() in (2, 3)  # a quarter of each class, as near as whole rows go


def test_too_few_rows_for_a_carve_are_refused():
    with pytest.raises(DataFormatError, match=r"1 labelled row\(s\) are too few to carve a validation split of 0.05"):
        split_indices(np.array([1]), 0.05, 1, held_out="validation")
    keep, held = split_indices(np.array([0, 1]), 0.05, 1, held_out="validation")  # one row each side is enough
    assert len(keep) == len(held) == 1


def test_official_files_keep_their_split_and_only_train_is_carved():
    frame = pd.DataFrame({"label": [0, 1] * 20 + [0, 1], "file_split": ["train"] * 40 + ["test"] * 2})
    split = assign_splits(frame, has_test=True, valid_size=0.1, test_size=0.1, seed=1)["split"]
    assert (split[40:] == "test").all() and (split[:40] == "valid").sum() == 4
    frame["file_split"] = ["train"] * 38 + ["valid"] * 2 + ["test"] * 2
    split = assign_splits(frame, has_test=True, valid_size=0.1, test_size=0.1, seed=1)["split"]
    assert list(split[38:40]) == ["valid", "valid"] and (split[:38] == "train").all()
