"""serving/entities.py and predict/evaluate on a tagger run: entities with character offsets."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from distil_bilstm.cli import main
from distil_bilstm.data.tag_units import split_tokens


def test_words_and_characters_keep_their_offsets():
    assert split_tokens("Kim, in Seoul.", unit="words") == [
        ("Kim", 0, 3),
        (",", 3, 4),
        ("in", 5, 7),
        ("Seoul", 8, 13),
        (".", 13, 14),
    ]
    assert split_tokens("김 씨", unit="characters") == [("김", 0, 1), (" ", 1, 2), ("씨", 2, 3)]


def test_predict_prints_each_entity_with_its_offsets_and_score(tiny_tagger_run, capsys, monkeypatch):
    _, run = tiny_tagger_run
    text = "Yesterday Smith went to Paris"
    assert main(["predict", "--model", run, text]) == 0
    line = json.loads(capsys.readouterr().out)
    assert line["text"] == text
    found = {(e["text"], e["type"]) for e in line["entities"]}
    assert found == {("Smith", "PER"), ("Paris", "LOC")}
    for e in line["entities"]:
        assert text[e["start"] : e["end"]] == e["text"] and 0 < e["score"] <= 1
    monkeypatch.setattr("sys.stdin", io.StringIO("Lee Jr lives in Busan\n\nYesterday went to\n"))
    assert main(["predict", "--model", run]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [[e["text"] for e in x["entities"]] for x in lines] == [["Lee Jr", "Busan"], []]


def test_evaluate_gives_the_runs_test_f1_and_refuses_a_file(tiny_tagger_run, capsys, caplog):
    data, run = tiny_tagger_run
    assert main(["evaluate", "--model", run, "--dataset", str(data), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    metrics = json.loads((Path(run) / "metrics.json").read_text())
    assert report["f1"] == pytest.approx(metrics["test_entity_f1"]) and report["data"].endswith(":test")
    assert main(["evaluate", "--model", run, "--file", str(data)]) == 1
    assert "is a tagger: evaluate it on --dataset" in caplog.text


def test_loading_a_tagger_imports_neither_pandas_nor_transformers(tiny_tagger_run):
    _, run = tiny_tagger_run
    code = (
        "import sys; from distil_bilstm.serving.entities import TagPredictor; "
        f"TagPredictor.load({run!r}).entities(['Kim went to Rome']); "
        "print(sorted(m for m in ('pandas', 'transformers', 'sklearn') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_serve_answers_entities_and_refuses_pairs(tiny_tagger_run):
    from fastapi.testclient import TestClient

    from distil_bilstm.serving.http import create_app

    _, run = tiny_tagger_run
    client = TestClient(create_app(run))
    health = client.get("/health").json()
    assert health["model"]["task"] == "entities" and health["model"]["types"] == ["LOC", "PER"]
    body = client.post("/predict", json={"texts": ["Yesterday Smith went to Paris", "went to"]}).json()
    assert [[e["text"] for e in row] for row in body["entities"]] == [["Smith", "Paris"], []]
    assert body["truncated"] == [False, False] and body["types"] == ["LOC", "PER"]
    refused = client.post("/predict", json={"pairs": [["a", "b"]]})
    assert refused.status_code == 422 and "single texts" in refused.json()["error"]


def test_predict_file_writes_one_json_line_a_row_in_order(tiny_tagger_run, tmp_path, capsys):
    _, run = tiny_tagger_run
    texts = tmp_path / "texts.txt"
    texts.write_text("Yesterday Smith went to Paris\n\nLee Jr lives in Busan\n", encoding="utf-8")
    assert main(["predict", "--model", run, "--file", str(texts)]) == 0
    assert "3 rows, 4 entities" in capsys.readouterr().out
    lines = [json.loads(x) for x in (tmp_path / "texts.txt.entities.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [x["text"] for x in lines] == ["Yesterday Smith went to Paris", "", "Lee Jr lives in Busan"]
    assert [[e["type"] for e in x["entities"]] for x in lines] == [["PER", "LOC"], [], ["PER", "LOC"]]


@pytest.mark.parametrize("fmt", ["onnx", "onnx-int8"])
def test_an_exported_tagger_finds_the_runs_entities(tiny_tagger_run, tmp_path, capsys, fmt):
    from distil_bilstm.serving.entities import TagPredictor

    data, run = tiny_tagger_run
    out = tmp_path / fmt
    assert main(["export", "--model", run, "--format", fmt, "--out", str(out)]) == 0
    assert "tag agreement" in capsys.readouterr().out
    info = json.loads((out / "export.json").read_text())
    assert info["task"] == "entities" and info["crf"] and (out / "crf.json").is_file()
    assert info["inputs"][0]["shape"][2] == 1 + json.loads((out / "vocab" / "units.json").read_text())["max_chars"]
    if fmt == "onnx":
        assert info["check"]["max_abs_diff"] < 1e-4 and info["check"]["tag_agreement"] == 1.0
    else:
        assert info["size_bytes"] < info["fp32_size_bytes"] and info["check"]["tag_agreement"] > 0.9
    texts = ["Yesterday Smith went to Paris", "Lee Jr lives in Busan", "went to"]
    exported, original = TagPredictor.load(out), TagPredictor.load(run, device="cpu")
    assert exported.describe()["format"] == fmt
    assert [[(e.text, e.type) for e in row] for row in exported.entities(texts)] == [
        [(e.text, e.type) for e in row] for row in original.entities(texts)
    ]
    # predict, evaluate and serve take the export folder as they take the run
    from fastapi.testclient import TestClient

    from distil_bilstm.serving.http import create_app

    client = TestClient(create_app(str(out)))
    assert client.get("/health").json()["model"]["format"] == fmt
    body = client.post("/predict", json={"texts": texts[:1]}).json()
    assert [e["text"] for e in body["entities"][0]] == ["Smith", "Paris"]
    assert main(["predict", "--model", str(out), texts[0]]) == 0
    assert {e["text"] for e in json.loads(capsys.readouterr().out)["entities"]} == {"Smith", "Paris"}
    assert main(["evaluate", "--model", str(out), "--dataset", str(data), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["f1"] == pytest.approx(
        original.evaluate(_test_split(data))["f1"], abs=0.05
    )


def _test_split(data):
    from distil_bilstm.data.tagging import load_tagged_dataset

    return load_tagged_dataset(str(data)).split("test")


def test_a_tagger_refuses_torchscript_and_the_dynamo_exporter(tiny_tagger_run, tmp_path, caplog):
    _, run = tiny_tagger_run
    assert main(["export", "--model", run, "--format", "torchscript", "--out", str(tmp_path / "ts")]) == 1
    assert main(["export", "--model", run, "--exporter", "dynamo", "--out", str(tmp_path / "dy")]) == 1
    assert caplog.text.count("it exports as --format onnx or onnx-int8 with --exporter legacy") == 2
    assert not (tmp_path / "ts").exists() and not (tmp_path / "dy").exists()


def test_a_tagger_of_characters_exports_without_a_character_encoder(tmp_path):
    from distil_bilstm.runs.tagging import TagRunConfig, train_tagger
    from distil_bilstm.serving.entities import TagPredictor

    data = tmp_path / "chars.jsonl"
    rows = [{"tokens": list("김씨 집"), "tags": ["B-PS", "I-PS", "O", "O"]}] * 40
    data.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
    values = dict(embedding_dim=8, hidden_dim=8, max_chars=0, lowercase=False, train_epoch=2, lr=1e-2)
    run = train_tagger(TagRunConfig(dataset=str(data), run_root=str(tmp_path / "runs"), **values))["run_dir"]
    out = tmp_path / "export"
    assert main(["export", "--model", run, "--out", str(out)]) == 0
    info = json.loads((out / "export.json").read_text())
    assert (
        info["inputs"][0]["shape"] == ["batch", "sequence", 1] and not info["crf"] and not (out / "crf.json").exists()
    )
    texts = ["김씨 집", "집"]
    exported, original = TagPredictor.load(out), TagPredictor.load(run, device="cpu")
    (tags, probs), (tags_torch, probs_torch) = (p.tag_ids([list(t) for t in texts]) for p in (exported, original))
    assert tags == tags_torch and probs[0] == pytest.approx(probs_torch[0], abs=1e-5)
