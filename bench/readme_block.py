"""Rewrite one generated block of README.md (between ``<!-- results:NAME:start -->`` and
``<!-- results:NAME:end -->``): what the bench scripts' ``--readme`` does."""

from __future__ import annotations

from pathlib import Path


def rewrite_block(readme: str | Path, name: str, table: str) -> None:
    start, end = f"<!-- results:{name}:start -->", f"<!-- results:{name}:end -->"
    text = Path(readme).read_text(encoding="utf-8")
    if start not in text or end not in text:
        raise SystemExit(f"{readme}: no {start} ... {end} block to rewrite")
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    Path(readme).write_text(f"{head}{start}\n{table}\n{end}{tail}", encoding="utf-8")
    print(f"\n{readme}: {name} table rewritten")
