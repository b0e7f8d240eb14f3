"""README's headline table: what knowledge distillation and transfer sets buy, per dataset.

Rows: the teacher, then Base and Tiny students × {CE, KD, KD + transfer sets} as the grid configs
define them (``variants``); columns: parameters, size, accuracy (NSMC test / SST-2 dev), retention
(% of the teacher), KD gain over the CE student of the same size, transfer rows (total / drawn
per epoch), teacher labelling time of those transfer rows, student training time.

    python bench/results.py --set data_dir=../shared/data             # table from finished runs
    python bench/results.py --set data_dir=../shared/data --train     # train what is missing first
    python bench/results.py --set data_dir=../shared/data --readme docs/results.md   # rewrite the block in docs/results.md

Selection is on validation only (early stopping); the accuracy column is read, never tuned on.
Writes bench/results/results.json.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from readme_block import rewrite_block  # noqa: E402  (bench/, this script's folder)

from distil_bilstm.rundir import RunDir  # noqa: E402
from distil_bilstm.runs.grid import load_grid, run_grid  # noqa: E402
from distil_bilstm.utils import read_json  # noqa: E402

CONFIGS = ["configs/transfer_sst2_grid.yaml", "configs/transfer_nsmc_grid.yaml"]


def set_kind(path: str) -> str:
    """``augmented`` for a file ``distil-bilstm augment`` wrote (it leaves OUT.json beside it), else ``unlabelled``."""
    return "augmented" if Path(path + ".json").is_file() else "unlabelled"


def setting(config) -> str:
    if config.loss == "ce":
        return "CE"
    kinds = sorted({set_kind(p) for p in config.transfer_sets})
    if not kinds:
        return "KD"
    return "KD + " + ("both" if len(config.transfer_sets) > 1 else kinds[0])


def teacher_row(path: str) -> dict:
    """Parameters and size of the teacher checkpoint's safetensors files (read from their headers)."""
    from safetensors import safe_open

    weights = sorted(Path(path).glob("*.safetensors"))
    params = 0
    for file in weights:
        with safe_open(str(file), "pt") as fh:
            for key in fh.keys():
                shape = fh.get_slice(key).get_shape()
                params += math.prod(shape)
    return {"params": params, "size_mb": sum(f.stat().st_size for f in weights) / 2**20}


def labelling_seconds(metrics: dict) -> float | None:
    total = 0.0
    for used in metrics.get("transfer_sets", []):
        header = Path(used["store"]) / "header.json"
        seconds = read_json(header).get("labelling_seconds") if header.is_file() else None
        if seconds is None:
            return None
        total += seconds
    return total


def collect(config_path: str, runs: list) -> dict:
    first = runs[0].config
    rows, teacher_acc = [], None
    for run in runs:
        folder = RunDir(run.run_dir)
        metrics = read_json(folder.path / "metrics.json") if folder.is_finished() else None
        if metrics and metrics.get("teacher_test_accuracy") is not None:
            teacher_acc = metrics["teacher_test_accuracy"]
        rows.append(
            {
                "preset": run.config.preset,
                "setting": setting(run.config),
                "run_dir": str(run.run_dir),
                "finished": metrics is not None,
                **(
                    {
                        "params": metrics["params"],
                        "size_mb": metrics["size_bytes"] / 2**20,
                        "accuracy": metrics["test_accuracy"],
                        "valid_accuracy": metrics["valid_accuracy"],
                        "train_seconds": metrics["train_seconds"],
                        "epochs": metrics["epochs_trained"],
                        "transfer_rows": metrics.get("transfer_rows", 0),
                        "transfer_rows_per_epoch": metrics.get("transfer_rows_per_epoch", 0),
                        "labelling_seconds": labelling_seconds(metrics),
                    }
                    if metrics
                    else {}
                ),
            }
        )
    order = ["CE", "KD", "KD + augmented", "KD + unlabelled", "KD + both"]
    rows.sort(
        key=lambda r: (
            ["base", "tiny"].index(r["preset"]) if r["preset"] in ("base", "tiny") else 9,
            order.index(r["setting"]),
        )
    )
    for row in rows:
        ce = next((r for r in rows if r["preset"] == row["preset"] and r["setting"] == "CE" and r["finished"]), None)
        if row["finished"]:
            row["retention"] = row["accuracy"] / teacher_acc if teacher_acc else None
            row["kd_gain"] = 100 * (row["accuracy"] - ce["accuracy"]) if ce and row["setting"] != "CE" else None
    teacher = {"teacher_path": first.teacher_path, "accuracy": teacher_acc, **teacher_row(first.teacher_path)}
    return {"config": config_path, "dataset": first.dataset, "teacher": teacher, "rows": rows}


def markdown(results: list[dict]) -> str:
    lines = [
        "| data | model | params | size | accuracy | retention | KD gain over CE | transfer rows (per epoch) | "
        "labelling | train |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    fmt = lambda v, f: "—" if v is None else f.format(v)  # noqa: E731
    for block in results:
        t = block["teacher"]
        lines.append(
            f"| {block['dataset']} | teacher (MiniLM-L6) | {t['params'] / 1e6:.1f}M | {t['size_mb']:.0f} MB | "
            f"{fmt(t['accuracy'] and 100 * t['accuracy'], '{:.2f}')} | 100% | | | | |"
        )
        for r in block["rows"]:
            name = f"{r['preset'].capitalize()} {r['setting']}"
            if not r["finished"]:
                lines.append(f"| {block['dataset']} | {name} | | | not run yet | | | | | |")
                continue
            transfer = f"{r['transfer_rows']:,} ({r['transfer_rows_per_epoch']:,})" if r["transfer_rows"] else "—"
            lines.append(
                f"| {block['dataset']} | {name} | {r['params'] / 1e6:.2f}M | {r['size_mb']:.1f} MB | {100 * r['accuracy']:.2f} | "
                f"{fmt(r['retention'] and 100 * r['retention'], '{:.1f}%')} | {fmt(r['kd_gain'], '{:+.2f}')} | {transfer} | "
                f"{fmt(r['labelling_seconds'], '{:,.0f} s') if r['transfer_rows'] else '—'} | {r['train_seconds']:,.0f} s |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", action="append", default=None, help=f"grid configs (default: {' '.join(CONFIGS)})")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override for every config")
    parser.add_argument("--train", action="store_true", help="train the runs that are not finished first")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--readme", default=None, help="rewrite the <!-- results:transfer:start/end --> block in this file"
    )
    parser.add_argument("--out", default="bench/results/results.json")
    args = parser.parse_args()
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S"
    )

    plans = {c: load_grid(c, args.set) for c in args.config or CONFIGS}
    if args.train:  # one pool for every config's runs: no worker idles while another config's tail trains
        pending = [r for runs in plans.values() for r in runs]
        pending.sort(key=lambda r: (r.config.preset != "base", not r.config.transfer_sets))  # longest first
        run_grid(pending, workers=args.workers)
    results = [collect(c, runs) for c, runs in plans.items()]
    table = markdown(results)
    print(table)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1) + "\n")
    if args.readme:
        rewrite_block(args.readme, "transfer", table)
    print(f"written to {out}")


if __name__ == "__main__":
    main()
