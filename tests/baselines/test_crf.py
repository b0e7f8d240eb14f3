"""baselines/crf.py: the CRF named-entity baseline, a run folder with entity F1."""

from __future__ import annotations

import json

import pytest

from distil_bilstm.baselines.crf import CrfConfig, token_features, train_crf_baseline
from distil_bilstm.cli import main

from ..conftest import write_lines

PEOPLE, PLACES = ["Kim", "Lee", "Park", "Choi"], ["Seoul", "Busan", "Paris", "Rome"]


def write_sentences(path, n: int = 80):
    rows = []
    for i in range(n):
        person, place = PEOPLE[i % 4], PLACES[(i // 4) % 4]
        rows.append({"tokens": [person, "flew", "to", place, "today"], "tags": ["B-PER", "O", "O", "B-LOC", "O"]})
    return write_lines(path, [json.dumps(r) for r in rows])


def test_features_see_the_word_its_shape_and_its_neighbours():
    features = token_features(["Kim", "flew", "to", "1996-08"], 3)
    assert features["shape"] == "d-d" and features["-1:lower"] == "to" and features["1:edge"] and features["2:edge"]
    assert token_features(["Kim"], 0)["title"] is True


def test_a_crf_learns_a_toy_tagging_and_writes_a_run(tmp_path, capsys, caplog):
    path = write_sentences(tmp_path / "toy.jsonl")
    metrics = train_crf_baseline(
        CrfConfig(dataset=str(path), c1_values=[0.0, 0.1], max_iterations=50, run_root=str(tmp_path / "runs"))
    )
    assert metrics["test_entity_f1"] == 1.0 and metrics["valid_entity_f1"] == 1.0
    run = tmp_path / "runs" / metrics["run_dir"].split("/runs/")[1]
    assert (run / "model.crfsuite").stat().st_size > 0 and json.loads((run / "metrics.json").read_text())["c1"] in (
        0.0,
        0.1,
    )
    student = json.loads((run / "student.json").read_text())  # what compare finds it by
    assert student["architecture"] == "crf" and metrics["params"] >= student["features"] > 0
    # a tagged dataset's baseline is the CRF without --kind; tfidf-lr is refused for it
    assert main(["baseline", "--dataset", str(path), "--run-root", str(tmp_path / "cli"), "--c", "0.1"]) == 0
    out = capsys.readouterr().out
    assert "test entity F1" in out and "baseline saved to" in out and list((tmp_path / "cli").rglob("model.crfsuite"))
    assert main(["baseline", "--kind", "tfidf-lr", "--dataset", str(path), "--run-root", str(tmp_path / "x")]) == 1
    assert "is a tagged dataset: its baseline is --kind crf, not tfidf-lr" in caplog.text


def test_config_is_checked():
    with pytest.raises(ValueError, match="CrfConfig.c1_values must be non-negative"):
        CrfConfig(c1_values=[-1])
