from __future__ import annotations

import pytest
import torch

from distil_bilstm.students.bilstm import BiLSTMClassifier, StudentConfig, count_parameters, preset_table

SEED_COUNTS = {"large": 1_175_554, "base": 391_170, "small": 146_434, "mini": 52_418, "tiny": 27_394}


def test_preset_parameter_counts_match_the_seed():
    assert {r["preset"]: r["params"] for r in preset_table(vocab_size=3000, num_labels=2)} == SEED_COUNTS


@pytest.mark.parametrize(
    "variant",
    [{}, {"pooling": "attention"}, {"pooling": "mean"}, {"pooling": "max"}, {"relu_dim": 24}, {"num_layers": 2}],
)
def test_padding_never_changes_a_prediction(variant):
    torch.manual_seed(0)
    model = BiLSTMClassifier(StudentConfig(vocab_size=50, embedding_dim=8, hidden_dim=8, **variant)).eval()
    sentence = torch.tensor([[7, 3, 9, 12, 4]])
    alone = model(sentence, torch.tensor([5]))
    # the same sentence inside a batch padded to 3x its length, next to a longer and a shorter one
    batch = torch.zeros((3, 15), dtype=torch.long)
    batch[0, :15] = torch.randint(1, 50, (15,))
    batch[1, :5] = sentence[0]
    batch[2, :2] = torch.tensor([5, 6])
    in_batch = model(batch, torch.tensor([15, 5, 2]))
    torch.testing.assert_close(in_batch[1], alone[0], rtol=1e-5, atol=1e-6)


def test_mean_and_max_pooling_read_only_the_outputs_within_each_length():
    torch.manual_seed(0)
    config = StudentConfig(vocab_size=50, embedding_dim=8, hidden_dim=8, pooling="mean")
    model = BiLSTMClassifier(config).eval()
    ids, lengths = torch.tensor([[7, 3, 9, 0, 0]]), torch.tensor([3])
    outputs, _ = model.lstm(model.embedding(ids), lengths)  # (1, 5, 16)
    torch.testing.assert_close(model.encode(ids, lengths), outputs[:, :3].mean(dim=1))
    model.pooling = "max"  # the same weights read the other way
    torch.testing.assert_close(model.encode(ids, lengths), outputs[:, :3].amax(dim=1))


@pytest.mark.parametrize("pooling", ["last", "attention", "mean", "max"])
def test_every_pooling_scripts_and_agrees_with_eager(pooling):
    torch.manual_seed(0)
    model = BiLSTMClassifier(StudentConfig(vocab_size=50, embedding_dim=8, hidden_dim=8, pooling=pooling)).eval()
    scripted = torch.jit.script(model)  # what `export --format torchscript` ships
    ids, lengths = torch.tensor([[7, 3, 9, 12], [5, 6, 0, 0]]), torch.tensor([4, 2])
    torch.testing.assert_close(scripted(ids, lengths), model(ids, lengths))


def test_attention_and_relu_variants_add_parameters():
    base = count_parameters(BiLSTMClassifier(StudentConfig(vocab_size=100, embedding_dim=8, hidden_dim=8)))
    attention = count_parameters(
        BiLSTMClassifier(StudentConfig(vocab_size=100, embedding_dim=8, hidden_dim=8, pooling="attention"))
    )
    relu = count_parameters(
        BiLSTMClassifier(StudentConfig(vocab_size=100, embedding_dim=8, hidden_dim=8, relu_dim=400))
    )
    assert attention - base == 16 + 1  # Linear(2 * hidden, 1)
    assert relu - base == (16 * 400 + 400) + (400 * 2 + 2) - (16 * 2 + 2)


def test_student_config_validation():
    with pytest.raises(ValueError, match="StudentConfig.pooling must be one of"):
        StudentConfig(vocab_size=10, pooling="sum")
    with pytest.raises(ValueError, match="unknown preset 'huge'"):
        StudentConfig.from_preset("huge", vocab_size=10)
    assert StudentConfig.from_dict(StudentConfig(vocab_size=10).to_dict()) == StudentConfig(vocab_size=10)
