"""Teacher-logit cache benchmark.

1. Teacher throughput (examples/s) of the shared MiniLM teachers on a slice of NSMC and SST-2.
2. Per-batch lookup cost: our store (one ``index_select`` on a (N, C) tensor) versus a
   DistilKoBiLSTM-style dict (``[d[i.item()] for i in idx]`` then ``torch.tensor``), batch 64 and
   256, measured in the same run, median of many repetitions.

    python bench/teacher_cache.py --data-dir ../shared/data --teachers ../shared/teachers

Prints a Markdown table and writes bench/results/teacher_cache.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from distil_bilstm.data.datasets import load_dataset  # noqa: E402
from distil_bilstm.teachers.running.reference import load_teacher  # noqa: E402
from distil_bilstm.teachers.running.teacher import predict_logits  # noqa: E402


def teacher_throughput(teacher_dir: Path, dataset: str, data_dir: str, n: int, max_length: int) -> dict:
    data = load_dataset(dataset, data_dir=data_dir, download=False)
    texts = data.split("test")["text"].tolist()[:n]
    teacher = load_teacher(teacher_dir, device="cpu", num_labels=data.num_labels)
    predict_logits(teacher, texts[:64], max_length=max_length, progress=False)  # warm-up
    start = time.perf_counter()
    predict_logits(teacher, texts, batch_size=128, max_length=max_length, progress=False)
    seconds = time.perf_counter() - start
    return {
        "teacher": teacher_dir.name,
        "dataset": dataset,
        "examples": len(texts),
        "seconds": round(seconds, 2),
        "examples_per_second": round(len(texts) / seconds, 1),
    }


def lookup_cost(num_examples: int, num_labels: int, batch_size: int, repeats: int) -> dict:
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(num_examples, num_labels, generator=generator)
    as_dict = {i: row for i, row in enumerate(logits.tolist())}  # DistilKoBiLSTM's {idx: [l0, l1]}
    batches = [torch.randint(0, num_examples, (batch_size,), generator=generator) for _ in range(repeats)]

    def time_each(fn) -> float:
        samples = []
        for idx in batches:
            start = time.perf_counter_ns()
            fn(idx)
            samples.append(time.perf_counter_ns() - start)
        return statistics.median(samples) / 1e3  # µs

    store_us = time_each(lambda idx: logits.index_select(0, idx))
    dict_us = time_each(lambda idx: torch.tensor([as_dict[i.item()] for i in idx]))
    assert torch.equal(logits.index_select(0, batches[0]), torch.tensor([as_dict[i.item()] for i in batches[0]]))
    return {
        "batch_size": batch_size,
        "store_us": round(store_us, 2),
        "dict_us": round(dict_us, 2),
        "speedup": round(dict_us / store_us, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", default="../shared/data")
    parser.add_argument("--teachers", default="../shared/teachers")
    parser.add_argument("--examples", type=int, default=2000, help="teacher throughput slice size")
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=2000)
    parser.add_argument("--out", default="bench/results/teacher_cache.json")
    args = parser.parse_args()

    throughput = [
        teacher_throughput(
            Path(args.teachers) / f"minilm-l6-{name}", name, args.data_dir, args.examples, args.max_length
        )
        for name in ("nsmc", "sst2")
    ]
    lookups = [lookup_cost(200_000, 2, bs, args.repeats) for bs in (64, 256)]

    print("| teacher | dataset | examples | seconds | examples/s |\n|---|---|---:|---:|---:|")
    for r in throughput:
        print(f"| {r['teacher']} | {r['dataset']} | {r['examples']} | {r['seconds']} | {r['examples_per_second']} |")
    print("\n| batch | store µs/batch | dict µs/batch | store speed-up |\n|---:|---:|---:|---:|")
    for r in lookups:
        print(f"| {r['batch_size']} | {r['store_us']} | {r['dict_us']} | {r['speedup']}× |")
    result = {
        "machine": {"cpu_count": torch.get_num_threads(), "platform": platform.platform(), "torch": torch.__version__},
        "teacher_throughput": throughput,
        "lookup": lookups,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwritten to {args.out}")


if __name__ == "__main__":
    main()
