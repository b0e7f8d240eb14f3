"""``distil-bilstm baseline``: the TF-IDF + logistic-regression model to beat (a CRF for named entities)."""

from __future__ import annotations

import argparse

from .common import add_data_args, data_config, table


def cmd_baseline(args: argparse.Namespace) -> int:
    from ..baselines.tfidf import BaselineConfig, train_baseline
    from ..data.datasets import load_dataset
    from ..data.tagging import is_tagged_source

    tagged = is_tagged_source(args.dataset)
    if args.kind == "crf" or (args.kind is None and tagged):
        return _crf_baseline(args)
    if tagged:
        raise ValueError(f"{args.dataset} is a tagged dataset: its baseline is --kind crf, not {args.kind}")

    data = data_config(args)
    config = BaselineConfig(
        dataset=args.dataset,
        data_dir=args.data_dir,
        valid_size=args.valid_size,
        split_seed=args.split_seed,
        kind=args.kind or "tfidf-lr",
        min_df=args.min_df,
        run_root=args.run_root,
        **({"c_values": args.c} if args.c is not None else {}),
    )
    dataset = load_dataset(data)
    if dataset.pairs and dataset.is_regression:
        from ..baselines.pairs import train_pair_baselines

        metrics = train_pair_baselines(config, dataset=dataset)
        print(
            table(
                metrics["baselines"],
                [
                    ("kind", "baseline"),
                    ("alpha", "alpha (best on valid)"),
                    ("valid_spearman", "valid Spearman"),
                    ("test_spearman", "test Spearman"),
                    ("test_pearson", "test Pearson"),
                ],
            )
        )
        print(f"\nscores saved to {metrics['run_dir']}/metrics.json")
        return 0
    metrics = train_baseline(config, dataset=dataset)
    print(
        table(
            [metrics],
            [
                ("C", "C (best on valid)"),
                ("features", "features"),
                ("params", "parameters"),
                ("size_bytes", "bytes"),
                ("valid_accuracy", "valid acc"),
                ("test_accuracy", "test acc"),
                ("train_seconds", "train s"),
                ("examples_per_second", "test examples/s"),
            ],
        )
    )
    print(f"\nbaseline saved to {metrics['run_dir']}; `distil-bilstm compare` shows it beside the students")
    return 0


def _crf_baseline(args: argparse.Namespace) -> int:
    """The named-entity baseline: a CRF on hand features (conll2003, klue_ner or a .jsonl of tokens and tags)."""
    from ..baselines.crf import CrfConfig, train_crf_baseline

    config = CrfConfig(
        dataset=args.dataset,
        data_dir=args.data_dir,
        valid_size=args.valid_size,
        split_seed=args.split_seed,
        run_root=args.run_root,
        **({"c1_values": args.c} if args.c is not None else {}),
    )
    metrics = train_crf_baseline(config)
    print(
        table(
            [metrics],
            [
                ("c1", "c1 (best on valid)"),
                ("features", "features"),
                ("valid_entity_f1", "valid entity F1"),
                ("test_entity_f1", "test entity F1"),
                ("test_precision", "test precision"),
                ("test_recall", "test recall"),
                ("train_seconds", "train s"),
                ("sentences_per_second", "test sentences/s"),
            ],
        )
    )
    print(f"\nbaseline saved to {metrics['run_dir']}")
    return 0


def add_baseline_parser(sub: argparse._SubParsersAction) -> None:
    bl = sub.add_parser(
        "baseline",
        help="train the n-gram baseline a user tries first (TF-IDF + logistic regression; "
        "for scored sentence pairs, TF-IDF cosine and TF-IDF + ridge)",
    )
    add_data_args(bl)
    bl.add_argument(
        "--kind",
        choices=["tfidf-lr", "crf"],
        default=None,
        help="tfidf-lr (sentences and pairs), or crf: a CRF on hand features for named entities (--dataset "
        "conll2003, klue_ner or a .jsonl of {tokens, tags}); default: crf for a tagged dataset, else tfidf-lr",
    )
    bl.add_argument(
        "--c",
        type=lambda v: [float(x) for x in v.split(",")],
        default=None,
        help="tfidf-lr: logistic regression C values (default 0.5,1,2,4,8); crf: L1 c1 values (default "
        "0.05,0.1,0.3); the best on the validation split is kept",
    )
    bl.add_argument("--min-df", type=int, default=2)
    bl.add_argument("--run-root", default="runs", help="writes RUN_ROOT/<dataset>/baseline-<kind>-<hash>/")
    bl.set_defaults(func=cmd_baseline)


def register(sub: argparse._SubParsersAction) -> None:
    add_baseline_parser(sub)
