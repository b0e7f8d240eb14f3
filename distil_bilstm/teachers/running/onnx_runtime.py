"""Faster teacher labelling: the fine-tuned teacher exported to ONNX and run with onnxruntime,
optionally with int8 weights.

    torch       the checkpoint in PyTorch (the reference)
    onnx        the same graph in onnxruntime, fp32
    onnx-int8   onnxruntime dynamic quantization (``quantize_dynamic``): the weights of every
                MatMul in the encoder int8 per output channel, activations quantized per batch
                at run time (``MatMulInteger``); the pooler and classifier stay fp32.
                Alternatives measured (``bench/teacher_runtime.py``, README): 8-bit blocked
                weights (``MatMulNBits``, block 128) agree better (SST-2 99.66% vs 99.08%) but
                ran no faster than fp32 on this AVX2 CPU; keeping the feed-forward MatMuls fp32
                agrees better too but gains only 1.1×. (``torch.ao.quantization`` is
                deprecated; onnxruntime's quantizers are the maintained path.)

An exported runtime is checked against torch on a sample before it labels anything: argmax
agreement and max |Δlogit| are printed and written into the store's header beside the runtime.
Exports are cached per teacher weights hash under ``<cache_dir>/onnx/``.
"""

from __future__ import annotations

import copy
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from ...utils import atomic_path, quiet_onnx_quantizer, write_json
from .teacher import Teacher, batched_logits, teacher_name

logger = logging.getLogger(__name__)

RUNTIMES = ("torch", "onnx", "onnx-int8")
OPSET = 17
# the last nodes before the logits: quantizing them moves the decision most and saves least time
FP32_NODE_HINTS = ("classifier", "pooler")


@dataclass
class OnnxTeacher:
    """A teacher run by onnxruntime; the same ``logits``/``name``/``weights_hash`` as :class:`Teacher`."""

    session: object  # onnxruntime.InferenceSession
    tokenizer: object
    path: str
    weights_hash: str
    runtime: str
    num_labels: int
    model_file: Path
    trained_on: list[str] | None = None
    label_names: tuple[str, ...] | None = None
    check: dict = field(default_factory=dict)  # agreement with torch, once measured

    @property
    def name(self) -> str:
        return teacher_name(self.path)

    def logits(
        self,
        texts: Sequence[str],
        *,
        batch_size: int = 128,
        max_length: int = 128,
        progress: bool = True,
        on_batch: Callable[[int], None] | None = None,
    ) -> np.ndarray:
        def forward(ids: torch.Tensor, mask: torch.Tensor) -> np.ndarray:
            return self.session.run(["logits"], {"input_ids": ids.numpy(), "attention_mask": mask.numpy()})[0]

        return batched_logits(
            self.tokenizer,
            texts,
            forward,
            width=self.num_labels,
            batch_size=batch_size,
            max_length=max_length,
            progress=progress,
            desc=f"teacher ({self.runtime})",
            on_batch=on_batch,
        )


def export_dir(cache_dir: str | os.PathLike, teacher: Teacher) -> Path:
    return Path(cache_dir) / "onnx" / f"{teacher.name}-{teacher.weights_hash[:12]}"


def export_teacher_onnx(teacher: Teacher, out: Path) -> Path:
    """The teacher's classifier as ONNX (inputs ``input_ids``, ``attention_mask``; batch and
    sequence dynamic), written atomically."""
    # a copy: the teacher itself stays on its device with its own attention implementation
    model = copy.deepcopy(teacher.model).to("cpu").eval()
    if hasattr(model, "set_attn_implementation"):  # eager attention traces to plain MatMul/Softmax
        model.set_attn_implementation("eager")
    ids = torch.tensor([[teacher.tokenizer.cls_token_id or 1] + [5] * 6 + [teacher.tokenizer.sep_token_id or 2]] * 2)
    mask = torch.ones_like(ids)

    class Logits(torch.nn.Module):  # plain tensor out: the exporter needs no ModelOutput
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask):
            return self.inner(input_ids=input_ids, attention_mask=attention_mask).logits

    with atomic_path(out) as tmp, torch.inference_mode():
        torch.onnx.export(
            Logits(model),
            (ids, mask),
            str(tmp),
            input_names=["input_ids", "attention_mask"],
            output_names=["logits"],
            opset_version=OPSET,
            dynamo=False,
            dynamic_axes={
                "input_ids": {0: "batch", 1: "sequence"},
                "attention_mask": {0: "batch", 1: "sequence"},
                "logits": {0: "batch"},
            },
        )
    return out


def quantize_teacher_onnx(fp32: Path, out: Path) -> Path:
    """int8 MatMul weights per output channel; the head and pooler stay fp32 (see the module doc)."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    graph = onnx.load(str(fp32)).graph
    keep = [
        n.name
        for n in graph.node
        if n.op_type in ("MatMul", "Gemm") and any(h in n.name.lower() for h in FP32_NODE_HINTS)
    ]
    keep += [f"{name}_MatMul" for name in keep]  # the quantizer first rewrites Gemm into MatMul + Add under this name
    with atomic_path(out) as tmp, quiet_onnx_quantizer():
        quantize_dynamic(
            str(fp32),
            str(tmp),
            weight_type=QuantType.QInt8,
            per_channel=True,
            op_types_to_quantize=["MatMul"],
            nodes_to_exclude=keep,
            extra_options={"MatMulConstBOnly": True},
        )
    return out


def load_onnx_teacher(
    teacher: Teacher, *, runtime: str, cache_dir: str | os.PathLike, threads: int | None = None
) -> OnnxTeacher:
    """``teacher`` exported (and quantized) once, opened in onnxruntime on CPU."""
    import onnxruntime as ort

    if runtime not in RUNTIMES[1:]:
        raise ValueError(f"runtime must be one of {RUNTIMES[1:]} here, got {runtime!r}")
    from .biencoder import BiEncoderTeacher

    if isinstance(teacher, BiEncoderTeacher):
        raise ValueError(
            f"--runtime {runtime} exports a sequence classifier; {teacher.path} is a bi-encoder: label it "
            "with --runtime torch (it encodes each distinct sentence once)"
        )
    folder = export_dir(cache_dir, teacher)
    fp32 = folder / "model.onnx"
    if not fp32.is_file():
        logger.info("exporting %s to %s", teacher.path, fp32)
        export_teacher_onnx(teacher, fp32)
        write_json(
            folder / "export.json",
            {"teacher_path": str(teacher.path), "teacher_hash": teacher.weights_hash, "opset": OPSET},
        )
    model_file = fp32
    if runtime == "onnx-int8":
        model_file = folder / "model.int8-dynamic.onnx"  # the recipe in the name: a cache of another is not reused
        if not model_file.is_file():
            logger.info("quantizing %s to %s", fp32, model_file)
            quantize_teacher_onnx(fp32, model_file)
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if threads:
        options.intra_op_num_threads = threads
    session = ort.InferenceSession(str(model_file), options, providers=["CPUExecutionProvider"])
    return OnnxTeacher(
        session=session,
        tokenizer=teacher.tokenizer,
        path=str(teacher.path),
        weights_hash=teacher.weights_hash,
        runtime=runtime,
        num_labels=teacher.num_labels,
        model_file=model_file,
        trained_on=teacher.trained_on,
        label_names=teacher.label_names,
    )


def compare_with_torch(
    reference: Teacher, other: OnnxTeacher, texts: Sequence[str], *, batch_size: int = 128, max_length: int = 128
) -> dict:
    """Argmax agreement and max |Δlogit| of ``other`` against the torch teacher on ``texts``; for a
    one-output (regression) teacher, whose argmax always agrees, the mean |Δ| and the Spearman
    correlation of the two runtimes' scores instead."""
    want = reference.logits(texts, batch_size=batch_size, max_length=max_length, progress=False)
    got = other.logits(texts, batch_size=batch_size, max_length=max_length, progress=False)
    check = {
        "runtime": other.runtime,
        "sample": len(texts),
        "max_abs_logit_diff": float(np.abs(want - got).max()) if len(texts) else 0.0,
    }
    if want.shape[1] == 1:
        from ...data.pairs import correlation_scores

        return {
            **check,
            "mean_abs_diff": float(np.abs(want - got).mean()) if len(texts) else 0.0,
            "spearman_with_torch": correlation_scores(want[:, 0], got[:, 0])["spearman"],
        }
    return {
        **check,
        "argmax_agreement": float((want.argmax(1) == got.argmax(1)).mean()) if len(texts) else float("nan"),
    }
