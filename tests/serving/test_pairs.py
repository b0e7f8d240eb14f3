"""Sentence pairs in predict, evaluate, export and serve."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest
from fastapi.testclient import TestClient
from scipy.stats import spearmanr

from distil_bilstm.data.pairs import make_pair
from distil_bilstm.serving.export import ExportConfig, export_student
from distil_bilstm.serving.http import ServeConfig, create_app
from distil_bilstm.serving.inference import Predictor

from ..conftest import write_korsts

PAIRS = [
    ["남자가 기타를 연주하고 있다.", "남자가 기타를 연주하고 있다."],
    ["고양이가 자고 있다.", "여자가 피아노를 연주하고 있다."],
]


def test_a_pair_model_scores_pairs_unrounded_and_its_export_agrees(tiny_pair_run, tmp_path):
    predictor = Predictor.load(tiny_pair_run, device="cpu")
    assert predictor.reads_pairs and predictor.is_regression
    scores = [p.score for p in predictor.predict_pairs(PAIRS)]
    assert all(isinstance(s, float) for s in scores)
    assert predictor.predict_pairs(PAIRS)[0].to_dict()["label"] == "score"
    info = export_student(tiny_pair_run, tmp_path / "onnx", ExportConfig(format="onnx"))
    assert info["pairs"] is True and info["check"]["max_abs_diff"] < 1e-4
    exported = Predictor.load(tmp_path / "onnx")
    assert exported.reads_pairs
    assert np.allclose([p.score for p in exported.predict_pairs(PAIRS)], scores, atol=1e-4)


def test_a_cosine_head_student_with_mean_pooling_trains_exports_and_agrees(tmp_path):
    from distil_bilstm.runs.config import DistilConfig
    from distil_bilstm.runs.pipeline import run_distillation

    config = DistilConfig(
        dataset="korsts",
        data_dir=str(write_korsts(tmp_path / "data")),
        vocab_size=120,
        vocab_root=str(tmp_path / "tok"),
        student="siamese_bilstm",
        preset="tiny",
        relu_dim=16,
        pair_head="cosine",
        pooling="mean",
        loss="ce",
        lr=0.01,
        batch_size=16,
        train_epoch=1,
        patience=0,
        run_root=str(tmp_path / "runs"),
        device="cpu",
    )
    run_dir = run_distillation(config)["run_dir"]
    assert "siamese-tiny-cos-r16" in run_dir
    predictor = Predictor.load(run_dir, device="cpu")
    scores = [p.score for p in predictor.predict_pairs(PAIRS)]
    info = export_student(run_dir, tmp_path / "onnx", ExportConfig(format="onnx"))
    assert info["check"]["max_abs_diff"] < 1e-4
    assert np.allclose([p.score for p in Predictor.load(tmp_path / "onnx").predict_pairs(PAIRS)], scores, atol=1e-4)


def test_serve_takes_pairs_with_the_same_validation_as_texts(tiny_pair_run):
    config = ServeConfig(max_texts=2, max_chars=40)
    with TestClient(create_app(tiny_pair_run, config=config), raise_server_exceptions=False) as client:
        body = client.post("/predict", json={"pairs": PAIRS}).json()
        expected = Predictor.load(tiny_pair_run, device="cpu").predict_pairs(PAIRS)
        assert [p["score"] for p in body["predictions"]] == pytest.approx([p.score for p in expected], abs=1e-6)
        assert body["predictions"][0]["truncated"] is False
        for payload, message in [
            ({"pairs": "a"}, '"pairs" must be a list'),
            ({"pairs": []}, '"pairs" is empty'),
            ({"pairs": [["a"]]}, r"pairs\[0\] must be a list of two strings"),
            ({"pairs": [["a", 3]]}, r"pairs\[0\]\[1\] is int"),
            ({"pairs": [["a", " "]]}, r"pairs\[0\]\[1\] is empty"),
            ({"pairs": PAIRS * 2}, "at most 2 per request"),
            ({"texts": ["한 문장"]}, "this model reads sentence pairs"),
        ]:
            response = client.post("/predict", json=payload)
            assert response.status_code == 422, payload
            assert __import__("re").search(message, response.json()["error"]), response.json()
        tabbed = client.post("/predict", json={"pairs": [["남자가\t기타를", "친다"]]}).json()["predictions"][0]["score"]
        assert (
            tabbed
            == client.post("/predict", json={"pairs": [["남자가 기타를", "친다"]]}).json()["predictions"][0]["score"]
        )
        long = client.post("/predict", json={"pairs": [["가" * 60, "나"]]}).json()
        assert long["predictions"][0]["truncated"] is True


def test_predict_and_evaluate_cli_read_a_pair_file(tiny_pair_run, tmp_path, capsys):
    from distil_bilstm.cli import main

    pairs = tmp_path / "pairs.tsv"
    pairs.write_text(
        "sentence1\tsentence2\tscore\n" + "".join(f"{a}\t{b}\t{s}\n" for (a, b), s in zip(PAIRS, (5.0, 0.0))) * 3,
        encoding="utf-8",
    )
    assert (
        main(["predict", "--model", str(tiny_pair_run), "--file", str(pairs), "--out", str(tmp_path / "out.csv")]) == 0
    )
    written = list(csv.reader(open(tmp_path / "out.csv", encoding="utf-8")))
    assert written[0] == ["sentence1", "sentence2", "score"] and written[1][:2] == PAIRS[0] and len(written) == 7
    expected = Predictor.load(tiny_pair_run, device="cpu").predict_pairs(PAIRS)[0].score
    # unrounded (a batch of 6 and one of 2 may differ in the last float32 bits)
    assert float(written[1][2]) == pytest.approx(expected, abs=1e-5) and len(written[1][2]) > 8
    assert main(["predict", "--model", str(tiny_pair_run), PAIRS[1][0], "--text-b", PAIRS[1][1]]) == 0
    line = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert line["pair"] == PAIRS[1] and isinstance(line["score"], float)
    assert main(["evaluate", "--model", str(tiny_pair_run), "--file", str(pairs), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    # Spearman of the scores `predict` wrote for the same file (the copies of a pair may differ in their last float32
    # bits with the thread count, which moves the ranks: so no fixed value), computed independently by scipy
    predicted = [float(row[2]) for row in written[1:]]
    assert report["examples"] == 6 and "pearson" in report
    assert report["spearman"] == pytest.approx(spearmanr([5.0, 0.0] * 3, predicted).statistic, abs=1e-6)


def test_the_dynamo_exporter_is_refused_for_a_siamese_student(tiny_pair_run, tmp_path):
    with pytest.raises(ValueError, match="exports with --exporter legacy only"):
        export_student(tiny_pair_run, tmp_path / "dyn", ExportConfig(format="onnx", exporter="dynamo"))


def test_pairs_by_name_on_the_command_line_and_single_texts_never_become_pairs(
    tiny_pair_run, tiny_run, capsys, caplog, monkeypatch
):
    from distil_bilstm.cli import main

    (a1, b1), (a2, b2) = PAIRS
    assert main(["predict", "--model", str(tiny_pair_run), a1, a2, "--text-b", b1, b2]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    expected = [p.score for p in Predictor.load(tiny_pair_run, device="cpu").predict_pairs(PAIRS)]
    assert [line["pair"] for line in lines] == PAIRS
    assert [line["score"] for line in lines] == pytest.approx(expected, abs=1e-5)
    assert main(["predict", "--model", str(tiny_pair_run), a1, a2, "--text-b", b1]) == 1
    assert "2 text(s), 1 --text-b" in caplog.text
    with pytest.raises(ValueError, match=r"reads sentence pairs; give each as two texts .*got the single text"):
        Predictor.load(tiny_pair_run, device="cpu").predict([a1])
    # a one-text model reads a tab as whitespace: the same prediction as with a space, never "A [SEP] B"
    single = Predictor.load(tiny_run, device="cpu")
    assert single.logits(["great fun\tfilm"]).tolist() == single.logits(["great fun film"]).tolist()
    with pytest.raises(ValueError, match="reads one text, not sentence pairs"):
        single.predict_pairs(PAIRS)
    with pytest.raises(ValueError, match="reads one text, not sentence pairs; got the pair"):
        single.predict([make_pair(a1, b1)])
    # stdin: a pair model's lines are A<TAB>B, and a line with one text is one clear error
    monkeypatch.setattr("sys.stdin", io.StringIO(f"{a1}\t{b1}\n\n{a2}\t{b2}\n"))
    assert main(["predict", "--model", str(tiny_pair_run)]) == 0
    assert [json.loads(line)["pair"] for line in capsys.readouterr().out.splitlines()] == PAIRS
    monkeypatch.setattr("sys.stdin", io.StringIO(f"{a1}\t{b1}\n{a2}\n"))
    assert main(["predict", "--model", str(tiny_pair_run)]) == 1
    assert "stdin, line 2 (sentence pairs are expected" in caplog.text


def test_a_tab_inside_a_single_text_of_a_data_file_is_whitespace(tmp_path):
    from distil_bilstm.data.datasets import load_dataset, load_transfer_set

    path = tmp_path / "tabs.jsonl"
    path.write_text(
        "".join(json.dumps({"text": f"good\tfilm {i}", "label": i % 2}) + "\n" for i in range(30)), encoding="utf-8"
    )
    dataset = load_dataset(str(path))
    assert not dataset.pairs and not dataset.table["text"].str.contains("\t").any()
    extra = tmp_path / "extra.jsonl"
    extra.write_text(json.dumps({"text": "more\tgood words"}) + "\n", encoding="utf-8")
    assert load_transfer_set(extra, dataset=dataset).table["text"].tolist() == ["more good words"]
