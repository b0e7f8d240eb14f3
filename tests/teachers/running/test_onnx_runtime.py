from __future__ import annotations

import json

import numpy as np
import pytest

from distil_bilstm.cli import main
from distil_bilstm.data.datasets import load_dataset
from distil_bilstm.teachers.running.onnx_runtime import compare_with_torch, load_onnx_teacher
from distil_bilstm.teachers.running.reference import load_teacher


def test_onnx_logits_match_torch_on_a_tiny_bert(tmp_path, small_nsmc, tiny_teacher_dir):
    texts = load_dataset("nsmc", data_dir=small_nsmc, download=False).table["text"].tolist()
    teacher = load_teacher(tiny_teacher_dir, device="cpu")
    onnx = load_onnx_teacher(teacher, runtime="onnx", cache_dir=tmp_path / "cache")
    want = teacher.logits(texts, batch_size=16, max_length=32, progress=False)
    got = onnx.logits(texts, batch_size=16, max_length=32, progress=False)
    assert got.shape == want.shape and np.abs(got - want).max() < 1e-4  # fp32: the same function, padding included
    assert onnx.name == teacher.name and onnx.weights_hash == teacher.weights_hash

    int8 = load_onnx_teacher(teacher, runtime="onnx-int8", cache_dir=tmp_path / "cache")
    check = compare_with_torch(teacher, int8, texts, batch_size=16, max_length=32)
    import onnx as onnx_lib

    nodes = {n.name: n.op_type for n in onnx_lib.load(str(int8.model_file)).graph.node}
    quantized = [name for name, op in nodes.items() if op == "MatMulInteger"]
    assert len(quantized) == 6  # q, k, v, attention output, intermediate, output of the one layer: int8 weights
    assert not any("classifier" in n or "pooler" in n for n in quantized)  # the head stays fp32
    assert (
        check["sample"] == len(texts) and 0.0 < check["max_abs_logit_diff"] < 1.0 and check["argmax_agreement"] >= 0.9
    )


def test_cli_logits_with_onnx_records_the_runtime_and_its_check(tmp_path, small_nsmc, tiny_teacher_dir, capsys):
    args = [
        "teacher",
        "logits",
        "--dataset",
        "nsmc",
        "--data-dir",
        str(small_nsmc),
        "--teacher",
        str(tiny_teacher_dir),
        "--cache-dir",
        str(tmp_path / "logits"),
        "--runtime",
        "onnx",
        "--check-size",
        "50",
        "--device",
        "cpu",
    ]
    assert main(args) == 0
    assert "onnx vs torch on 50 texts: argmax agreement 100.00%" in capsys.readouterr().out
    header = json.loads((tmp_path / "logits" / "tiny_teacher" / "nsmc" / "header.json").read_text())
    assert header["runtime"] == "onnx" and header["runtime_check"]["sample"] == 50
    assert header["runtime_check"]["max_abs_logit_diff"] < 1e-4


def test_onnx_runtime_refuses_a_baseline_teacher(tmp_path, tiny_run, capsys):
    # tiny_run is a BiLSTM run, not a checkpoint: the teacher loader refuses it before any export
    args = [
        "teacher",
        "logits",
        "--dataset",
        "nsmc_sample",
        "--teacher",
        str(tiny_run),
        "--cache-dir",
        str(tmp_path),
        "--runtime",
        "onnx-int8",
    ]
    assert main(args) == 1


@pytest.mark.parametrize("runtime", ["tensorrt"])
def test_unknown_runtime_is_refused(tmp_path, tiny_teacher_dir, runtime):
    with pytest.raises(ValueError, match="runtime must be one of"):
        load_onnx_teacher(load_teacher(tiny_teacher_dir, device="cpu"), runtime=runtime, cache_dir=tmp_path)
