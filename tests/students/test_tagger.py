"""students/tagger.py: the BiLSTM tagger's shapes, padding invariance and config checks."""

from __future__ import annotations

import pytest
import torch

from distil_bilstm.students.tagger import BiLSTMTagger, CharCNN, TaggerConfig


def tiny(**overrides) -> BiLSTMTagger:
    values = dict(vocab_size=20, num_tags=5, char_vocab_size=12, embedding_dim=8, char_dim=4, char_filters=6)
    torch.manual_seed(0)
    return BiLSTMTagger(TaggerConfig(**{**values, "hidden_dim": 8, "dropout": 0.0, **overrides})).eval()


def test_one_row_of_tag_logits_per_token_the_same_alone_or_in_a_padded_batch():
    model = tiny()
    ids = torch.randint(2, 12, (2, 6, 4))
    ids[1, 3:] = 0  # the second sentence is 3 tokens long
    logits = model(ids, torch.tensor([6, 3]))
    assert logits.shape == (2, 6, 5)
    alone = model(ids[1:, :3], torch.tensor([3]))
    assert torch.allclose(logits[1, :3], alone[0], atol=1e-6)


def test_word_ids_alone_when_there_is_no_character_encoder():
    model = tiny(char_vocab_size=0)
    assert model.chars is None
    assert model(torch.randint(2, 20, (3, 5)), torch.tensor([5, 2, 1])).shape == (3, 5, 5)


def test_a_token_without_characters_gets_zero_character_features():
    features = CharCNN(10, 4, 3)(torch.tensor([[[2, 3, 0], [0, 0, 0]]]))  # (1, 2 tokens, 3 characters)
    assert features.shape == (1, 2, 3) and features[0, 1].abs().sum() == 0 and torch.isfinite(features).all()


@pytest.mark.parametrize(
    "overrides,match",
    [
        ({"vocab_size": 1}, r"TaggerConfig.vocab_size must be >= 2"),
        ({"dropout": 1.0}, r"TaggerConfig.dropout must be in \[0, 1\)"),
        ({"char_filters": -1}, r"TaggerConfig.char_filters must be >= 0"),
    ],
)
def test_config_errors_name_the_field(overrides, match):
    with pytest.raises(ValueError, match=match):
        TaggerConfig(**{"vocab_size": 20, "num_tags": 5, **overrides})
