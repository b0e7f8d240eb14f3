"""data/tag_units.py: a tagger's word and character units, their rows, and padded gold tags."""

from __future__ import annotations

import torch

from distil_bilstm.data.tag_units import PAD, UNK, TagUnits, padded_tags, unit_of
from distil_bilstm.data.tagging import TaggedSentence

SENTENCES = [
    TaggedSentence(("Kim", "went", "to", "Seoul"), ("B-PER", "O", "O", "B-LOC"), 1),
    TaggedSentence(("kim", "left"), ("B-PER", "O"), 6),
]


def test_words_are_counted_lowercased_and_rare_ones_are_unknown_while_their_characters_count():
    units = TagUnits.build(SENTENCES, lowercase=True, min_count=2, max_chars=3)
    assert units.words == ("[PAD]", "[UNK]", "kim")  # "Kim" and "kim" are one word seen twice
    rows = units.token_rows(["KIM", "Seoul", "xyz"])
    assert rows.shape == (3, 4) and rows[:, 0].tolist() == [2, UNK, UNK]
    s, e, o = (units.chars.index(c) for c in "Seo")
    assert rows[1, 1:].tolist() == [s, e, o]  # the first max_chars characters, case kept
    assert rows[2, 1:].tolist() == [UNK, UNK, UNK]  # characters the training split never has
    assert units.token_rows(["to"])[0, 3] == PAD
    assert units.tokens == "words" and unit_of([TaggedSentence(tuple("서울"), ("B-LC", "I-LC"), 1)]) == "characters"


def test_units_round_trip_and_batches_pad_each_sentence_to_the_longest(tmp_path):
    units = TagUnits.build(SENTENCES, lowercase=False, min_count=1, max_chars=0)
    units.save(tmp_path)
    assert TagUnits.load(tmp_path) == units and units.chars == ()  # no character encoder
    encoded = units.encode(SENTENCES)
    ids, lengths = encoded.batch(torch.tensor([1, 0]))
    assert ids.shape == (2, 4, 1) and lengths.tolist() == [2, 4]
    assert ids[0, :, 0].tolist() == [units.words.index("kim"), units.words.index("left"), PAD, PAD]
    tags = padded_tags(SENTENCES, ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"])
    assert tags.tolist() == [[3, 0, 0, 1], [3, 0, -1, -1]]
