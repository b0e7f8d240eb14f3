"""Vocabulary pruning of a SentencePiece-Unigram base (multilingual-e5, XLM-R) to the texts of one task.

XLM-R's 250,002 pieces cover ~100 languages; a Korean task uses a few per cent of them, and the
embedding matrix is most of the model (96M of multilingual-e5-small's 118M parameters). Pruning
keeps, in their original order and with their scores and embedding rows:

- every piece the full vocabulary uses on the texts (training split and transfer sets: never
  validation or test text, which :class:`~distil_bilstm.data.LeakageGuard` removes);
- every Hangul-only piece, the ``ascii_pieces`` best-scored ASCII pieces, and every single Latin,
  punctuation or jamo character (so that new text of the same language still tokenizes well);
- the special tokens.

A Unigram tokenizer picks the highest-scoring segmentation; every piece of that segmentation is
kept and the others only lose candidates, so the texts pruned to tokenize exactly as before.
XLM-R has no byte fallback: a character outside the vocabulary becomes ``<unk>``. Characters that
the full vocabulary maps to ``<unk>`` at least ``unk_min_count`` times are added as pieces (score:
the lowest kept score), each initialised from its open syllable (쵝 → 최: the same initial and
vowel without the final consonant) when that is a piece, else from the ``<unk>`` row.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import unicodedata
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable, Sequence

from ...utils import atomic_dir, field_checker, write_json

logger = logging.getLogger(__name__)

HANGUL_SYLLABLES = (0xAC00, 0xD7A3)
JAMO_RANGES = ((0x1100, 0x11FF), (0x3130, 0x318F), (0xA960, 0xA97F), (0xD7B0, 0xD7FF))
METASPACE = "▁"


@dataclass(frozen=True)
class PruneConfig:
    """What pruning keeps beyond the pieces the texts use (module docstring)."""

    ascii_pieces: int = 10_000  # best-scored pieces made of ASCII only
    unk_min_count: int = 10  # a character the full vocabulary maps to <unk> this often becomes a piece (0: none)
    batch_size: int = 10_000  # texts tokenized per call

    def __post_init__(self) -> None:
        check = field_checker(self)
        check(self.ascii_pieces >= 0, "ascii_pieces", "must be >= 0")
        check(self.unk_min_count >= 0, "unk_min_count", "must be >= 0 (0: add no characters)")
        check(self.batch_size >= 1, "batch_size", "must be >= 1")

    def to_dict(self) -> dict:
        return asdict(self)


def _is_jamo(cp: int) -> bool:
    return any(lo <= cp <= hi for lo, hi in JAMO_RANGES)


def _is_hangul(ch: str) -> bool:
    cp = ord(ch)
    return HANGUL_SYLLABLES[0] <= cp <= HANGUL_SYLLABLES[1] or _is_jamo(cp)


def _body(piece: str) -> str:
    return piece.removeprefix(METASPACE)


def is_hangul_piece(piece: str) -> bool:
    body = _body(piece)
    return bool(body) and all(_is_hangul(c) for c in body)


def is_ascii_piece(piece: str) -> bool:
    body = _body(piece)
    return bool(body) and body.isascii()


# Blocks whose single characters are always kept: Latin letters (Basic Latin to Latin Extended-B,
# Latin-1's signs among them), General Punctuation (with its invisible format characters), CJK
# Symbols and Punctuation, and the half/full-width forms that Korean text mixes in.
BASIC_CHAR_BLOCKS = ((0x0000, 0x024F), (0x2000, 0x206F), (0x3000, 0x303F), (0xFF00, 0xFFEF))
# E5 is used with these prefixes (Wang et al. 2024): their pieces stay for embedding use
E5_PREFIXES = ("query: ", "passage: ")


def is_basic_char_piece(piece: str) -> bool:
    """A single Latin, punctuation or jamo character (with or without the word-start ``▁``)."""
    body = _body(piece)
    if len(body) != 1:
        return False
    cp = ord(body)
    if unicodedata.category(body) == "Cc":  # control characters are no text
        return False
    return _is_jamo(cp) or any(lo <= cp <= hi for lo, hi in BASIC_CHAR_BLOCKS)


def open_syllable(ch: str) -> str:
    """The Hangul syllable without its final consonant (쵝 → 최); other characters unchanged."""
    cp = ord(ch)
    if not HANGUL_SYLLABLES[0] <= cp <= HANGUL_SYLLABLES[1]:
        return ch
    return chr(cp - (cp - HANGUL_SYLLABLES[0]) % 28)


def read_unigram(base: str | os.PathLike) -> dict:
    """``base``'s ``tokenizer.json``; refused, naming the file, when it is not a Unigram model."""
    path = Path(base) / "tokenizer.json"
    if not path.is_file():
        raise ValueError(f"{path}: no such file: pruning needs a base with a tokenizers tokenizer.json")
    spec = json.loads(path.read_text(encoding="utf-8"))
    kind = spec.get("model", {}).get("type")
    if kind != "Unigram":
        raise ValueError(
            f"{path}: the tokenizer is {kind}, not Unigram: only SentencePiece-Unigram vocabularies "
            f"(XLM-R, multilingual-e5) are pruned this way"
        )
    return spec


def is_unigram_base(base: str | os.PathLike) -> bool:
    """Whether ``base`` is a local folder whose ``tokenizer.json`` is a SentencePiece-Unigram model."""
    try:
        read_unigram(base)
    except ValueError:
        return False
    return True


@dataclass
class CorpusCounts:
    """What the full tokenizer does with the corpus: piece counts and the characters it cannot cover."""

    texts: int
    tokens: int
    pieces: Counter  # piece id -> occurrences
    unk_tokens: int
    texts_with_unk: int
    unk_chars: Counter  # character -> occurrences inside <unk> spans


def count_corpus(tokenizer, texts: Iterable[str], *, unk_id: int, batch_size: int) -> CorpusCounts:
    """Tokenize ``texts`` (no special tokens) and count pieces, ``<unk>`` tokens and their characters."""
    from tqdm.auto import tqdm

    counts = CorpusCounts(texts=0, tokens=0, pieces=Counter(), unk_tokens=0, texts_with_unk=0, unk_chars=Counter())
    batch: list[str] = []

    def flush() -> None:
        for text, encoding in zip(batch, tokenizer.encode_batch(batch, add_special_tokens=False)):
            counts.texts += 1
            counts.tokens += len(encoding.ids)
            counts.pieces.update(encoding.ids)
            spans = [offset for token_id, offset in zip(encoding.ids, encoding.offsets) if token_id == unk_id]
            if spans:
                counts.texts_with_unk += 1
                counts.unk_tokens += len(spans)
                for start, end in spans:
                    for ch in text[start:end]:
                        normal = tokenizer.normalizer.normalize_str(ch) if tokenizer.normalizer else ch
                        counts.unk_chars.update(c for c in normal if not c.isspace())
        batch.clear()

    for text in tqdm(texts, desc="tokenizing", unit="text", mininterval=2, leave=False):
        batch.append(text)
        if len(batch) >= batch_size:
            flush()
    flush()
    return counts


def choose_pieces(
    pieces: Sequence[tuple[str, float]],
    counts: CorpusCounts,
    *,
    special_ids: Sequence[int],
    mask_id: int | None,
    config: PruneConfig,
) -> tuple[list[int], list[str]]:
    """The kept piece ids (original order, the mask token last) and the characters to add."""
    ascii_ids = sorted((i for i, (p, _) in enumerate(pieces) if is_ascii_piece(p)), key=lambda i: -pieces[i][1])
    keep = set(special_ids) | set(counts.pieces) | set(ascii_ids[: config.ascii_pieces])
    keep |= {i for i, (p, _) in enumerate(pieces) if is_hangul_piece(p) or is_basic_char_piece(p)}
    known = {p for p, _ in pieces}
    added = []
    if config.unk_min_count:
        added = [ch for ch, n in counts.unk_chars.most_common() if n >= config.unk_min_count and ch not in known]
    kept = [i for i in range(len(pieces)) if i in keep and i != mask_id]
    return kept + ([mask_id] if mask_id is not None else []), added


def _remap_ids(node, old_to_new: dict[int, int]):
    """Special-token ids inside a post-processor's JSON (TemplateProcessing, Roberta/BertProcessing)."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "ids" and isinstance(value, list):
                out[key] = [old_to_new[v] for v in value]
            elif key in ("sep", "cls") and isinstance(value, list) and len(value) == 2 and isinstance(value[1], int):
                out[key] = [value[0], old_to_new[value[1]]]
            else:
                out[key] = _remap_ids(value, old_to_new)
        return out
    if isinstance(node, list):
        return [_remap_ids(v, old_to_new) for v in node]
    return node


def pruned_spec(spec: dict, kept: Sequence[int], added: Sequence[str], *, mask_id: int | None) -> dict:
    """``tokenizer.json`` with only ``kept`` pieces (new ids in that order) and ``added`` characters,
    inserted before the mask token (XLM-R keeps ``<mask>`` last; :func:`choose_pieces` put it there)."""
    pieces = spec["model"]["vocab"]
    old_to_new = {old: new for new, old in enumerate(kept)}
    vocab = [list(pieces[i]) for i in kept]
    floor = min(score for _, score in vocab)
    mask_last = mask_id is not None and kept[-1] == mask_id
    at = len(vocab) - 1 if mask_last else len(vocab)
    vocab[at:at] = [[ch, floor] for ch in added]
    if mask_last:
        old_to_new[kept[-1]] = len(vocab) - 1
    new = dict(spec)
    new["model"] = {**spec["model"], "vocab": vocab, "unk_id": old_to_new[spec["model"]["unk_id"]]}
    new["added_tokens"] = [
        {**t, "id": old_to_new[t["id"]]} for t in spec.get("added_tokens", []) if t["id"] in old_to_new
    ]
    new["post_processor"] = _remap_ids(spec.get("post_processor"), old_to_new)
    return new


def prune_base(
    base: str | os.PathLike, texts: Iterable[str], out_dir: str | os.PathLike, *, config: PruneConfig | None = None
) -> dict:
    """Prune ``base`` (a Hugging Face model folder with a Unigram ``tokenizer.json``) to ``texts``;
    write the pruned model, tokenizer and ``prune.json`` (the report, returned) to ``out_dir``."""
    from tokenizers import Tokenizer
    from transformers import AutoModel

    config = config or PruneConfig()
    base = Path(base)
    spec = read_unigram(base)
    pieces = [(p, float(s)) for p, s in spec["model"]["vocab"]]
    unk_id = spec["model"]["unk_id"]
    specials = [t["id"] for t in spec.get("added_tokens", []) if t.get("special")]
    mask_id = next((t["id"] for t in spec.get("added_tokens", []) if "mask" in t["content"].lower()), None)
    full = Tokenizer.from_file(str(base / "tokenizer.json"))
    texts = list(texts)  # two passes: the full vocabulary's counts, then the pruned one's
    counts = count_corpus(full, texts, unk_id=unk_id, batch_size=config.batch_size)
    if not counts.texts:
        raise ValueError("pruning needs texts: the training split and transfer sets gave none")
    prefix_ids = {i for prefix in E5_PREFIXES for i in full.encode(prefix, add_special_tokens=False).ids}
    kept, added = choose_pieces(
        pieces, counts, special_ids=[*specials, unk_id, *prefix_ids], mask_id=mask_id, config=config
    )
    new_spec = pruned_spec(spec, kept, added, mask_id=mask_id)
    new_ids = {p: i for i, (p, _) in enumerate(new_spec["model"]["vocab"])}

    model = AutoModel.from_pretrained(str(base))
    params_before = sum(p.numel() for p in model.parameters())
    inits = _remap_embeddings(model, pieces, new_spec, unk_id=unk_id)
    params_after = sum(p.numel() for p in model.parameters())

    after = count_corpus(
        Tokenizer.from_str(json.dumps(new_spec)),
        texts,
        unk_id=new_spec["model"]["unk_id"],
        batch_size=config.batch_size,
    )
    report = {
        "base": str(base),
        "config": config.to_dict(),
        "full_vocab": len(pieces),
        "kept": len(kept),
        "added": len(added),
        "vocab": len(new_spec["model"]["vocab"]),
        "corpus_texts": counts.texts,
        "corpus_tokens": counts.tokens,
        "corpus_pieces_used": len(counts.pieces),
        "parameters_before": params_before,
        "parameters_after": params_after,
        "unk_tokens_before": counts.unk_tokens,
        "texts_with_unk_before": counts.texts_with_unk,
        "unk_share_before": counts.texts_with_unk / counts.texts,
        "unk_tokens_after": after.unk_tokens,
        "texts_with_unk_after": after.texts_with_unk,
        "unk_share_after": after.texts_with_unk / after.texts,
        "unk_chars_before": sum(counts.unk_chars.values()),
        "unk_chars_after": sum(n for ch, n in counts.unk_chars.items() if ch not in new_ids),
        "added_inits": inits,
    }
    _save_pruned(out_dir, base=base, model=model, spec=new_spec, report=report)
    logger.info(
        "pruned %s: %d -> %d pieces (+%d characters), %.1fM -> %.1fM parameters",
        base,
        len(pieces),
        len(kept),
        len(added),
        params_before / 1e6,
        params_after / 1e6,
    )
    return report


def _remap_embeddings(model, pieces: list[tuple[str, float]], new_spec: dict, *, unk_id: int) -> dict[str, str]:
    """Give ``model`` the pruned vocabulary's embedding rows (in place): kept pieces keep theirs, an
    added character takes its open syllable's row (쵝 → 최) or ``<unk>``'s; the special-token ids in
    its config follow. Returns each added character's donor piece."""
    import torch

    full_ids = {p: i for i, (p, _) in enumerate(pieces)}
    new_ids = {p: i for i, (p, _) in enumerate(new_spec["model"]["vocab"])}
    old = model.get_input_embeddings().weight.detach()  # (old_rows, hidden)
    source_rows, inits = [], {}
    for piece, _ in new_spec["model"]["vocab"]:
        if piece in full_ids:
            source_rows.append(full_ids[piece])
            continue
        donor = open_syllable(piece)
        inits[piece] = donor if donor != piece and donor in full_ids else pieces[unk_id][0]
        source_rows.append(full_ids[inits[piece]])
    model.config.vocab_size = len(source_rows)
    for key in ("pad_token_id", "bos_token_id", "eos_token_id"):
        old_id = getattr(model.config, key, None)
        if old_id is not None and old_id < len(pieces):
            setattr(model.config, key, new_ids[pieces[old_id][0]])
    embedding = torch.nn.Embedding(len(source_rows), old.shape[1], padding_idx=model.config.pad_token_id)
    embedding.weight.data.copy_(old[torch.tensor(source_rows)])  # (new_rows, hidden)
    model.set_input_embeddings(embedding)
    return inits


def _save_pruned(out_dir: str | os.PathLike, *, base: Path, model, spec: dict, report: dict) -> None:
    """The pruned model (in the base's stored dtype), its tokenizer and ``prune.json``, atomically;
    a tokenizer that does not load back at the pruned size is refused."""
    from transformers import AutoConfig, AutoTokenizer

    stored_fp16 = _stored_dtype(base) == "F16"
    with atomic_dir(out_dir) as staging:
        (model.half() if stored_fp16 else model).save_pretrained(staging)
        if stored_fp16:  # stored as the base was; loaded as float32 for training
            cfg = AutoConfig.from_pretrained(staging)
            cfg.dtype = "float32"
            cfg.save_pretrained(staging)
        (staging / "tokenizer.json").write_text(json.dumps(spec, ensure_ascii=False), encoding="utf-8")
        for name in ("tokenizer_config.json", "special_tokens_map.json"):
            if (base / name).is_file():
                shutil.copy(base / name, staging / name)
        loaded = AutoTokenizer.from_pretrained(str(staging))
        size = len(spec["model"]["vocab"])
        if len(loaded) != size:  # transformers can silently rebuild a vocabulary from other files
            raise RuntimeError(f"{out_dir}: the saved tokenizer loads with {len(loaded)} tokens, expected {size}")
        write_json(staging / "prune.json", report)


def _stored_dtype(base: Path) -> str | None:
    path = base / "model.safetensors"
    if not path.is_file():
        return None
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as handle:
        name = next(iter(handle.keys()))
        return handle.get_slice(name).get_dtype()
