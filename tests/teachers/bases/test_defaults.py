"""bases: Korean data gets multilingual-e5-small pruned to its training texts, English data the MiniLM."""

from __future__ import annotations

import json

import pytest

from distil_bilstm.data.datasets import load_dataset
from distil_bilstm.teachers.bases.defaults import default_base, minilm_base, pruning_texts

from ...conftest import write_lines


@pytest.fixture
def e5_cache(tmp_path, monkeypatch, e5_full_base):
    """A machine cache that already holds the converted base (the session's conversion)."""
    monkeypatch.setenv("DISTIL_BILSTM_CACHE", str(tmp_path / "cache"))
    (tmp_path / "cache" / "bases").mkdir(parents=True)
    (tmp_path / "cache" / "bases" / "multilingual-e5-small").symlink_to(e5_full_base)
    return tmp_path / "cache"


def test_korean_data_gets_the_pruned_e5_base_once(small_nsmc, e5_cache, tmp_path):
    dataset = load_dataset("nsmc", data_dir=small_nsmc, download=False)
    extra = write_lines(tmp_path / "unlabelled.txt", ["쵝오의 영화"] * 12 + dataset.split("test")["text"].tolist()[:5])
    base = default_base(dataset, extra_files=[extra])
    report = json.loads((tmp_path / "cache" / "bases" / base.rsplit("/", 1)[-1] / "prune.json").read_text())
    # training split + the extra file, less the 5 test texts it repeats
    assert report["corpus_texts"] == len(dataset.split("train")) + 12 and report["added_inits"] == {"쵝": "최"}
    mtime = (e5_cache / "bases").stat().st_mtime_ns
    assert default_base(dataset, extra_files=[extra]) == base  # cached: not pruned again
    assert (e5_cache / "bases").stat().st_mtime_ns == mtime


def test_english_data_gets_the_minilm(tmp_path):
    rows = ["sentence\tlabel"] + [f"{w} film number {i}\t{i % 2}" for i, w in enumerate(["great", "dull"] * 20)]
    for name in ("train.tsv", "dev.tsv"):
        write_lines(tmp_path / "data" / "sst2" / name, rows)
    dataset = load_dataset("sst2", data_dir=tmp_path / "data", download=False)
    assert default_base(dataset) == minilm_base()


def test_pruning_never_sees_validation_or_test_text(small_nsmc, tmp_path):
    dataset = load_dataset("nsmc", data_dir=small_nsmc, download=False)
    held_out = dataset.table.loc[dataset.table["split"] != "train", "text"].tolist()
    extra = write_lines(tmp_path / "more.txt", held_out + ["새 리뷰"])
    texts = pruning_texts(dataset, [extra])
    assert not set(held_out) & set(texts) and texts[-1] == "새 리뷰"
