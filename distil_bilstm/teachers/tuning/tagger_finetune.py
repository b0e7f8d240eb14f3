"""A token-classification teacher: any Hugging Face encoder fine-tuned on a tagged dataset.

Devlin et al. 2019's NER recipe: each sentence is read as its words, cut into the base's pieces,
and the gold tag sits on the first piece of each word; the other pieces and the special tokens carry
no label (-1). A dataset of characters (KLUE) is read as written instead, each piece labelled with
the tag of its first character (running/alignment.py). The shared Trainer trains it per token
(training/tokens.py) and selects the epoch on validation entity F1 of the labelled pieces. Its test
F1 is then scored on the dataset's own tokens, as the students' (a dataset of characters: each
character's tag from its piece, alignment.py). The folder it writes is what ``TeacherRef``
recognises as a ``tagger`` (its config.json names ``…ForTokenClassification``), with the eval.json
every teacher has.
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
from ...training.entities import entity_scores
from ...training.losses import DistillationLoss
from ...training.trainer import Trainer
from ...utils import atomic_dir, resolve_device, write_json
from ..running.alignment import align_pieces, decode_unread
from ..running.tagger import TokenTeacher
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


def tagged_split(sentences, *, tokenizer, tag_names, max_length: int, reads: str = "words") -> SplitTensors:
    """``sentences``' piece ids (special tokens included) and their labels ``(N, longest)``: each
    piece that starts a token (a word; a character) has its tag, the others -1 (a token past
    ``max_length`` pieces has none)."""
    index = {t: i for i, t in enumerate(tag_names)}
    tokens = [s.tokens for s in sentences]
    ids, alignments = align_pieces(tokenizer, tokens, max_length, reads=reads) if sentences else ([], [])
    lengths = torch.tensor([len(row) for row in ids], dtype=torch.int64)
    labels = torch.full((len(ids), int(lengths.max()) if len(ids) else 0), -1, dtype=torch.int64)
    for i, (sentence, a) in enumerate(zip(sentences, alignments)):
        starts = [(k, p) for k, p, later in zip(a.tokens, a.pieces, a.continues) if not later]
        labels[i, [p for _, p in starts]] = torch.tensor(
            [index[sentence.tags[k]] for k, _ in starts], dtype=torch.int64
        )
    flat = torch.tensor([t for row in ids for t in row], dtype=torch.int64)
    return SplitTensors(encoded=EncodedTexts.from_lengths(flat, lengths), labels=labels)


def token_scores(teacher: TokenTeacher, sentences, *, max_length: int, reads: str) -> dict:
    """Entity scores of ``teacher`` on ``sentences``' own tokens: each token's tag the argmax of its
    piece's logits, a token no piece reads decoded by alignment.decode_unread."""
    if not sentences:
        return {"f1": None, "precision": None, "recall": None, "per_type": None, "token_accuracy": None}
    rows, _ = teacher.word_logits(
        [s.tokens for s in sentences], max_length=max_length, reads=reads, batch_size=64, progress=False
    )
    names = teacher.label_names
    predicted = [decode_unread([names[i] for i in row.argmax(axis=1)], row.any(axis=1).tolist()) for row in rows]
    return entity_scores([list(s.tags) for s in sentences], predicted)


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
    reads = dataset.unit
    splits = {
        name: tagged_split(
            dataset.split(name), tokenizer=tokenizer, tag_names=names, max_length=config.max_length, reads=reads
        )
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
    test = token_scores(
        TokenTeacher(
            model=model, tokenizer=tokenizer, path=config.out, weights_hash="", device=device, label_names=names
        ),
        dataset.split("test"),
        max_length=config.max_length,
        reads=reads,
    )
    report = {
        "base": config.base,
        "dataset": dataset.name,
        "dataset_fingerprint": dataset.fingerprint,
        "task": "tagging",
        "num_labels": len(names),
        "label_names": names,
        "max_length": config.max_length,
        "reads": reads,
        "trained_on": ["train"],
        "config": config.to_dict(),
        "history": metrics["history"],
        "best_epoch": metrics["best_epoch"],
        "valid_entity_f1": metrics["valid_entity_f1"],  # of the labelled pieces
        "test_entity_f1_pieces": metrics["test_entity_f1"],
        # on the dataset's own tokens, as the students are scored
        **{f"test_entity_{k}": test[k] for k in ("f1", "precision", "recall")},
        "test_per_type": test["per_type"],
        "test_token_accuracy": test["token_accuracy"],
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
