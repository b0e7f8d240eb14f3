"""Teachers: load a Hugging Face sequence classifier, run it over texts, fine-tune one.

Any ``AutoModelForSequenceClassification`` checkpoint works (BERT, ELECTRA, RoBERTa, DistilBERT,
MiniLM…) together with its own tokenizer, from a local folder or a hub id where a network exists.
``adapt_vocabulary`` implements Fast Vocabulary Transfer (Gee et al. 2022, "Fast Vocabulary
Transfer for Language Model Compression") for a language the base vocabulary does not cover.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm
from transformers import (
    AutoConfig,
    AutoModelForSequenceClassification,
    AutoTokenizer,
    BertTokenizerFast,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

from .batching import length_sorted_batches
from .losses import DistillationLoss
from .masks import length_mask, masked_mean
from .metrics import SELECT_METRICS
from .tokenization import SPECIAL_TOKENS, EncodedTexts, VocabConfig, load_vocab, save_vocab, train_wordpiece
from .trainer import Callback, SplitTensors, Trainer
from .training_config import TrainingConfig
from .utils import atomic_dir, field_checker, read_json, resolve_device, sha256_file, write_json

logger = logging.getLogger(__name__)

WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


@dataclass
class Teacher:
    model: PreTrainedModel
    tokenizer: PreTrainedTokenizerBase
    path: str
    weights_hash: str  # sha256 of config + weights: a changed teacher makes its logit caches stale
    device: torch.device
    trained_on: list[str] | None = None  # dataset splits it was trained on (eval.json); None: not recorded

    runtime = "torch"  # what computes the logits (teacher_runtime.OnnxTeacher: onnx, onnx-int8)
    check: dict | None = None  # a non-reference runtime's agreement with torch

    @property
    def num_labels(self) -> int:
        return int(self.model.config.num_labels)

    def logits(self, texts: Sequence[str], *, batch_size: int = 128, max_length: int = 128, progress: bool = True,
               on_batch: Callable[[int], None] | None = None) -> np.ndarray:
        return predict_logits(self, texts, batch_size=batch_size, max_length=max_length, progress=progress, on_batch=on_batch)

    @property
    def name(self) -> str:
        return teacher_name(self.path)


def teacher_name(path: str | os.PathLike) -> str:
    """The folder name teachers' stores and exports are filed under."""
    return Path(path).name or str(path).replace("/", "_")


@dataclass
class NgramTeacher:
    """A baseline run (``distil-bilstm baseline``) used as a teacher: its logits are its
    log-probabilities, so an ensemble or a student sees exactly its probabilities."""

    model: "object"  # ngrams.TfidfLinearModel
    path: str
    weights_hash: str
    num_labels: int
    trained_on: list[str] | None = None
    runtime = "numpy"
    check = None

    @property
    def name(self) -> str:
        return Path(self.path).name

    def logits(self, texts: Sequence[str], **_) -> np.ndarray:
        logits = self.model.logits(texts).astype(np.float64)
        return (logits - logsumexp(logits)).astype(np.float32)


def logsumexp(logits: np.ndarray) -> np.ndarray:
    """``log Σ_j exp(z_j)`` per row, kept as a column ``(N, 1)``."""
    top = logits.max(axis=1, keepdims=True)
    return top + np.log(np.exp(logits - top).sum(axis=1, keepdims=True))


def load_ngram_teacher(path: str | os.PathLike) -> NgramTeacher:
    from .ngrams import TfidfLinearModel
    from .rundir import RunDir, split_student_json

    run = RunDir(path)
    _, _, label_names = split_student_json(run.read_student())
    digest = hashlib.sha256()
    for file in (run.weights_file, *sorted(run.vocab_dir.iterdir())):
        digest.update(sha256_file(file).encode())
    return NgramTeacher(TfidfLinearModel.load_run(run.path), str(path), digest.hexdigest(), len(label_names), ["train"])


def teacher_weights_hash(path: str | os.PathLike) -> str:
    """sha256 over ``config.json`` and the weight files of a checkpoint folder."""
    folder = Path(path)
    digest = hashlib.sha256()
    files = [folder / "config.json"] + sorted(p for p in folder.iterdir() if p.name in WEIGHT_FILES or p.name.endswith(".safetensors"))
    for file in files:
        if file.is_file():
            digest.update(file.name.encode())
            digest.update(sha256_file(file).encode())
    return digest.hexdigest()


def load_teacher(path: str | os.PathLike, *, device: str | torch.device = "auto", num_labels: int | None = None) -> Teacher:
    """Load a fine-tuned classifier and its tokenizer; check it has ``num_labels`` outputs."""
    device = resolve_device(device)
    path = str(path)
    if _is_baseline_run(path):
        teacher = load_ngram_teacher(path)
        if num_labels is not None and teacher.num_labels != num_labels:
            raise ValueError(f"baseline {path} has {teacher.num_labels} labels but the dataset has {num_labels}")
        return teacher
    local = Path(path).is_dir()
    if not local and (Path(path).exists() or path.startswith((".", "/"))):
        raise FileNotFoundError(f"{path}: not a checkpoint folder (expected config.json and model weights)")
    if local and not (Path(path) / "config.json").is_file():
        raise FileNotFoundError(f"{path}: no config.json; is this a Hugging Face checkpoint folder?")
    model = AutoModelForSequenceClassification.from_pretrained(path)
    tokenizer = AutoTokenizer.from_pretrained(path)
    if num_labels is not None and model.config.num_labels != num_labels:
        raise ValueError(f"teacher {path} has {model.config.num_labels} labels but the dataset has {num_labels}")
    model.to(device).eval()
    weights_hash = teacher_weights_hash(path) if local else f"hub:{path}:{getattr(model.config, '_commit_hash', '')}"
    eval_file = Path(path) / "eval.json"
    trained_on = read_json(eval_file).get("trained_on") if local and eval_file.is_file() else None
    return Teacher(model=model, tokenizer=tokenizer, path=path, weights_hash=weights_hash, device=device, trained_on=trained_on)


def _is_baseline_run(path: str) -> bool:
    from .rundir import RunDir

    run = RunDir(path)
    return run.is_run() and run.read_student().get("architecture") == "tfidf-lr"


# --------------------------------------------------------------------------------------------
# batching


def tokenize_for_teacher(tokenizer: PreTrainedTokenizerBase, texts: Sequence[str], max_length: int) -> list[list[int]]:
    return tokenizer(list(texts), truncation=True, max_length=max_length)["input_ids"]


def pad_batch(rows: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(input_ids, attention_mask), both (batch, longest row)."""
    longest = max(len(r) for r in rows)
    ids = torch.full((len(rows), longest), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), longest), dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, : len(row)] = torch.tensor(row, dtype=torch.long)
        mask[i, : len(row)] = 1
    return ids, mask


def predict_logits(
    teacher: Teacher,
    texts: Sequence[str],
    *,
    batch_size: int = 128,
    max_length: int = 128,
    progress: bool = True,
    desc: str = "teacher",
    on_batch: Callable[[int], None] | None = None,
) -> np.ndarray:
    """Teacher logits ``(len(texts), num_labels)`` float32, in the order of ``texts``.
    ``on_batch(n)`` is called after each batch of ``n`` texts (a caller's own progress bar)."""
    model = teacher.model
    model.eval()

    @torch.inference_mode()
    def forward(ids: torch.Tensor, mask: torch.Tensor) -> np.ndarray:
        return model(input_ids=ids.to(teacher.device), attention_mask=mask.to(teacher.device)).logits.float().cpu().numpy()

    return batched_logits(teacher.tokenizer, texts, forward, width=teacher.num_labels, batch_size=batch_size,
                          max_length=max_length, progress=progress, desc=desc, on_batch=on_batch)


def batched_logits(tokenizer: PreTrainedTokenizerBase, texts: Sequence[str], forward: Callable[[torch.Tensor, torch.Tensor], np.ndarray],
                   *, width: int, batch_size: int, max_length: int, progress: bool = True, desc: str = "teacher",
                   on_batch: Callable[[int], None] | None = None) -> np.ndarray:
    """``forward(input_ids, attention_mask)`` → ``(batch, width)`` over length-sorted batches of
    ``texts``, results ``(len(texts), width)`` in the order of ``texts``: the loop every teacher
    runtime (torch, ONNX) and the teacher's sentence states share."""
    pad_id = tokenizer.pad_token_id or 0
    encoded = tokenize_for_teacher(tokenizer, texts, max_length)
    out = np.zeros((len(texts), width), dtype=np.float32)
    bar = tqdm(total=len(texts), desc=desc, unit="ex", disable=not progress, leave=False)
    for positions in length_sorted_batches([len(e) for e in encoded], batch_size):
        ids, mask = pad_batch([encoded[p] for p in positions], pad_id)
        out[positions] = forward(ids, mask)
        bar.update(len(positions))
        if on_batch:
            on_batch(len(positions))
    bar.close()
    return out


def sentence_states(teacher: Teacher, texts: Sequence[str], *, batch_size: int = 128, max_length: int = 128,
                    desc: str = "teacher states") -> np.ndarray:
    """The teacher's last-layer token states averaged over each text's tokens (padding excluded),
    ``(len(texts), hidden)`` float32: the targets of the cosine hidden-state loss."""
    model = teacher.model
    model.eval()

    @torch.inference_mode()
    def forward(ids: torch.Tensor, mask: torch.Tensor) -> np.ndarray:
        mask = mask.to(teacher.device)
        states = model.base_model(input_ids=ids.to(teacher.device), attention_mask=mask).last_hidden_state  # (batch, seq, hidden)
        return masked_mean(states, mask).float().cpu().numpy()

    return batched_logits(teacher.tokenizer, texts, forward, width=model.config.hidden_size, batch_size=batch_size,
                          max_length=max_length, desc=desc)


def accuracy(logits: np.ndarray, labels: np.ndarray) -> float:
    return float((np.asarray(logits).argmax(axis=1) == np.asarray(labels)).mean()) if len(labels) else float("nan")


# --------------------------------------------------------------------------------------------
# Fast Vocabulary Transfer


def adapt_vocabulary(
    model: PreTrainedModel,
    old_tokenizer: PreTrainedTokenizerBase,
    texts: Sequence[str],
    *,
    vocab_size: int,
    out_dir: str | os.PathLike,
    vocab_config: VocabConfig | None = None,
) -> BertTokenizerFast:
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
    existing = Path(out_dir) / "vocab_config.json"
    if existing.is_file() and read_json(existing) == config.to_dict() and (Path(out_dir) / "vocab.txt").is_file():
        logger.info("adapted vocabulary: reusing %s", out_dir)
    else:
        save_vocab(train_wordpiece(texts, config), out_dir, config)
    new_tokenizer = load_vocab(out_dir)
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


def transfer_embeddings(
    old_embeddings: torch.Tensor, old_tokenizer: PreTrainedTokenizerBase, new_tokens: Sequence[str]
) -> torch.Tensor:
    """Embeddings for ``new_tokens`` from another vocabulary (Fast Vocabulary Transfer, Gee et al.
    2022): each token's row is the mean of ``old_embeddings`` over the pieces ``old_tokenizer``
    makes of its string (``##`` stripped); special tokens take their own old row.
    Returns ``(len(new_tokens), hidden)``."""
    old_vocab = old_tokenizer.get_vocab()
    unk_id = old_tokenizer.unk_token_id
    rows = torch.empty((len(new_tokens), old_embeddings.shape[1]), dtype=old_embeddings.dtype)
    for new_id, token in enumerate(new_tokens):
        if token in SPECIAL_TOKENS and token in old_vocab:
            pieces = [old_vocab[token]]
        else:
            pieces = old_tokenizer(token.removeprefix("##"), add_special_tokens=False)["input_ids"] or [unk_id]
        rows[new_id] = old_embeddings[pieces].mean(dim=0)
    return rows


def student_embeddings_from_teacher(teacher_dir: str | os.PathLike, student_tokens: Sequence[str], dim: int) -> torch.Tensor:
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


# --------------------------------------------------------------------------------------------
# Fine-tuning


def _domain_adapt(model, tokenizer, dataset, config: "FinetuneConfig", *, out: Path, device: torch.device) -> dict:
    """Masked-LM training of ``model``'s encoder on ``config.mlm_texts`` (validation and test texts
    left out), resumable from ``<out>.mlm/``; the adapted encoder is saved to ``<out>.mlm/encoder``
    so that other fine-tunings can start from it (``--base``)."""
    import itertools

    from .data import LeakageGuard, iter_texts
    from .mlm import MlmConfig, continue_pretraining

    guard = LeakageGuard(dataset)
    texts = list(itertools.islice(guard(t for f in config.mlm_texts for t in iter_texts(f)), config.mlm_max_texts))
    state_dir = Path(f"{out}.mlm")
    mlm = MlmConfig(epochs=config.mlm_epochs, lr=config.mlm_lr, batch_size=config.batch_size, max_length=config.max_length,
                    seed=config.seed)
    report = continue_pretraining(model, tokenizer, texts, mlm, state_dir=state_dir, device=device)
    model.save_pretrained(state_dir / "encoder")
    tokenizer.save_pretrained(state_dir / "encoder")
    logger.info("masked LM: loss %.3f -> %.3f over %d steps; encoder saved to %s", report["loss_first_50"],
                report["loss_last_50"], report["steps"], state_dir / "encoder")
    return {**report, "held_out_dropped": guard.dropped, "encoder": str(state_dir / "encoder")}


# Keys added after fine-tunings were already under way: at these values they stay out of the
# resumable state's identity, so an interrupted fine-tuning still resumes.
FINETUNE_ADDED_LATER = {"freeze_layers": 0}


@dataclass
class FinetuneConfig:
    """How ``teacher finetune`` trains. ``lr`` may be one rate per epoch; each epoch then has its
    own warmup and linear decay (the recipe of the shared NSMC teacher: ``[2e-4, 5e-5]``)."""

    base: str
    out: str
    epochs: int = 2
    lr: list[float] = field(default_factory=lambda: [1e-4])
    batch_size: int = 32
    max_length: int = 64
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    max_train_examples: int | None = None
    adapt_vocab: int | None = None
    adapt_texts: list[str] = field(default_factory=list)  # extra unlabelled in-domain files for the vocabulary
    # Characters the adapted vocabulary keeps as pieces. WordPiece turns a whole word into [UNK]
    # when one of its characters is missing, and Korean has thousands of syllables: at 1,000
    # (the student vocabularies' setting) 1.1% of NSMC's tokens are [UNK], at 2,000 0.05%.
    adapt_alphabet: int = 2000
    # Train on train + valid, i.e. the whole official training file (the shared teachers' recipe);
    # valid accuracy is then not reported, since it would be measured on training data.
    include_valid: bool = False
    # domain-adaptive pretraining before fine-tuning: masked LM on these unlabelled in-domain files
    mlm_texts: list[str] = field(default_factory=list)
    mlm_epochs: int = 1
    mlm_lr: float = 1e-4
    mlm_max_texts: int | None = None  # the first N texts of mlm_texts (after the leakage guard)
    select_metric: str = "accuracy"  # the valid score that picks the epoch kept (accuracy | macro_f1)
    # Freeze the embeddings and the first N encoder layers: backward then stops at layer N, which
    # buys time on a CPU (the quickstart's 12-layer teacher) at little cost in accuracy.
    freeze_layers: int = 0
    eval_batch_size: int = 128
    checkpoint_every: int = 500  # fine-tuning steps between resumable checkpoints (<out>.finetune/)
    seed: int = 42
    device: str = "auto"

    def __post_init__(self) -> None:
        if isinstance(self.lr, (int, float)):
            self.lr = [float(self.lr)]
        check = field_checker(self)
        check(self.epochs >= 1, "epochs", "must be >= 1")
        check(len(self.lr) in (1, self.epochs) and all(v > 0 for v in self.lr), "lr",
              f"must be one positive rate or one per epoch ({self.epochs})")
        check(0 <= self.warmup_ratio < 1, "warmup_ratio", "must be in [0, 1)")
        check(self.batch_size >= 1, "batch_size", "must be >= 1")
        check(self.max_length >= 2, "max_length", "must be >= 2")
        check(self.adapt_vocab is None or self.adapt_vocab > len(SPECIAL_TOKENS), "adapt_vocab", f"must be > {len(SPECIAL_TOKENS)}")
        check(self.adapt_alphabet >= 1, "adapt_alphabet", "must be >= 1")
        check(self.mlm_epochs >= 1, "mlm_epochs", "must be >= 1")
        check(self.mlm_lr > 0, "mlm_lr", "must be > 0")
        check(self.checkpoint_every >= 1, "checkpoint_every", "must be >= 1")
        check(self.mlm_max_texts is None or self.mlm_max_texts >= 1, "mlm_max_texts", "must be >= 1")
        check(self.select_metric in SELECT_METRICS, "select_metric", f"must be one of {SELECT_METRICS}")
        check(self.freeze_layers >= 0, "freeze_layers", "must be >= 0")

    def lr_for_epoch(self, epoch: int) -> float:
        return self.lr[epoch] if len(self.lr) > 1 else self.lr[0]

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "FinetuneConfig":
        return cls(**values)


def freeze_lower_layers(model: PreTrainedModel, layers: int) -> None:
    """No gradient for the embeddings and the first ``layers`` encoder layers of a BERT-like model."""
    encoder = model.base_model
    stack = getattr(getattr(encoder, "encoder", None), "layer", None)
    if stack is None or not hasattr(encoder, "embeddings"):
        raise ValueError(f"freeze_layers: {type(model).__name__} has no embeddings + encoder.layer stack to freeze")
    if layers > len(stack):
        raise ValueError(f"freeze_layers {layers}: the base has only {len(stack)} layers")
    for module in [encoder.embeddings, *stack[:layers]]:
        module.requires_grad_(False)


class SequenceClassifier(nn.Module):
    """A Hugging Face sequence classifier behind the Trainer's ``model(input_ids, lengths)`` call:
    the attention mask comes from the lengths, so the shared Trainer fine-tunes teachers too."""

    def __init__(self, model: PreTrainedModel, *, pad_id: int):
        super().__init__()
        self.model = model
        self.pad_id = pad_id

    def forward(self, input_ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """``input_ids (batch, seq)`` with the tokenizer's special tokens, right-padded → ``(batch, labels)``."""
        mask = length_mask(lengths.to(input_ids.device), input_ids.shape[1])  # (batch, seq)
        ids = input_ids.masked_fill(~mask, self.pad_id)
        return self.model(input_ids=ids, attention_mask=mask.long()).logits


def finetune_training_config(config: FinetuneConfig, *, has_valid: bool) -> TrainingConfig:
    """The fine-tuning recipe as the shared Trainer's config: AdamW (no decay on biases and
    LayerNorm), each epoch with its own warmup and linear decay peaking at that epoch's rate, BERT's
    gradient clipping at 1.0; every epoch runs (the best on valid is kept, or the last without one)."""
    return TrainingConfig(
        batch_size=config.batch_size, optimizer="adamw", lr=config.lr_for_epoch(0),
        epoch_lrs=tuple(config.lr_for_epoch(e) for e in range(config.epochs)) if len(config.lr) > 1 else None,
        weight_decay=config.weight_decay, scheduler="linear_epochs", warmup_ratio=config.warmup_ratio,
        train_epoch=config.epochs, patience=0, select_metric=config.select_metric if has_valid else "accuracy",
        clip_grad=1.0, seed=config.seed, eval_batch_size=config.eval_batch_size, log_every=1,
        checkpoint_every=config.checkpoint_every, device=config.device)


class _OnStep(Callback):
    """``on_step(step, loss)`` of :func:`finetune` as a Trainer callback."""

    def __init__(self, on_step: Callable[[int, float], None]):
        self.on_step_fn = on_step

    def on_step(self, trainer, *, loss: float, lr: float) -> None:
        self.on_step_fn(trainer.global_step, loss)


def finetune(config: FinetuneConfig, dataset, *, on_step: Callable[[int, float], None] | None = None) -> dict:
    """Fine-tune ``config.base`` on ``dataset``'s train split with the shared :class:`Trainer`;
    save to ``config.out`` with eval.json.

    A base with another label count (a 2-class teacher reused for a 3-class task) gets a new
    classification head on its encoder. Resumable: the Trainer's state lives in ``<out>.finetune/``
    (checkpoints every ``checkpoint_every`` steps, at epoch ends and on Ctrl-C) until the teacher is
    in place; rerunning the same command continues it. The checkpoint is written to a temporary
    folder and renamed into place at the end, so an interrupted run never leaves a half-written
    teacher that looks complete.
    """
    from .data import read_texts  # local: data is only needed here

    torch.manual_seed(config.seed)
    device = resolve_device(config.device)
    start = time.perf_counter()
    base_labels = AutoConfig.from_pretrained(config.base).num_labels
    model = AutoModelForSequenceClassification.from_pretrained(
        config.base, num_labels=dataset.num_labels, ignore_mismatched_sizes=base_labels != dataset.num_labels,
        id2label=dict(enumerate(dataset.label_names)), label2id={n: i for i, n in enumerate(dataset.label_names)},
    )
    if base_labels != dataset.num_labels:
        logger.info("%s has %d labels, the dataset %d: its encoder gets a new classification head", config.base,
                    base_labels, dataset.num_labels)
    tokenizer = AutoTokenizer.from_pretrained(config.base)
    out = Path(config.out)
    state_dir = Path(f"{out}.finetune")  # resumable state (and the adapted vocabulary) until the teacher is in place

    train_splits = ("train", "valid") if config.include_valid else ("train",)
    pool = dataset.table[dataset.table["split"].isin(train_splits)]
    train = pool
    if config.max_train_examples and config.max_train_examples < len(pool):
        train = pool.sample(n=config.max_train_examples, random_state=config.seed)
    if config.adapt_vocab:  # the vocabulary sees every training text, even when training on a sample
        vocab_texts = pool["text"].tolist()
        for extra in config.adapt_texts:
            vocab_texts += read_texts(extra)["text"].tolist()
        tokenizer = adapt_vocabulary(model, tokenizer, vocab_texts, vocab_size=config.adapt_vocab, out_dir=state_dir / "adapted_vocab",
                                     vocab_config=VocabConfig(limit_alphabet=config.adapt_alphabet))
    if config.freeze_layers:
        freeze_lower_layers(model, config.freeze_layers)
    model.to(device)
    mlm_report = _domain_adapt(model, tokenizer, dataset, config, out=out, device=device) if config.mlm_texts else None

    def split(frame) -> SplitTensors:  # the tokenizer's own ids, special tokens included
        rows = tokenize_for_teacher(tokenizer, frame["text"].tolist(), config.max_length) if len(frame) else []
        lengths = torch.tensor([len(r) for r in rows], dtype=torch.int64)
        flat = torch.tensor([t for r in rows for t in r], dtype=torch.int64)
        return SplitTensors(encoded=EncodedTexts.from_lengths(flat, lengths),
                            labels=torch.tensor(frame["label"].to_numpy(), dtype=torch.int64))

    splits = {"train": split(train), "valid": split(dataset.split("valid").iloc[:0] if config.include_valid else dataset.split("valid")),
              "test": split(dataset.split("test"))}
    lengths = splits["train"].encoded.lengths
    unk_rate = float((splits["train"].encoded.ids == tokenizer.unk_token_id).sum()) / max(1, int(lengths.sum()))
    logger.info("fine-tuning on %d examples, %.1f tokens/example, %.2f%% [UNK]", len(lengths), float(lengths.float().mean()),
                100 * unk_rate)
    identity = {"config": {k: v for k, v in config.to_dict().items() if k not in ("out", "device", "eval_batch_size", "checkpoint_every")
                           and not (k in FINETUNE_ADDED_LATER and v == FINETUNE_ADDED_LATER[k])},
                "dataset": dataset.fingerprint, "train": len(lengths),
                "vocab": hashlib.sha256(json.dumps(tokenizer.get_vocab(), sort_keys=True).encode()).hexdigest()}
    classifier = SequenceClassifier(model, pad_id=tokenizer.pad_token_id or 0)
    trainer = Trainer(classifier, config=finetune_training_config(config, has_valid=bool(len(splits["valid"]))),
                      loss=DistillationLoss(kind="ce"), identity=hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest(),
                      train=splits["train"], valid=splits["valid"], test=splits["test"], run_dir=state_dir, device=device,
                      callbacks=[_OnStep(on_step)] if on_step else [], label_names=dataset.label_names)
    try:
        metrics = trainer.fit(resume=True)  # the same command continues an interrupted fine-tuning
    except KeyboardInterrupt:
        raise KeyboardInterrupt(f"fine-tuning stopped at epoch {trainer.epoch + 1}, step {trainer.step_in_epoch}; rerun the "
                                f"same command to resume from {state_dir}") from None

    has_valid = bool(len(splits["valid"]))
    report = {
        "base": config.base,
        "dataset": dataset.name,
        "dataset_fingerprint": dataset.fingerprint,
        "num_labels": dataset.num_labels,
        "label_names": list(dataset.label_names),
        "train_examples": len(lengths),
        "train_unk_rate": unk_rate,
        "config": config.to_dict(),
        "history": metrics["history"],
        "best_epoch": metrics["best_epoch"],
        "valid_accuracy": metrics["valid_accuracy"] if has_valid else None,
        "valid_macro_f1": metrics["valid_macro_f1"] if has_valid else None,
        "test_accuracy": metrics["test_accuracy"],
        "test_macro_f1": metrics["test_macro_f1"],
        "test_per_class": metrics["test_per_class"],
        "trained_on": list(train_splits),  # an ensemble may pick its weights only on a split no member saw
        **({"masked_lm": mlm_report} if mlm_report else {}),
        "train_seconds": metrics["train_seconds"],
        "seconds": round(time.perf_counter() - start, 1),
        "device": str(device),
    }
    with atomic_dir(out) as staging:
        model.save_pretrained(staging)  # safetensors; the Trainer left the best epoch's weights in the model
        tokenizer.save_pretrained(staging)
        write_json(staging / "eval.json", report)
    shutil.rmtree(state_dir, ignore_errors=True)  # the teacher is in place: its fine-tuning state is spent
    return report


def cache_dataset_logits(
    teacher: Teacher,
    dataset,
    *,
    store_dir: str | os.PathLike,
    batch_size: int = 128,
    max_length: int = 128,
    chunk_size: int = 8192,
    recompute: bool = False,
    progress: bool = True,
    chunk_runner=None,
):
    """Run ``teacher`` once over every example of ``dataset`` into an idx-keyed logit store.

    Returns a ``BuildResult``; its header carries the teacher's accuracy on each labelled split.
    ``chunk_runner``: compute the chunks elsewhere (see ``logit_store.build_store``).
    """
    from .logit_store import build_store

    if dataset.num_labels and teacher.num_labels != dataset.num_labels:
        raise ValueError(f"teacher {teacher.path} has {teacher.num_labels} labels but {dataset.name} has {dataset.num_labels}")
    table = dataset.table

    def summarize(logits: np.ndarray) -> dict:
        result = {}
        for split in ("train", "valid", "test"):
            rows = (table["split"] == split).to_numpy() & (table["label"] >= 0).to_numpy()
            if rows.any():
                result[f"teacher_{split}_accuracy"] = accuracy(logits[rows], table["label"].to_numpy()[rows])
        # wall time of the process that finished the store (a resumed build counts its last part)
        result["labelling_seconds"] = round(time.perf_counter() - start, 1)
        return result

    header = {
        "teacher_path": str(teacher.path),
        "teacher_hash": teacher.weights_hash,
        "dataset": dataset.name,
        "dataset_fingerprint": dataset.fingerprint,
        "num_labels": teacher.num_labels,
        "label_names": list(dataset.label_names),
        "max_length": max_length,
        "teacher_trained_on": teacher.trained_on,
        "runtime": teacher.runtime,
        **({"runtime_check": teacher.check} if teacher.check else {}),
    }
    start = time.perf_counter()

    def compute(texts, advance):
        return teacher.logits(texts, batch_size=batch_size, max_length=max_length, progress=False, on_batch=advance)

    result = build_store(store_dir, texts=table["text"].tolist(), compute=compute, header=header,
                         chunk_size=chunk_size, recompute=recompute, summarize=summarize, progress=progress,
                         chunk_runner=chunk_runner)
    seconds = time.perf_counter() - start
    if result.computed_examples:
        logger.info("teacher ran on %d examples in %.1f s (%.0f examples/s)", result.computed_examples, seconds,
                    result.computed_examples / seconds)
    else:
        logger.info("0 teacher forward passes: every logit came from %s", store_dir)
    return result
