"""teachers/running/alignment.py: which teacher piece reads each token, in both readings."""

from __future__ import annotations

import numpy as np
import pytest

from distil_bilstm.data.vocab import VocabConfig, load_vocab, save_vocab, train_wordpiece
from distil_bilstm.teachers.running.alignment import (
    NO_CHANCE,
    align_pieces,
    decode_unread,
    inside_piece,
)


@pytest.fixture
def tokenizer(tmp_path):
    config = VocabConfig(vocab_size=80, min_frequency=1, limit_alphabet=80)
    save_vocab(train_wordpiece(["김철수 서울 시청", "김철수가 서울에 갔다"] * 20, config), tmp_path / "v", config)
    return load_vocab(tmp_path / "v")


def test_a_sentence_of_characters_is_read_as_written_and_each_character_finds_its_piece(tokenizer):
    chars = list("김철수 서울")
    ids, [a] = align_pieces(tokenizer, [chars], 32, reads="characters")
    pieces = tokenizer.convert_ids_to_tokens(ids[0])
    assert a.tokens == [0, 1, 2, 4, 5]  # the space (3) is no piece's
    for k, p in zip(a.tokens, a.pieces):
        assert chars[k] in pieces[p].lstrip("#")  # the piece that covers the character
    for p in set(a.pieces):  # a piece's first character starts it, the others continue it
        flags = [later for q, later in zip(a.pieces, a.continues) if q == p]
        assert flags == [False] + [True] * (len(flags) - 1)


def test_a_later_character_of_a_piece_cannot_start_an_entity():
    names = ["O", "B-PS", "I-PS"]
    logits = np.log(np.array([[0.2, 0.5, 0.3]]))
    inside = inside_piece(logits, names)
    assert np.exp(inside[0]) == pytest.approx([0.2, np.exp(NO_CHANCE), 0.8], abs=1e-9)


def test_a_space_the_teacher_did_not_read_continues_an_entity_only_inside_one():
    tags = ["B-PS", "I-PS", "O", "I-PS", "O", "O", "B-LC"]
    read = [True, True, False, True, True, False, True]
    assert decode_unread(tags, read) == ["B-PS", "I-PS", "I-PS", "I-PS", "O", "O", "B-LC"]
