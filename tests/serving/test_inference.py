from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from distil_bilstm.cli import main
from distil_bilstm.data.vocab import encode_texts, load_vocab
from distil_bilstm.rundir import RunDir
from distil_bilstm.serving.inference import Predictor, TextEncoder, pad
from distil_bilstm.training.metrics import classification_scores

TEXTS = [
    "정말 재미있는 영화 리뷰3",
    "지루하고 뻔한 전개",
    "",
    "great fun film " * 60,
    "a",
    "돈이 아까운 영화 boring and dull",
]


def test_rundir_round_trip(tmp_path):
    run = RunDir(tmp_path / "run")
    assert not run.is_run() and not run.is_finished()
    run.mkdir()
    run.write_config({"max_length": 64})
    run.write_student("bilstm", {"vocab_size": 10}, label_names=["neg", "pos"])
    assert run.is_run() and not run.is_finished() and run.read_config() == {"max_length": 64}
    assert run.read_student() == {
        "format": 1,
        "architecture": "bilstm",
        "vocab_size": 10,
        "label_names": ["neg", "pos"],
    }
    run.write_status({"status": "failed"})
    assert run.read_status()["status"] == "failed"
    run.clear_status()
    assert run.read_status() == {}
    run.write_metrics({"test_accuracy": 0.5})
    assert run.is_finished() and run.read_metrics()["test_accuracy"] == 0.5
    with pytest.raises(FileNotFoundError, match="not a trained student run \\(missing model.safetensors, vocab/\\)"):
        run.require_model()


def test_text_encoder_matches_training_tokenisation(tiny_run):
    vocab = RunDir(tiny_run).vocab_dir
    encoder = TextEncoder(vocab, max_length=16)
    reference = encode_texts(load_vocab(vocab), TEXTS, max_length=16)
    ours = encoder.encode(TEXTS)
    for i, row in enumerate(ours):
        start, length = int(reference.offsets[i]), int(reference.lengths[i])
        assert row == reference.ids[start : start + length].tolist(), TEXTS[i]
    ids, lengths = pad(ours)
    assert ids.shape == (len(TEXTS), 16) and lengths.tolist() == [len(r) for r in ours] and ids[2, 1:].sum() == 0


def test_predictions_in_input_order_whatever_the_window(tiny_run):
    predictor = Predictor.load(tiny_run, device="cpu", batch_size=2)
    predictor.window = 3  # windows of 3 texts, each sorted by length inside
    windowed = predictor.logits(TEXTS * 3)
    one_by_one = np.stack([Predictor.load(tiny_run, device="cpu").logits([t])[0] for t in TEXTS * 3])
    np.testing.assert_allclose(windowed, one_by_one, atol=1e-5)  # exact on padded batches, order kept
    preds = predictor.predict(TEXTS)
    assert [p.label for p in preds] == [predictor.label_names[i] for i in windowed[: len(TEXTS)].argmax(1)]
    assert all(abs(sum(p.probabilities.values()) - 1) < 1e-6 for p in preds)
    assert predictor.predict("하나만")[0].label in predictor.label_names


def test_inference_imports_no_training_code(tiny_run):
    code = (
        "import sys; from distil_bilstm.serving.inference import Predictor; Predictor.load(sys.argv[1], device='cpu')"
        ".predict(['좋아요']); heavy = [m for m in ('pandas', 'sklearn', 'tensorboard', 'transformers', "
        "'distil_bilstm.training.trainer', 'distil_bilstm.runs.pipeline') if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code, str(tiny_run)], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_classification_scores_by_hand():
    gold = np.array([0, 0, 0, 1, 1, 2])
    predicted = np.array([0, 1, 0, 1, 0, 1])
    scores = classification_scores(gold, predicted, ["a", "b", "c"])
    assert scores["accuracy"] == pytest.approx(3 / 6)
    assert scores["confusion_matrix"] == [[2, 1, 0], [1, 1, 0], [0, 1, 0]]
    # a: P 2/3 R 2/3; b: P 1/3 R 1/2; c: never predicted, P = R = 0
    assert scores["per_class"]["a"] == {
        "precision": pytest.approx(2 / 3),
        "recall": pytest.approx(2 / 3),
        "f1": pytest.approx(2 / 3),
        "support": 3,
    }
    assert scores["per_class"]["b"]["f1"] == pytest.approx(2 * (1 / 3) * (1 / 2) / (1 / 3 + 1 / 2))
    assert scores["macro_f1"] == pytest.approx((2 / 3 + 0.4 + 0) / 3)


def test_evaluate_a_labelled_file(tiny_run, tmp_path, capsys, caplog):
    predictor = Predictor.load(tiny_run, device="cpu")
    texts = ["정말 재미있는 영화", "시간 낭비 최악", "loved every minute", "boring and dull"]
    predicted = [p.label for p in predictor.predict(texts)]
    path = tmp_path / "eval.tsv"
    path.write_text(
        "text\tlabel\n" + "".join(f"{t}\t{g}\n" for t, g in zip(texts, ["positive", "0", "1", "negative"])),
        encoding="utf-8",
    )
    assert main(["evaluate", "--model", str(tiny_run), "--file", str(path), "--json", "--device", "cpu"]) == 0
    report = json.loads(capsys.readouterr().out)
    gold = ["positive", "negative", "positive", "negative"]
    assert report["examples"] == 4
    assert report["accuracy"] == pytest.approx(np.mean([p == g for p, g in zip(predicted, gold)]))
    assert sum(map(sum, report["confusion_matrix"])) == 4 and report["examples_per_second"] > 0

    assert main(["evaluate", "--model", str(tiny_run), "--file", str(path), "--device", "cpu"]) == 0
    assert "confusion matrix" in capsys.readouterr().out
    path.write_text("text\tlabel\n좋아요\tpositive\n별로\tneutral\n", encoding="utf-8")
    assert main(["evaluate", "--model", str(tiny_run), "--file", str(path)]) == 1
    assert "eval.tsv, line 3: label 'neutral' in column 'label' is not one of" in caplog.text


def test_predict_streams_a_file_larger_than_a_window(tiny_run, tmp_path, capsys):
    path = tmp_path / "reviews.txt"
    texts = [f"{TEXTS[i % len(TEXTS)]} {i}".strip() for i in range(700)]
    path.write_text("\n".join(texts) + "\n", encoding="utf-8")
    out = tmp_path / "preds.csv"
    assert (
        main(["predict", "--model", str(tiny_run), "--file", str(path), "--out", str(out), "--batch-size", "16"]) == 0
    )
    assert "700 rows" in capsys.readouterr().out
    with open(out, encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["text"] for r in rows] == texts
    expected = Predictor.load(tiny_run, device="cpu").predict(texts[:50])
    assert [r["label"] for r in rows[:50]] == [p.label for p in expected]
    assert float(rows[0]["p_negative"]) + float(rows[0]["p_positive"]) == pytest.approx(1.0, abs=1e-5)

    assert main(["predict", "--model", str(tiny_run), "좋아요", "별로"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [json.loads(line)["text"] for line in lines] == ["좋아요", "별로"]


def _copy_run(tiny_run, tmp_path):
    import shutil

    return Path(shutil.copytree(tiny_run, tmp_path / "copy"))


def test_a_cut_vocabulary_is_refused_naming_the_file(tiny_run, tmp_path):
    run = _copy_run(tiny_run, tmp_path)
    vocab = run / "vocab" / "vocab.txt"
    vocab.write_text("\n".join(vocab.read_text(encoding="utf-8").splitlines()[:60]) + "\n", encoding="utf-8")
    with pytest.raises(
        ValueError, match=r"vocab.txt: 60 tokens, but .*student.json says the model was trained with \d+"
    ):
        Predictor.load(run, device="cpu")


def test_a_vocabulary_that_is_not_utf8_is_refused_naming_the_file(tiny_run, tmp_path):
    run = _copy_run(tiny_run, tmp_path)
    with open(run / "vocab" / "vocab.txt", "ab") as fh:
        fh.write(b"\xff\xfe\n")
    with pytest.raises(ValueError, match=r"vocab.txt: not a readable vocabulary \(.*UTF-8"):
        Predictor.load(run, device="cpu")


def test_truncated_weights_are_refused_naming_the_file(tiny_run, tmp_path):
    run = _copy_run(tiny_run, tmp_path)
    weights = run / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:300])
    with pytest.raises(ValueError, match=r"model.safetensors: not a readable safetensors file .*truncated"):
        Predictor.load(run, device="cpu")


@pytest.mark.parametrize("cut", [0, 1000])
def test_an_empty_or_truncated_onnx_export_is_refused_naming_the_file(tiny_run, tmp_path, cut):
    out = tmp_path / "export"
    assert main(["export", "--model", str(tiny_run), "--format", "onnx", "--out", str(out)]) == 0
    model = out / "model.onnx"
    model.write_bytes(model.read_bytes()[:cut])
    with pytest.raises(ValueError, match=r"model.onnx: not a loadable ONNX model .*export it again"):
        Predictor.load(out)


def test_a_lone_surrogate_is_refused_naming_the_text(tiny_run):
    predictor = Predictor.load(tiny_run, device="cpu")
    with pytest.raises(
        ValueError, match=r"text #1 \(character 0 is '\\ud800', a lone surrogate\) is not valid Unicode"
    ):
        predictor.predict(["좋아요", "\ud800"])


def test_a_bad_device_and_bad_bytes_on_the_command_line_are_one_line(tiny_run, caplog, capsys):
    assert main(["predict", "--model", str(tiny_run), "--device", "bogus", "좋아요"]) == 1
    assert "device 'bogus' is not a device: use auto, cpu, cuda or cuda:N" in caplog.text
    with pytest.raises(SystemExit) as exit_info:  # bytes that are not UTF-8 reach Python as lone surrogates
        main(["predict", "--model", str(tiny_run), b"\xff bad".decode("utf-8", "surrogateescape")])
    assert exit_info.value.code == 2
    assert "argument 4 is not valid UTF-8 text: '\\udcff bad'" in capsys.readouterr().err


def test_serving_an_onnx_export_imports_neither_torch_nor_training_code(tiny_run, tmp_path):
    out = tmp_path / "export"
    assert main(["export", "--model", str(tiny_run), "--format", "onnx", "--out", str(out)]) == 0
    code = (
        "import sys; from distil_bilstm.serving.http import create_app; from distil_bilstm.serving.inference import "
        "Predictor; Predictor.load(sys.argv[1]).predict(['좋아요']); print(sorted(m for m in sys.modules if m == 'torch' "
        "or m.startswith(('distil_bilstm.training', 'distil_bilstm.runs', 'distil_bilstm.teachers', 'pandas'))))"
    )
    out_text = subprocess.run([sys.executable, "-c", code, str(out)], capture_output=True, text=True, check=True).stdout
    assert out_text.strip() == "[]"
