"""One tagger run: a tagged dataset → the student's units → a BiLSTM tagger trained by the Trainer
(per token, selected on validation entity F1) → a run folder as a sentence run's (config.json,
student.json, the best weights, vocab/units.json, metrics.json), resumable with ``--resume``.

With ``teacher_path`` (a fine-tuned ``…ForTokenClassification`` checkpoint) the tagger is distilled:
the teacher's logits for each word of each sentence are computed once into a ragged store (reused
while current) and the loss is per token, α·CE + (1 − α)·T²·KL (a CRF tagger: its gold NLL and KD on
its emission scores, training/tokens.py).
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import torch

from ..data.tag_units import TagUnits, TokenUnits, padded_tags
from ..data.tagging import TaggedDataset, load_tagged_dataset, untagged_dataset
from ..rundir import TAGGER_ARCHITECTURE, RunDir
from ..students.embeddings import SkipgramConfig
from ..students.tagger import BiLSTMTagger, TaggerConfig, TaggerShape
from ..students.tagger_vectors import init_word_embedding
from ..teachers.running.source import TeacherSource
from ..teachers.running.tagger import label_tagged, open_tagged_store
from ..training.batching import SplitTensors
from ..training.callbacks import Callback, TensorBoardCallback
from ..training.config import TrainingConfig
from ..training.losses import DistillationLoss
from ..training.tokens import KD_TOKENS, CrfTagLoss, TokenKDLoss
from ..training.trainer import Trainer
from ..utils import compose_settings, dataclass_from_dict, field_checker, path_safe, resolve_device

logger = logging.getLogger(__name__)


@dataclass(kw_only=True, frozen=True)
class TagDataSettings:
    dataset: str = "conll2003"  # conll2003 | klue_ner | a .jsonl file of {"tokens", "tags"}
    data_dir: str | None = None
    valid_size: float = 0.05  # carved from train where the data has no validation file
    split_seed: int = 1
    strict: bool = False  # refuse (not repair) an I- tag that follows nothing
    lowercase: bool = True  # the word lookup's; characters keep their case
    min_count: int = 1  # a training word seen fewer times is [UNK] to the word lookup (its characters still count)
    max_chars: int = 20  # characters per token the character encoder reads; 0: no character encoder
    # random | skipgram: word vectors trained on the training sentences and embedding_texts (Lample et
    # al.'s pretrained embeddings, from text this machine has)
    embedding_init: str = "random"
    embedding_texts: tuple[str, ...] = ()  # untagged sentences for skip-gram (files, or data-dir names)
    # words of embedding_texts and transfer_sets beyond the training split's, most frequent first, that
    # join the word vocabulary (0: the training split's words alone)
    untagged_words: int = 0
    skipgram_epochs: int = 5

    def __post_init__(self) -> None:
        check = field_checker(self)
        check(bool(self.dataset), "dataset", "must name a tagged dataset or a .jsonl file")
        check(0.0 < self.valid_size < 1.0, "valid_size", "must be in (0, 1)")
        check(self.min_count >= 1, "min_count", "must be >= 1")
        check(self.max_chars >= 0, "max_chars", "must be >= 0")
        check(self.embedding_init in ("random", "skipgram"), "embedding_init", "must be 'random' or 'skipgram'")
        check(
            self.embedding_init == "skipgram" or not self.embedding_texts,
            "embedding_texts",
            "are read by embedding_init 'skipgram' only",
        )
        check(self.untagged_words >= 0, "untagged_words", "must be >= 0")
        check(self.skipgram_epochs >= 1, "skipgram_epochs", "must be >= 1")


@dataclass(kw_only=True, frozen=True)
class TagDistillSettings:
    loss: str = "ce"  # ce: gold tags alone; kl: and the teacher's per-token distribution
    loss_rate: float = 0.1  # α: the weight of the gold term
    temperature: float = 2.0
    teacher_path: str | None = None  # a token-classification checkpoint folder
    teacher_max_length: int | None = None  # its pieces per sentence (None: what it was trained with, else 128)
    cache_dir: str = "teacher_model/logits"  # where its per-word logits are stored
    # untagged sentences (files of one a line, or data-dir names: klue_ner/unlabeled.txt) the teacher
    # labels per token; they join the training split with the teacher's logits as their only targets
    transfer_sets: tuple[str, ...] = ()
    transfer_per_epoch: int | None = None  # transfer sentences drawn per epoch (None: all)
    # all | agree: a gold-tagged token learns from the teacher only where the teacher's best tag is gold
    kd_tokens: str = "all"

    def __post_init__(self) -> None:
        check = field_checker(self)
        check(self.loss in ("ce", "kl"), "loss", "must be 'ce' or 'kl'")
        check(0.0 <= self.loss_rate <= 1.0, "loss_rate", "must be in [0, 1]")
        check(self.temperature > 0, "temperature", "must be > 0")
        check(self.loss == "ce" or bool(self.teacher_path), "teacher_path", "is required for loss 'kl'")
        check(self.loss == "kl" or not self.teacher_path, "loss", "must be 'kl' to learn from teacher_path")
        check(self.teacher_max_length is None or self.teacher_max_length >= 2, "teacher_max_length", "must be >= 2")
        check(not self.transfer_sets or self.loss == "kl", "transfer_sets", "need loss 'kl' and a teacher_path")
        check(self.transfer_per_epoch is None or self.transfer_per_epoch >= 1, "transfer_per_epoch", "must be >= 1")
        check(self.kd_tokens in KD_TOKENS, "kd_tokens", f"must be one of {KD_TOKENS}")


SECTIONS: dict[str, type] = {
    "data": TagDataSettings,
    "shape": TaggerShape,
    "distillation": TagDistillSettings,
    "training": TrainingConfig,
}


class _TagRecipe:
    def __post_init__(self) -> None:
        object.__setattr__(
            self, "_sections", compose_settings(self, SECTIONS, file_lists=("transfer_sets", "embedding_texts"))
        )

    def training_config(self) -> TrainingConfig:
        return self._sections["training"]

    def distillation_settings(self) -> TagDistillSettings:
        return self._sections["distillation"]

    def identity(self) -> str:
        """What makes the run: everything but where it reads and writes and the device."""
        ignored = (
            *("data_dir", "run_root", "run_name", "device", "cache_dir"),
            *("log_every", "checkpoint_every", "eval_batch_size"),
        )
        values = {k: v for k, v in self.to_dict().items() if k not in ignored}
        return hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()

    def run_dir(self) -> Path:
        return Path(self.run_root) / path_safe(self.dataset) / (self.run_name or f"tagger-{self.identity()[:6]}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "TagRunConfig":
        return dataclass_from_dict(cls, values, what="TagRunConfig")


@dataclass(kw_only=True, frozen=True)
class TagRunConfig(_TagRecipe, TrainingConfig, TagDistillSettings, TaggerShape, TagDataSettings):
    """``distil-bilstm tagger``'s flat keys, with a tagger's training defaults (Adam, early stopping
    on validation entity F1)."""

    batch_size: int = 32
    lr: float = 1e-3
    train_epoch: int = 30
    patience: int = 5
    select_metric: str = "entity_f1"
    eval_batch_size: int = 256
    run_root: str = "runs"
    run_name: str | None = None


def _split(units: TagUnits, sentences, tag_names, teacher: torch.Tensor | None = None) -> SplitTensors:
    return SplitTensors(encoded=units.encode(sentences), labels=padded_tags(sentences, tag_names), teacher=teacher)


def teacher_tag_logits(
    config: TagRunConfig, datasets: list[TaggedDataset], *, device: torch.device
) -> list[torch.Tensor]:
    """The teacher's logits of each dataset's training sentences, ``(sentences, longest, tags)`` padded
    with 0, from the ragged store of (teacher, dataset), each computed once."""
    source = TeacherSource.resolve(config.teacher_path, cache_dir=config.cache_dir)
    if source.reference.kind != "tagger":
        raise ValueError(
            f"{config.teacher_path} is a {source.reference.kind} teacher; a tagger learns from a token classifier "
            "(a checkpoint whose config.json names a ...ForTokenClassification)"
        )
    reference, teacher = source.reference, None  # the teacher is loaded only for a store not made yet
    length = reference.labelling_length(config.teacher_max_length)
    padded = []
    for dataset in datasets:
        store_dir = source.store_dir(dataset.name)
        store = open_tagged_store(store_dir, dataset, teacher_hash=reference.weights_hash, max_length=length)
        if store is None:
            teacher = teacher or reference.load(device=device)
            store, _ = label_tagged(teacher, dataset, store_dir=store_dir, max_length=length)
        rows = [store.sentence(i) for i in np.flatnonzero(dataset.splits == "train")]  # (tokens, tags) each
        padded.append(torch.nn.utils.rnn.pad_sequence(rows, batch_first=True))
    return padded


def _pad_to(values: torch.Tensor, width: int, fill: float) -> torch.Tensor:
    """``(N, seq, ...)`` padded with ``fill`` to ``(N, width, ...)``."""
    pad = [0, 0] * (values.dim() - 2) + [0, width - values.shape[1]]
    return torch.nn.functional.pad(values, pad, value=fill)


def with_transfer(train: SplitTensors, pools: list[tuple[TokenUnits, torch.Tensor]], *, per_epoch: int | None):
    """``train`` followed by transfer sentences: each pool is ``(units, teacher logits (M, longest, tags))``;
    their gold tags are -1 (the teacher's logits their only targets), ``per_epoch`` of them drawn an epoch."""
    encoded = [train.encoded, *(units for units, _ in pools)]
    teachers = [train.teacher, *(logits for _, logits in pools)]
    width = max(t.shape[1] for t in teachers)
    labels = [_pad_to(train.labels, width, -1), *(torch.full((len(u), width), -1, dtype=torch.int64) for u, _ in pools)]
    return SplitTensors(
        encoded=TokenUnits(torch.cat([e.flat for e in encoded]), torch.cat([e.lengths for e in encoded])),
        labels=torch.cat(labels),
        teacher=torch.cat([_pad_to(t, width, 0.0) for t in teachers]),
        pool_start=len(train),
        pool_per_epoch=per_epoch,
    )


def training_split(
    config: TagRunConfig, dataset: TaggedDataset, units: TagUnits, transfer: list[TaggedDataset], *, device
) -> SplitTensors:
    """The training sentences (with the teacher's logits when there is one), then the transfer sentences."""
    teachers = teacher_tag_logits(config, [dataset, *transfer], device=device) if config.teacher_path else [None]
    split = _split(units, dataset.split("train"), dataset.tag_names, teachers[0])
    if not transfer:
        return split
    pools = [(units.encode(t.sentences), logits) for t, logits in zip(transfer, teachers[1:])]
    logger.info("transfer: %s sentences labelled by the teacher", f"{sum(len(t.sentences) for t in transfer):,}")
    return with_transfer(split, pools, per_epoch=config.transfer_per_epoch)


def _write_run(run: RunDir, config: TagRunConfig, units: TagUnits, model_config: TaggerConfig, *, tag_names) -> None:
    run.write_config(config.to_dict())
    run.vocab_dir.mkdir(parents=True, exist_ok=True)
    units.save(run.vocab_dir)
    run.write_student(TAGGER_ARCHITECTURE, model_config.to_dict(), label_names=tag_names)


def untagged_sets(paths, *, dataset: TaggedDataset, data_dir: str | None) -> list[TaggedDataset]:
    """Each file of untagged sentences cut as ``dataset``'s tokens, its validation and test sentences left out."""
    return [untagged_dataset(p, dataset=dataset, data_dir=data_dir) for p in paths]


def tagger_loss(model: BiLSTMTagger, settings: TagDistillSettings):
    """The loss the Trainer is given: a CRF's (gold NLL, and KD on its emissions), else per-token KD,
    else cross entropy on the gold tags (training/tokens.py)."""
    soft = dict(alpha=settings.loss_rate, temperature=settings.temperature, kd_tokens=settings.kd_tokens)
    if model.crf is not None:
        return CrfTagLoss(model.crf, kind=settings.loss, **soft)
    if settings.loss == "kl":
        return TokenKDLoss(**soft)
    return DistillationLoss(kind="ce")


def train_tagger(
    config: TagRunConfig,
    *,
    dataset: TaggedDataset | None = None,
    resume: bool = False,
    callbacks: list[Callback] | None = None,
) -> dict:
    """Train a BiLSTM tagger on ``config.dataset``'s gold tags (and, with ``teacher_path``, its
    teacher's per-token logits); returns (and writes) its metrics."""
    dataset = dataset or load_tagged_dataset(
        config.dataset,
        data_dir=config.data_dir,
        valid_size=config.valid_size,
        seed=config.split_seed,
        strict=config.strict,
    )
    train = dataset.split("train")
    transfer = untagged_sets(config.transfer_sets, dataset=dataset, data_dir=config.data_dir)
    texts = untagged_sets(config.embedding_texts, dataset=dataset, data_dir=config.data_dir)
    untagged = [s for d in (*transfer, *texts) for s in d.sentences]  # what the student meets beyond train
    units = TagUnits.build(
        train,
        lowercase=config.lowercase,
        min_count=config.min_count,
        max_chars=config.max_chars,
        untagged=untagged,
        untagged_words=config.untagged_words,
    )
    shape = {f.name: getattr(config, f.name) for f in fields(TaggerShape)}
    model_config = TaggerConfig(
        **shape, vocab_size=len(units.words), num_tags=len(dataset.tag_names), char_vocab_size=len(units.chars)
    )
    device = resolve_device(config.device)
    train_split = training_split(config, dataset, units, transfer, device=device)
    torch.manual_seed(config.seed)
    model = BiLSTMTagger(model_config)
    run = RunDir(config.run_dir())
    run.mkdir()
    if config.embedding_init == "skipgram" and not (resume and run.has_checkpoint()):
        init_word_embedding(
            model.embedding,
            units.words,
            (s.tokens for s in [*train, *untagged]),
            lowercase=units.lowercase,
            config=SkipgramConfig(dim=config.embedding_dim, epochs=config.skipgram_epochs, seed=config.seed),
            folder=run.path,
        )
    _write_run(run, config, units, model_config, tag_names=dataset.tag_names)
    logger.info(
        "%s: %d training sentences, %d words, %d characters, %d tags; %s parameters",
        dataset.name,
        len(train),
        len(units.words),
        len(units.chars),
        len(dataset.tag_names),
        f"{sum(p.numel() for p in model.parameters()):,}",
    )
    trainer = Trainer(
        model,
        config=config.training_config(),
        loss=tagger_loss(model, config.distillation_settings()),
        identity=config.identity(),
        train=train_split,
        valid=_split(units, dataset.split("valid"), dataset.tag_names),
        test=_split(units, dataset.split("test"), dataset.tag_names),
        run_dir=run.path,
        device=device,
        callbacks=[
            TensorBoardCallback(run.path, {k: v for k, v in config.to_dict().items() if v is not None}),
            *(callbacks or []),
        ],
        label_names=dataset.tag_names,
    )
    metrics = {
        **trainer.fit(resume=resume),
        "run_dir": str(run.path),
        "dataset": dataset.name,
        "dataset_fingerprint": dataset.fingerprint,
        "architecture": TAGGER_ARCHITECTURE,
        "tag_names": dataset.tag_names,
        "teacher_path": config.teacher_path,
    }
    run.write_metrics(metrics)
    return metrics
