"""Tagger inference speed: a BiLSTM tagger against the token teacher it learned from, same run.

Both tag the same test sentences (their own tokens) in batches of ``--batch-size``: the teacher
through ``TokenTeacher.word_logits`` (its pieces, length-sorted batches, torch), the student through
``TagPredictor.tag_ids`` (its units, length-sorted batches, CRF decoding included) — for a run (torch)
and for each export given (ONNX fp32 or int8, decoded in numpy). Each is timed ``--runs`` times over
``--sentences`` sentences and the median sentences/s is reported with the ratio.

    python bench/tagger_speed.py --dataset conll2003 --teacher teacher_model/minilm-conll \\
        --student runs/conll2003/tagger-XXXX runs/conll2003/tagger-XXXX-onnx-int8 --data-dir ../shared/data

Prints a Markdown table and writes bench/results/tagger_speed_<dataset>.json. Run it on an idle
machine: it times two processes' worth of work one after the other.
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

from distil_bilstm.data.tagging import load_tagged_dataset  # noqa: E402
from distil_bilstm.serving.entities import TagPredictor  # noqa: E402
from distil_bilstm.teachers.running.reference import TeacherRef  # noqa: E402


def timed(fn, runs: int) -> float:
    """The median seconds of ``runs`` calls of ``fn`` (after one warm-up call)."""
    fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default="conll2003")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--teacher", required=True, help="a fine-tuned token teacher folder")
    parser.add_argument(
        "--student",
        required=True,
        nargs="+",
        help="tagger run folders and/or their exports (ONNX, int8): each timed against the teacher",
    )
    parser.add_argument("--sentences", type=int, default=1024)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--max-length", type=int, default=128, help="the teacher's pieces per sentence")
    args = parser.parse_args()

    dataset = load_tagged_dataset(args.dataset, data_dir=args.data_dir)
    sentences = [s.tokens for s in dataset.split("test")[: args.sentences]]
    reads = dataset.unit
    teacher = TeacherRef.resolve(args.teacher).load(device="cpu")

    def run_teacher():
        teacher.word_logits(
            sentences, batch_size=args.batch_size, max_length=args.max_length, reads=reads, progress=False
        )

    timings = [("teacher", run_teacher, sum(p.numel() for p in teacher.model.parameters()))]
    for folder in args.student:
        # both length-sorted batches of --batch-size sentences; an export runs on onnxruntime's threads
        student = TagPredictor.load(folder, device="cpu", batch_size=args.batch_size, threads=torch.get_num_threads())
        model = getattr(student.scorer, "model", None)  # a run's torch model (an export has none to count)
        params = sum(p.numel() for p in model.parameters()) if model is not None else None
        timings.append(
            (f"student ({student.format}): {Path(folder).name}", lambda s=student: s.tag_ids(sentences), params)
        )

    rows = []
    for name, fn, params in timings:
        seconds = timed(fn, args.runs)
        rows.append({"model": name, "params": params, "sentences_per_second": len(sentences) / seconds})
    for row in rows:
        row["vs_teacher"] = row["sentences_per_second"] / rows[0]["sentences_per_second"]
    ratio = max(row["vs_teacher"] for row in rows[1:])
    print("| model | parameters | sentences/s | × teacher |\n|---|---:|---:|---:|")
    for row in rows:
        params = f"{row['params']:,}" if row["params"] is not None else "(export)"
        print(f"| {row['model']} | {params} | {row['sentences_per_second']:,.0f} | {row['vs_teacher']:.1f} |")
    print(
        f"\nfastest student / teacher: {ratio:.1f}x ({len(sentences)} sentences, batch {args.batch_size}, {torch.get_num_threads()} threads)"
    )
    out = Path(__file__).parent / "results" / f"tagger_speed_{args.dataset}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "rows": rows,
                "ratio": ratio,
                "args": vars(args),
                "threads": torch.get_num_threads(),
                "machine": platform.processor() or platform.machine(),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
