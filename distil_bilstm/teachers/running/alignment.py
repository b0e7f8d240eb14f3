"""Which of a teacher's pieces speaks for each token of a tagged sentence.

Two readings, one per dataset (``TaggedDataset.unit``):

    words       CoNLL's tokens are words: the teacher reads them as words (``is_split_into_words``)
                and each word is its first piece (Devlin et al. 2019's NER recipe).
    characters  KLUE's tokens are characters, a space among them: read one by one, a SentencePiece
                teacher would see every syllable as a word of its own (``▁김 ▁철 ▁수``), nothing like
                the text it was trained on. So it reads the sentence as written, and each character
                is the piece that covers it (the tokenizer's offsets): the first character of a
                piece is the piece; a later one continues it, so it takes the piece's distribution
                with each ``B-X`` moved to ``I-X`` (inside a piece an entity cannot start); a space
                no piece covers has no teacher view (the KLUE baseline's character mapping, Park et al. 2021).

Fine-tuning puts each token's tag on the piece that starts with it; labelling gives each token
its piece's logits; a token past ``max_length`` pieces (or a bare space) gets none.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
from transformers import PreTrainedTokenizerBase

READINGS = ("words", "characters")
NO_CHANCE = -30.0  # the log-probability of a B- tag inside a piece: e^-30, nothing


@dataclass
class Alignment:
    """One sentence: ``tokens[k]`` is read by piece ``pieces[k]``; ``continues[k]``: not the piece's
    first token (a later character of it)."""

    tokens: list[int]
    pieces: list[int]
    continues: list[bool]


def first_pieces(
    tokenizer: PreTrainedTokenizerBase, sentences: Sequence[Sequence[str]], max_length: int
) -> tuple[list[list[int]], list[tuple[list[int], list[int]]]]:
    """The teacher's ids of each sentence read as words (special tokens included, cut at
    ``max_length``) and, per sentence, (word positions, piece positions) of each word's first piece."""
    encoded = tokenizer(
        [list(words) for words in sentences], is_split_into_words=True, truncation=True, max_length=max_length
    )
    firsts = []
    for i in range(len(sentences)):
        words, pieces, seen = [], [], set()
        for piece, word in enumerate(encoded.word_ids(i)):
            if word is not None and word not in seen:
                seen.add(word)
                words.append(word)
                pieces.append(piece)
        firsts.append((words, pieces))
    return encoded["input_ids"], firsts


def character_pieces(
    tokenizer: PreTrainedTokenizerBase, sentences: Sequence[Sequence[str]], max_length: int
) -> tuple[list[list[int]], list[Alignment]]:
    """The teacher's ids of each sentence read as written and each non-space character's piece."""
    texts = ["".join(chars) for chars in sentences]
    encoded = tokenizer(texts, truncation=True, max_length=max_length, return_offsets_mapping=True)
    alignments = []
    for text, offsets in zip(texts, encoded["offset_mapping"]):
        owner: dict[int, tuple[int, bool]] = {}
        for piece, (start, end) in enumerate(offsets):
            covered = [c for c in range(start, end) if not text[c].isspace() and c not in owner]
            for n, c in enumerate(covered):
                owner[c] = (piece, n > 0)
        ordered = sorted(owner)
        alignments.append(Alignment(ordered, [owner[c][0] for c in ordered], [owner[c][1] for c in ordered]))
    return encoded["input_ids"], alignments


def align_pieces(
    tokenizer: PreTrainedTokenizerBase, sentences: Sequence[Sequence[str]], max_length: int, *, reads: str
) -> tuple[list[list[int]], list[Alignment]]:
    """The teacher's ids of each sentence and its tokens' pieces, as ``reads`` says."""
    if reads not in READINGS:
        raise ValueError(f"unknown reading {reads!r}; one of {READINGS}")
    if reads == "characters":
        return character_pieces(tokenizer, sentences, max_length)
    ids, firsts = first_pieces(tokenizer, sentences, max_length)
    return ids, [Alignment(words, pieces, [False] * len(words)) for words, pieces in firsts]


def inside_piece(logits: np.ndarray, tag_names: Sequence[str]) -> np.ndarray:
    """``(tokens, tags)`` logits of pieces → the log-probabilities of a token that continues its piece:
    each ``B-X``'s probability added to ``I-X``'s, ``B-X`` itself all but impossible."""
    log_p = logits - np.logaddexp.reduce(logits, axis=-1, keepdims=True)
    out = log_p.copy()
    index = {t: i for i, t in enumerate(tag_names)}
    for tag, b in index.items():
        if tag.startswith("B-") and f"I-{tag[2:]}" in index:
            i = index[f"I-{tag[2:]}"]
            out[:, i] = np.logaddexp(log_p[:, b], log_p[:, i])
            out[:, b] = NO_CHANCE
    return out


def decode_unread(tags: list[str], read: Sequence[bool]) -> list[str]:
    """Tags for the tokens the teacher has no view of (``read`` False: a bare space, a token past its
    length): a space inside an entity continues it (its next token is ``I-X``), anything else is O."""
    out = list(tags)
    following = "O"
    for k in range(len(out) - 1, -1, -1):
        if not read[k]:
            out[k] = following if following.startswith("I-") else "O"
        following = out[k]
    return out
