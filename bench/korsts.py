"""KorSTS in one table: the zero-shot embedding cosine of the base encoder, the teachers (cross-encoder, bi-encoder),
the siamese BiLSTM students (with and without the teacher) and the TF-IDF pair baselines, each with
parameters, size, Spearman / Pearson ×100 on sts-test and CPU pairs/s (pairs in, scores out,
tokenisation included, batch 256; the encoders at batch 128).

    python bench/korsts.py --data-dir ../shared/data --teacher teacher_model/e5-small-ko-korsts \
        --teacher teacher_model/e5-small-ko-korsts-bi --runs runs/korsts
    python bench/korsts.py ... --readme docs/pairs.md     # and the block in docs/pairs.md

Zero-shot: mean-pooled last-layer states of ``"query: " + sentence`` (E5's symmetric-task prefix),
cosine of the two sides, no training. Time nothing else while it runs: on 2 cores the numbers
collapse. Writes bench/results/korsts.json.
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

from readme_block import rewrite_block  # noqa: E402

from distil_bilstm.data.datasets import load_dataset  # noqa: E402
from distil_bilstm.data.pairs import correlation_scores, split_pairs  # noqa: E402
from distil_bilstm.runs.compare import collect_runs, student_label, teacher_summary  # noqa: E402
from distil_bilstm.serving.inference import Predictor  # noqa: E402
from distil_bilstm.teachers.running.reference import load_teacher, teacher_kind  # noqa: E402
from distil_bilstm.teachers.running.teacher import Teacher, sentence_states  # noqa: E402


def timed(fn, pairs: list[str]) -> tuple[np.ndarray, float]:
    fn(pairs[:64])  # warm-up
    start = time.perf_counter()
    out = fn(pairs)
    return out, round(len(pairs) / (time.perf_counter() - start), 1)


def zero_shot_scores(base: str, pairs: list[str], *, prefix: str = "query: ") -> np.ndarray:
    """Cosine of the two sides' mean-pooled states (``teacher.sentence_states`` of the bare encoder), ``(N,)``."""
    from transformers import AutoModel, AutoTokenizer

    encoder = Teacher(
        model=AutoModel.from_pretrained(base),
        tokenizer=AutoTokenizer.from_pretrained(base),
        path=base,
        weights_hash="",
        device=torch.device("cpu"),
    )
    firsts, seconds = split_pairs(pairs)
    a, b = (
        sentence_states(encoder, [prefix + t for t in side], max_length=128, progress=False)
        for side in (firsts, seconds)
    )
    a, b = (x / np.linalg.norm(x, axis=1, keepdims=True) for x in (a, b))
    return (a * b).sum(axis=1)


def row(model: str, learned_from: str, scores: np.ndarray, gold: np.ndarray, per_s: float | None, **extra) -> dict:
    values = correlation_scores(gold, scores)
    return {
        "model": model,
        "learned from": learned_from,
        "spearman": round(100 * values["spearman"], 2),
        "pearson": round(100 * values["pearson"], 2),
        "pairs_per_s": per_s,
        **extra,
    }


def _score(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}"  # None: not measured


def _size(value) -> str:
    return "" if not value else f"{value / 2**20:.1f} MiB"


def teacher_name(config: dict) -> str:
    """The teacher a student run learned from: its store's or checkpoint's folder name."""
    path = Path(config.get("teacher_path") or "")
    return f"teacher {path.parent.name if path.name == 'korsts' else path.name}"


def student_shape(config: dict) -> str:
    """What sets a siamese run apart beside its size: ``v8000, mean pooling, cosine head``."""
    parts = [f"v{config['vocab_size']}"]
    if config.get("pooling", "last") != "last":
        parts.append(f"{config['pooling']} pooling")
    if config.get("pair_head", "features") != "features":
        parts.append(f"{config['pair_head']} head")
    return ", ".join(parts)


def _number(value) -> str:
    return f"{value:,.0f}" if value else ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument(
        "--teacher", required=True, action="append", help="a teacher checkpoint (cross- or bi-encoder); repeat for more"
    )
    parser.add_argument(
        "--base", default=None, help="the encoder scored zero-shot (default: the teacher's eval.json base)"
    )
    parser.add_argument(
        "--logits", default="teacher_model/logits", help="the teachers' stores: <logits>/<teacher>/korsts"
    )
    parser.add_argument("--runs", default="runs/korsts", help="student and baseline runs of configs/korsts_grid.yaml")
    parser.add_argument("--out", default="bench/results/korsts.json")
    parser.add_argument("--readme", default=None, help="rewrite the <!-- results:BLOCK --> block of this file")
    parser.add_argument("--block", default="korsts", help="the block's name (default korsts)")
    args = parser.parse_args()
    torch.set_num_threads(2)

    dataset = load_dataset("korsts", data_dir=args.data_dir, download=False)
    test = dataset.split("test")
    pairs, gold = test["text"].tolist(), test["label"].to_numpy()
    base = args.base or json.loads((Path(args.teacher[0]) / "eval.json").read_text())["base"]
    rows = []
    print("zero-shot encoder", flush=True)
    scores, per_s = timed(lambda p: zero_shot_scores(base, p), pairs)
    rows.append(
        row(
            "multilingual-e5-small, zero-shot cosine",
            "nothing (pretraining only)",
            scores,
            gold,
            per_s,
            **teacher_summary(base),
        )
    )
    for path in args.teacher:
        print(f"teacher {path}", flush=True)
        teacher = load_teacher(path, device="cpu", num_labels=1)
        scores, per_s = timed(lambda p: teacher.logits(p, batch_size=128, progress=False)[:, 0], pairs)
        kind = "bi-encoder" if teacher_kind(path) == "biencoder" else "cross-encoder"
        dev = json.loads((Path(path) / "eval.json").read_text()).get("valid_spearman")  # what its epoch was kept on
        rows.append(
            row(
                f"teacher: e5 {kind} ({Path(path).name})",
                "gold scores",
                scores,
                gold,
                per_s,
                **teacher_summary(path),
                valid_spearman=None if dev is None else round(100 * dev, 2),
            )
        )
        del teacher
        store = Path(args.logits) / Path(path).name / "korsts" / "header.json"
        if store.is_file():  # the scores the students learn from (ONNX int8 when labelled so)
            header = json.loads(store.read_text())
            rows.append(
                {
                    "model": f"its scores in the store ({header['runtime']})",
                    "learned from": "",
                    "spearman": round(100 * header["teacher_test_spearman"], 2),
                    "pearson": None,
                    "pairs_per_s": None,
                }
            )
    finished, _ = collect_runs(args.runs)
    for run in finished:
        if run["student"].get("architecture") == "tfidf-lr" or run["metrics"].get("task") != "regression":
            continue
        predictor = Predictor.load(run["run_dir"], device="cpu", batch_size=256)
        scores, per_s = timed(lambda p: predictor.logits(p)[:, 0], pairs)
        c, m = run["config"], run["metrics"]
        learned = "gold scores" if c["loss"] == "ce" else f"{teacher_name(c)} (α={c['loss_rate']:g})"
        if c.get("embedding_init", "random") != "random":
            learned += f", {c['embedding_init']} embeddings"
        if m.get("transfer_rows"):
            learned += (
                f" + {m['transfer_rows']:,} transfer pairs ({', '.join(Path(t).stem for t in c['transfer_sets'])})"
            )
        if (
            c.get("hidden_loss", "none") != "none"
        ):  # embedding distillation: each side's W·u towards the teacher's state
            terms = [f"{c['hidden_loss']} ×{c.get('hidden_loss_weight', 1.0):g}"]
            if c.get("similarity_loss_weight"):
                terms.append(f"in-batch cosines ×{c['similarity_loss_weight']:g}")
            learned += f", its sentence states ({', '.join(terms)})"
        rows.append(
            row(
                f"{student_label(run['student']['architecture'], c, run['student'])} ({student_shape(c)})",
                learned,
                scores,
                gold,
                per_s,
                params=m["params"],
                size_bytes=m["size_bytes"],
                valid_spearman=round(100 * m["valid_spearman"], 2),
                best_epoch=m["best_epoch"],
                run_dir=run["run_dir"],
            )
        )
    for metrics_file in sorted(Path(args.runs).rglob("baseline-tfidf-pairs-*/metrics.json")):
        for baseline in json.loads(metrics_file.read_text())["baselines"]:
            rows.append(
                {
                    "model": f"TF-IDF {baseline['kind'].split('-')[1]}"
                    + (f" (alpha {baseline['alpha']:g})" if "alpha" in baseline else ""),
                    "learned from": "gold scores" if "alpha" in baseline else "nothing (idf only)",
                    "spearman": round(100 * baseline["test_spearman"], 2),
                    "pearson": round(100 * baseline["test_pearson"], 2),
                    "pairs_per_s": baseline.get("examples_per_second"),
                    "params": baseline.get("params"),
                    "size_bytes": baseline.get("size_bytes"),
                }
            )

    header = (
        "| model | learned from | parameters | size | dev Spearman | test Spearman | test Pearson | CPU pairs/s |\n"
        "|---|---|---:|---:|---:|---:|---:|---:|"
    )  # dev: what the students were selected on
    lines = [
        f"| {r['model']} | {r['learned from']} | {_number(r.get('params'))} | {_size(r.get('size_bytes'))} | "
        f"{_score(r.get('valid_spearman'))} | {r['spearman']:.2f} | "
        f"{_score(r['pearson'])} | {_number(r.get('pairs_per_s'))} |"
        for r in rows
    ]
    table = "\n".join([header, *lines])
    print(table)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "machine": platform.processor() or platform.machine(),
                "threads": 2,
                "test_pairs": len(pairs),
                "rows": rows,
            },
            indent=2,
            ensure_ascii=False,
        ),
        encoding="utf-8",
    )
    print(f"\n{out} written")
    if args.readme:
        rewrite_block(args.readme, args.block, table)


if __name__ == "__main__":
    main()
