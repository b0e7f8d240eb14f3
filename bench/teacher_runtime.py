"""Teacher labelling speed: torch vs ONNX (fp32) vs ONNX int8, with their agreement with torch.

For each dataset, the same sample of test texts is labelled by the three runtimes in one process,
one after the other (2 threads each, nothing else running). Speed is examples/s of the labelling
loop (tokenisation included, export excluded: it is cached); agreement is the share of texts whose
argmax equals torch's, and the largest |Δlogit|. Accuracy on those texts is shown too.

    python bench/teacher_runtime.py --data-dir ../shared/data \\
        --teacher nsmc=../shared/teachers/minilm-l6-nsmc --teacher sst2=../shared/teachers/minilm-l6-sst2

Prints a Markdown table and writes bench/results/teacher_runtime.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from distil_bilstm.data.datasets import load_dataset  # noqa: E402
from distil_bilstm.teachers.running.onnx_runtime import load_onnx_teacher  # noqa: E402
from distil_bilstm.teachers.running.reference import load_teacher  # noqa: E402


def timed(runner, texts, *, batch_size: int, max_length: int) -> tuple[np.ndarray, float]:
    runner.logits(texts[:64], batch_size=batch_size, max_length=max_length, progress=False)  # warm-up
    start = time.perf_counter()
    logits = runner.logits(texts, batch_size=batch_size, max_length=max_length, progress=False)
    return logits, time.perf_counter() - start


def bench_dataset(name: str, teacher_dir: str, args) -> list[dict]:
    data = load_dataset(name, data_dir=args.data_dir, download=False)
    test = data.split("test")
    rows = np.random.default_rng(0).choice(len(test), size=min(args.sample, len(test)), replace=False)
    texts, labels = test["text"].to_numpy()[rows].tolist(), test["label"].to_numpy()[rows]
    teacher = load_teacher(teacher_dir, device="cpu", num_labels=data.num_labels)
    reference, seconds = timed(teacher, texts, batch_size=args.batch_size, max_length=args.max_length)
    results = [
        {
            "dataset": name,
            "runtime": "torch",
            "examples": len(texts),
            "seconds": round(seconds, 2),
            "examples_per_second": round(len(texts) / seconds, 1),
            "speedup": 1.0,
            "argmax_agreement": 1.0,
            "max_abs_logit_diff": 0.0,
            "accuracy": float((reference.argmax(1) == labels).mean()),
        }
    ]
    for runtime in ("onnx", "onnx-int8"):
        runner = load_onnx_teacher(teacher, runtime=runtime, cache_dir=args.cache_dir)
        logits, secs = timed(runner, texts, batch_size=args.batch_size, max_length=args.max_length)
        results.append(
            {
                "dataset": name,
                "runtime": runtime,
                "examples": len(texts),
                "seconds": round(secs, 2),
                "examples_per_second": round(len(texts) / secs, 1),
                "speedup": round(seconds / secs, 2),
                "argmax_agreement": float((logits.argmax(1) == reference.argmax(1)).mean()),
                "max_abs_logit_diff": float(np.abs(logits - reference).max()),
                "accuracy": float((logits.argmax(1) == labels).mean()),
                "model_mb": round(runner.model_file.stat().st_size / 2**20, 1),
            }
        )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--teacher", action="append", required=True, metavar="DATASET=DIR")
    parser.add_argument("--sample", type=int, default=3000)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument(
        "--cache-dir", default="teacher_model/logits", help="ONNX exports are cached under CACHE_DIR/onnx/"
    )
    parser.add_argument("--out", default="bench/results/teacher_runtime.json")
    args = parser.parse_args()
    torch.set_num_threads(2)

    results = []
    for item in args.teacher:
        name, _, teacher_dir = item.partition("=")
        results += bench_dataset(name, teacher_dir, args)

    print("| dataset | runtime | examples/s | × torch | argmax agreement | max abs Δlogit | accuracy |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for r in results:
        print(
            f"| {r['dataset']} | {r['runtime']} | {r['examples_per_second']:,.0f} | {r['speedup']:.2f}× | "
            f"{100 * r['argmax_agreement']:.2f}% | {r['max_abs_logit_diff']:.3f} | {100 * r['accuracy']:.2f} |"
        )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "machine": platform.processor() or platform.machine(),
                "threads": torch.get_num_threads(),
                "sample": args.sample,
                "batch_size": args.batch_size,
                "max_length": args.max_length,
                "results": results,
            },
            indent=1,
        )
        + "\n"
    )
    print(f"\nwritten to {out}")


if __name__ == "__main__":
    main()
