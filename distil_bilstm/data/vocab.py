"""WordPiece vocabularies for the students: train, save, load, report, encode.

Vocabularies are trained with ``tokenizers``' BertWordPiece on the training split only, Korean-safe
by default: no lowercasing and no accent stripping (NFD accent stripping decomposes Hangul
syllables into jamo). A saved vocabulary is a folder with ``vocab.txt`` and a
``tokenizer_config.json`` so that ``BertTokenizerFast.from_pretrained`` restores the same settings.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import torch
from tokenizers import BertWordPieceTokenizer
from transformers import BertTokenizerFast

from ..utils import atomic_path, dataclass_from_dict, path_safe, read_json, sha256_file, write_json
from .pairs import Text, each_side, is_pair, split_pairs, text_key
from .specials import SPECIAL_TOKENS

logger = logging.getLogger(__name__)

DEFAULT_SIZES = tuple(range(2000, 9001, 1000))


@dataclass
class VocabConfig:
    vocab_size: int = 3000
    lowercase: bool = False
    strip_accents: bool = False
    limit_alphabet: int = 1000
    min_frequency: int = 2

    def __post_init__(self) -> None:
        if self.vocab_size < len(SPECIAL_TOKENS) + 1:
            raise ValueError(f"VocabConfig.vocab_size must be > {len(SPECIAL_TOKENS)}, got {self.vocab_size}")
        if self.limit_alphabet < 1:
            raise ValueError(f"VocabConfig.limit_alphabet must be >= 1, got {self.limit_alphabet}")
        if self.min_frequency < 1:
            raise ValueError(f"VocabConfig.min_frequency must be >= 1, got {self.min_frequency}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "VocabConfig":
        return dataclass_from_dict(cls, values)


def vocab_dir(root: str | os.PathLike, dataset: str, vocab_size: int) -> Path:
    """``tokenizer/<dataset>/vocab_size_N``: one folder per dataset and size."""
    return Path(root) / path_safe(dataset) / f"vocab_size_{vocab_size}"


def train_wordpiece(texts: Iterable[Text], config: VocabConfig) -> BertWordPieceTokenizer:
    """A WordPiece vocabulary over ``texts`` (both sides of each pair)."""
    tokenizer = BertWordPieceTokenizer(
        clean_text=True,
        handle_chinese_chars=True,
        strip_accents=config.strip_accents,
        lowercase=config.lowercase,
    )
    tokenizer.train_from_iterator(
        each_side(texts),
        vocab_size=config.vocab_size,
        min_frequency=config.min_frequency,
        limit_alphabet=config.limit_alphabet,
        special_tokens=SPECIAL_TOKENS,
        wordpieces_prefix="##",
        show_progress=False,
    )
    return tokenizer


SOURCE_FILE = "source.json"  # what a vocabulary was made from: the cache key of tokenizer/<dataset>/vocab_size_N


def vocab_source(train_texts: Sequence[Text], config: VocabConfig) -> dict:
    """The key of a vocabulary trained on ``train_texts`` with ``config``: a hash of the texts (a
    pair by its text_key), their count and the settings."""
    digest = hashlib.sha256()
    for text in train_texts:
        digest.update(text_key(text).encode("utf-8", "surrogatepass"))
        digest.update(b"\n")
    return {"train_texts_sha256": digest.hexdigest(), "train_texts": len(train_texts), "config": config.to_dict()}


def vocab_changes(folder: str | os.PathLike, source: dict) -> str | None:
    """None when the vocabulary in ``folder`` was made from ``source``; else what differs, in words."""
    folder = Path(folder)
    if not (folder / "vocab.txt").is_file():
        return "no vocabulary there"
    if not (folder / SOURCE_FILE).is_file():
        return f"it records nothing of what it was made from (no {SOURCE_FILE})"
    saved = read_json(folder / SOURCE_FILE)
    changes = []
    if saved.get("train_texts_sha256") != source["train_texts_sha256"]:
        changes.append(
            f"its training texts differ ({saved.get('train_texts')} texts, "
            f"sha256 {str(saved.get('train_texts_sha256'))[:12]}; now {source['train_texts']}, "
            f"{source['train_texts_sha256'][:12]})"
        )
    if saved.get("config") != source["config"]:
        changed = sorted(k for k in source["config"] if (saved.get("config") or {}).get(k) != source["config"][k])
        changes.append(f"its settings differ ({', '.join(changed)})")
    return "; ".join(changes) or None


def save_vocab(
    tokenizer: BertWordPieceTokenizer, out_dir: str | os.PathLike, config: VocabConfig, *, source: dict | None = None
) -> Path:
    """Write ``vocab.txt`` (atomically), the settings ``from_pretrained`` needs to reload it and, given
    ``source`` (:func:`vocab_source`), what it was made from."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    vocab = tokenizer.get_vocab()
    tokens = sorted(vocab, key=vocab.get)
    with atomic_path(out_dir / "vocab.txt") as tmp:
        tmp.write_text("".join(f"{tok}\n" for tok in tokens), encoding="utf-8")
    write_json(
        out_dir / "tokenizer_config.json",
        {
            "tokenizer_class": "BertTokenizer",
            "do_lower_case": config.lowercase,
            "strip_accents": config.strip_accents,
            "tokenize_chinese_chars": True,
            "model_max_length": 512,
        },
    )
    write_json(out_dir / "vocab_config.json", config.to_dict())
    if source is not None:
        write_json(out_dir / SOURCE_FILE, source)
    return out_dir / "vocab.txt"


def load_vocab(path: str | os.PathLike) -> BertTokenizerFast:
    """Load a saved vocabulary folder (or its vocab.txt) as a ``BertTokenizerFast``.

    Uses ``from_pretrained(dir)``: in transformers 5.x ``BertTokenizerFast(vocab_file=...)``
    silently ignores the file. The loaded size is checked against the file.
    """
    path = Path(path)
    folder = path.parent if path.name == "vocab.txt" else path
    vocab_file = folder / "vocab.txt"
    if not vocab_file.is_file():
        raise FileNotFoundError(f"{vocab_file}: no vocabulary here; build one with `distil-bilstm vocab`")
    settings = {"do_lower_case": False, "strip_accents": False}
    config_file = folder / "vocab_config.json"
    if config_file.is_file():
        saved = read_json(config_file)
        settings = {"do_lower_case": saved.get("lowercase", False), "strip_accents": saved.get("strip_accents", False)}
    tokenizer = BertTokenizerFast.from_pretrained(str(folder), **settings)
    with open(vocab_file, encoding="utf-8") as fh:
        expected = sum(1 for _ in fh)
    if len(tokenizer) != expected:
        raise ValueError(f"{vocab_file}: loaded {len(tokenizer)} tokens but the file lists {expected}")
    if tokenizer.pad_token_id != 0:
        raise ValueError(
            f"{vocab_file}: [PAD] must be token 0 (the students' padding_idx), found {tokenizer.pad_token_id}"
        )
    return tokenizer


def vocab_tokens(tokenizer) -> list[str]:
    """The vocabulary's tokens in id order (``tokens[i]`` is token id ``i``)."""
    return [token for token, _ in sorted(tokenizer.get_vocab().items(), key=lambda kv: kv[1])]


def vocab_hash(path: str | os.PathLike) -> str:
    path = Path(path)
    return sha256_file(path if path.name == "vocab.txt" else path / "vocab.txt")


@dataclass
class EncodedTexts:
    """Token ids of many texts, flat: example ``i`` is ``ids[offsets[i]:offsets[i] + lengths[i]]``."""

    ids: torch.Tensor  # (total_tokens,) int64
    offsets: torch.Tensor  # (N,) int64
    lengths: torch.Tensor  # (N,) int64, every length >= 1

    def __len__(self) -> int:
        return len(self.lengths)

    def batch(self, rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Pad the selected rows: returns ``input_ids (batch, max_len)`` and ``lengths (batch,)``."""
        lengths = self.lengths[rows]
        max_len = int(lengths.max())
        # positions (batch, max_len) into the flat id array; masked past each length
        steps = torch.arange(max_len)
        mask = steps.unsqueeze(0) < lengths.unsqueeze(1)
        positions = (self.offsets[rows].unsqueeze(1) + steps.unsqueeze(0)).clamp_max(len(self.ids) - 1)
        input_ids = torch.where(mask, self.ids[positions], torch.zeros((), dtype=self.ids.dtype))
        return input_ids.long(), lengths  # ids may be stored as int32 (memory-mapped transfer sets)

    @classmethod
    def from_lengths(cls, ids: torch.Tensor, lengths: torch.Tensor) -> "EncodedTexts":
        """Rows stored back to back in ``ids``: each starts where the one before ended."""
        offsets = torch.zeros_like(lengths)
        offsets[1:] = lengths.cumsum(0)[:-1]
        return cls(ids, offsets, lengths)

    def select(self, rows: torch.Tensor) -> "EncodedTexts":
        """A new, compact ``EncodedTexts`` of the given rows, in that order."""
        input_ids, lengths = self.batch(rows)
        keep = torch.arange(input_ids.shape[1]).unsqueeze(0) < lengths.unsqueeze(1)  # (rows, max_len)
        return EncodedTexts.from_lengths(input_ids[keep], lengths.clone())


class ConcatEncoded:
    """Several ``EncodedTexts`` seen as one: row ``i`` of the whole is a row of the part it falls in.

    The gold training split stays in memory while a transfer set's ids stay memory-mapped; nothing
    is copied to join them."""

    def __init__(self, parts: Sequence[EncodedTexts]):
        self.parts = list(parts)
        sizes = torch.tensor([len(p) for p in self.parts], dtype=torch.int64)
        self.starts = torch.cumsum(sizes, 0) - sizes  # (parts,) first global row of each part
        self.lengths = torch.cat([p.lengths for p in self.parts])  # (N,)

    def __len__(self) -> int:
        return len(self.lengths)

    def batch(self, rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        lengths = self.lengths[rows]
        input_ids = torch.zeros(len(rows), int(lengths.max()), dtype=torch.int64)  # (batch, max_len)
        part_of = torch.searchsorted(self.starts, rows, right=True) - 1  # (batch,)
        for part in part_of.unique().tolist():
            where = (part_of == part).nonzero().squeeze(1)
            ids, _ = self.parts[part].batch(rows[where] - self.starts[part])
            input_ids[where, : ids.shape[1]] = ids
        return input_ids, lengths


def encode_texts(tokenizer: BertTokenizerFast, texts: Sequence[Text], *, max_length: int = 128) -> EncodedTexts:
    """Tokenize without special tokens (the BiLSTM needs none); an empty result becomes one [UNK]."""
    rows = token_rows(tokenizer, texts, max_length=max_length)
    lengths = np.fromiter((len(r) for r in rows), dtype=np.int64, count=len(rows))
    flat = np.fromiter((t for r in rows for t in r), dtype=np.int64, count=int(lengths.sum()))
    return EncodedTexts.from_lengths(torch.from_numpy(flat), torch.from_numpy(lengths))


def token_rows(tokenizer: BertTokenizerFast, texts: Sequence[Text], *, max_length: int) -> list[list[int]]:
    """The student's token ids of each text, no special tokens; an empty row becomes one [UNK]
    (what training and the encoded transfer-set cache both store)."""
    texts = list(texts)
    if texts and is_pair(texts[0]):
        return pair_token_rows(tokenizer, texts, max_length=max_length)
    encoded = tokenizer(texts, add_special_tokens=False, truncation=True, max_length=max_length)["input_ids"]
    return [ids if ids else [tokenizer.unk_token_id] for ids in encoded]


def pair_token_rows(tokenizer: BertTokenizerFast, texts: Sequence[Text], *, max_length: int) -> list[list[int]]:
    """Sentence pairs (data/pairs.py) as ``A [SEP] B``, each side cut to ``max_length`` tokens on its
    own (a long first sentence never crowds out the second); the siamese student splits at the [SEP]."""
    firsts, seconds = split_pairs(texts)
    sep = tokenizer.sep_token_id
    a_rows = token_rows(tokenizer, firsts, max_length=max_length)
    b_rows = token_rows(tokenizer, seconds, max_length=max_length)
    return [a + [sep] + b for a, b in zip(a_rows, b_rows)]


@dataclass
class VocabReport:
    requested_size: int
    vocab_size: int  # actual: the alphabet alone can exceed a small requested size
    unk_rate: float
    mean_tokens: float
    seconds: float

    def to_dict(self) -> dict:
        return asdict(self)


def vocab_report(tokenizer: BertTokenizerFast, texts: Sequence[Text]) -> tuple[float, float]:
    """(UNK rate over all tokens, mean tokens per example: a pair's two sides together), untruncated,
    no special tokens."""
    encoded = tokenizer(list(each_side(texts)), add_special_tokens=False)["input_ids"]
    total = sum(len(ids) for ids in encoded)
    unk = tokenizer.unk_token_id
    unks = sum(ids.count(unk) for ids in encoded)
    return (unks / total if total else 0.0), (total / len(texts) if len(texts) else 0.0)


def build_vocabularies(
    train_texts: Sequence[Text],
    eval_texts: Sequence[Text],
    *,
    sizes: Sequence[int],
    out_root: str | os.PathLike,
    dataset: str,
    base: VocabConfig | None = None,
) -> list[VocabReport]:
    """Train and save one vocabulary per size; report UNK rate and length on ``eval_texts``."""
    base = base or VocabConfig()
    reports = []
    for size in sizes:
        start = time.perf_counter()
        config = VocabConfig.from_dict({**base.to_dict(), "vocab_size": size})
        out = vocab_dir(out_root, dataset, size)
        save_vocab(train_wordpiece(train_texts, config), out, config, source=vocab_source(train_texts, config))
        tokenizer = load_vocab(out)
        unk_rate, mean_tokens = vocab_report(tokenizer, eval_texts)
        if len(tokenizer) > size:
            logger.warning(
                "vocab %d: the alphabet alone needs %d tokens; lower --limit-alphabet or use more text",
                size,
                len(tokenizer),
            )
        reports.append(VocabReport(size, len(tokenizer), unk_rate, mean_tokens, time.perf_counter() - start))
        logger.info("vocab %d -> %s (unk %.3f%%, %.1f tokens/example)", size, out, 100 * unk_rate, mean_tokens)
    return reports
