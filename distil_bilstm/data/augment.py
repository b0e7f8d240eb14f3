"""Transfer-set augmentation: Tang et al. 2019 (§3.3, "Distilling Task-Specific Knowledge from BERT
into Simple Neural Networks") rules, applied to the training split.

For each training sentence, ``n_iter`` samples; in each sample, for every word one uniform draw u:

    u < p_mask                      → the word becomes the teacher's mask token
    p_mask ≤ u < p_mask + p_pos     → a random word of the same part of speech, drawn from the
                                      training set's words of that tag in proportion to frequency
    otherwise                       → kept

then, with probability ``p_ng``, only a random n-gram of the sample is kept (n uniform in
1..``max_ngram``). A sample equal to the original or to an earlier sample of the same sentence
is dropped, and so is one equal to a validation or test text (:class:`~.data.LeakageGuard`).

Part of speech. English: TextBlob's ``PatternTagger`` (the Brill lexicon of the Pattern library,
shipped inside the ``textblob`` package: no download, runs offline). Korean: ``kiwipiepy``. A
Korean word (eojeol) is its content morpheme followed by particles and endings (영화+가,
재밌+다); we replace the *first morpheme* of the eojeol by another morpheme of the same tag and
keep the rest of the eojeol as written (영화가 → 드라마가). Replacing whole eojeols would need
an eojeol with the same particles to exist (the eojeol vocabulary is several times sparser) and
would mostly change the particles, not the meaning. Only morphemes written as they appear in the
text are used (a contracted verb such as 했 = 하+었 has no surface of its own) so a replacement
is always a clean substring swap.

Sentence pairs (data/pairs.py): both sides are augmented independently by the same rules, and the
k-th sample of the pair is (k-th sample of A, k-th sample of B), a side that ran out of samples
keeping its original; the TSV then has ``sentence1``, ``sentence2``, ``source_idx`` and the
leakage guard compares whole pairs.

The output is a TSV (``text``, ``source_idx``) written as a stream: samples of one sentence at a
time, nothing but the part-of-speech lexicon and the current sentence in memory. Every sentence
draws from its own generator seeded by ``(seed, source_idx)``, so a resumed run (``OUT.progress``
records the byte offset and the next sentence) writes the same bytes as an uninterrupted one.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import numpy as np
from tqdm.auto import tqdm

from ..utils import dataclass_from_dict, field_checker, read_json, write_json
from .datasets import Dataset, LeakageGuard, hangul_share
from .pairs import Pair, make_pair, split_pair, split_pairs

logger = logging.getLogger(__name__)

LANGUAGES = ("auto", "ko", "en")
FLUSH_EVERY = 2000  # sentences between progress records


class POSUnavailableError(RuntimeError):
    """The tagger for a language cannot be imported."""


@dataclass(kw_only=True)
class AugmentConfig:
    n_iter: int = 20
    p_mask: float = 0.1
    p_pos: float = 0.1
    p_ng: float = 0.25
    max_ngram: int = 5
    mask_token: str = "[MASK]"
    language: str = "auto"  # auto: Korean when most letters of the training split are Hangul
    pos: bool = True  # False: no part-of-speech rule (mask and n-gram only)
    seed: int = 42

    def __post_init__(self) -> None:
        check = field_checker(self)

        for name in ("p_mask", "p_pos", "p_ng"):
            setattr(self, name, float(getattr(self, name)))
            check(0.0 <= getattr(self, name) <= 1.0, name, "must be in [0, 1]")
        check(self.p_mask + self.p_pos <= 1.0, "p_pos", f"plus p_mask ({self.p_mask}) must be <= 1")
        check(self.n_iter >= 1, "n_iter", "must be >= 1")
        check(self.max_ngram >= 1, "max_ngram", "must be >= 1")
        check(bool(self.mask_token.strip()) and " " not in self.mask_token, "mask_token", "must be one non-empty word")
        check(self.language in LANGUAGES, "language", f"must be one of {LANGUAGES}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "AugmentConfig":
        return dataclass_from_dict(cls, values)


# ---- part of speech: a word → (characters that may be replaced, tag)


Analysis = list[tuple[int, str | None]]  # per word: (length of the replaceable prefix, its tag); (0, None): none


class EnglishTagger:
    """One tag per whitespace word (TextBlob's PatternTagger: a Brill lexicon + rules, offline)."""

    def __init__(self) -> None:
        try:
            from textblob.en.taggers import PatternTagger
        except ImportError as err:  # pragma: no cover - depends on the environment
            raise POSUnavailableError(
                "the English part-of-speech rule needs textblob: pip install 'distil-bilstm[augment]'"
            ) from err
        self._tagger = PatternTagger()

    def analyse(self, texts: Sequence[str]) -> Iterator[Analysis]:
        for text in texts:
            words = text.split()
            tags = [tag for _, tag in self._tagger.tag(" ".join(words), tokenize=False)] if words else []
            if len(tags) != len(words):  # the tagger merged or split something: no replacement in this sentence
                yield [(0, None)] * len(words)
            else:
                yield [(len(w), t) for w, t in zip(words, tags)]


class KoreanTagger:
    """The first morpheme of each eojeol with its kiwipiepy tag, when it is written as it appears."""

    def __init__(self, *, num_workers: int = 1) -> None:
        try:
            from kiwipiepy import Kiwi
        except ImportError as err:  # pragma: no cover - depends on the environment
            raise POSUnavailableError(
                "the Korean part-of-speech rule needs kiwipiepy: pip install 'distil-bilstm[augment]'"
            ) from err
        self._kiwi = Kiwi(num_workers=num_workers)

    def analyse(self, texts: Sequence[str]) -> Iterator[Analysis]:
        for text, tokens in zip(texts, self._kiwi.tokenize(list(texts))):
            yield list(self._words(text, tokens))

    @staticmethod
    def _words(text: str, tokens) -> Iterator[tuple[int, str | None]]:
        first = {}  # character offset → first token starting there
        for tok in tokens:
            first.setdefault(tok.start, tok)
        pos = 0
        for word in text.split():
            start = text.index(word, pos)
            pos = start + len(word)
            tok = first.get(start)
            if tok is not None and tok.len <= len(word) and text[start : start + tok.len] == tok.form:
                yield tok.len, tok.tag
            else:
                yield 0, None


def make_tagger(language: str):
    return KoreanTagger() if language == "ko" else EnglishTagger()


class Lexicon:
    """Replaceable forms per tag with their training-set counts, for frequency-weighted draws."""

    def __init__(self, counts: dict[str, Counter]):
        self.tags = {}
        for tag, counter in counts.items():
            forms = sorted(counter)  # sorted: the draw depends on the data, never on insertion order
            weights = np.array([counter[f] for f in forms], dtype=np.float64)
            self.tags[tag] = (forms, np.cumsum(weights) / weights.sum())

    @classmethod
    def build(cls, texts: Iterable[str], analyses: Iterable[Analysis]) -> "Lexicon":
        counts: dict[str, Counter] = {}
        for text, analysis in zip(texts, analyses):
            for word, (n, tag) in zip(text.split(), analysis):
                if tag is not None and n:
                    counts.setdefault(tag, Counter())[word[:n]] += 1
        return cls(counts)

    def draw(self, tag: str, u: float) -> str | None:
        entry = self.tags.get(tag)
        if entry is None:
            return None
        forms, cdf = entry
        return forms[min(int(np.searchsorted(cdf, u, side="right")), len(forms) - 1)]


# ---- the rules


def augment_sentence(
    text: str, analysis: Analysis, *, lexicon: Lexicon | None, config: AugmentConfig, rng: np.random.Generator
) -> list[str]:
    """Up to ``config.n_iter`` distinct samples of ``text`` (none equal to it), in draw order."""
    words = text.split()
    if not words:
        return []
    seen = {" ".join(words)}
    out = []
    n = len(words)
    for _ in range(config.n_iter):
        u = rng.random(n)  # one uniform per word decides mask / same-POS word / keep
        pick = rng.random(n)  # which word of the tag (used only where the POS rule fires)
        sample = []
        for word, (prefix, tag), ui, pi in zip(words, analysis, u, pick):
            if ui < config.p_mask:
                sample.append(config.mask_token)
            elif ui < config.p_mask + config.p_pos and lexicon is not None and tag is not None:
                form = lexicon.draw(tag, pi)
                sample.append(form + word[prefix:] if form is not None else word)
            else:
                sample.append(word)
        if rng.random() < config.p_ng:
            size = int(rng.integers(1, config.max_ngram + 1))
            if size < n:
                start = int(rng.integers(0, n - size + 1))
                sample = sample[start : start + size]
        joined = " ".join(sample)
        if joined not in seen:
            seen.add(joined)
            out.append(joined)
    return out


def pair_samples(originals: Sequence[str], per_side: Sequence[Sequence[str]], n_iter: int) -> list[Pair]:
    """The pair's samples from each side's: the k-th of A with the k-th of B (a side without a
    k-th keeps its original), the original pair and repeats left out."""
    seen = {make_pair(*originals)}
    out = []
    for k in range(n_iter):
        pair = make_pair(*(side[k] if k < len(side) else original for side, original in zip(per_side, originals)))
        if pair not in seen:
            seen.add(pair)
            out.append(pair)
    return out


# ---- the file


def progress_path(out: Path) -> Path:
    return out.with_name(out.name + ".progress")


def meta_path(out: Path) -> Path:
    return out.with_name(out.name + ".json")


def resolve_language(config: AugmentConfig, texts: Sequence[str]) -> str:
    if config.language != "auto":
        return config.language
    return "ko" if hangul_share(texts[:5000]) > 0.5 else "en"


def augment_dataset(dataset: Dataset, *, out: str | os.PathLike, config: AugmentConfig, progress: bool = True) -> dict:
    """Write ``out`` (TSV: ``text``, ``source_idx``) from the training split of ``dataset`` and
    return its summary (also written to ``OUT.json``). Resumes an interrupted run of the same
    config and data; a finished file of the same config and data is reused."""
    out = Path(out)
    train = dataset.split("train")
    texts, sources = train["text"].tolist(), train["idx"].to_numpy()
    sides = list(split_pairs(texts)) if dataset.pairs else [texts]
    texts = [t for side in sides for t in side]  # what is tagged: every side of every pair
    plan = {"config": config.to_dict(), "dataset": dataset.name, "dataset_fingerprint": dataset.fingerprint}
    if meta_path(out).is_file() and out.is_file():
        meta = read_json(meta_path(out))
        if meta.get("plan") == plan:
            logger.info("%s: already written for this config and data (%d rows)", out, meta["rows"])
            return meta
    language = resolve_language(config, texts)
    lexicon, analyses, pos_note = None, None, None
    if config.pos:
        try:
            tagger = make_tagger(language)
        except POSUnavailableError as err:
            pos_note = f"part-of-speech rule disabled: {err}"
            logger.warning("%s", pos_note)
        else:
            analyses = list(
                tqdm(
                    tagger.analyse(texts),
                    total=len(texts),
                    desc=f"part of speech ({language})",
                    unit="sent",
                    disable=not progress,
                )
            )
            lexicon = Lexicon.build(texts, analyses)
    if analyses is None:
        analyses = [[(0, None)] * len(t.split()) for t in texts]
    n = len(sources)

    start, offset, counts = _resume_point(out, plan)
    guard = LeakageGuard(dataset)
    guard.dropped = counts.get("leaked_dropped", 0)
    rows = counts.get("rows", 0)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "r+b" if start else "wb") as fh:
        if start:  # drop whatever was written after the last progress record
            fh.truncate(offset)
            fh.seek(offset)
        else:
            fh.write(_tsv_line(["sentence1", "sentence2", "source_idx"] if dataset.pairs else ["text", "source_idx"]))
        bar = tqdm(total=n, initial=start, desc="augment", unit="sent", disable=not progress)
        for i in range(start, n):
            rng = np.random.default_rng([config.seed, int(sources[i])])
            per_side = [
                augment_sentence(texts[s * n + i], analyses[s * n + i], lexicon=lexicon, config=config, rng=rng)
                for s in range(len(sides))
            ]
            samples = (
                per_side[0] if not dataset.pairs else pair_samples([sides[0][i], sides[1][i]], per_side, config.n_iter)
            )
            for sample in guard(samples):
                fields = [*split_pair(sample)] if dataset.pairs else [sample]
                fh.write(_tsv_line([*fields, str(int(sources[i]))]))
                rows += 1
            bar.update(1)
            if (i + 1) % FLUSH_EVERY == 0:
                fh.flush()
                write_json(
                    progress_path(out),
                    {"plan": plan, "next": i + 1, "offset": fh.tell(), "rows": rows, "leaked_dropped": guard.dropped},
                )
        bar.close()
    meta = {
        "plan": plan,
        "rows": rows,
        "sources": n,
        "pairs": dataset.pairs,
        "language": language,
        "pos": lexicon is not None,
        "pos_note": pos_note,
        "leaked_dropped": guard.dropped,
        "file": str(out),
    }
    write_json(meta_path(out), meta)
    progress_path(out).unlink(missing_ok=True)
    return meta


def _resume_point(out: Path, plan: dict) -> tuple[int, int, dict]:
    """(next sentence, byte offset, counts so far) of an interrupted run of ``plan``; (0, 0, {}) otherwise."""
    record = progress_path(out)
    if not (record.is_file() and out.is_file()):
        return 0, 0, {}
    state = read_json(record)
    if state.get("plan") != plan or out.stat().st_size < state["offset"]:
        logger.info("%s: progress of another config or data; starting over", out)
        return 0, 0, {}
    logger.info("%s: resuming at sentence %d (%d rows written)", out, state["next"], state["rows"])
    return state["next"], state["offset"], state


def _tsv_line(fields: list[str]) -> bytes:
    # texts come from a tab-separated reader without quoting, so they hold no tab or newline; a
    # stray one is replaced rather than breaking the row
    return ("\t".join(f.replace("\t", " ").replace("\n", " ") for f in fields) + "\n").encode("utf-8")
