"""Student families side by side: BiLSTM (Base, Large) and transformers made from the teacher's
layers (3 and 2 layers), each dataset's teacher measured in the same run.

For every finished run under ``--runs`` (``configs/families_grid.yaml`` trains them): parameters,
weights size, test accuracy (NSMC test / SST-2 dev) and retention (% of the teacher), training
time and epochs (from the run's metrics), then CPU examples/s at batch 1 and batch 256, end to end
(texts in, logits out, tokenisation included), in PyTorch fp32 and as an ONNX int8 export (its
size and accuracy too). Speed ratios are against the teacher timed in the same process.

    python bench/families.py --data-dir ../shared/data                      # table + JSON
    python bench/families.py --data-dir ../shared/data --readme docs/results.md   # and the block in docs/results.md

Time nothing else while it runs: on 2 cores the numbers collapse. Writes bench/results/families.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from export import latency, throughput  # noqa: E402  (bench/, this script's folder)
from readme_block import rewrite_block  # noqa: E402

from distil_bilstm.data.datasets import load_dataset  # noqa: E402
from distil_bilstm.runs.compare import collect_runs, student_label, teacher_summary  # noqa: E402
from distil_bilstm.serving.export import ExportConfig, export_student  # noqa: E402
from distil_bilstm.serving.inference import Predictor  # noqa: E402
from distil_bilstm.students.registry import family_label  # noqa: E402
from distil_bilstm.teachers.running.reference import load_teacher  # noqa: E402
from distil_bilstm.teachers.running.teacher import predict_logits  # noqa: E402


def speed(fn_256, fn_1, sample: list[str], *, n256: int, n1: int) -> dict:
    return {
        "batch256_per_s": throughput(fn_256, sample[:n256]),
        "batch1_per_s": latency(fn_1, sample[:n1])["batch1_examples_per_second"],
    }


def measure_dataset(runs: list[dict], args) -> dict:
    name = runs[0]["metrics"]["dataset"]
    dataset = load_dataset(name, data_dir=args.data_dir, download=False)
    test = dataset.split("test")
    texts, gold = test["text"].tolist(), test["label"].to_numpy()
    sample = [texts[i] for i in np.random.default_rng(0).permutation(len(texts))]
    teacher_path = runs[0]["metrics"]["teacher_path"]
    teacher_acc = runs[0]["metrics"]["teacher_test_accuracy"]
    teacher = load_teacher(teacher_path, device="cpu", num_labels=dataset.num_labels)
    print(f"{name}: timing the teacher", flush=True)
    rows = [
        {
            "family": "Teacher",
            "model": f"teacher ({Path(teacher_path).name})",
            **teacher_summary(teacher_path),
            "accuracy": teacher_acc,
            "retention": 1.0,
            "train_seconds": None,
            "epochs": None,
            **speed(
                lambda b: predict_logits(teacher, b, batch_size=256, progress=False),
                lambda b: predict_logits(teacher, b, batch_size=1, progress=False),
                sample,
                n256=args.teacher_texts,
                n1=args.batch1,
            ),
        }
    ]
    del teacher
    with tempfile.TemporaryDirectory() as tmp:
        for run in sorted(runs, key=lambda r: (r["student"]["architecture"], -r["metrics"]["params"])):
            architecture, m = run["student"]["architecture"], run["metrics"]
            label = student_label(architecture, run["config"], run["student"])
            if run["config"].get("hidden_loss", "none") != "none":
                label += f" + {run['config']['hidden_loss']} loss"
            print(f"{name}: timing {label}", flush=True)
            torch_256 = Predictor.load(run["run_dir"], device="cpu", batch_size=256)
            torch_1 = Predictor.load(run["run_dir"], device="cpu", batch_size=1)
            export = Path(tmp) / Path(run["run_dir"]).name
            info = export_student(run["run_dir"], export, ExportConfig(format="onnx-int8"))
            int8_256 = Predictor.load(export, device="cpu", batch_size=256)
            int8_1 = Predictor.load(export, device="cpu", batch_size=1)
            rows.append(
                {
                    "family": family_label(architecture),
                    "model": label,
                    "run_dir": run["run_dir"],
                    "params": m["params"],
                    "size_bytes": m["size_bytes"],
                    "accuracy": m["test_accuracy"],
                    "macro_f1": m.get("test_macro_f1"),
                    "retention": m["test_accuracy"] / teacher_acc,
                    "train_seconds": m["train_seconds"],
                    "epochs": m["epochs_trained"],
                    **speed(torch_256.logits, torch_1.logits, sample, n256=args.student_texts, n1=args.batch1),
                    "int8": {
                        "size_bytes": info["size_bytes"],
                        "accuracy": float((int8_256.logits(texts).argmax(1) == gold).mean()),
                        **speed(int8_256.logits, int8_1.logits, sample, n256=args.student_texts, n1=args.batch1),
                    },
                }
            )
    for row in rows:
        row["batch256_vs_teacher"] = row["batch256_per_s"] / rows[0]["batch256_per_s"]
        row["batch1_vs_teacher"] = row["batch1_per_s"] / rows[0]["batch1_per_s"]
    return {"dataset": name, "test_examples": len(texts), "rows": rows}


def markdown(results: list[dict]) -> str:
    lines = [
        "| data | model | params | size | accuracy | retention | train | ex/s batch 1 (× teacher) | "
        "ex/s batch 256 (× teacher) | ONNX int8: size, accuracy, ex/s batch 1 / 256 |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for block in results:
        for r in block["rows"]:
            train = f"{r['train_seconds']:,.0f} s ({r['epochs']} ep)" if r["train_seconds"] else "—"
            q = r.get("int8")
            int8 = (
                f"{q['size_bytes'] / 2**20:.1f} MB, {100 * q['accuracy']:.2f}, {q['batch1_per_s']:,.0f} / {q['batch256_per_s']:,.0f}"
                if q
                else "—"
            )
            lines.append(
                f"| {block['dataset']} | {r['model']} | {r['params'] / 1e6:.2f}M | {r['size_bytes'] / 2**20:.1f} MB | "
                f"{100 * r['accuracy']:.2f} | {100 * r['retention']:.1f}% | {train} | "
                f"{r['batch1_per_s']:,.0f} ({r['batch1_vs_teacher']:.1f}×) | {r['batch256_per_s']:,.0f} ({r['batch256_vs_teacher']:.1f}×) | {int8} |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--runs", default="runs/families", help="finished runs, one folder per dataset")
    parser.add_argument("--batch1", type=int, default=300, help="texts timed one at a time")
    parser.add_argument("--teacher-texts", type=int, default=2048, help="texts for the teacher's batch-256 throughput")
    parser.add_argument("--student-texts", type=int, default=10000, help="texts for the students' batch-256 throughput")
    parser.add_argument(
        "--readme", default=None, help="rewrite the <!-- results:families:start/end --> block in this file"
    )
    parser.add_argument("--out", default="bench/results/families.json")
    args = parser.parse_args()

    finished, _ = collect_runs(args.runs)
    by_dataset: dict[str, list[dict]] = {}
    for run in finished:
        by_dataset.setdefault(run["metrics"]["dataset"], []).append(run)
    results = [measure_dataset(runs, args) for _, runs in sorted(by_dataset.items())]
    table = markdown(results)
    print(f"\nCPU threads {torch.get_num_threads()}\n\n{table}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "results": results,
                "machine": {
                    "threads": torch.get_num_threads(),
                    "platform": platform.platform(),
                    "torch": torch.__version__,
                },
            },
            indent=1,
        )
        + "\n"
    )
    if args.readme:
        rewrite_block(args.readme, "families", table)
    print(f"written to {out}")


if __name__ == "__main__":
    main()
