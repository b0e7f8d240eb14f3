"""Fast Vocabulary Transfer (Gee et al. 2022): a teacher given an in-domain vocabulary, and student
embeddings transferred from a teacher's.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Sequence

import torch
from torch import nn
from transformers import (
    AutoModelForSequenceClassification,
    AutoTokenizer,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

from ...data.vocab import SPECIAL_TOKENS, VocabConfig, load_vocab, save_vocab, train_wordpiece
from ...utils import read_json

logger = logging.getLogger(__name__)


def adapt_vocabulary(
    model: PreTrainedModel,
    old_tokenizer: PreTrainedTokenizerBase,
    texts: Sequence[str],
    *,
    vocab_size: int,
    out_dir: str | os.PathLike,
    vocab_config: VocabConfig | None = None,
) -> PreTrainedTokenizerBase:
    """Give ``model`` a new in-domain WordPiece vocabulary (Fast Vocabulary Transfer).

    Gee et al. 2022: train an ``vocab_size``-piece vocabulary on ``texts``; each new token's
    embedding is the mean of the base model's embeddings of the pieces the *old* tokenizer makes
    of that token's string (``##`` stripped); special tokens take their old rows. The transformer
    layers are kept. The new vocabulary is saved to ``out_dir`` and returned as a tokenizer; a
    vocabulary of the same settings already there is reused, not retrained (WordPiece training
    does not order tied tokens reproducibly, and a resumed fine-tuning must keep its token ids).
    """
    config = vocab_config or VocabConfig(vocab_size=vocab_size, lowercase=False, strip_accents=False)
    config = VocabConfig.from_dict({**config.to_dict(), "vocab_size": vocab_size})
    # a base with other special tokens (MPNet's and RoBERTa's <s> </s> <pad> <mask>) keeps its own and its
    # tokenizer class: its code puts them around every text and derives position ids from the pad id
    foreign = sorted(set(old_tokenizer.all_special_tokens) - set(SPECIAL_TOKENS))
    if foreign and getattr(old_tokenizer, "do_lower_case", False):
        texts = [text.lower() for text in texts]  # its pieces as the base's tokenizer will see the text
    existing = Path(out_dir) / "vocab_config.json"
    if existing.is_file() and read_json(existing) == config.to_dict() and (Path(out_dir) / "vocab.txt").is_file():
        logger.info("adapted vocabulary: reusing %s", out_dir)
    else:
        save_vocab(train_wordpiece(texts, config), out_dir, config)
    new_tokenizer = with_base_specials(out_dir, old_tokenizer) if foreign else load_vocab(out_dir)
    new_vocab = new_tokenizer.get_vocab()
    tokens = sorted(new_vocab, key=new_vocab.get)
    old_size = model.get_input_embeddings().weight.shape[0]
    new_weight = transfer_embeddings(model.get_input_embeddings().weight.detach(), old_tokenizer, tokens)
    embedding = nn.Embedding(len(tokens), new_weight.shape[1], padding_idx=new_tokenizer.pad_token_id)
    embedding.weight.data.copy_(new_weight)
    model.set_input_embeddings(embedding)
    model.config.vocab_size = len(tokens)
    model.config.pad_token_id = new_tokenizer.pad_token_id
    logger.info("adapted vocabulary: %d -> %d tokens (Fast Vocabulary Transfer)", old_size, len(tokens))
    return new_tokenizer


def with_base_specials(out_dir: str | os.PathLike, old_tokenizer: PreTrainedTokenizerBase) -> PreTrainedTokenizerBase:
    """The WordPiece vocabulary in ``out_dir`` as a tokenizer of ``old_tokenizer``'s class and settings:
    its special tokens first (in the base's id order, so that MPNet's <pad> keeps id 1), then the new
    pieces; written to ``out_dir/tokenizer``."""
    pieces = [
        t for t in (Path(out_dir) / "vocab.txt").read_text(encoding="utf-8").splitlines() if t not in SPECIAL_TOKENS
    ]
    old_vocab = old_tokenizer.get_vocab()
    specials = sorted(set(old_tokenizer.all_special_tokens), key=old_vocab.get)
    folder = Path(out_dir) / "tokenizer"
    old_tokenizer.save_pretrained(folder)  # its settings; its vocabulary files are replaced below
    for name in ("tokenizer.json", "vocab.json", "merges.txt", "sentencepiece.bpe.model"):
        (folder / name).unlink(missing_ok=True)
    (folder / "vocab.txt").write_text("\n".join([*specials, *pieces]) + "\n", encoding="utf-8")
    tokenizer = AutoTokenizer.from_pretrained(folder)
    if len(tokenizer) != len(specials) + len(pieces):  # transformers 5 builds a near-empty one when it cannot read it
        raise ValueError(
            f"{folder}: the adapted {type(tokenizer).__name__} has {len(tokenizer)} tokens, not "
            f"{len(specials) + len(pieces)}; this base's tokenizer cannot take a WordPiece vocabulary"
        )
    return tokenizer


def transfer_embeddings(
    old_embeddings: torch.Tensor, old_tokenizer: PreTrainedTokenizerBase, new_tokens: Sequence[str]
) -> torch.Tensor:
    """Embeddings for ``new_tokens`` from another vocabulary (Fast Vocabulary Transfer, Gee et al.
    2022): each token's row is the mean of ``old_embeddings`` over the pieces ``old_tokenizer``
    makes of its string (``##`` stripped); special tokens take their own old row.
    Returns ``(len(new_tokens), hidden)``."""
    old_vocab = old_tokenizer.get_vocab()
    unk_id = old_tokenizer.unk_token_id
    specials = set(SPECIAL_TOKENS) | set(old_tokenizer.all_special_tokens)  # a special token takes its own row
    rows = torch.empty((len(new_tokens), old_embeddings.shape[1]), dtype=old_embeddings.dtype)
    for new_id, token in enumerate(new_tokens):
        if token in specials and token in old_vocab:
            pieces = [old_vocab[token]]
        else:
            pieces = old_tokenizer(token.removeprefix("##"), add_special_tokens=False)["input_ids"] or [unk_id]
        rows[new_id] = old_embeddings[pieces].mean(dim=0)
    return rows


def student_embeddings_from_teacher(
    teacher_dir: str | os.PathLike, student_tokens: Sequence[str], dim: int
) -> torch.Tensor:
    """Initial student embeddings ``(len(student_tokens), dim)`` from a teacher (DistilBERT's
    "initialise the student from the teacher", Sanh et al. 2019, adapted to another vocabulary
    and width): transfer the teacher's input embeddings to the student vocabulary, then keep the
    top ``dim`` principal components, scaled to unit standard deviation like ``nn.Embedding``'s
    default initialisation. Row 0 ([PAD]) is zero."""
    model = AutoModelForSequenceClassification.from_pretrained(str(teacher_dir))
    tokenizer = AutoTokenizer.from_pretrained(str(teacher_dir))
    with torch.no_grad():
        rows = transfer_embeddings(model.get_input_embeddings().weight.detach().float(), tokenizer, student_tokens)
        centered = rows - rows.mean(dim=0, keepdim=True)  # (V, hidden)
        _, _, v_t = torch.linalg.svd(centered, full_matrices=False)  # v_t: (hidden, hidden), rows = components
        projected = centered @ v_t[:dim].T  # (V, dim)
        if projected.shape[1] < dim:  # a student wider than the teacher: pad with small noise
            projected = torch.cat([projected, 0.01 * torch.randn(len(rows), dim - projected.shape[1])], dim=1)
        projected = projected / projected.std()
        projected[0] = 0.0
    return projected
