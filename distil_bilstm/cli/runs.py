"""Run commands: ``presets``, ``distil`` (one student), ``grid`` (many, resumable), ``compare`` (their table)."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from .common import table

logger = logging.getLogger(__name__)


def cmd_presets(args: argparse.Namespace) -> int:
    from ..students.bilstm import preset_table

    rows = preset_table(vocab_size=args.vocab_size, num_labels=args.num_labels)
    print(
        table(
            rows,
            [
                ("preset", "preset"),
                ("embedding_dim", "embedding"),
                ("hidden_dim", "hidden"),
                ("params", "parameters"),
                ("size_mb", "float32 MB"),
            ],
        )
    )
    print(f"\nat vocab {args.vocab_size:,} and {args.num_labels} labels")
    return 0


def add_presets_parser(sub: argparse._SubParsersAction) -> None:
    presets = sub.add_parser("presets", help="print the student size presets with their parameter counts")
    presets.add_argument("--vocab-size", type=int, default=3000)
    presets.add_argument("--num-labels", type=int, default=2)
    presets.set_defaults(func=cmd_presets)


# what a run's table shows of its scores, by task
SCORE_COLUMNS = {
    "classification": [
        ("valid_accuracy", "valid acc"),
        ("test_accuracy", "test acc"),
        ("teacher_test_accuracy", "teacher test acc"),
    ],
    "regression": [
        ("valid_spearman", "valid Spearman"),
        ("test_spearman", "test Spearman"),
        ("teacher_test_spearman", "teacher test Spearman"),
        ("test_pearson", "test Pearson"),
    ],
    "tagging": [("valid_entity_f1", "valid entity F1"), ("test_entity_f1", "test entity F1")],
}


def cmd_distil(args: argparse.Namespace) -> int:
    from ..runs.config import DistilConfig, apply_overrides, load_mapping
    from ..runs.pipeline import run_distillation

    values = load_mapping(args.config) if args.config else {}
    config = DistilConfig.from_dict(apply_overrides(values, args.set or []))
    try:
        metrics = run_distillation(config, resume=args.resume)
    except KeyboardInterrupt as stop:
        logger.warning("%s; continue with: distil-bilstm distil ... --resume", stop or "interrupted")
        return 130
    scores = SCORE_COLUMNS["regression" if metrics.get("task") == "regression" else "classification"]
    row = {
        k: metrics.get(k)
        for k in (
            "params",
            "size_bytes",
            "best_epoch",
            "epochs_trained",
            *(k for k, _ in scores),
            "train_seconds",
            "examples_per_second",
        )
    }
    print(
        table(
            [row],
            [
                ("params", "parameters"),
                ("size_bytes", "bytes"),
                ("best_epoch", "best epoch"),
                ("epochs_trained", "epochs"),
                *scores,
                ("train_seconds", "train s"),
                ("examples_per_second", "examples/s"),
            ],
        )
    )
    print(f"\nrun saved to {metrics['run_dir']}")
    return 0


def add_distil_parser(sub: argparse._SubParsersAction) -> None:
    distil = sub.add_parser("distil", help="train one BiLSTM student from cached teacher logits")
    distil.add_argument("--config", default=None, help="YAML or JSON with DistilConfig keys (see configs/)")
    distil.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config key; repeatable")
    distil.add_argument("--resume", action="store_true", help="continue from the run's last checkpoint")
    distil.set_defaults(func=cmd_distil)


def cmd_grid(args: argparse.Namespace) -> int:
    from ..runs.grid import load_grid, run_grid
    from ..runs.ray_grid import run_grid_ray

    runs = load_grid(args.config, args.set or [])
    summary = Path(runs[0].config.run_root) / f"grid-{Path(args.config).stem}.json"
    try:
        if args.backend == "ray":
            results = run_grid_ray(
                runs,
                scheduler=args.scheduler,
                cpus_per_trial=args.cpus_per_trial,
                address=args.address,
                name=Path(args.config).stem,
            )
        else:
            results = run_grid(runs, workers=args.workers, summary_path=summary)
    except KeyboardInterrupt:
        logger.warning("grid interrupted; rerun the same command to resume (finished runs are skipped)")
        return 130
    rows = [{"run": Path(r["run_dir"]).name, **r} for r in results]
    if any("test_spearman" in r for r in results):
        shown = SCORE_COLUMNS["regression"][:2]
    elif any("test_entity_f1" in r for r in results):
        shown = SCORE_COLUMNS["tagging"]
    else:
        shown = SCORE_COLUMNS["classification"][:2]
    print(table(rows, [("run", "run"), ("status", "status"), *shown, ("train_seconds", "train s"), ("error", "error")]))
    failed = sum(r["status"] == "failed" for r in results)
    print(
        f"\n{len(results)} runs: {len(results) - failed} ok, {failed} failed"
        + (f"; status in {summary}" if args.backend == "local" else "")
    )
    print(f"compare them: distil-bilstm compare {runs[0].config.run_root} --out results")
    return 1 if failed else 0


def add_grid_parser(sub: argparse._SubParsersAction) -> None:
    grid = sub.add_parser("grid", help="run every combination of a config's list-valued keys (resumable)")
    grid.add_argument(
        "--config",
        required=True,
        help="YAML/JSON of DistilConfig keys (of TagRunConfig keys for a tagged dataset); a list value is a grid axis",
    )
    grid.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a key (a YAML list makes an axis)")
    grid.add_argument(
        "--workers",
        type=int,
        default=1,
        help="parallel runs; torch threads are split so the total stays within the cores",
    )
    grid.add_argument(
        "--backend",
        choices=["local", "ray"],
        default="local",
        help="ray: Ray Tune trials (pip install 'distil-bilstm[ray]')",
    )
    grid.add_argument(
        "--scheduler", choices=["fifo", "asha"], default=None, help="Ray Tune scheduler (asha stops weak trials early)"
    )
    grid.add_argument("--cpus-per-trial", type=int, default=1, help="Ray: CPUs (and torch threads) per trial")
    grid.add_argument("--address", default=None, help="Ray: a running cluster to join (e.g. auto or ray://host:10001)")
    grid.set_defaults(func=cmd_grid)


def cmd_compare(args: argparse.Namespace) -> int:
    from ..runs.compare import compare

    result = compare(args.runs_dir, args.out, baseline_roots=args.baselines)
    print(result["markdown"])
    print(f"{result['finished']} finished runs; wrote {args.out}/results.csv, results.md, accuracy_vs_params.png")
    return 0


def add_compare_parser(sub: argparse._SubParsersAction) -> None:
    cmp_ = sub.add_parser(
        "compare", help="results.csv, results.md and accuracy_vs_params.png of the runs under a folder"
    )
    cmp_.add_argument("runs_dir", help="folder holding run folders, e.g. runs/ or runs/nsmc")
    cmp_.add_argument("--out", default="results", help="output folder")
    cmp_.add_argument(
        "--baselines",
        nargs="*",
        default=["runs"],
        help="where to look for each dataset's baseline run when RUNS_DIR has none (default: runs)",
    )
    cmp_.set_defaults(func=cmd_compare)


def register(sub: argparse._SubParsersAction) -> None:
    add_presets_parser(sub)
    add_distil_parser(sub)
    add_grid_parser(sub)
    add_compare_parser(sub)
