"""``distil-bilstm export`` of a tagger: its emission scores as ONNX (fp32 or int8), its CRF beside.

    inputs   input_ids (batch, sequence, 1 + max_chars) int64: each token's word id, then its first
             max_chars character ids (0-padded); right-padded tokens are all 0
             lengths (batch,) int64 >= 1
    output   logits (batch, sequence, tags) float32: emission scores (past a length: unused)

ONNX has no operator for a CRF's Viterbi over learned transitions, so the graph ends at the
emission scores and a CRF tagger's ``start``, ``end`` and ``transitions`` go to ``crf.json``;
serving/tag_decoding.py decodes them in numpy (~20 lines any runtime can copy). ``vocab/`` holds the
tagger's units (``units.json``: words, characters, lowercasing, ``max_chars``, how text is cut).

The check against PyTorch, on random batches of several sizes and lengths: the largest |Δ| of the
emission scores over real tokens (fp32 within ``tolerance`` or nothing is written) and the share of
tokens whose decoded tag agrees (int8 reports both).
"""

from __future__ import annotations

import logging
import shutil
import time

import numpy as np
import torch

from ..rundir import TAGGER_ARCHITECTURE, ExportDir, RunDir
from ..utils import atomic_dir, write_json
from .entities import TagPredictor
from .export import ExportConfig, require_tolerance, write_onnx
from .inference import OnnxBackend
from .tag_decoding import best_tags

logger = logging.getLogger(__name__)

CHECK_SHAPES = ((1, 1), (1, 37), (3, 7), (16, 23), (64, 64), (5, 128))  # (batch, sequence)


def tagger_inputs(
    *, vocab_size: int, char_vocab_size: int, width: int, batch: int, seq: int, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Random right-padded token rows ``(batch, seq, width)`` and lengths ``(batch,)`` (the first row
    full length): a word id, then 0..width-1 character ids per token."""
    generator = torch.Generator().manual_seed(seed)
    lengths = torch.randint(1, seq + 1, (batch,), generator=generator)
    lengths[0] = seq
    ids = torch.zeros((batch, seq, width), dtype=torch.int64)
    ids[..., 0] = torch.randint(1, vocab_size, (batch, seq), generator=generator)
    if width > 1:
        chars = torch.randint(1, max(char_vocab_size, 2), (batch, seq, width - 1), generator=generator)
        used = torch.randint(1, width, (batch, seq, 1), generator=generator)  # characters a token has
        ids[..., 1:] = chars.masked_fill(torch.arange(width - 1) >= used, 0)
    ids = ids.masked_fill((torch.arange(seq).unsqueeze(0) >= lengths.unsqueeze(1)).unsqueeze(2), 0)
    return ids, lengths


def compare_tagger(predictor: TagPredictor, backend, *, width: int) -> dict:
    """Max |Δ emission| over real tokens and decoded-tag agreement of ``backend`` against the
    predictor's torch scorer on CHECK_SHAPES."""
    config = predictor.scorer.model.config
    worst, agree, total, cases = 0.0, 0, 0, []
    for i, (batch, seq) in enumerate(CHECK_SHAPES):
        ids, lengths = tagger_inputs(
            vocab_size=config.vocab_size,
            char_vocab_size=config.char_vocab_size,
            width=width,
            batch=batch,
            seq=seq,
            seed=100 + i,
        )
        ids, lengths = ids.numpy(), lengths.numpy()
        reference, got = predictor.scorer(ids, lengths), backend(ids, lengths)
        real = np.arange(seq)[None, :] < lengths[:, None]  # (batch, seq)
        diff = float(np.abs(got - reference)[real].max())
        worst = max(worst, diff)
        same = best_tags(got, lengths, predictor.crf) == best_tags(reference, lengths, predictor.crf)
        agree += int(same[real].sum())
        total += int(real.sum())
        cases.append({"batch": batch, "sequence": seq, "max_abs_diff": diff})
    return {"max_abs_diff": worst, "tag_agreement": agree / total, "cases": cases}


def export_tagger(run: RunDir, out: ExportDir, config: ExportConfig) -> dict:
    """Export the tagger of ``run`` into ``out`` (checked to be empty by the caller); returns export.json."""
    if config.format == "torchscript" or config.exporter != "legacy":
        raise ValueError(f"{run.path} is a tagger: it exports as --format onnx or onnx-int8 with --exporter legacy")
    predictor = TagPredictor.load(run.path, device="cpu")
    model, units = predictor.scorer.model, predictor.units
    width = 1 + units.max_chars
    values = model.config.to_dict()
    start = time.perf_counter()
    with atomic_dir(out.path) as folder:  # the folder appears complete or not at all
        staging = ExportDir(folder)
        example = tagger_inputs(
            vocab_size=values["vocab_size"],
            char_vocab_size=values["char_vocab_size"],
            width=width,
            batch=4,
            seq=12,
            seed=0,
        )
        target, sizes = write_onnx(model, staging, example=example, config=config, per_token=True)
        check = compare_tagger(predictor, OnnxBackend(target), width=width)
        require_tolerance(check, config=config, source=run.path)
        shutil.copytree(run.vocab_dir, staging.vocab_dir)
        if predictor.crf is not None:
            write_json(staging.crf_file, predictor.crf.to_dict())
        info = {
            "format": config.format,
            "task": "entities",
            "model_file": target.name,
            "exporter": config.exporter,
            "opset": config.opset,
            "inputs": [
                {"name": "input_ids", "dtype": "int64", "shape": ["batch", "sequence", width], "padding_id": 0},
                {"name": "lengths", "dtype": "int64", "shape": ["batch"]},
            ],
            "outputs": [{"name": "logits", "dtype": "float32", "shape": ["batch", "sequence", "tags"]}],
            "label_names": predictor.tag_names,
            "crf": predictor.crf is not None,
            "decoding": f"Viterbi over {ExportDir.CRF}" if predictor.crf is not None else "each token's best tag",
            "tokenizer": f"{units.tokens}, vocab/units.json",
            "student": {"architecture": TAGGER_ARCHITECTURE, **values},
            "source_run": str(run.path),
            "check": check,
            **sizes,
            "export_seconds": round(time.perf_counter() - start, 2),
        }
        staging.write_info(info)
    logger.info(
        "exported tagger %s as %s to %s (%d bytes, max |Δ| %.2e, tags agree %.4f)",
        run.path,
        config.format,
        out.path,
        info["size_bytes"],
        check["max_abs_diff"],
        check["tag_agreement"],
    )
    return info
