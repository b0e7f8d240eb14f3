"""Peak memory of training on a multi-million-row transfer set (memory-mapped token ids).

Each step runs in its own process and reports its peak resident set (``ru_maxrss``):

1. ``encode``    stream the transfer file through the leakage guard and the tokenizer into the
                 encoded cache (flat int32 ids + lengths);
2. ``baseline``  one epoch of a Tiny KD student on the dataset alone;
3. ``transfer``  the same with the transfer set joined (``transfer_per_epoch`` rows drawn per
                 epoch), reading the cache made in step 1.

Memory does not depend on the logits' values, so the transfer set's store is written here with
random logits (of the right fingerprint and shape) instead of spending an hour of teacher time;
the dataset's own store is the real one given by ``--store``.

    python bench/transfer_memory.py --data-dir ../shared/data --dataset nsmc \\
        --store teacher_model/logits/minilm-l6-nsmc/nsmc --transfer transfer/nsmc/aug-n24.tsv

Prints a Markdown table and writes bench/results/transfer_memory.json.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def child(step: str, args) -> dict:
    from distil_bilstm.runs.config import DistilConfig
    from distil_bilstm.runs.pipeline import RunResources, ensure_vocab, run_distillation

    work = Path(args.work)
    config = DistilConfig(
        dataset=args.dataset,
        data_dir=args.data_dir,
        vocab_size=args.vocab_size,
        preset="tiny",
        loss="kl",
        teacher_path=str(work / "teacher" / args.dataset),
        cache_dir=str(work / "cache"),
        train_epoch=1,
        patience=0,
        run_root=str(work / "runs"),
        device="cpu",
        transfer_sets=[args.transfer] if step == "transfer" else [],
        transfer_per_epoch=args.per_epoch if step == "transfer" else None,
    )
    start = time.perf_counter()
    if step == "encode":
        from distil_bilstm.data.transfer import encode_transfer_set
        from distil_bilstm.data.vocab import load_vocab

        resources = RunResources()
        dataset = resources.dataset(config)
        folder = ensure_vocab(dataset, vocab_root=config.vocab_root, vocab_size=config.vocab_size)
        transfer = encode_transfer_set(
            args.transfer,
            dataset=dataset,
            tokenizer=load_vocab(folder),
            vocab_folder=folder,
            max_length=config.max_length,
            cache_root=config.cache_dir,
            progress=False,
        )
        result = {
            "rows": len(transfer),
            "tokens": transfer.header["tokens"],
            "fingerprint": transfer.fingerprint,
            "name": transfer.name,
        }
    else:
        metrics = run_distillation(config)
        result = {
            "train_rows_per_epoch": metrics.get("transfer_rows_per_epoch", 0),
            "transfer_rows": metrics.get("transfer_rows", 0),
            "train_seconds": metrics["train_seconds"],
        }
    return {
        "step": step,
        "seconds": round(time.perf_counter() - start, 1),
        "peak_rss_mb": round(peak_mb(), 1),
        **result,
    }


def run_child(step: str, argv: list[str]) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", step, *argv], check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def write_random_store(work: Path, encoded: dict, dataset: str) -> None:
    import numpy as np

    from distil_bilstm.teachers.stores.store import finish_store, read_json

    main = read_json(work / "teacher" / dataset / "header.json")
    logits = np.random.default_rng(0).normal(size=(encoded["rows"], main["num_labels"])).astype(np.float32)
    header = {
        "teacher_path": "random (memory benchmark)",
        "teacher_hash": "random",
        "dataset": encoded["name"],
        "dataset_fingerprint": encoded["fingerprint"],
        "label_names": main["label_names"],
    }
    finish_store(work / "teacher" / encoded["name"], logits, header)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--dataset", default="nsmc")
    parser.add_argument("--store", required=True, help="the dataset's real logit store")
    parser.add_argument("--transfer", required=True, help="the transfer set (millions of rows)")
    parser.add_argument("--per-epoch", type=int, default=200_000)
    parser.add_argument("--vocab-size", type=int, default=3000)
    parser.add_argument("--work", default="/tmp/transfer_memory")
    parser.add_argument("--out", default="bench/results/transfer_memory.json")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args)))
        return

    work = Path(args.work)
    shutil.rmtree(work, ignore_errors=True)
    (work / "teacher").mkdir(parents=True)
    shutil.copytree(args.store, work / "teacher" / args.dataset)
    argv = [a for a in sys.argv[1:]]
    encoded = run_child("encode", argv)
    write_random_store(work, encoded, args.dataset)
    results = [encoded, run_child("baseline", argv), run_child("transfer", argv)]

    print("| step | rows | peak RSS (MB) | seconds |")
    print("|---|---:|---:|---:|")
    for r in results:
        rows = r.get("rows") or r.get("transfer_rows") or 0
        print(f"| {r['step']} | {rows:,} | {r['peak_rss_mb']:,.0f} | {r['seconds']:.0f} |")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps({"transfer": args.transfer, "per_epoch": args.per_epoch, "results": results}, indent=1) + "\n"
    )
    print(f"\nwritten to {out}")


if __name__ == "__main__":
    main()
