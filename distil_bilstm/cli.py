"""Command line: ``distil-bilstm <command>``. The only place that configures logging."""

from __future__ import annotations

import argparse
import logging
import sys
import time
from typing import Sequence

from . import __version__

logger = logging.getLogger("distil_bilstm")


def _table(rows: list[dict], columns: list[tuple[str, str]]) -> str:
    """Render rows as a Markdown table: ``columns`` is a list of (key, header)."""
    header = "| " + " | ".join(h for _, h in columns) + " |"
    rule = "|" + "|".join("---:" if rows and isinstance(rows[0].get(k), (int, float)) else "---" for k, _ in columns) + "|"
    body = ["| " + " | ".join(_fmt(r.get(k)) for k, _ in columns) + " |" for r in rows]
    return "\n".join([header, rule, *body])


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1000 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return "" if value is None else str(value)


# --------------------------------------------------------------------------------------------
# shared argument groups


def _add_data_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("data")
    group.add_argument("--dataset", required=True, help="nsmc, sst2, naver_shopping, steam, korean_hate_speech, A+B, or a .csv/.tsv path")
    group.add_argument("--data-dir", default=None, help="folder holding nsmc/, sst2/, ... (default: $DISTIL_BILSTM_DATA or ./data)")
    group.add_argument("--text-column", default=None, help="text column of a CSV/TSV file")
    group.add_argument("--label-column", default=None, help="label column of a CSV/TSV file")
    group.add_argument("--valid-size", type=float, default=0.05)
    group.add_argument("--split-seed", type=int, default=1, help="random_state of the train/valid(/test) split")
    group.add_argument("--strict", action="store_true", help="raise on a bad row instead of dropping and counting it")
    group.add_argument("--no-download", action="store_true", help="never try to download a missing file")


def _data_config(args: argparse.Namespace):
    from .data import DataConfig

    return DataConfig(
        name=args.dataset, data_dir=args.data_dir, text_column=args.text_column, label_column=args.label_column,
        valid_size=args.valid_size, seed=args.split_seed, strict=args.strict, download=not args.no_download,
    )


def _int_list(value: str) -> list[int]:
    try:
        return [int(v) for v in value.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {value!r}") from None


# --------------------------------------------------------------------------------------------
# commands


def cmd_vocab(args: argparse.Namespace) -> int:
    from .data import load_dataset
    from .tokenization import VocabConfig, build_vocabularies

    dataset = load_dataset(_data_config(args))
    base = VocabConfig(
        vocab_size=args.sizes[0], lowercase=args.lowercase, strip_accents=args.strip_accents,
        limit_alphabet=args.limit_alphabet, min_frequency=args.min_frequency,
    )
    start = time.perf_counter()
    reports = build_vocabularies(
        dataset.split("train")["text"].tolist(), dataset.split("valid")["text"].tolist(),
        sizes=args.sizes, out_root=args.out, dataset=dataset.name, base=base,
    )
    rows = [
        {"requested": r.requested_size, "size": r.vocab_size, "unk": f"{100 * r.unk_rate:.2f}%", "tokens": round(r.mean_tokens, 2), "seconds": round(r.seconds, 1)}
        for r in reports
    ]
    print(_table(rows, [("requested", "requested"), ("size", "vocab size"), ("unk", "UNK rate (valid)"), ("tokens", "tokens/example (valid)"), ("seconds", "build s")]))
    print(f"\n{len(reports)} vocabularies in {time.perf_counter() - start:.1f} s under {args.out}/{dataset.name}/")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="distil-bilstm",
        description="Distill a fine-tuned transformer classifier into small, fast BiLSTM students.",
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="-v: debug logs of this package; -vv: of every library")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    vocab = sub.add_parser("vocab", help="train WordPiece vocabularies of several sizes on a training split")
    _add_data_args(vocab)
    vocab.add_argument("--sizes", type=_int_list, default=list(range(2000, 9001, 1000)), help="comma-separated sizes (default 2000..9000 step 1000)")
    vocab.add_argument("--out", default="tokenizer", help="root folder; writes OUT/<dataset>/vocab_size_N/vocab.txt")
    vocab.add_argument("--limit-alphabet", type=int, default=1000)
    vocab.add_argument("--min-frequency", type=int, default=2)
    vocab.add_argument("--lowercase", action="store_true", help="lowercase (English only: off by default)")
    vocab.add_argument("--strip-accents", action="store_true", help="strip accents (never for Korean: it splits Hangul into jamo)")
    vocab.set_defaults(func=cmd_vocab)
    return parser


def _configure_logging(verbose: int) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose >= 2 else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    logger.setLevel(logging.DEBUG if verbose >= 1 else logging.INFO)
    if verbose < 2:
        for noisy in ("transformers", "urllib3", "matplotlib", "PIL"):
            logging.getLogger(noisy).setLevel(logging.WARNING)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    _configure_logging(args.verbose)
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError) as err:
        logger.error("%s", err)
        return 1
    except KeyboardInterrupt:
        logger.warning("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
