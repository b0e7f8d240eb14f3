"""``distil-bilstm tagger``: a BiLSTM tagger (named entities) trained on a tagged dataset."""

from __future__ import annotations

import argparse
import logging

from .common import table

logger = logging.getLogger(__name__)


def cmd_tagger(args: argparse.Namespace) -> int:
    from ..runs.config import apply_overrides, load_mapping
    from ..runs.tagging import TagRunConfig, train_tagger

    values = load_mapping(args.config) if args.config else {}
    given = {k: v for k, v in (("dataset", args.dataset), ("data_dir", args.data_dir)) if v is not None}
    config = TagRunConfig.from_dict(apply_overrides({**values, **given}, args.set or []))
    try:
        metrics = train_tagger(config, resume=args.resume)
    except KeyboardInterrupt as stop:
        logger.warning("%s; continue with: distil-bilstm tagger ... --resume", stop or "interrupted")
        return 130
    columns = [
        ("params", "parameters"),
        ("best_epoch", "best epoch"),
        ("valid_entity_f1", "valid F1"),
        ("test_entity_f1", "test F1"),
        ("test_entity_precision", "test P"),
        ("test_entity_recall", "test R"),
        ("test_accuracy", "test token acc."),
        ("train_seconds", "train s"),
    ]
    print(table([{k: metrics.get(k) for k, _ in columns}], columns))
    print(f"\nrun saved to {metrics['run_dir']}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    tagger = sub.add_parser(
        "tagger",
        help="train a BiLSTM tagger (named entities: conll2003, klue_ner, or a .jsonl of tokens and tags)",
        description="Train a BiLSTM tagger on gold tags: word embeddings and a character CNN per token, a "
        "bidirectional LSTM, one tag per token; the best epoch by validation entity F1 is kept.",
    )
    tagger.add_argument("--dataset", default=None, help="conll2003, klue_ner, or a .jsonl file (default: conll2003)")
    tagger.add_argument(
        "--data-dir", default=None, help="folder holding conll2003/, klue_ner/ (default: $DISTIL_BILSTM_DATA)"
    )
    tagger.add_argument("--config", default=None, help="a YAML or JSON file of TagRunConfig keys")
    tagger.add_argument(
        "--set", action="append", metavar="KEY=VALUE", help="override one key (repeatable), e.g. --set hidden_dim=100"
    )
    tagger.add_argument("--resume", action="store_true", help="continue an interrupted run from its checkpoint")
    tagger.set_defaults(func=cmd_tagger)
