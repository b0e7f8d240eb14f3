from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from distil_bilstm.training.losses import ce_loss, distillation_loss, kd_kl_loss, kd_mse_loss, soft_kl

S = torch.tensor([[0.0, 0.0]])
T = torch.tensor([[1.0, 0.0]])
Y = torch.tensor([0])


def test_kl_is_zero_for_equal_logits():
    logits = torch.randn(4, 3)
    torch.testing.assert_close(soft_kl(logits, logits.clone(), 2.0), torch.zeros(4))


def test_kl_golden_values_and_the_t_squared_factor():
    # T=1: p_t = (0.731059, 0.268941), p_s = (0.5, 0.5): KL = Σ p_t·ln(p_t/p_s) = 0.110944
    assert soft_kl(S, T, 1.0).item() == pytest.approx(0.110944, abs=1e-5)
    # T=2: p_t = softmax(0.5, 0) = (0.622459, 0.377541): KL = 0.030300, times T² = 4 → 0.121199
    assert soft_kl(S, T, 2.0).item() == pytest.approx(0.121199, abs=1e-5)


def test_alpha_one_is_plain_ce_and_alpha_zero_is_soft_only():
    s, t, y = torch.randn(5, 2), torch.randn(5, 2), torch.tensor([0, 1, 1, 0, 1])
    torch.testing.assert_close(kd_kl_loss(s, t, y, alpha=1.0, temperature=3.0), F.cross_entropy(s, y))
    torch.testing.assert_close(kd_kl_loss(s, t, y, alpha=0.0, temperature=3.0), soft_kl(s, t, 3.0).mean())


def test_mse_golden_value():
    # CE([0, 0], 0) = ln 2 = 0.693147; MSE([0, 0], [1, 0]) = 0.5; α = 0.5 → 0.596574
    assert kd_mse_loss(S, T, Y, alpha=0.5).item() == pytest.approx(0.5 * math.log(2) + 0.5 * 0.5, abs=1e-6)
    assert kd_mse_loss(S, T, Y, alpha=0.5).item() == pytest.approx(0.596574, abs=1e-6)


def test_unlabelled_examples_get_the_soft_term_only():
    s = torch.tensor([[0.0, 0.0], [0.0, 0.0]])
    t = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
    y = torch.tensor([0, -1])
    expected = ((0.1 * math.log(2) + 0.9 * 0.121199) + 0.121199) / 2
    assert kd_kl_loss(s, t, y, alpha=0.1, temperature=2.0).item() == pytest.approx(expected, abs=1e-5)
    assert ce_loss(s, y).item() == pytest.approx(math.log(2), abs=1e-6)  # the unlabelled row is ignored


def test_dispatch_errors():
    with pytest.raises(ValueError, match="loss 'kl' needs teacher logits"):
        distillation_loss("kl", S, None, Y, alpha=0.1, temperature=2.0)
    with pytest.raises(ValueError, match="unknown loss 'l1'"):
        distillation_loss("l1", S, T, Y, alpha=0.1, temperature=2.0)
    with pytest.raises(ValueError, match="the ce loss needs labelled examples"):
        ce_loss(S, torch.tensor([-1]))


def test_regression_kd_loss_against_hand_computed_values():
    from distil_bilstm.training.losses import regression_kd_loss

    s = torch.tensor([[1.0], [2.0], [4.0]])
    t = torch.tensor([[2.0], [2.0], [3.0]])
    y = torch.tensor([3.0, float("nan"), 4.0])  # the second pair has no gold score: teacher term only
    # α=0.25: (0.25·4 + 0.75·1), (0 teacher error), (0.25·0 + 0.75·1) → mean of 1.75, 0, 0.75
    assert regression_kd_loss(s, t, y, alpha=0.25).item() == pytest.approx((1.75 + 0.0 + 0.75) / 3)


def test_a_regression_loss_refuses_kl_and_trains_on_gold_scores_with_ce():
    from distil_bilstm.training.losses import DistillationLoss

    with pytest.raises(ValueError, match="regression task .* distils with loss 'mse'"):
        DistillationLoss(kind="kl", task="regression")
    gold = DistillationLoss(kind="ce", task="regression")
    s = torch.tensor([[1.0], [3.0]], requires_grad=True)
    assert gold(s, None, torch.tensor([2.0, float("nan")])).item() == pytest.approx(1.0)


def test_cosine_loss_of_a_pair_averages_over_both_sides_and_refuses_other_shapes():
    from distil_bilstm.training.losses import cosine_loss

    # side 1: the same direction (cos 1); side 2: orthogonal (cos 0) → mean of (1 − cos) = (0 + 1) / 2
    h_s = torch.tensor([[[1.0, 0.0], [0.0, 2.0]]])  # (batch 1, sides 2, hidden 2)
    h_t = torch.tensor([[[3.0, 0.0], [1.0, 0.0]]])
    assert cosine_loss(h_s, h_t).item() == pytest.approx(0.5)
    with pytest.raises(ValueError, match=r"states of one shape; student \(1, 2\), teacher \(1, 1, 2\)"):
        cosine_loss(torch.ones(1, 2), torch.ones(1, 1, 2))


def test_similarity_matrix_loss_against_hand_computed_cosines():
    from distil_bilstm.training.losses import similarity_matrix_loss

    # one pair, two sides → N = 2 vectors, one pair (0, 1): student cos 0 (orthogonal), teacher cos 1 (parallel)
    h_s = torch.tensor([[[1.0, 0.0], [0.0, 2.0]]])  # (batch 1, sides 2, hidden 2)
    h_t = torch.tensor([[[3.0, 0.0], [1.0, 0.0]]])
    assert similarity_matrix_loss(h_s, h_t).item() == pytest.approx(1.0)
    # three vectors: pairs (0,1), (0,2), (1,2); student cosines 0, 1/√2, 1/√2; teacher cosines 0, 0, 1
    s = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    t = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 5.0]])
    expected = (0.0 + (1 / math.sqrt(2)) ** 2 + (1 / math.sqrt(2) - 1.0) ** 2) / 3
    assert similarity_matrix_loss(s, t).item() == pytest.approx(expected)
    # the same directions at other lengths: no loss; one vector: no pair, zero
    assert similarity_matrix_loss(2 * t, t).item() == pytest.approx(0.0, abs=1e-7)
    assert similarity_matrix_loss(torch.ones(1, 3), torch.ones(1, 3)).item() == 0.0
    with pytest.raises(ValueError, match=r"similarity-matrix loss compares states of one shape"):
        similarity_matrix_loss(torch.ones(2, 2), torch.ones(2, 1, 2))


def test_the_similarity_weight_adds_its_term_and_needs_a_hidden_loss():
    from distil_bilstm.training.losses import DistillationLoss, cosine_loss, similarity_matrix_loss

    s, t, y = torch.tensor([[1.0], [2.0]]), torch.tensor([[1.5], [2.0]]), torch.tensor([float("nan")] * 2)
    h_s, h_t = torch.randn(2, 2, 4), torch.randn(2, 2, 4)
    plain = DistillationLoss(kind="mse", alpha=0.0, hidden="cos", hidden_weight=2.0, task="regression")
    both = DistillationLoss(
        kind="mse", alpha=0.0, hidden="cos", hidden_weight=2.0, similarity_weight=10.0, task="regression"
    )
    expected = plain(s, t, y, h_s=h_s, h_t=h_t) + 10.0 * similarity_matrix_loss(h_s, h_t)
    assert both(s, t, y, h_s=h_s, h_t=h_t).item() == pytest.approx(expected.item())
    assert plain(s, t, y, h_s=h_s, h_t=h_t).item() == pytest.approx(0.125 / 1 + 2.0 * cosine_loss(h_s, h_t).item())
    with pytest.raises(ValueError, match=r"similarity_weight must be >= 0, and > 0 only with a hidden loss"):
        DistillationLoss(kind="mse", similarity_weight=1.0, task="regression")
