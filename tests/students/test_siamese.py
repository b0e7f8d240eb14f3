from __future__ import annotations

import pytest
import torch

from distil_bilstm.students.registry import StudentSettings, build_student, make_student
from distil_bilstm.students.siamese import SEP_ID, SiameseBiLSTM, SiameseConfig, split_at_separator


def test_split_at_separator_gives_each_side_padded_with_its_own_length():
    ids = torch.tensor([[7, 8, SEP_ID, 9, 0], [7, SEP_ID, 9, 10, 11], [7, 8, 9, 0, 0]])
    a, len_a, b, len_b = split_at_separator(ids, torch.tensor([4, 5, 3]), SEP_ID)
    assert len_a.tolist() == [2, 1, 3] and len_b.tolist() == [1, 3, 1]  # no separator: an empty second side
    assert a[0, :2].tolist() == [7, 8] and a[0, 2:].eq(0).all()
    assert b[1, :3].tolist() == [9, 10, 11] and b[0, :1].tolist() == [9] and b[0, 1:].eq(0).all()


def test_siamese_student_scores_a_pair_the_same_alone_and_in_a_padded_batch():
    torch.manual_seed(0)
    model = SiameseBiLSTM(SiameseConfig(vocab_size=30, num_labels=1, embedding_dim=8, hidden_dim=6, relu_dim=10)).eval()
    pair = torch.tensor([[5, 6, SEP_ID, 7]])
    batch = torch.tensor([[5, 6, SEP_ID, 7, 0, 0], [9, 9, 9, SEP_ID, 8, 8]])
    with torch.no_grad():
        alone = model(pair, torch.tensor([4]))
        padded = model(batch, torch.tensor([4, 6]))
    assert alone.shape == (1, 1) and padded.shape == (2, 1)
    assert torch.allclose(alone[0], padded[0], atol=1e-6)
    assert model.classifier.in_features == 10 and model.hidden[0].in_features == 4 * 2 * 6  # [u, v, |u-v|, u*v]


def test_the_registry_builds_and_rebuilds_a_siamese_student():
    build = make_student(
        StudentSettings(student="siamese_bilstm", preset="tiny", relu_dim=16), vocab_size=40, num_labels=1
    )
    assert build.architecture == "siamese_bilstm" and isinstance(build.model, SiameseBiLSTM)
    rebuilt = build_student(build.architecture, build.values)
    assert sum(p.numel() for p in rebuilt.parameters()) == sum(p.numel() for p in build.model.parameters())
    assert StudentSettings(student="siamese_bilstm", preset="tiny", relu_dim=16).run_name() == "siamese-tiny-r16"


def test_the_cosine_head_scores_a_times_the_cosine_of_the_projected_sentences_plus_b():
    torch.manual_seed(0)
    model = SiameseBiLSTM(
        SiameseConfig(vocab_size=30, num_labels=1, embedding_dim=8, hidden_dim=6, relu_dim=10, head="cosine")
    ).eval()
    with torch.no_grad():
        model.cosine_affine.copy_(torch.tensor([2.0, 1.0]))
        score = model(torch.tensor([[5, 6, SEP_ID, 7, 9]]), torch.tensor([5]))
        swapped = model(torch.tensor([[7, 9, SEP_ID, 5, 6]]), torch.tensor([5]))
        u = model.hidden(model.encode(torch.tensor([[5, 6]]), torch.tensor([2])))
        v = model.hidden(model.encode(torch.tensor([[7, 9]]), torch.tensor([2])))
    by_hand = 2.0 * (u * v).sum() / (u.norm() * v.norm()) + 1.0
    torch.testing.assert_close(score[0, 0], by_hand)
    torch.testing.assert_close(swapped, score)  # symmetric in its two sentences
    assert model.classifier is None and sum(p.numel() for p in model.parameters()) == (
        30 * 8 + 2 * 4 * (6 * (8 + 6) + 2 * 6) + (12 * 10 + 10) + 2
    )


def test_the_cosine_head_is_refused_where_it_cannot_apply():
    with pytest.raises(ValueError, match=r"SiameseConfig.head 'cosine' gives one score: num_labels must be 1"):
        SiameseConfig(vocab_size=30, num_labels=3, head="cosine")
    with pytest.raises(ValueError, match=r"SiameseConfig.head must be one of \('features', 'cosine'\)"):
        SiameseConfig(vocab_size=30, num_labels=1, head="dot")
    with pytest.raises(ValueError, match=r"StudentSettings.pair_head applies to student: siamese_bilstm only"):
        StudentSettings(student="bilstm", pair_head="cosine")
    assert StudentSettings(student="siamese_bilstm", preset="tiny", pair_head="cosine").run_name() == "siamese-tiny-cos"


def test_pooling_other_than_last_is_in_the_run_name():
    assert (
        StudentSettings(student="siamese_bilstm", preset="tiny", pooling="attention").run_name() == "siamese-tiny-attn"
    )
    assert StudentSettings(student="bilstm", preset="base", pooling="mean").run_name() == "base-mean"
    assert StudentSettings(student="bilstm", preset="base").run_name() == "base"


def test_the_cosine_head_gives_each_sides_embedding_for_the_hidden_loss():
    torch.manual_seed(0)
    model = SiameseBiLSTM(
        SiameseConfig(vocab_size=30, num_labels=1, embedding_dim=8, hidden_dim=6, relu_dim=10, head="cosine")
    ).eval()
    ids, lengths = torch.tensor([[5, 6, SEP_ID, 7, 9], [4, SEP_ID, 3, 0, 0]]), torch.tensor([5, 3])
    with torch.no_grad():
        score, features = model(ids, lengths, return_features=True)
        u = model.hidden(model.encode(torch.tensor([[5, 6]]), torch.tensor([2])))
    assert model.embedding_width == 10 and features.shape == (2, 2, 10)
    torch.testing.assert_close(features[0, 0], u[0])  # W u of the first pair's first side
    torch.testing.assert_close(score, model(ids, lengths))  # the same score with or without the features
    features_head = SiameseBiLSTM(
        SiameseConfig(vocab_size=30, num_labels=1, embedding_dim=8, hidden_dim=6, relu_dim=10)
    )
    with pytest.raises(ValueError, match="only the cosine head has sentence embeddings"):
        features_head(ids, lengths, return_features=True)
