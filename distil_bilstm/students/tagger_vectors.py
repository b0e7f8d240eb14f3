"""Skip-gram vectors for a tagger's word vocabulary (``embedding_init: skipgram`` of a tagger run).

A tagger's words are its dataset's tokens, not WordPiece, so its corpus is the training sentences and
the untagged sentences it is given, one line of tokens each, read as its word lookup reads them
(lowercased or not); skip-gram (students/embeddings.py's trainers) gives a vector per word the corpus
shows, and the word embedding starts from them (Lample et al. 2016 start theirs from pretrained
vectors). A tagger run trains its vectors once: nothing is cached.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Iterable, Sequence

import torch

from .embeddings import SkipgramConfig, SkipgramVectors, init_embedding_from_vectors, train_skipgram

logger = logging.getLogger(__name__)


def skipgram_for_words(
    sentences: Iterable[Sequence[str]], words: Sequence[str], *, config: SkipgramConfig, folder: Path
) -> SkipgramVectors:
    """Skip-gram over ``sentences`` (lists of tokens) for the vocabulary ``words`` (in id order); the
    corpus is written in ``folder`` and removed after."""
    folder.mkdir(parents=True, exist_ok=True)
    corpus = folder / "skipgram-corpus.txt"
    start, tokens = time.perf_counter(), 0
    try:
        with open(corpus, "w", encoding="utf-8") as out:
            for sentence in sentences:
                if sentence:
                    out.write(" ".join(sentence) + "\n")
                    tokens += len(sentence)
        vectors, known = train_skipgram(corpus, words, config)
    finally:
        corpus.unlink(missing_ok=True)
    stats = {"tokens": tokens, "known_tokens": int(known.sum()), "vocab_size": len(words)}
    logger.info(
        "skip-gram over %s tokens: vectors for %d of %d words in %.0f s",
        f"{tokens:,}",
        stats["known_tokens"],
        len(words),
        time.perf_counter() - start,
    )
    return SkipgramVectors(vectors=vectors, known=known, header={"stats": stats}, folder=folder)


def init_word_embedding(
    embedding: torch.nn.Embedding,
    words: Sequence[str],
    sentences: Iterable[Sequence[str]],
    *,
    lowercase: bool,
    config: SkipgramConfig,
    folder: Path,
) -> int:
    """Start ``embedding (len(words), dim)`` from skip-gram vectors of ``sentences``; returns the rows set."""
    lookup = str.lower if lowercase else str
    vectors = skipgram_for_words(([lookup(t) for t in s] for s in sentences), words, config=config, folder=folder)
    rows = init_embedding_from_vectors(embedding.weight, vectors)
    logger.info("skip-gram vectors for %d of %d words", rows, len(words))
    return rows
