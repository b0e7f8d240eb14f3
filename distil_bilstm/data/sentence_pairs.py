"""A sentence-pair transfer set from unlabelled sentences: ``distil-bilstm pair-texts``.

Embedding distillation (Reimers & Gurevych 2020, "Making Monolingual Sentence Embeddings
Multilingual using Knowledge Distillation", §2) needs sentences, not pairs: the student's
embedding of each sentence is pulled towards the teacher's. Tang's augmentation
(:mod:`.augment`) only rewrites the training sentences, so a student distilled on it never sees
the words and registers of sentences unlike them (KorSTS trains on news and captions and tests
on forum answers). Any unlabelled text in the language widens that.

The pair pipeline carries pairs, so the sentences are paired at random: the sampled sentences
are shuffled and row k is (sentence 2k, sentence 2k+1). Each row then gives the teacher's
states of two new sentences and one teacher score, mostly low (unrelated sentences), which
also shows the score head what "unrelated" looks like.

Per file, at most ``per_file`` sentences are kept, drawn uniformly (reservoir sampling: one pass,
holding the sample and a hash of each distinct sentence) among the distinct ones whose length is
within bounds (sentences are compared stripped, as the leakage guard compares them). A
sentence equal to either side of a validation or test pair of the dataset is dropped, as the
leakage guard drops augmented pairs.

Output: a TSV (``sentence1``, ``sentence2``) and ``OUT.json`` with what was kept and dropped.
"""

from __future__ import annotations

import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
from tqdm.auto import tqdm

from ..utils import atomic_path, dataclass_from_dict, field_checker, write_json
from .datasets import Dataset, LeakageGuard
from .files import iter_texts
from .pairs import PAIR_SEP, Text, each_side

logger = logging.getLogger(__name__)


@dataclass(kw_only=True)
class PairTextsConfig:
    per_file: int = 20_000  # sentences kept from each file at most
    min_chars: int = 5
    max_chars: int = 200
    seed: int = 42

    def __post_init__(self) -> None:
        check = field_checker(self)
        check(self.per_file >= 2, "per_file", "must be >= 2 (a pair needs two sentences)")
        check(self.min_chars >= 1, "min_chars", "must be >= 1")
        check(self.max_chars >= self.min_chars, "max_chars", f"must be >= min_chars ({self.min_chars})")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "PairTextsConfig":
        return dataclass_from_dict(cls, values)


def sample_sentences(
    texts: Iterable[Text], *, config: PairTextsConfig, guard: LeakageGuard, rng: np.random.Generator, counts: dict
) -> list[str]:
    """Up to ``config.per_file`` distinct in-bounds sentences of ``texts``, uniformly (Vitter's
    algorithm R over the eligible ones); ``counts`` gets what was read and dropped, by reason."""
    seen: set[int] = set()  # hashes of the distinct sentences met so far
    sample: list[str] = []
    eligible = 0
    for text in texts:
        # a pair file's two sides are sentences of their own; a plain line is split at every tab,
        # which keeps a tab out of any sentence written back to the TSV
        candidates = [part for side in each_side([text]) for part in side.split(PAIR_SEP)]
        counts["read"] += len(candidates)
        for sentence in candidates:
            sentence = sentence.strip()
            if not config.min_chars <= len(sentence) <= config.max_chars:
                counts["length"] += 1
                continue
            key = hash(sentence)
            if key in seen:
                counts["duplicate"] += 1
                continue
            seen.add(key)
            if sentence in guard:
                counts["valid/test"] += 1
                continue
            eligible += 1
            if len(sample) < config.per_file:
                sample.append(sentence)
            else:
                j = int(rng.integers(eligible))
                if j < config.per_file:
                    sample[j] = sentence
    return sample


def pair_texts(
    files: Sequence[str | os.PathLike],
    *,
    dataset: Dataset,
    out: str | os.PathLike,
    config: PairTextsConfig,
    progress: bool = True,
) -> dict:
    """Write ``out`` (TSV: ``sentence1``, ``sentence2``) from the sentences of ``files`` and
    return its summary (also written to ``OUT.json``)."""
    if not dataset.pairs:
        raise ValueError(
            f"pair-texts makes a transfer set for a sentence-pair dataset; {dataset.name} has single "
            "texts: give the unlabelled file itself as a transfer set"
        )
    out = Path(out)
    rng = np.random.default_rng(config.seed)
    guard = LeakageGuard(dataset, sides=True)
    sentences, per_file = [], []
    for path in files:
        counts = {"read": 0, "length": 0, "duplicate": 0, "valid/test": 0}
        texts = tqdm(iter_texts(path), desc=f"read {Path(path).name}", unit="text", disable=not progress)
        kept = sample_sentences(texts, config=config, guard=guard, rng=rng, counts=counts)
        per_file.append({"file": str(path), "kept": len(kept), **counts})
        logger.info("%s: kept %d sentences (%s)", path, len(kept), ", ".join(f"{k} {v}" for k, v in counts.items()))
        sentences.extend(kept)
    if len(sentences) < 2:
        raise ValueError(
            f"{', '.join(map(str, files))}: fewer than two sentences within {config.min_chars}–"
            f"{config.max_chars} characters; nothing to pair"
        )
    order = rng.permutation(len(sentences))
    rows = len(order) // 2
    with atomic_path(out) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        fh.write("sentence1\tsentence2\n")
        for k in range(rows):
            fh.write(f"{sentences[order[2 * k]]}\t{sentences[order[2 * k + 1]]}\n")
    meta = {
        "config": config.to_dict(),
        "dataset": dataset.name,
        "dataset_fingerprint": dataset.fingerprint,
        "files": per_file,
        "sentences": len(sentences),
        "rows": rows,
        "file": str(out),
    }
    write_json(out.with_name(out.name + ".json"), meta)
    return meta
