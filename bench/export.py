"""Export benchmark: teacher vs the fp32 student vs its ONNX and ONNX int8 exports, in one run.

For each model: size on disk, test accuracy (full test split; the teacher's from its logit store,
which ran it over every example), examples/s batched (students at 256; the teacher at the fastest
of --teacher-batch-sizes, at the max length its store was labelled with: at 256 a 12-layer teacher
runs ~40% slower than at 32 here, which would inflate every ratio) and at batch 1, p50/p99 latency
at batch 1, all end to end (texts in, logits out: tokenisation included). Ratios are against the
teacher measured in the same run.

    python bench/export.py --data-dir ../shared/data --dataset nsmc --teacher ../shared/teachers/minilm-l6-nsmc \\
        --student base=runs/.../base-... --student tiny=runs/.../tiny-...

Prints a Markdown table and writes bench/results/export_<dataset>.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from distil_bilstm.data.datasets import load_dataset  # noqa: E402
from distil_bilstm.rundir import RunDir  # noqa: E402
from distil_bilstm.serving.export import ExportConfig, export_student  # noqa: E402
from distil_bilstm.serving.inference import Predictor  # noqa: E402
from distil_bilstm.teachers.running.reference import load_teacher  # noqa: E402
from distil_bilstm.teachers.running.teacher import predict_logits, teacher_name  # noqa: E402
from distil_bilstm.teachers.stores.store import default_store_dir  # noqa: E402
from distil_bilstm.utils import read_json  # noqa: E402


def latency(fn, texts: list[str]) -> dict:
    """One text at a time: examples/s, p50 and p99 in ms."""
    fn(texts[:5])  # warm-up
    samples = []
    for text in texts:
        start = time.perf_counter()
        fn([text])
        samples.append(time.perf_counter() - start)
    ordered = sorted(samples)
    return {
        "batch1_examples_per_second": round(len(texts) / sum(samples), 1),
        "p50_ms": round(1000 * statistics.median(ordered), 3),
        "p99_ms": round(1000 * ordered[int(0.99 * (len(ordered) - 1))], 3),
    }


def throughput(fn, texts: list[str]) -> float:
    fn(texts[:256])  # warm-up
    start = time.perf_counter()
    fn(texts)
    return round(len(texts) / (time.perf_counter() - start), 1)


def folder_size(path: Path, names: list[str]) -> int:
    return sum((path / n).stat().st_size for n in names)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--dataset", default="nsmc")
    parser.add_argument("--teacher", required=True)
    parser.add_argument("--cache-dir", default="teacher_model/logits")
    parser.add_argument("--student", action="append", required=True, metavar="NAME=RUN_DIR")
    parser.add_argument("--baseline", default=None, metavar="RUN_DIR", help="a baseline run, measured alongside")
    parser.add_argument("--batch1", type=int, default=300, help="texts timed one at a time")
    parser.add_argument("--teacher-texts", type=int, default=2048, help="texts for the teacher's batched throughput")
    parser.add_argument(
        "--teacher-batch-sizes",
        default="32,64,128,256",
        help="batch sizes tried for the teacher's batched throughput; its fastest is reported",
    )
    parser.add_argument("--student-texts", type=int, default=20000, help="texts for the students' batch-256 throughput")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    torch.set_num_threads(torch.get_num_threads())

    dataset = load_dataset(args.dataset, data_dir=args.data_dir, download=False)
    test = dataset.split("test")
    texts, gold = test["text"].tolist(), test["label"].to_numpy()
    rng = np.random.default_rng(0)
    sample = [texts[i] for i in rng.permutation(len(texts))]

    store_file = default_store_dir(args.cache_dir, teacher_name(args.teacher), dataset.name) / "header.json"
    if not store_file.is_file():  # the teacher's accuracy is read from its store, not recomputed here
        sys.exit(
            f"{store_file}: no logit store for this teacher; run `distil-bilstm teacher logits --dataset {args.dataset} "
            f"--teacher {args.teacher}` first (or give --cache-dir)"
        )
    store_header = read_json(store_file)
    teacher = load_teacher(args.teacher, device="cpu", num_labels=dataset.num_labels)
    max_length = store_header.get("max_length") or 128

    def teacher_fn(batch_size: int):
        return lambda batch: predict_logits(
            teacher, batch, batch_size=batch_size, max_length=max_length, progress=False
        )

    by_batch = {
        b: throughput(teacher_fn(b), sample[: args.teacher_texts])
        for b in map(int, args.teacher_batch_sizes.split(","))
    }
    best_batch = max(by_batch, key=by_batch.get)
    weights = [p.name for p in Path(args.teacher).iterdir() if p.suffix == ".safetensors"]
    rows = [
        {
            "model": f"teacher {teacher.name}",
            "format": "torch fp32",
            "size_bytes": folder_size(Path(args.teacher), weights),
            "test_accuracy": store_header["teacher_test_accuracy"],
            "batch_size": best_batch,
            "max_length": max_length,
            "batched_examples_per_second": by_batch[best_batch],
            "teacher_examples_per_second_by_batch": by_batch,
            **latency(teacher_fn(1), sample[: args.batch1]),
        }
    ]
    del teacher

    with tempfile.TemporaryDirectory() as tmp:
        specs = [s.split("=", 1) for s in args.student] + ([["baseline", args.baseline]] if args.baseline else [])
        for name, run_path in specs:
            run = RunDir(run_path)
            if name == "baseline":
                variants = [("n-gram, numpy", run.path, [RunDir.WEIGHTS, f"{RunDir.VOCAB}/ngrams.json"])]
            else:
                variants = [("torch fp32", run.path, [RunDir.WEIGHTS])]
                for fmt in ("onnx", "onnx-int8"):
                    info = export_student(run.path, Path(tmp) / f"{name}-{fmt}", ExportConfig(format=fmt))
                    variants.append((fmt, Path(tmp) / f"{name}-{fmt}", [info["model_file"]]))
            for label, folder, files in variants:
                predictor = Predictor.load(folder, device="cpu", batch_size=256)
                accuracy = float((predictor.logits(texts).argmax(1) == gold).mean())
                one = Predictor.load(folder, device="cpu", batch_size=1)
                row = {
                    "model": f"{name} ({run.path.name})",
                    "format": label,
                    "size_bytes": folder_size(folder, files),
                    "test_accuracy": accuracy,
                    "batch_size": predictor.scorer.batch_size,
                    "batched_examples_per_second": throughput(predictor.logits, sample[: args.student_texts]),
                    **latency(one.logits, sample[: args.batch1]),
                }
                if (
                    label == "torch fp32"
                ):  # the same model without length sorting: each batch padded to its longest text
                    predictor.window = predictor.scorer.batch_size
                    row["batch256_unsorted_examples_per_second"] = throughput(
                        predictor.logits, sample[: args.student_texts]
                    )
                rows.append(row)

    teacher_row = rows[0]
    for row in rows:
        row["batched_vs_teacher"] = round(
            row["batched_examples_per_second"] / teacher_row["batched_examples_per_second"], 1
        )
        row["batch1_vs_teacher"] = round(
            row["batch1_examples_per_second"] / teacher_row["batch1_examples_per_second"], 1
        )
    print(f"\n{args.dataset} test ({len(texts):,} examples), CPU threads {torch.get_num_threads()}\n")
    print(f"teacher batched at {best_batch} (fastest of {by_batch}), max length {max_length}; students at 256\n")
    print(
        "| model | format | size MB | test acc | ex/s batched | × teacher | ex/s batch 1 | × teacher | p50 ms | p99 ms |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['model']} | {r['format']} | {r['size_bytes'] / 2**20:.2f} | {100 * r['test_accuracy']:.2f} | "
            f"{r['batched_examples_per_second']:,.0f} | {r['batched_vs_teacher']} | {r['batch1_examples_per_second']:,.0f} | "
            f"{r['batch1_vs_teacher']} | {r['p50_ms']} | {r['p99_ms']} |"
        )
    out = Path(args.out or f"bench/results/export_{args.dataset}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "dataset": args.dataset,
                "test_examples": len(texts),
                "rows": rows,
                "machine": {
                    "threads": torch.get_num_threads(),
                    "platform": platform.platform(),
                    "torch": torch.__version__,
                },
            },
            indent=2,
        )
        + "\n"
    )
    for r in rows:
        if "batch256_unsorted_examples_per_second" in r:
            print(
                f"{r['model']}: batch 256 without length sorting {r['batch256_unsorted_examples_per_second']:,.0f} ex/s "
                f"(with: {r['batched_examples_per_second']:,.0f})"
            )
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
