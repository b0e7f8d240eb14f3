"""Shared fixtures: small slices of ../shared data, tiny real tokenizers and models in tmp_path."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("DISTIL_BILSTM_DATA", REPO.parent / "shared" / "data"))
SHARED_TEACHERS = SHARED_DATA.parent / "teachers"


def write_lines(path: Path, lines: list[str], encoding: str = "utf-8") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(("\n".join(lines) + "\n").encode(encoding))
    return path


def head_lines(path: Path, n: int) -> list[str]:
    with open(path, encoding="utf-8") as fh:
        return [next(fh).rstrip("\n") for _ in range(n)]


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not (SHARED_DATA / "nsmc" / "ratings_train.txt").is_file():
        pytest.skip(f"shared data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture
def small_nsmc(tmp_path: Path, shared_data: Path) -> Path:
    """A data dir with the first 120 train / 40 test rows of the shared NSMC files."""
    for name, n in (("ratings_train.txt", 121), ("ratings_test.txt", 41)):
        write_lines(tmp_path / "data" / "nsmc" / name, head_lines(shared_data / "nsmc" / name, n))
    return tmp_path / "data"
