"""What every command shares: the data arguments, list parsers, and the Markdown table a command prints."""

from __future__ import annotations

import argparse


def table(rows: list[dict], columns: list[tuple[str, str]]) -> str:
    """Render rows as a Markdown table: ``columns`` is a list of (key, header)."""
    header = "| " + " | ".join(h for _, h in columns) + " |"
    rule = (
        "|" + "|".join("---:" if rows and isinstance(rows[0].get(k), (int, float)) else "---" for k, _ in columns) + "|"
    )
    body = ["| " + " | ".join(fmt(r.get(k)) for k, _ in columns) + " |" for r in rows]
    return "\n".join([header, rule, *body])


def fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1000 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return "" if value is None else str(value)


def add_data_args(parser: argparse.ArgumentParser, *, required: bool = True) -> None:
    group = parser.add_argument_group("data")
    group.add_argument(
        "--dataset",
        required=required,
        help="nsmc_sample (built in), nsmc, sst2, naver_shopping, steam, korean_hate_speech, korsts (pairs), A+B, "
        "or a .csv/.tsv/.jsonl/.parquet path",
    )
    group.add_argument(
        "--data-dir", default=None, help="folder holding nsmc/, sst2/, ... (default: $DISTIL_BILSTM_DATA or ./data)"
    )
    group.add_argument(
        "--text-column",
        default=None,
        help="text column of a CSV/TSV file (default: the first of text, document, sentence, review, comments)",
    )
    group.add_argument(
        "--label-column",
        default=None,
        help="label column of a CSV/TSV file (default: the first of label, rating, sentiment)",
    )
    group.add_argument(
        "--text-b-column",
        default=None,
        help="the second text of a sentence-pair file (default: sentence2, text_b or text2 when present)",
    )
    group.add_argument(
        "--task",
        choices=("classification", "regression"),
        default=None,
        help="a file's task (default: regression when the label column is named score or similarity)",
    )
    group.add_argument(
        "--labels",
        type=str_list,
        default=None,
        help="the label set of a CSV/TSV file, e.g. 0,1: rows with another label are dropped and counted "
        "(--strict: refused); default: every value the column holds",
    )
    group.add_argument("--valid-size", type=float, default=0.05)
    group.add_argument("--split-seed", type=int, default=1, help="random_state of the train/valid(/test) split")
    group.add_argument("--strict", action="store_true", help="raise on a bad row instead of dropping and counting it")
    group.add_argument("--no-download", action="store_true", help="never try to download a missing file")


def data_config(args: argparse.Namespace):
    from ..data.datasets import DataConfig

    return DataConfig(
        name=args.dataset,
        data_dir=args.data_dir,
        text_column=args.text_column,
        label_column=args.label_column,
        label_names=args.labels,
        valid_size=args.valid_size,
        seed=args.split_seed,
        strict=args.strict,
        download=not args.no_download,
        text_b_column=args.text_b_column,
        task=args.task,
    )


def str_list(value: str) -> list[str]:
    items = [v.strip() for v in value.split(",") if v.strip()]
    if len(items) < 2 or len(set(items)) != len(items):
        raise argparse.ArgumentTypeError(f"expected at least two distinct comma-separated labels, got {value!r}")
    return items


def _number_list(value: str, cast: type, what: str) -> list:
    try:
        return [cast(v) for v in value.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated {what}, got {value!r}") from None


def int_list(value: str) -> list[int]:
    return _number_list(value, int, "integers")


def float_list(value: str) -> list[float]:
    return _number_list(value, float, "numbers")
