"""students/crf.py: the forward algorithm and Viterbi against enumerating every tag sequence."""

from __future__ import annotations

import itertools

import pytest
import torch

from distil_bilstm.students.crf import CRF


def brute_force(crf: CRF, emissions: torch.Tensor, length: int) -> tuple[float, list[int]]:
    """(log Z, the best sequence) of one sentence by scoring all tags ** length sequences."""
    tags = emissions.shape[-1]
    scored = []
    for sequence in itertools.product(range(tags), repeat=length):
        y = torch.tensor([list(sequence)])
        scored.append((float(crf.score(emissions[:, :length], y, torch.tensor([length]))[0]), list(sequence)))
    log_z = float(torch.logsumexp(torch.tensor([s for s, _ in scored]), dim=0))
    return log_z, max(scored)[1]


def test_log_partition_and_viterbi_match_enumeration_on_padded_batches():
    torch.manual_seed(0)
    crf = CRF(3)
    with torch.no_grad():
        for p in crf.parameters():
            p.normal_()
    emissions = torch.randn(3, 4, 3)
    lengths = torch.tensor([4, 2, 1])
    log_z = crf.log_partition(emissions, lengths)
    decoded = crf.decode(emissions, lengths)
    for i, n in enumerate(lengths.tolist()):
        expected_z, expected_best = brute_force(crf, emissions[i : i + 1], n)
        assert float(log_z[i]) == pytest.approx(expected_z, abs=1e-5)
        assert decoded[i, :n].tolist() == expected_best and decoded[i, n:].eq(0).all()


def test_the_nll_is_minus_log_probability_and_ignores_padding_tags():
    torch.manual_seed(1)
    crf = CRF(2)
    with torch.no_grad():
        crf.transitions.normal_()
    emissions = torch.randn(1, 3, 2)
    gold = torch.tensor([[1, 0, -1]])
    nll = crf.nll(emissions, gold, torch.tensor([2]))
    expected_z, _ = brute_force(crf, emissions, 2)
    expected = expected_z - float(crf.score(emissions[:, :2], gold[:, :2], torch.tensor([2]))[0])
    assert float(nll[0]) == pytest.approx(expected, abs=1e-5) and float(nll[0]) > 0
