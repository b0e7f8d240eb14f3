"""A tagger student's units: each token of a tagged sentence as a word id and the ids of its
characters (Lample et al. 2016; Ma & Hovy 2016), and the padded gold tags the Trainer reads.

    words   the training split's tokens seen ``min_count`` times or more (lowercased when asked),
            after ``[PAD]`` = 0 and ``[UNK]`` = 1
    chars   every character of the training split's tokens, after the same two (none: ``max_chars`` 0)

A token becomes the row ``[word id, char ids…]`` of ``1 + max_chars`` ints (its first ``max_chars``
characters, right-padded with 0); ``max_chars`` 0 leaves the word id alone (KLUE's tokens are
single characters, whose "form" is the token itself). A sentence is a run of such rows: the split's
rows are stored flat, ``(tokens, 1 + max_chars)`` int32, with each sentence's length.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from dataclasses import asdict, dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np
import torch

from ..utils import read_json, write_json

if TYPE_CHECKING:  # serving reads units without the data readers (which import pandas)
    from .tagging import TaggedSentence

_WORD = re.compile(r"\w+|[^\w\s]")
PAD, UNK = 0, 1
SPECIALS = ("[PAD]", "[UNK]")
UNITS_FILE = "units.json"  # in a tagger run's vocab/ folder


def split_tokens(text: str, *, unit: str) -> list[tuple[str, int, int]]:
    """Raw ``text`` as a tagger's tokens, each ``(token, start, end)`` in characters of the text:
    ``unit`` "words" (runs of letters and digits, each other non-space character alone, as CoNLL
    cuts them) or "characters" (every character, spaces included, as KLUE's)."""
    if unit == "characters":
        return [(ch, i, i + 1) for i, ch in enumerate(text)]
    return [(m.group(), m.start(), m.end()) for m in _WORD.finditer(text)]


def as_written(tokens: Sequence[str], *, unit: str) -> str:
    """A sentence's tokens as one text: characters joined as they are (a space is one of them),
    words joined by spaces (the text a teacher's tokenizer and a vocabulary pruner read)."""
    return "".join(tokens) if unit == "characters" else " ".join(tokens)


def unit_of(sentences: Sequence["TaggedSentence"]) -> str:
    """How a dataset's tokens are cut: "characters" when every token of ``sentences`` (its training
    split) is one character (KLUE's), else "words"."""
    return "characters" if all(len(t) == 1 for s in sentences for t in s.tokens) else "words"


@dataclass(frozen=True)
class TagUnits:
    """The word and character vocabularies of a tagger, and how a token is read."""

    words: tuple[str, ...]
    chars: tuple[str, ...]
    lowercase: bool = True  # the word lookup's (the characters keep their case: it is a feature)
    max_chars: int = 20  # characters of a token the character encoder reads; 0: none
    # how raw text becomes tokens at prediction time: "words" (CoNLL's: runs of letters and digits,
    # each other non-space character alone) or "characters" (KLUE's: every character, spaces too)
    tokens: str = "words"

    @classmethod
    def build(
        cls,
        sentences: Sequence["TaggedSentence"],
        *,
        lowercase: bool,
        min_count: int,
        max_chars: int,
        untagged: Sequence["TaggedSentence"] = (),
        untagged_words: int = 0,
    ) -> "TagUnits":
        """Words of the training ``sentences`` seen ``min_count`` times, then up to ``untagged_words``
        more: the most frequent other words of ``untagged`` sentences (transfer sets, skip-gram texts),
        which the student meets in them and whose vectors skip-gram can give. Characters: the training
        sentences'."""
        counts = Counter(token.lower() if lowercase else token for s in sentences for token in s.tokens)
        words = sorted((w for w, n in counts.items() if n >= min_count), key=lambda w: (-counts[w], w))
        if untagged_words:
            known = set(words)
            more = Counter(t.lower() if lowercase else t for s in untagged for t in s.tokens)
            words += [w for w, _ in sorted(more.items(), key=lambda x: (-x[1], x[0])) if w not in known][
                :untagged_words
            ]
        chars = (*SPECIALS, *sorted({ch for s in sentences for token in s.tokens for ch in token})) if max_chars else ()
        return cls(
            words=(*SPECIALS, *words), chars=chars, lowercase=lowercase, max_chars=max_chars, tokens=unit_of(sentences)
        )

    def save(self, folder: str | os.PathLike) -> Path:
        path = Path(folder) / UNITS_FILE
        write_json(path, {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()})
        return path

    @classmethod
    def load(cls, folder: str | os.PathLike) -> "TagUnits":
        values = read_json(Path(folder) / UNITS_FILE)
        return cls(**{**values, "words": tuple(values["words"]), "chars": tuple(values["chars"])})

    @cached_property
    def _indices(self) -> tuple[dict[str, int], dict[str, int]]:
        """(word → id, character → id), made once (a frozen dataclass keeps them in its __dict__)."""
        return {w: i for i, w in enumerate(self.words)}, {c: i for i, c in enumerate(self.chars)}

    def token_rows(self, tokens: Sequence[str]) -> np.ndarray:
        """``(len(tokens), 1 + max_chars)`` int32: each token's word id, then its characters' ids."""
        word_index, char_index = self._indices
        rows = np.zeros((len(tokens), 1 + self.max_chars), dtype=np.int32)
        for i, token in enumerate(tokens):
            rows[i, 0] = word_index.get(token.lower() if self.lowercase else token, UNK)
            for j, ch in enumerate(token[: self.max_chars]):
                rows[i, 1 + j] = char_index.get(ch, UNK)
        return rows

    def encode(self, sentences: Sequence["TaggedSentence"] | Sequence[Sequence[str]]) -> "TokenUnits":
        """Sentences (or their token lists) as the tagger's rows."""
        rows = [self.token_rows(getattr(s, "tokens", s)) for s in sentences]
        lengths = torch.tensor([len(r) for r in rows], dtype=torch.int64)
        flat = np.concatenate(rows) if rows else np.zeros((0, 1 + self.max_chars), dtype=np.int32)
        return TokenUnits(torch.from_numpy(flat), lengths)


class TokenUnits:
    """One split's token rows, ragged by sentence, batched as the Trainer asks for texts':
    ``batch(rows) -> (input_ids (batch, seq, 1 + max_chars) int64 padded with 0, lengths (batch,))``."""

    def __init__(self, flat: torch.Tensor, lengths: torch.Tensor):
        self.flat, self.lengths = flat, lengths  # (tokens, 1 + max_chars) int32, (N,) int64
        self.offsets = torch.cat([torch.zeros(1, dtype=torch.int64), lengths.cumsum(0)])  # (N + 1,)

    def __len__(self) -> int:
        return len(self.lengths)

    def batch(self, rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        lengths = self.lengths[rows]
        ids = torch.zeros((len(rows), int(lengths.max()), self.flat.shape[1]), dtype=torch.int64)
        for i, row in enumerate(rows.tolist()):
            ids[i, : lengths[i]] = self.flat[self.offsets[row] : self.offsets[row + 1]]
        return ids, lengths


def padded_tags(sentences: Sequence["TaggedSentence"], tag_names: Sequence[str]) -> torch.Tensor:
    """Gold tag ids ``(N, longest)`` int64, -1 after each sentence's end."""
    index = {t: i for i, t in enumerate(tag_names)}
    longest = max((len(s.tags) for s in sentences), default=0)
    tags = torch.full((len(sentences), longest), -1, dtype=torch.int64)
    for i, sentence in enumerate(sentences):
        tags[i, : len(sentence.tags)] = torch.tensor([index[t] for t in sentence.tags], dtype=torch.int64)
    return tags
