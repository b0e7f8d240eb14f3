"""serving/tag_decoding.py: numpy Viterbi is the torch CRF's, to each sentence's length."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from distil_bilstm.serving.tag_decoding import CrfParams, best_tags, viterbi
from distil_bilstm.students.crf import CRF


def _random_crf(tags: int, seed: int) -> CRF:
    torch.manual_seed(seed)
    crf = CRF(tags)
    with torch.no_grad():
        for p in crf.parameters():
            p.normal_()
    return crf


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_numpy_viterbi_equals_the_torch_crfs_decode(seed):
    crf = _random_crf(5, seed)
    emissions = torch.randn(6, 9, 5, generator=torch.Generator().manual_seed(seed))
    lengths = torch.tensor([9, 1, 4, 7, 2, 9])
    params = CrfParams(**{n: getattr(crf, n).detach().numpy() for n in ("start", "end", "transitions")})
    got = viterbi(emissions.numpy(), lengths.numpy(), params)
    assert got.dtype == np.int64 and got.shape == (6, 9)
    assert np.array_equal(got, crf.decode(emissions, lengths).numpy())
    assert (got[1, 1:] == 0).all()  # nothing past a length


def test_without_a_crf_each_token_takes_its_best_tag():
    emissions = np.array([[[0.0, 2.0], [3.0, 1.0], [0.0, 9.0]]], dtype=np.float32)
    assert best_tags(emissions, np.array([2]), None).tolist() == [[1, 0, 0]]


def test_crf_params_round_trip_and_refuse_mismatched_shapes():
    params = CrfParams(start=np.zeros(3), end=np.ones(3), transitions=np.eye(3))
    back = CrfParams.from_dict(params.to_dict())
    assert np.array_equal(back.transitions, np.eye(3)) and back.end.dtype == np.float32
    with pytest.raises(ValueError, match="do not describe one tag set"):
        CrfParams(start=np.zeros(3), end=np.zeros(2), transitions=np.eye(3))
    with pytest.raises(ValueError, match=r"lack \['transitions'\]"):
        CrfParams.from_dict({"start": [0.0], "end": [0.0]})
