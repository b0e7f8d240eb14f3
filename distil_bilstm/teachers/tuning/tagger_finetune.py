"""A token-classification teacher: any Hugging Face encoder fine-tuned on a tagged dataset.

Devlin et al. 2019's NER recipe: each sentence is read as its words (``is_split_into_words``; a
KLUE sentence's words are its characters), cut into the base's pieces, and the gold tag sits on the
first piece of each word; the other pieces and the special tokens carry no label (-1). The shared
Trainer trains it per token (training/tokens.py) and selects the epoch on validation entity F1,
scored per word, so the teacher's F1 is the students'. The folder it writes is what
``TeacherRef`` recognises as a ``tagger`` (its config.json names ``…ForTokenClassification``), with
the eval.json every teacher has.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import time
from pathlib import Path

import torch
from transformers import AutoModelForTokenClassification, AutoTokenizer

from ...data.tagging import TaggedDataset
from ...data.vocab import EncodedTexts
from ...training.batching import SplitTensors
from ...training.config import TrainingConfig
from ...training.losses import DistillationLoss
from ...training.trainer import Trainer
from ...utils import atomic_dir, resolve_device, write_json
from ..running.tagger import first_pieces
from ..running.teacher import loading
from .config import FinetuneConfig, recipe_identity
from .finetune import SequenceClassifier, freeze_lower_layers

logger = logging.getLogger(__name__)

UNSUPPORTED = ("adapt_vocab", "mlm_texts", "teacher_path", "transfer_sets", "max_train_examples")


def _check(config: FinetuneConfig) -> None:
    """What a token teacher's fine-tuning does not do (yet): refused naming the key."""
    for key in UNSUPPORTED:
        if getattr(config, key):
            raise ValueError(f"FinetuneConfig.{key}: not available for a token-classification teacher")
    if config.pair_encoder != "cross":
        raise ValueError("FinetuneConfig.pair_encoder: a token-classification teacher reads one sentence")


def tagged_split(sentences, *, tokenizer, tag_names, max_length: int) -> SplitTensors:
    """``sentences``' piece ids (special tokens included) and their labels ``(N, longest)``: each
    word's tag on its first piece, -1 elsewhere (a word past ``max_length`` pieces has none)."""
    index = {t: i for i, t in enumerate(tag_names)}
    ids, firsts = first_pieces(tokenizer, [s.tokens for s in sentences], max_length) if sentences else ([], [])
    lengths = torch.tensor([len(row) for row in ids], dtype=torch.int64)
    labels = torch.full((len(ids), int(lengths.max()) if len(ids) else 0), -1, dtype=torch.int64)
    for i, (sentence, (words, pieces)) in enumerate(zip(sentences, firsts)):
        labels[i, pieces] = torch.tensor([index[sentence.tags[w]] for w in words], dtype=torch.int64)
    flat = torch.tensor([t for row in ids for t in row], dtype=torch.int64)
    return SplitTensors(encoded=EncodedTexts.from_lengths(flat, lengths), labels=labels)


def finetune_tagger(config: FinetuneConfig, dataset: TaggedDataset) -> dict:
    """Fine-tune ``config.base`` as a token classifier of ``dataset``'s tags; save it to ``config.out``
    with eval.json. Resumable from ``<out>.finetune/`` as a sentence teacher's fine-tuning."""
    _check(config)
    torch.manual_seed(config.seed)
    device = resolve_device(config.device)
    start = time.perf_counter()
    names = list(dataset.tag_names)
    with loading(config.base):
        tokenizer = AutoTokenizer.from_pretrained(config.base)
        model = AutoModelForTokenClassification.from_pretrained(
            config.base,
            num_labels=len(names),
            id2label=dict(enumerate(names)),
            label2id={n: i for i, n in enumerate(names)},
            ignore_mismatched_sizes=True,  # a base with another head gets the dataset's
        )
    if not tokenizer.is_fast:
        raise ValueError(
            f"{config.base}: a token teacher needs a fast tokenizer (tokenizer.json), to map pieces to words"
        )
    if config.freeze_layers:
        freeze_lower_layers(model, config.freeze_layers)
    splits = {
        name: tagged_split(dataset.split(name), tokenizer=tokenizer, tag_names=names, max_length=config.max_length)
        for name in ("train", "valid", "test")
    }
    if config.include_valid:
        raise ValueError("FinetuneConfig.include_valid: a token teacher selects its epoch on the validation split")
    state_dir = Path(f"{config.out}.finetune")
    identity = recipe_identity(
        config,
        regression=False,
        dataset=dataset.fingerprint,
        tags=names,
        vocab=hashlib.sha256(json.dumps(tokenizer.get_vocab(), sort_keys=True).encode()).hexdigest(),
    )
    training = TrainingConfig.from_dict({**config.training_config().to_dict(), "select_metric": "entity_f1"})
    trainer = Trainer(
        SequenceClassifier(model, pad_id=tokenizer.pad_token_id or 0),  # its logits: (batch, pieces, tags)
        config=training,
        loss=DistillationLoss(kind="ce"),
        identity=identity,
        train=splits["train"],
        valid=splits["valid"],
        test=splits["test"],
        run_dir=state_dir,
        device=device,
        label_names=names,
    )
    logger.info(
        "fine-tuning a token classifier on %d sentences, %.1f pieces each",
        len(splits["train"]),
        float(splits["train"].encoded.lengths.float().mean()),
    )
    try:
        metrics = trainer.fit(resume=True)
    except KeyboardInterrupt:
        raise KeyboardInterrupt(
            f"fine-tuning stopped at epoch {trainer.epoch + 1}, step {trainer.step_in_epoch}; rerun the "
            f"same command to resume from {state_dir}"
        ) from None
    report = {
        "base": config.base,
        "dataset": dataset.name,
        "dataset_fingerprint": dataset.fingerprint,
        "task": "tagging",
        "num_labels": len(names),
        "label_names": names,
        "max_length": config.max_length,
        "trained_on": ["train"],
        "config": config.to_dict(),
        "history": metrics["history"],
        "best_epoch": metrics["best_epoch"],
        **{k: metrics[k] for k in metrics if k.startswith(("valid_entity", "test_entity")) or k == "test_per_type"},
        "test_token_accuracy": metrics["test_accuracy"],
        "train_seconds": metrics["train_seconds"],
        "seconds": round(time.perf_counter() - start, 1),
        "device": str(device),
    }
    with atomic_dir(Path(config.out)) as staging:
        model.save_pretrained(staging)  # the Trainer left the best epoch's weights in the model
        tokenizer.save_pretrained(staging)
        write_json(staging / "eval.json", report)
    shutil.rmtree(state_dir, ignore_errors=True)
    return report
