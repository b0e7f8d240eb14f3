"""``distil-bilstm teacher finetune``: a pretrained base fine-tuned into a teacher, resumably, by the Trainer."""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import shutil
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import torch
from torch import nn
from transformers import (
    AutoConfig,
    AutoModel,
    AutoModelForSequenceClassification,
    AutoTokenizer,
    PreTrainedModel,
)

from ...data.pairs import each_side
from ...data.vocab import EncodedTexts, VocabConfig
from ...training.batching import SplitTensors, label_tensor, with_pool
from ...training.callbacks import Callback
from ...training.losses import DistillationLoss
from ...training.masks import length_mask
from ...training.trainer import Trainer
from ...utils import atomic_dir, resolve_device, write_json
from ..bases.mlm import MlmConfig, adapt_to_domain
from ..bases.vocab_transfer import adapt_vocabulary
from ..running.biencoder import BiEncoderRegressor, pair_rows, write_biencoder_info
from ..running.source import TeacherSource
from ..running.teacher import check_checkpoint_path, loading, tokenize_for_teacher
from ..stores.store import HEADER, LogitStore
from .config import FinetuneConfig, recipe_identity

if TYPE_CHECKING:
    import pandas as pd

logger = logging.getLogger(__name__)


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


def _classifier(base: str, dataset) -> PreTrainedModel:
    """``base`` with the dataset's head; a base with another label count (a 2-class teacher reused
    for a 3-class task) gets a new head on its encoder."""
    base_labels = AutoConfig.from_pretrained(base).num_labels
    # a regression task (a pair's similarity score) is one output, trained on squared error
    task = {"problem_type": "regression"} if dataset.is_regression else {}
    model = AutoModelForSequenceClassification.from_pretrained(
        base,
        num_labels=dataset.num_labels,
        ignore_mismatched_sizes=base_labels != dataset.num_labels,
        id2label=dict(enumerate(dataset.label_names)),
        label2id={n: i for i, n in enumerate(dataset.label_names)},
        **task,
    )
    if base_labels != dataset.num_labels:
        logger.info(
            "%s has %d labels, the dataset %d: its encoder gets a new classification head",
            base,
            base_labels,
            dataset.num_labels,
        )
    return model


class _OnStep(Callback):
    """``on_step(step, loss)`` of :func:`finetune` as a Trainer callback."""

    def __init__(self, on_step: Callable[[int, float], None]):
        self.on_step_fn = on_step

    def on_step(self, trainer, *, loss: float, lr: float) -> None:
        self.on_step_fn(trainer.global_step, loss)


def distillation_source(config: FinetuneConfig) -> TeacherSource:
    """``config.teacher_path`` as a logit store, or a clear error before anything is loaded."""
    try:
        source = TeacherSource.resolve(config.teacher_path, cache_dir=Path(config.teacher_path).parent)
    except (FileNotFoundError, ValueError):  # no teacher of any kind there
        source = None
    if source is None or not source.is_store:
        raise FileNotFoundError(
            f"teacher_path {config.teacher_path}: no logit store there ({HEADER} missing); make one with "
            f"distil-bilstm teacher logits or teacher ensemble"
        )
    return source


def distillation_split(
    train: SplitTensors, frame, config: FinetuneConfig, dataset, *, source: TeacherSource, tokenize
) -> tuple[SplitTensors, dict]:
    """``train`` (the rows of ``frame``) with the logits of ``source`` (``config.teacher_path``) gathered by idx,
    followed by each transfer set's rows (tokenized by ``tokenize``) with the logits of its store;
    returns it with what the teacher's report records about them."""
    from ...data.datasets import load_transfer_set

    store = LogitStore.open(source.path, fingerprint=dataset.fingerprint, num_labels=dataset.num_labels)
    train = replace(train, teacher=store.gather(torch.tensor(frame["idx"].to_numpy())))
    pools, used = [], []
    for path in config.transfer_sets:
        transfer = load_transfer_set(path, dataset=dataset)
        transfer_store = source.open_transfer_store(dataset, path, fingerprint=transfer.fingerprint)
        pools.append((tokenize(transfer.table).encoded, transfer_store.logits))
        used.append({"path": str(path), "rows": len(transfer), "store": str(transfer_store.path)})
    split = with_pool(train, pools, unlabelled=dataset.unlabelled, per_epoch=config.transfer_per_epoch)
    return split, {
        "store": str(source.path),
        "store_sha256": store.header.get("logits_sha256"),
        "alpha": config.loss_rate,
        "temperature": config.temperature,
        "transfer_sets": used,
        "transfer_rows_per_epoch": split.epoch_size() - len(train),
    }


def _training_rows(config: FinetuneConfig, dataset) -> tuple[tuple[str, ...], pd.DataFrame, pd.DataFrame]:
    """The splits the teacher trains on, all their rows (which the vocabulary sees) and the rows it
    trains on (a sample of them under ``max_train_examples``)."""
    splits = ("train", "valid") if config.include_valid else ("train",)
    pool = dataset.table[dataset.table["split"].isin(splits)]
    train = pool
    if config.max_train_examples and config.max_train_examples < len(pool):
        train = pool.sample(n=config.max_train_examples, random_state=config.seed)
    return splits, pool, train


def _load_base(config: FinetuneConfig, dataset, *, vocab_texts: list[str], state_dir: Path):
    """``config.base`` as the model to train (a bi-encoder's bare encoder, or the dataset's
    classifier) and its tokenizer, the vocabulary adapted and the lower layers frozen as asked."""
    from ...data.files import read_texts  # local: data is only needed here

    bi = config.pair_encoder == "bi"
    with loading(config.base):
        model = AutoModel.from_pretrained(config.base) if bi else _classifier(config.base, dataset)
        tokenizer = AutoTokenizer.from_pretrained(config.base)
    if config.adapt_vocab:  # the vocabulary sees every training text, even when training on a sample
        texts = list(each_side(vocab_texts))  # a pair's sides are texts of their own to a vocabulary
        for extra in config.adapt_texts:
            texts += each_side(read_texts(extra)["text"])
        tokenizer = adapt_vocabulary(
            model,
            tokenizer,
            texts,
            vocab_size=config.adapt_vocab,
            out_dir=state_dir / "adapted_vocab",
            vocab_config=VocabConfig(limit_alphabet=config.adapt_alphabet),
        )
    if config.freeze_layers:
        freeze_lower_layers(model, config.freeze_layers)
    return model, tokenizer


def _teacher_split(frame, *, tokenizer, max_length: int, bi: bool) -> SplitTensors:
    """``frame``'s rows in the tokenizer's own ids, special tokens included (a bi-encoder's row:
    both sides, each tokenized alone), with their labels."""
    tokenize = pair_rows if bi else tokenize_for_teacher
    rows = tokenize(tokenizer, frame["text"].tolist(), max_length) if len(frame) else []
    lengths = torch.tensor([len(r) for r in rows], dtype=torch.int64)
    flat = torch.tensor([t for r in rows for t in r], dtype=torch.int64)
    return SplitTensors(
        encoded=EncodedTexts.from_lengths(flat, lengths), labels=label_tensor(frame["label"].to_numpy())
    )


def _report(config: FinetuneConfig, dataset, metrics: dict, *, has_valid: bool, extra: dict) -> dict:
    """eval.json of a fine-tuned teacher: what it is, how it was trained and how it scores."""
    scores = {
        "valid_accuracy": metrics["valid_accuracy"] if has_valid else None,
        "valid_macro_f1": metrics["valid_macro_f1"] if has_valid else None,
        **{key: metrics[key] for key in ("test_accuracy", "test_macro_f1", "test_per_class")},
    }
    if dataset.is_regression:
        scores.update(
            {
                key: metrics[key]
                for key in ("valid_spearman", "valid_pearson", "test_spearman", "test_pearson", "test_mse")
            }
        )
    return {
        "base": config.base,
        "dataset": dataset.name,
        "dataset_fingerprint": dataset.fingerprint,
        "num_labels": dataset.num_labels,
        "label_names": list(dataset.label_names),
        **extra,
        "config": config.to_dict(),
        "history": metrics["history"],
        "best_epoch": metrics["best_epoch"],
        **scores,
        "task": dataset.task,
        "train_seconds": metrics["train_seconds"],
    }


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
    torch.manual_seed(config.seed)
    device = resolve_device(config.device)
    start = time.perf_counter()
    bi = config.pair_encoder == "bi"
    if bi and not (dataset.pairs and dataset.is_regression):
        raise ValueError(
            f"FinetuneConfig.pair_encoder: 'bi' scores sentence pairs on a similarity scale; {dataset.name} is a "
            f"{'pair' if dataset.pairs else 'single-text'} {dataset.task} dataset (use pair_encoder 'cross')"
        )
    # a missing base or store is refused now rather than after the splits are tokenized
    try:
        check_checkpoint_path(config.base)
    except (FileNotFoundError, ValueError) as err:
        raise type(err)(f"FinetuneConfig.base: {err}") from None
    source = distillation_source(config) if config.teacher_path else None
    loss = DistillationLoss(kind=config.loss, alpha=config.loss_rate, temperature=config.temperature, task=dataset.task)
    out = Path(config.out)
    state_dir = Path(f"{out}.finetune")  # resumable state (and the adapted vocabulary) until the teacher is in place
    train_splits, pool, train = _training_rows(config, dataset)
    model, tokenizer = _load_base(config, dataset, vocab_texts=pool["text"].tolist(), state_dir=state_dir)
    model.to(device)
    mlm_report = None
    if config.mlm_texts:  # the encoder first reads the task's own texts (validation and test left out)
        mlm = MlmConfig(
            epochs=config.mlm_epochs,
            lr=config.mlm_lr,
            batch_size=config.batch_size,
            max_length=config.max_length,
            seed=config.seed,
        )
        mlm_report = adapt_to_domain(
            model,
            tokenizer,
            dataset,
            files=config.mlm_texts,
            max_texts=config.mlm_max_texts,
            config=mlm,
            state_dir=Path(f"{out}.mlm"),
            device=device,
        )

    split = functools.partial(_teacher_split, tokenizer=tokenizer, max_length=config.max_length, bi=bi)
    splits = {
        "train": split(train),
        "valid": split(dataset.split("valid").iloc[:0] if config.include_valid else dataset.split("valid")),
        "test": split(dataset.split("test")),
    }
    lengths = splits["train"].encoded.lengths
    unk_rate = float((splits["train"].encoded.ids == tokenizer.unk_token_id).sum()) / max(1, int(lengths.sum()))
    logger.info(
        "fine-tuning on %d examples, %.1f tokens/example, %.2f%% [UNK]",
        len(lengths),
        float(lengths.float().mean()),
        100 * unk_rate,
    )
    distilled = None
    if source is not None:
        splits["train"], distilled = distillation_split(
            splits["train"], train, config, dataset, source=source, tokenize=split
        )
        logger.info(
            "learning from the logits of %s (α %.2f, T %.1f) and %d transfer rows an epoch",
            config.teacher_path,
            config.loss_rate,
            config.temperature,
            distilled["transfer_rows_per_epoch"],
        )
    pad_id = tokenizer.pad_token_id or 0
    scale = float(train["label"].max()) if bi else None  # the top score: a cosine of 1 means "as similar as it gets"
    classifier = (
        BiEncoderRegressor(model, cls_id=tokenizer.cls_token_id, pad_id=pad_id, scale=scale)
        if bi
        else SequenceClassifier(model, pad_id=pad_id)
    )
    has_valid = bool(len(splits["valid"]))
    training = config.training_config(has_valid=has_valid, regression=dataset.is_regression)
    identity = recipe_identity(
        config,
        regression=dataset.is_regression,
        dataset=dataset.fingerprint,
        train=len(lengths),
        vocab=hashlib.sha256(json.dumps(tokenizer.get_vocab(), sort_keys=True).encode()).hexdigest(),
        # a rebuilt store is other targets: its state is not resumed
        **({"distilled_from": distilled["store_sha256"]} if distilled else {}),
    )
    trainer = Trainer(
        classifier,
        config=training,
        loss=loss,
        identity=identity,
        train=splits["train"],
        valid=splits["valid"],
        test=splits["test"],
        run_dir=state_dir,
        device=device,
        callbacks=[_OnStep(on_step)] if on_step else [],
        label_names=dataset.label_names,
    )
    try:
        metrics = trainer.fit(resume=True)  # the same command continues an interrupted fine-tuning
    except KeyboardInterrupt:
        raise KeyboardInterrupt(
            f"fine-tuning stopped at epoch {trainer.epoch + 1}, step {trainer.step_in_epoch}; rerun the "
            f"same command to resume from {state_dir}"
        ) from None

    report = _report(
        config,
        dataset,
        metrics,
        has_valid=has_valid,
        extra={
            "train_examples": len(lengths),
            "train_unk_rate": unk_rate,
            **({"pair_encoder": "bi", "score_scale": scale} if bi else {}),
            "trained_on": list(train_splits),  # an ensemble may pick its weights only on a split no member saw
            **({"masked_lm": mlm_report} if mlm_report else {}),
            **({"distilled_from": distilled} if distilled else {}),
        },
    )
    report.update(seconds=round(time.perf_counter() - start, 1), device=str(device))
    with atomic_dir(out) as staging:
        model.save_pretrained(staging)  # safetensors; the Trainer left the best epoch's weights in the model
        tokenizer.save_pretrained(staging)
        if bi:
            write_biencoder_info(staging, scale=scale)
        write_json(staging / "eval.json", report)
    shutil.rmtree(state_dir, ignore_errors=True)  # the teacher is in place: its fine-tuning state is spent
    return report
