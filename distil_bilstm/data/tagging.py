"""Token-tagged data (named entities): readers for CoNLL columns, KLUE's per-character format and
JSON Lines, the tag scheme made BIO, and a dataset of sentences with a stable ``idx``.

    conll   one token a line, whitespace-separated columns, the tag in ``tag_column`` (default: the
            last), a blank line between sentences, ``-DOCSTART-`` lines between documents
    klue    ``## <id><TAB><sentence>`` opens a sentence, then ``CHAR<TAB>TAG`` lines (a space is a
            character tagged ``O``), a blank line between sentences; other ``## `` lines are comments
    jsonl   one ``{"tokens": [...], "tags": [...]}`` object a line

Every tag is ``O`` or ``B-TYPE`` / ``I-TYPE``. IOB1 (CoNLL-2003's: ``I-`` opens an entity, ``B-`` only
where two of one type touch) is converted to BIO. In BIO an ``I-X`` that follows nothing of type X
is repaired to ``B-X`` and counted, or refused under ``strict``. Errors name the file and line.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from .files import DataFormatError, not_utf8
from .splits import split_indices

logger = logging.getLogger(__name__)

FORMATS = ("conll", "klue", "jsonl")
SCHEMES = ("bio", "iob1")
_TAG = re.compile(r"^(?:O|[BI]-[^\s-][^\s]*)$")


@dataclass(frozen=True)
class TaggedSentence:
    tokens: tuple[str, ...]
    tags: tuple[str, ...]
    line: int  # where the sentence starts in its file (1-based)


@dataclass
class ReadReport:
    """What a reader changed or dropped, by reason (``repaired I- tag``: a BIO ``I-X`` after no ``X``)."""

    counts: Counter = field(default_factory=Counter)


def _check_tag(tag: str, *, path: Path, line: int) -> str:
    if not _TAG.match(tag):
        raise DataFormatError(f"{path}, line {line}: tag {tag!r} is not O, B-TYPE or I-TYPE")
    return tag


def to_bio(
    tags: Sequence[str], *, scheme: str, strict: bool = False, where: str = "", report: ReadReport | None = None
) -> list[str]:
    """``tags`` in BIO. IOB1: an ``I-X`` that opens an entity becomes ``B-X``. BIO: an ``I-X`` that
    follows no ``X`` is repaired to ``B-X`` (counted in ``report``), or refused when ``strict``."""
    out = []
    previous = "O"
    for position, tag in enumerate(tags):
        if tag.startswith("I-") and previous[2:] != tag[2:]:
            if scheme == "bio":
                if strict:
                    raise DataFormatError(
                        f"{where}: token {position + 1} is tagged {tag} but follows {previous} "
                        "(an I- tag must continue an entity of its type)"
                    )
                if report is not None:
                    report.counts["repaired I- tag"] += 1
            tag = "B-" + tag[2:]
        out.append(tag)
        previous = tag
    return out


_BREAK, _SKIP = object(), object()  # what a line of a one-token-a-line file may be besides a token


def _line_sentences(path: Path, parse) -> Iterator[TaggedSentence]:
    """Sentences of a one-token-a-line file: ``parse(text, line)`` gives ``(token, tag)``, ``_BREAK``
    (the sentence so far ends) or ``_SKIP``."""
    tokens: list[str] = []
    tags: list[str] = []
    start = 0
    try:
        with open(path, encoding="utf-8") as fh:
            for line, raw in enumerate(fh, start=1):
                parsed = parse(raw.rstrip("\r\n"), line)
                if parsed is _SKIP:
                    continue
                if parsed is _BREAK:
                    if tokens:
                        yield TaggedSentence(tuple(tokens), tuple(tags), start)
                    tokens, tags = [], []
                    continue
                start = start if tokens else line
                tokens.append(parsed[0])
                tags.append(_check_tag(parsed[1], path=path, line=line))
    except UnicodeDecodeError:
        raise not_utf8(path) from None
    if tokens:
        yield TaggedSentence(tuple(tokens), tuple(tags), start)


def read_conll(path: str | Path, *, tag_column: int = -1) -> Iterator[TaggedSentence]:
    """Sentences of a CoNLL-columns file (tags as written: convert with :func:`to_bio`)."""
    path = Path(path)
    width = None  # the columns of the file's first token line, which every line must have

    def parse(text: str, line: int):
        nonlocal width
        fields = text.split()
        if not fields or fields[0] == "-DOCSTART-":
            return _BREAK
        width = width or len(fields)
        if len(fields) != width:
            raise DataFormatError(f"{path}, line {line}: {len(fields)} columns, but the file's lines have {width}")
        if not -width <= tag_column < width:
            raise DataFormatError(f"{path}, line {line}: no tag column {tag_column} among {width} columns")
        return fields[0], fields[tag_column]

    return _line_sentences(path, parse)


def read_klue(path: str | Path) -> Iterator[TaggedSentence]:
    """Sentences of a KLUE-NER file: one character a line (a space is one), tagged."""
    path = Path(path)

    def parse(text: str, line: int):
        if not text or (text.startswith("## ") and "\t" in text):  # a blank line, or a sentence's own "## id<TAB>text"
            return _BREAK
        if text.startswith("## "):  # the file's comments on its format
            return _SKIP
        char, sep, tag = text.rpartition("\t")
        if not sep or len(char) != 1:
            raise DataFormatError(f"{path}, line {line}: expected one character, a tab and its tag, got {text[:40]!r}")
        return char, tag

    return _line_sentences(path, parse)


def read_tagged_jsonl(path: str | Path) -> Iterator[TaggedSentence]:
    """A user's own sentences: ``{"tokens": [...], "tags": [...]}`` per line, as many tags as tokens."""
    path = Path(path)
    try:
        with open(path, encoding="utf-8") as fh:
            for line, raw in enumerate(fh, start=1):
                if not raw.strip():
                    continue
                try:
                    record = json.loads(raw)
                except json.JSONDecodeError as err:
                    raise DataFormatError(
                        f"{path}, line {line}: not valid JSON ({err.msg} at column {err.colno})"
                    ) from None
                tokens, tags = (record.get("tokens"), record.get("tags")) if isinstance(record, dict) else (None, None)
                if not (
                    isinstance(tokens, list)
                    and isinstance(tags, list)
                    and tokens
                    and all(isinstance(t, str) and t for t in tokens)
                    and all(isinstance(t, str) for t in tags)
                ):
                    raise DataFormatError(
                        f'{path}, line {line}: expected {{"tokens": [non-empty strings], "tags": [strings]}}'
                    )
                if len(tokens) != len(tags):
                    raise DataFormatError(f"{path}, line {line}: {len(tokens)} tokens but {len(tags)} tags")
                yield TaggedSentence(tuple(tokens), tuple(_check_tag(t, path=path, line=line) for t in tags), line)
    except UnicodeDecodeError:
        raise not_utf8(path) from None


def read_tagged(
    path: str | Path,
    *,
    fmt: str,
    scheme: str = "bio",
    tag_column: int = -1,
    strict: bool = False,
    report: ReadReport | None = None,
) -> list[TaggedSentence]:
    """The sentences of ``path`` in ``fmt``, their tags converted to BIO from ``scheme``."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, got {fmt!r}")
    if scheme not in SCHEMES:
        raise ValueError(f"scheme must be one of {SCHEMES}, got {scheme!r}")
    reader = {
        "conll": lambda: read_conll(path, tag_column=tag_column),
        "klue": lambda: read_klue(path),
        "jsonl": lambda: read_tagged_jsonl(path),
    }[fmt]
    return [
        TaggedSentence(
            s.tokens,
            tuple(to_bio(s.tags, scheme=scheme, strict=strict, where=f"{path}, line {s.line}", report=report)),
            s.line,
        )
        for s in reader()
    ]


def tag_names(sentences: Sequence[TaggedSentence]) -> list[str]:
    """The tag set of ``sentences``: ``O``, then ``B-``/``I-`` of each entity type in alphabetical order
    (an ``I-`` tag is listed for every type, seen or not, so that a model can predict it)."""
    types = sorted({tag[2:] for s in sentences for tag in s.tags if tag != "O"})
    return ["O"] + [f"{prefix}-{t}" for t in types for prefix in ("B", "I")]


@dataclass
class TaggedDataset:
    """Sentences with a stable ``idx`` (their order: train, valid, test, as read) and their split; the
    tag set read from the training split."""

    name: str
    sentences: list[TaggedSentence]
    splits: np.ndarray  # (N,) object: "train" | "valid" | "test"
    tag_names: list[str]
    report: ReadReport

    def split(self, name: str) -> list[TaggedSentence]:
        return [s for s, split in zip(self.sentences, self.splits) if split == name]

    @property
    def fingerprint(self) -> str:
        digest = hashlib.sha256()
        for sentence, split in zip(self.sentences, self.splits):
            digest.update(json.dumps([split, sentence.tokens, sentence.tags], ensure_ascii=False).encode("utf-8"))
        return digest.hexdigest()

    @property
    def unit(self) -> str:
        """ "characters" (KLUE's tokens) or "words": how its teacher reads it and raw text is cut for it."""
        from .tag_units import unit_of  # torch, only for who asks

        return unit_of(self.split("train"))

    def tag_ids(self, sentence: TaggedSentence) -> list[int]:
        index = {t: i for i, t in enumerate(self.tag_names)}
        return [index[t] for t in sentence.tags]


def _carve(
    sentences: list[TaggedSentence], fraction: float, seed: int, *, held_out: str, path: Path
) -> tuple[list[TaggedSentence], list[TaggedSentence]]:
    """(kept, held out): ``fraction`` of ``sentences`` carved as sentence datasets carve their splits."""
    try:
        keep, held = split_indices(np.zeros(len(sentences), dtype=np.int64), fraction, seed, held_out=held_out)
    except DataFormatError as err:
        raise DataFormatError(f"{path}: {err}") from None
    return [sentences[i] for i in keep], [sentences[i] for i in held]


def make_tagged_dataset(
    name: str,
    parts: dict[str, list[TaggedSentence]],
    *,
    files: dict[str, Path],
    report: ReadReport,
    valid_size: float = 0.05,
    seed: int = 1,
) -> TaggedDataset:
    """One dataset from each split's sentences; without a validation file, ``valid_size`` of train is
    carved (with ``seed``). A tag in valid or test that train never has is refused naming its file."""
    train = list(parts["train"])
    valid = list(parts.get("valid") or [])
    if not valid:
        train, valid = _carve(train, valid_size, seed, held_out="validation", path=files["train"])
    names = tag_names(train)
    for split, sentences in (("valid", valid), ("test", parts.get("test") or [])):
        for sentence in sentences:
            unknown = sorted(set(sentence.tags) - set(names))
            if unknown:
                raise DataFormatError(
                    f"{files.get(split, files['train'])}, line {sentence.line}: tag(s) {unknown} never "
                    f"appear in the training split (its tags: {names})"
                )
    ordered = train + valid + list(parts.get("test") or [])
    splits = np.array(
        ["train"] * len(train) + ["valid"] * len(valid) + ["test"] * len(parts.get("test") or []), dtype=object
    )
    if report.counts:
        logger.info("%s: %s", name, ", ".join(f"{reason}: {n}" for reason, n in sorted(report.counts.items())))
    return TaggedDataset(name=name, sentences=ordered, splits=splits, tag_names=names, report=report)


# the shared NER data sets: files under <data_dir>/<name>/, their format and tag scheme
TAGGED_SOURCES = {
    "conll2003": {
        "format": "conll",
        "scheme": "iob1",
        "files": {"train": "train.txt", "valid": "valid.txt", "test": "test.txt"},
    },
    "klue_ner": {"format": "klue", "scheme": "bio", "files": {"train": "train.tsv", "test": "test.tsv"}},
}


def load_tagged_dataset(
    name: str, *, data_dir: str | Path | None = None, valid_size: float = 0.05, seed: int = 1, strict: bool = False
) -> TaggedDataset:
    """``conll2003`` or ``klue_ner`` under ``data_dir``, or a user's ``.jsonl`` file (BIO tags; its
    validation and test splits carved from it)."""
    from .sources import resolve_data_dir

    report = ReadReport()
    path = Path(name)
    if path.suffix.lower() == ".jsonl":
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such file")
        sentences = read_tagged(path, fmt="jsonl", strict=strict, report=report)
        train, test = _carve(sentences, 0.1, seed, held_out="test", path=path)
        return make_tagged_dataset(
            str(path),
            {"train": train, "test": test},
            files={"train": path},
            report=report,
            valid_size=valid_size,
            seed=seed,
        )
    if name not in TAGGED_SOURCES:
        raise ValueError(f"unknown tagged dataset {name!r}: one of {sorted(TAGGED_SOURCES)}, or a .jsonl file")
    source = TAGGED_SOURCES[name]
    folder = resolve_data_dir(data_dir) / name
    files = {split: folder / file for split, file in source["files"].items()}
    missing = [str(f) for f in files.values() if not f.is_file()]
    if missing:
        raise FileNotFoundError(f"{name}: missing {', '.join(missing)}")
    parts = {
        split: read_tagged(f, fmt=source["format"], scheme=source["scheme"], strict=strict, report=report)
        for split, f in files.items()
    }
    return make_tagged_dataset(name, parts, files=files, report=report, valid_size=valid_size, seed=seed)


def is_tagged_source(name: str) -> bool:
    """``name`` is a tagged dataset: a shared one, or a JSON Lines file whose first record has
    ``tokens`` and ``tags`` (a sentence dataset's records have a text and a label)."""
    if name in TAGGED_SOURCES:
        return True
    path = Path(name)
    if path.suffix.lower() != ".jsonl" or not path.is_file():
        return False
    with open(path, encoding="utf-8", errors="replace") as fh:
        first = next((line for line in fh if line.strip()), "")
    try:
        record = json.loads(first)
    except json.JSONDecodeError:
        return False
    return isinstance(record, dict) and "tokens" in record and "tags" in record


def untagged_dataset(path: str | Path, *, dataset: TaggedDataset, data_dir: str | Path | None = None) -> TaggedDataset:
    """The untagged sentences of ``path`` (one a line, or a file with a text column) as a transfer set of ``dataset``: cut into
    tokens as ``dataset``'s (its ``unit``: "words" or "characters", data/tag_units.split_tokens), each tag a
    placeholder ``O`` (the teacher's logits are their targets), a sentence equal to a validation or test
    sentence of ``dataset`` left out. Its split is "train": what a teacher labels."""
    from .files import iter_texts
    from .sources import resolve_text_file
    from .tag_units import as_written, split_tokens

    path = resolve_text_file(str(path), data_dir)
    unit = dataset.unit

    def key(tokens) -> str:
        return as_written(tokens, unit=unit)

    held_out = {key(s.tokens) for s, split in zip(dataset.sentences, dataset.splits) if split != "train"}
    sentences, leaked = [], 0
    for n, text in enumerate(iter_texts(path), start=1):  # a "text" header, TSV/JSONL or plain lines
        tokens = tuple(t for t, _, _ in split_tokens(text, unit=unit))
        if key(tokens) in held_out:
            leaked += 1
            continue
        sentences.append(TaggedSentence(tokens, ("O",) * len(tokens), n))
    if not sentences:
        raise DataFormatError(f"{path}: no untagged sentences")
    if leaked:
        logger.warning(
            "%s: left out %d sentences equal to a validation or test sentence of %s", path, leaked, dataset.name
        )
    report = ReadReport(Counter({"leaked": leaked} if leaked else {}))
    return TaggedDataset(
        name=f"{dataset.name}.transfer.{Path(path).stem}",
        sentences=sentences,
        splits=np.array(["train"] * len(sentences), dtype=object),
        tag_names=list(dataset.tag_names),
        report=report,
    )
