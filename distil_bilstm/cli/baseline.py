"""``distil-bilstm baseline``: the TF-IDF + logistic-regression model to beat."""

from __future__ import annotations

import argparse

from .common import add_data_args, data_config, table


def cmd_baseline(args: argparse.Namespace) -> int:
    from ..baselines.tfidf import BaselineConfig, train_baseline
    from ..data.datasets import load_dataset

    data = data_config(args)
    config = BaselineConfig(dataset=args.dataset, data_dir=args.data_dir, valid_size=args.valid_size,
                            split_seed=args.split_seed, kind=args.kind, c_values=args.c, min_df=args.min_df,
                            run_root=args.run_root)
    dataset = load_dataset(data)
    if dataset.pairs and dataset.is_regression:
        from ..baselines.pairs import train_pair_baselines

        metrics = train_pair_baselines(config, dataset=dataset)
        print(table(metrics["baselines"], [("kind", "baseline"), ("alpha", "alpha (best on valid)"), ("valid_spearman", "valid Spearman"),
                                           ("test_spearman", "test Spearman"), ("test_pearson", "test Pearson")]))
        print(f"\nscores saved to {metrics['run_dir']}/metrics.json")
        return 0
    metrics = train_baseline(config, dataset=dataset)
    print(table([metrics], [("C", "C (best on valid)"), ("features", "features"), ("params", "parameters"),
                             ("size_bytes", "bytes"), ("valid_accuracy", "valid acc"), ("test_accuracy", "test acc"),
                             ("train_seconds", "train s"), ("examples_per_second", "test examples/s")]))
    print(f"\nbaseline saved to {metrics['run_dir']}; `distil-bilstm compare` shows it beside the students")
    return 0


def add_baseline_parser(sub: argparse._SubParsersAction) -> None:
    bl = sub.add_parser("baseline", help="train the n-gram baseline a user tries first (TF-IDF + logistic regression; "
                                         "for scored sentence pairs, TF-IDF cosine and TF-IDF + ridge)")
    add_data_args(bl)
    bl.add_argument("--kind", choices=["tfidf-lr"], default="tfidf-lr")
    bl.add_argument("--c", type=lambda v: [float(x) for x in v.split(",")], default=[0.5, 1.0, 2.0, 4.0, 8.0],
                    help="logistic regression C values; the best on the validation split is kept (default 0.5,1,2,4,8)")
    bl.add_argument("--min-df", type=int, default=2)
    bl.add_argument("--run-root", default="runs", help="writes RUN_ROOT/<dataset>/baseline-<kind>-<hash>/")
    bl.set_defaults(func=cmd_baseline)


def register(sub: argparse._SubParsersAction) -> None:
    add_baseline_parser(sub)
