from __future__ import annotations

import json

import pytest

from distil_bilstm.baselines.pairs import train_pair_baselines
from distil_bilstm.baselines.tfidf import BaselineConfig
from distil_bilstm.data.datasets import load_dataset


def test_pair_baselines_score_overlap_and_write_their_metrics(small_korsts, tmp_path):
    dataset = load_dataset("korsts", data_dir=small_korsts, download=False)
    metrics = train_pair_baselines(
        BaselineConfig(dataset="korsts", run_root=str(tmp_path / "runs"), min_df=1), dataset=dataset
    )
    cosine, ridge = metrics["baselines"]
    assert cosine["kind"] == "tfidf-cosine" and ridge["kind"] == "tfidf-ridge" and ridge["alpha"] > 0
    assert cosine["test_spearman"] > 0.5 and ridge["test_spearman"] > 0.5  # the synthetic score is word overlap
    saved = json.loads((tmp_path / "runs" / "korsts" / metrics["run_dir"].split("/")[-1] / "metrics.json").read_text())
    assert saved["baselines"][1]["test_spearman"] == ridge["test_spearman"]


def test_pair_baselines_refuse_single_texts(small_nsmc, tmp_path):
    with pytest.raises(ValueError, match="need sentence pairs with a score"):
        train_pair_baselines(
            BaselineConfig(run_root=str(tmp_path)), dataset=load_dataset("nsmc", data_dir=small_nsmc, download=False)
        )
