from __future__ import annotations

import ast
import subprocess
import sys

import numpy as np
import pytest

from distil_bilstm.cli import main
from distil_bilstm.serving.export import ExportConfig, export_student
from distil_bilstm.serving.inference import Predictor

from ..conftest import REPO
from .test_inference import TEXTS

REFERENCE = REPO / "docs" / "reference.md"


def reference_onnx_example() -> str:
    """The Python block under docs/reference.md's "An export runs without this package" paragraph."""
    text = REFERENCE.read_text(encoding="utf-8")
    start = text.index("```python", text.index("An export runs without this package"))
    return text[start + len("```python") : text.index("```", start + 9)]


@pytest.mark.parametrize("fmt,exporter", [("onnx", "legacy"), ("onnx", "dynamo"), ("torchscript", "legacy")])
def test_fp32_exports_agree_with_torch(tiny_run, tmp_path, fmt, exporter):
    info = export_student(tiny_run, tmp_path / "export", ExportConfig(format=fmt, exporter=exporter))
    assert info["check"]["max_abs_diff"] < 1e-4 and info["check"]["argmax_agreement"] == 1.0
    assert {(c["batch"], c["sequence"]) for c in info["check"]["cases"]} >= {(1, 1), (64, 64), (5, 128)}
    assert (tmp_path / "export" / info["model_file"]).is_file() and (
        tmp_path / "export" / "vocab" / "vocab.txt"
    ).is_file()
    torch_logits = Predictor.load(tiny_run, device="cpu").logits(TEXTS)
    exported = Predictor.load(tmp_path / "export", device="cpu")
    assert exported.kind == fmt
    np.testing.assert_allclose(exported.logits(TEXTS), torch_logits, atol=1e-4)


def test_int8_export_is_smaller_and_close(tiny_run, tmp_path):
    info = export_student(tiny_run, tmp_path / "int8", ExportConfig(format="onnx-int8"))
    assert info["size_bytes"] < info["fp32_size_bytes"] and info["model_file"] == "model.int8.onnx"
    assert not (tmp_path / "int8" / "model.onnx").exists()
    assert info["check"]["max_abs_diff"] < 0.1 and info["check"]["argmax_agreement"] >= 0.9
    torch_labels = [p.label for p in Predictor.load(tiny_run, device="cpu").predict(TEXTS)]
    int8_labels = [p.label for p in Predictor.load(tmp_path / "int8").predict(TEXTS)]
    assert np.mean([a == b for a, b in zip(torch_labels, int8_labels)]) >= 0.8


def test_reference_example_runs_an_export_without_this_package(tiny_run, tmp_path):
    export_student(tiny_run, tmp_path / "exports" / "base-int8", ExportConfig(format="onnx-int8"))
    code = 'import sys; sys.modules["distil_bilstm"] = None\n' + reference_onnx_example()  # nothing of ours importable
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=tmp_path).stdout
    texts = ["정말 재미있게 봤어요", "시간 낭비였다"]  # the README's texts
    assert ast.literal_eval(out.strip()) == [
        p.label for p in Predictor.load(tmp_path / "exports" / "base-int8").predict(texts)
    ]


def test_export_cli_and_refusals(tiny_run, tmp_path, capsys, caplog):
    out = tmp_path / "onnx"
    assert main(["export", "--model", str(tiny_run), "--format", "onnx", "--out", str(out)]) == 0
    assert "max |Δlogit|" in capsys.readouterr().out
    assert main(["export", "--model", str(tiny_run), "--format", "onnx", "--out", str(out)]) == 1
    assert "is not empty; choose another --out or pass --overwrite" in caplog.text
    assert main(["export", "--model", str(tmp_path), "--out", str(tmp_path / "x")]) == 1
    assert "not a trained student run" in caplog.text
    with pytest.raises(ValueError, match="ExportConfig.format must be one of"):
        ExportConfig(format="tflite")
