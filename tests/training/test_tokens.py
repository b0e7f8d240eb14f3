"""training/tokens.py: per-token losses over the positions inside sentences, and tag sequences."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from distil_bilstm.training.losses import DistillationLoss
from distil_bilstm.training.tokens import entity_report, flatten_tokens, tag_sequences


def test_padding_is_never_an_example_of_the_per_token_loss():
    torch.manual_seed(0)
    logits, teacher = torch.randn(2, 3, 4), torch.randn(2, 3, 4)
    labels = torch.tensor([[1, 2, 3], [0, -1, -1]])
    lengths = torch.tensor([3, 1])
    s, y, t = flatten_tokens(logits, lengths, labels, teacher)
    assert s.shape == (4, 4) and y.tolist() == [1, 2, 3, 0] and torch.equal(t[3], teacher[1, 0])
    loss = DistillationLoss(kind="kl", alpha=0.3, temperature=2.0)(s, t, y)
    # α·CE + (1 − α)·T²·KL(teacher ‖ student) at temperature T, averaged over the 4 tokens
    kl = F.kl_div(F.log_softmax(s / 2, -1), F.softmax(t / 2, -1), reduction="batchmean")
    assert float(loss) == pytest.approx(float(0.3 * F.cross_entropy(s, y) + 0.7 * 4 * kl), rel=1e-5)


def test_tag_sequences_keep_sentences_with_gold_tags_and_entity_report_scores_them():
    predicted = torch.tensor([[1, 2, 0], [1, 0, 0], [0, 0, 0], [0, 1, 1]])
    # the third: a transfer sentence; the fourth: a teacher's pieces ([CLS], a word's first piece, another piece)
    labels = torch.tensor([[1, 2, 0], [0, -1, -1], [-1, -1, -1], [-1, 1, -1]])
    rows = tag_sequences(predicted, labels, torch.tensor([3, 1, 3, 3]))
    assert rows == ([[1, 2, 0], [1], [1]], [[1, 2, 0], [0], [1]])
    report = entity_report(*rows, ["O", "B-PER", "I-PER"])
    assert report["entity_precision"] == 2 / 3 and report["entity_recall"] == 1.0
    assert report["entity_f1"] == pytest.approx(0.8)


def test_the_crf_loss_mixes_the_gold_nll_per_token_with_kd_on_the_emissions():
    from distil_bilstm.students.crf import CRF
    from distil_bilstm.training.losses import soft_kl
    from distil_bilstm.training.tokens import CrfTagLoss

    torch.manual_seed(2)
    crf = CRF(3)
    logits, teacher = torch.randn(2, 3, 3), torch.randn(2, 3, 3)
    labels = torch.tensor([[0, 1, 2], [-1, -1, -1]])  # the second: a transfer sentence
    lengths = torch.tensor([3, 2])
    loss = CrfTagLoss(crf, kind="kl", alpha=0.25, temperature=2.0)(logits, teacher, labels, lengths=lengths)
    hard = crf.nll(logits[:1], labels[:1], lengths[:1]).sum() / 3
    tokens = torch.cat([logits[0], logits[1, :2]]), torch.cat([teacher[0], teacher[1, :2]])
    assert float(loss) == pytest.approx(float(0.25 * hard + 0.75 * soft_kl(*tokens, 2.0).mean()), rel=1e-5)
    assert float(CrfTagLoss(crf)(logits, None, labels, lengths=lengths)) == pytest.approx(float(hard), rel=1e-6)
    with pytest.raises(ValueError, match="needs labelled sentences"):
        CrfTagLoss(crf)(logits[1:], None, labels[1:], lengths=lengths[1:])
    with pytest.raises(ValueError, match="a CRF tagger distils with loss 'kl'"):
        CrfTagLoss(crf, kind="mse")


def test_token_kd_falls_back_to_gold_where_the_teacher_read_no_piece():
    from distil_bilstm.training.losses import soft_kl
    from distil_bilstm.training.tokens import TokenKDLoss

    torch.manual_seed(3)
    s, t = torch.randn(4, 3), torch.randn(4, 3)
    t[1] = 0  # a space of KLUE: no piece, so no teacher view
    y = torch.tensor([0, 2, -1, 1])  # the third: a transfer token
    loss = TokenKDLoss(alpha=0.2, temperature=2.0)(s, t, y)
    hard = F.cross_entropy(s, y.clamp_min(0), reduction="none")
    soft = soft_kl(s, t, 2.0)
    expected = (0.2 * hard[0] + 0.8 * soft[0] + hard[1] + soft[2] + 0.2 * hard[3] + 0.8 * soft[3]) / 4
    assert float(loss) == pytest.approx(float(expected), rel=1e-5)


def test_kd_only_where_the_teacher_agrees_with_gold_keeps_transfer_tokens():
    from distil_bilstm.students.crf import CRF
    from distil_bilstm.training.losses import soft_kl
    from distil_bilstm.training.tokens import CrfTagLoss, TokenKDLoss, taught_tokens

    t = torch.tensor([[5.0, 0, 0], [5.0, 0, 0], [0, 0, 0], [0, 5.0, 0]])
    y = torch.tensor([0, 2, 1, -1])  # agrees, disagrees, no teacher view, a transfer token
    assert taught_tokens(t, y).tolist() == [True, True, False, True]
    assert taught_tokens(t, y, kd_tokens="agree").tolist() == [True, False, False, True]
    torch.manual_seed(4)
    s = torch.randn(4, 3)
    loss = TokenKDLoss(alpha=0.2, temperature=2.0, kd_tokens="agree")(s, t, y)
    hard = F.cross_entropy(s, y.clamp_min(0), reduction="none")
    soft = soft_kl(s, t, 2.0)
    # the disagreeing token learns from its gold tag alone, as one the teacher did not read
    expected = (0.2 * hard[0] + 0.8 * soft[0] + hard[1] + hard[2] + soft[3]) / 4
    assert float(loss) == pytest.approx(float(expected), rel=1e-5)
    crf = CRF(3)
    emissions, lengths = s.view(1, 4, 3), torch.tensor([4])
    labels = torch.tensor([[0, 2, 1, 1]])  # a gold sentence: the teacher agrees on its first and last tokens
    assert taught_tokens(t, labels[0], kd_tokens="agree").tolist() == [True, False, False, True]
    hard_crf = crf.nll(emissions, labels, lengths).sum() / 4
    expected_crf = 0.5 * hard_crf + 0.5 * soft_kl(s[[0, 3]], t[[0, 3]], 2.0).mean()
    got = CrfTagLoss(crf, kind="kl", alpha=0.5, kd_tokens="agree")(emissions, t.view(1, 4, 3), labels, lengths=lengths)
    assert float(got) == pytest.approx(float(expected_crf), rel=1e-5)
    with pytest.raises(ValueError, match=r"kd_tokens must be one of \('all', 'agree'\)"):
        TokenKDLoss(kd_tokens="some")
