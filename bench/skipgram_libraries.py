"""Skip-gram library benchmark: fastText vs gensim on the same token corpus, in one run.

The corpus is what ``embedding_init: skipgram`` trains on: the student vocabulary's WordPiece
tokens of the training split plus the unlabelled texts (validation/test texts left out). Each
library trains with the same settings (dim, window, epochs, min_count, negatives) at 1 thread
(reproducible) and at every core; the table gives seconds, tokens/s and the speed ratio against
fastText at 1 thread.

    python bench/skipgram_libraries.py --data-dir ../shared/data --dataset nsmc --vocab-size 3000 \\
        --texts nsmc/unlabeled.txt

Prints a Markdown table and writes bench/results/skipgram_libraries.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from distil_bilstm.data.datasets import load_dataset
from distil_bilstm.data.sources import resolve_text_file  # noqa: E402
from distil_bilstm.data.vocab import load_vocab, vocab_tokens  # noqa: E402
from distil_bilstm.runs.pipeline import ensure_vocab  # noqa: E402
from distil_bilstm.students.embeddings import SkipgramConfig, train_skipgram, write_skipgram_corpus  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--dataset", default="nsmc")
    parser.add_argument("--vocab-size", type=int, default=3000)
    parser.add_argument("--vocab-root", default="tokenizer")
    parser.add_argument("--texts", nargs="*", default=[])
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--out", default="bench/results/skipgram_libraries.json")
    args = parser.parse_args()

    dataset = load_dataset(args.dataset, data_dir=args.data_dir, download=False)
    folder = ensure_vocab(dataset, vocab_root=args.vocab_root, vocab_size=args.vocab_size)
    tokenizer = load_vocab(folder)
    tokens = vocab_tokens(tokenizer)
    files = [resolve_text_file(f, args.data_dir) for f in args.texts]
    cores = os.cpu_count() or 1
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "corpus.txt"
        start = time.perf_counter()
        corpus_stats = write_skipgram_corpus(corpus, dataset, tokenizer, files)
        n_tokens = corpus_stats["tokens"]
        tokenise_seconds = time.perf_counter() - start
        for library in ("fasttext", "gensim"):
            for threads in sorted({1, cores}):
                config = SkipgramConfig(dim=args.dim, epochs=args.epochs, library=library, threads=threads)
                start = time.perf_counter()
                _, known = train_skipgram(corpus, tokens, config)
                seconds = time.perf_counter() - start
                rows.append(
                    {
                        "library": library,
                        "threads": threads,
                        "seconds": round(seconds, 1),
                        "raw_seconds": seconds,
                        "tokens_per_second": round(n_tokens * args.epochs / seconds),
                        "coverage": round(float(known.float().mean()), 4),
                    }
                )
    reference = rows[0]["raw_seconds"]
    for row in rows:
        row["speed_vs_fasttext_1_thread"] = round(reference / row.pop("raw_seconds"), 2)
    n_texts = corpus_stats["train_texts"] + corpus_stats["extra_texts"]
    print(
        f"\ncorpus: {n_texts:,} texts ({corpus_stats['leaked_dropped']:,} held-out texts dropped), {n_tokens:,} tokens, "
        f"tokenised in {tokenise_seconds:.1f} s; dim {args.dim}, {args.epochs} epochs\n"
    )
    print("| library | threads | seconds | tokens/s | × fastText 1 thread | vocab coverage |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['library']} | {r['threads']} | {r['seconds']} | {r['tokens_per_second']:,} | "
            f"{r['speed_vs_fasttext_1_thread']} | {100 * r['coverage']:.1f}% |"
        )
    result = {
        "dataset": args.dataset,
        "vocab_size": args.vocab_size,
        "texts": args.texts,
        "corpus_texts": n_texts,
        "held_out_dropped": corpus_stats["leaked_dropped"],
        "tokens": n_tokens,
        "tokenise_seconds": round(tokenise_seconds, 1),
        "dim": args.dim,
        "epochs": args.epochs,
        "runs": rows,
        "machine": {"cores": cores, "platform": platform.platform()},
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
