"""``distil-bilstm export``: a trained student as ONNX (fp32 or int8) or TorchScript.

The export folder runs without this package: the model file, ``vocab/`` (``vocab.txt`` and its
settings, for the ``tokenizers`` library) and ``export.json`` (format, inputs, outputs, label
names, tokenisation, and the check below). README shows the ten lines that use it.

    inputs   input_ids (batch, sequence) int64, right-padded with 0; lengths (batch,) int64 >= 1
    output   logits (batch, num_labels) float32

Batch and sequence axes are dynamic. Every export is checked against PyTorch on random batches
of several sizes and lengths: fp32 (ONNX or TorchScript) must agree within ``tolerance``
(max |Δlogit|, default 1e-4) or the export fails; int8 reports its max |Δlogit| and argmax
agreement (its accuracy on a real test set is in ``bench/export.py``).

ONNX exporter: torch offers two. Both produce a correct dynamic-length graph of this student
(the two LSTMs become ONNX ``LSTM`` nodes, which onnxruntime's dynamic quantizer turns into
``DynamicQuantizeLSTM``). We keep the TorchScript-based exporter (``dynamo=False``): it exports
in well under a second instead of ~7 s, writes one self-contained file (the dynamo exporter
splits weights into ``model.onnx.data``) and needs no ``onnxscript``. ``--exporter dynamo`` is
there to compare; both are tested.

int8: onnxruntime's dynamic quantization (``torch.ao.quantization`` is deprecated) of the LSTM,
MatMul/Gemm and embedding Gather weights: weights stored as 8-bit, activations quantized on the
fly.
"""

from __future__ import annotations

import logging
import shutil
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from ..rundir import TAGGER_ARCHITECTURE, ExportDir, RunDir, split_student_json
from ..students.registry import STUDENTS
from ..utils import atomic_dir, quiet_onnx_quantizer
from .inference import OnnxBackend, TorchBackend

logger = logging.getLogger(__name__)

FORMATS = ("onnx", "onnx-int8", "torchscript")
EXPORTERS = ("legacy", "dynamo")
INPUTS = [
    {"name": "input_ids", "dtype": "int64", "shape": ["batch", "sequence"], "padding_id": 0},
    {"name": "lengths", "dtype": "int64", "shape": ["batch"]},
]
OUTPUTS = [{"name": "logits", "dtype": "float32", "shape": ["batch", "num_labels"]}]
CHECK_SHAPES = ((1, 1), (1, 37), (3, 7), (16, 23), (64, 64), (5, 128))  # (batch, sequence)


@dataclass(kw_only=True)
class ExportConfig:
    format: str = "onnx"
    exporter: str = "legacy"  # ONNX only: legacy (TorchScript-based) or dynamo (torch.export-based)
    opset: int = 17
    tolerance: float = 1e-4  # fp32: the largest |Δlogit| against PyTorch that passes
    overwrite: bool = False

    def __post_init__(self) -> None:
        if self.format not in FORMATS:
            raise ValueError(f"ExportConfig.format must be one of {FORMATS}, got {self.format!r}")
        if self.exporter not in EXPORTERS:
            raise ValueError(f"ExportConfig.exporter must be one of {EXPORTERS}, got {self.exporter!r}")
        if not 13 <= self.opset <= 21:
            raise ValueError(f"ExportConfig.opset must be in 13..21, got {self.opset!r}")
        if self.tolerance <= 0:
            raise ValueError(f"ExportConfig.tolerance must be > 0, got {self.tolerance!r}")

    def to_dict(self) -> dict:
        return asdict(self)


def example_inputs(
    vocab_size: int, batch: int, seq: int, *, seed: int, sep_id: int | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Random right-padded ids ``(batch, seq)`` with random lengths (the first row full length);
    with ``sep_id`` (a pair student) each row's middle token is the separator, so both sides run."""
    generator = torch.Generator().manual_seed(seed)
    lengths = torch.randint(1, seq + 1, (batch,), generator=generator)
    lengths[0] = seq
    ids = torch.randint(1, vocab_size, (batch, seq), generator=generator)
    if sep_id is not None:
        ids = ids.masked_fill(ids == sep_id, 1)  # one separator a row, at its middle
        ids[torch.arange(batch), lengths // 2] = sep_id
    ids = ids.masked_fill(torch.arange(seq).unsqueeze(0) >= lengths.unsqueeze(1), 0)
    return ids, lengths


def _onnx_export(
    model: torch.nn.Module,
    path: Path,
    *,
    example: tuple[torch.Tensor, torch.Tensor],
    config: ExportConfig,
    per_token: bool,
) -> None:
    """``model(input_ids, lengths)`` as ONNX at ``path``, batch and sequence axes dynamic (``per_token``:
    its logits have a sequence axis too — a tagger's)."""
    common = dict(input_names=["input_ids", "lengths"], output_names=["logits"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporters' deprecation and tracer notices are not the user's concern
        if config.exporter == "legacy":
            torch.onnx.export(
                model,
                example,
                str(path),
                opset_version=config.opset,
                dynamo=False,
                dynamic_axes={
                    "input_ids": {0: "batch", 1: "sequence"},
                    "lengths": {0: "batch"},
                    "logits": {0: "batch", 1: "sequence"} if per_token else {0: "batch"},
                },
                **common,
            )
        else:
            batch, seq = torch.export.Dim("batch", min=1), torch.export.Dim("sequence", min=1)
            program = torch.onnx.export(
                model,
                example,
                dynamo=True,
                opset_version=max(config.opset, 18),
                dynamic_shapes=({0: batch, 1: seq}, {0: batch}),
                **common,
            )
            program.save(str(path), external_data=False)  # one self-contained file, like the legacy exporter's


def write_onnx(
    model: torch.nn.Module,
    staging: ExportDir,
    *,
    example: tuple[torch.Tensor, torch.Tensor],
    config: ExportConfig,
    per_token: bool = False,
) -> tuple[Path, dict]:
    """The ONNX file of ``config.format`` in ``staging`` (int8: quantized from the fp32 one, which is
    then removed) → (its path, what export.json says of its size)."""
    fp32 = staging.model_path("onnx")
    _onnx_export(model, fp32, example=example, config=config, per_token=per_token)
    if config.format != "onnx-int8":
        return fp32, {"size_bytes": fp32.stat().st_size}
    target = staging.model_path("onnx-int8")
    _quantize_int8(fp32, target)
    sizes = {"size_bytes": target.stat().st_size, "fp32_size_bytes": fp32.stat().st_size}
    fp32.unlink()
    return target, sizes


def require_tolerance(check: dict, *, config: ExportConfig, source: Path) -> None:
    """An fp32 export that differs from PyTorch by more than the tolerance is refused (int8 reports)."""
    if config.format != "onnx-int8" and check["max_abs_diff"] > config.tolerance:
        raise ValueError(
            f"{config.format} export of {source} differs from PyTorch by {check['max_abs_diff']:.2e} "
            f"(> tolerance {config.tolerance:g}); nothing was written"
        )


def _quantize_int8(fp32: Path, out: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with quiet_onnx_quantizer():
        quantize_dynamic(
            str(fp32), str(out), weight_type=QuantType.QInt8, op_types_to_quantize=["LSTM", "MatMul", "Gemm", "Gather"]
        )


def _torchscript(model: torch.nn.Module, path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scripted = torch.jit.script(model)  # script, not trace: the padding logic depends on the lengths
    scripted.save(str(path))


def compare_with_torch(model: torch.nn.Module, backend, *, vocab_size: int) -> dict:
    """Max |Δlogit| and argmax agreement of ``backend`` against ``model`` on CHECK_SHAPES."""
    worst, agree, total, cases = 0.0, 0, 0, []
    sep_id = getattr(getattr(model, "config", None), "sep_id", None)  # a siamese student reads A [SEP] B
    for i, (batch, seq) in enumerate(CHECK_SHAPES):
        ids, lengths = example_inputs(vocab_size, batch, seq, seed=100 + i, sep_id=sep_id)
        with torch.inference_mode():
            reference = model(ids, lengths).numpy()
        got = backend(ids.numpy(), lengths.numpy())
        diff = float(np.abs(got - reference).max())
        worst = max(worst, diff)
        agree += int((got.argmax(1) == reference.argmax(1)).sum())
        total += batch
        cases.append({"batch": batch, "sequence": seq, "max_abs_diff": diff})
    return {"max_abs_diff": worst, "argmax_agreement": agree / total, "cases": cases}


def export_student(run_path: str | Path, out_dir: str | Path, config: ExportConfig) -> dict:
    """Export the student of ``run_path`` into ``out_dir``; returns (and writes) ``export.json``."""
    run = RunDir(run_path)
    run.require_model()
    out = ExportDir(out_dir)
    if out.path.exists() and any(out.path.iterdir()) and not config.overwrite:
        raise ValueError(f"{out.path} is not empty; choose another --out or pass --overwrite")
    architecture, values, label_names = split_student_json(run.read_student())
    if architecture == TAGGER_ARCHITECTURE:
        from .tagger_export import export_tagger

        return export_tagger(run, out, config)
    if architecture == "siamese_bilstm" and config.format != "torchscript" and config.exporter == "dynamo":
        raise ValueError(
            f"{run.path}: the siamese student exports with --exporter legacy only (the dynamo exporter "
            "freezes the width of the split sides into the graph)"
        )
    if architecture not in STUDENTS:
        raise ValueError(
            f"{run.path} is a {architecture} run, which export does not take (it exports neural students: "
            f"{', '.join(STUDENTS)}); predict, evaluate and serve use the run folder directly"
        )
    if config.format == "torchscript" and architecture != "bilstm":
        raise ValueError(
            f"{run.path} is a {architecture} student: TorchScript export takes BiLSTM students (a Hugging Face "
            "encoder does not script); export it with --format onnx or onnx-int8"
        )
    model = TorchBackend.from_run(run, device="cpu").model.eval()
    vocab_size = values["vocab_size"]
    start = time.perf_counter()
    with atomic_dir(out.path) as folder:  # the folder appears complete or not at all
        staging = ExportDir(folder)
        if config.format == "torchscript":
            target = staging.model_path(config.format)
            _torchscript(model, target)
            sizes = {"size_bytes": target.stat().st_size}
            backend = TorchBackend.from_torchscript(target, device="cpu")
        else:
            example = example_inputs(vocab_size, 4, 12, seed=0)
            target, sizes = write_onnx(model, staging, example=example, config=config)
            backend = OnnxBackend(target)
        check = compare_with_torch(model, backend, vocab_size=vocab_size)
        require_tolerance(check, config=config, source=run.path)
        shutil.copytree(run.vocab_dir, staging.vocab_dir)
        run_config = run.read_config() if run.config_file.is_file() else {}
        info = {
            "format": config.format,
            "model_file": target.name,
            "exporter": None if config.format == "torchscript" else config.exporter,
            "opset": None if config.format == "torchscript" else config.opset,
            "inputs": INPUTS,
            "outputs": OUTPUTS,
            "label_names": label_names,
            "max_length": run_config.get("max_length", 128),
            "tokenizer": "WordPiece, no special tokens; vocab/vocab.txt",
            **({"pairs": True, "pair_encoding": "A [SEP] B, each side cut to max_length"} if run.reads_pairs() else {}),
            "student": {"architecture": architecture, **values},
            "source_run": str(run.path),
            "check": check,
            **sizes,
            "export_seconds": round(time.perf_counter() - start, 2),
        }
        staging.write_info(info)
    logger.info(
        "exported %s as %s to %s (%d bytes, max |Δlogit| %.2e)",
        run.path,
        config.format,
        out.path,
        info["size_bytes"],
        check["max_abs_diff"],
    )
    return info
