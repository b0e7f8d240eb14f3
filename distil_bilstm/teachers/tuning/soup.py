"""``distil-bilstm teacher average``: one teacher whose weights are the mean of several fine-tunings.

A model soup (Wortsman et al. 2022, "Model soups: averaging weights of multiple fine-tuned models
improves accuracy without increasing inference time", ICML) replaces the members by

    θ = Σ_i w_i · θ_i          (Σ_i w_i = 1, every float tensor of the checkpoint)

one model with the cost of one, where an ensemble (teachers/stores/ensemble.py) runs every member. It
helps only when the members lie in one basin of the loss: fine-tunings continued from one
checkpoint (two further epochs of one teacher, at different rates or from different targets).
Averaging fine-tunings that share nothing but the pretrained base can land between basins and lose
accuracy, so score the soup on validation (``teacher logits`` prints it) before using it.

The members must agree on everything but their weights: architecture (config.json, names and
shapes of every tensor), tokenizer (tokenizer.json) and label names. The soup records them and
the union of the splits they trained on, so that ``teacher ensemble --weights auto`` keeps refusing
a split any member saw.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import torch
from safetensors.torch import load_file, save_file

from ...utils import atomic_dir, field_checker, read_json, sha256_file, write_json
from ..running.reference import teacher_kind

logger = logging.getLogger(__name__)

WEIGHTS_FILE = "model.safetensors"
# config.json keys that may differ between fine-tunings of one architecture without changing it
_CONFIG_NOISE = {"_name_or_path", "transformers_version", "dtype", "torch_dtype"}
# files of the first member not copied into the soup (config.json and the tokenizer's files are)
_NOT_COPIED = {WEIGHTS_FILE, "eval.json"}


@dataclass
class SoupConfig:
    """``members``: checkpoint folders of one architecture; ``weights``: one per member (made to sum
    to 1), or None for the uniform mean."""

    members: list[str]
    out: str
    weights: list[float] | None = None

    def __post_init__(self) -> None:
        check = field_checker(self)
        self.members = [str(member) for member in self.members]
        check(len(self.members) >= 2, "members", f"needs at least two checkpoints to average, got {len(self.members)}")
        check(
            len(set(self.members)) == len(self.members),
            "members",
            "names a checkpoint twice (give it a larger weight instead)",
        )
        check(bool(self.out), "out", "must name the folder to write the averaged teacher to")
        check(
            all(Path(self.out).resolve() != Path(member).resolve() for member in self.members),
            "out",
            "is one of the members: the soup would replace it",
        )
        if self.weights is not None:
            self.weights = [float(w) for w in self.weights]
            check(
                len(self.weights) == len(self.members),
                "weights",
                f"has {len(self.weights)} values for {len(self.members)} members",
            )
            check(
                all(w >= 0 for w in self.weights) and sum(self.weights) > 0,
                "weights",
                "must be non-negative and not all zero",
            )

    def normalised_weights(self) -> list[float]:
        raw = self.weights or [1.0] * len(self.members)
        return [w / sum(raw) for w in raw]

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "SoupConfig":
        return cls(**values)


@dataclass
class _Member:
    path: Path
    config: dict
    tokenizer_hash: str
    eval: dict = field(default_factory=dict)


def _read_member(path: str) -> _Member:
    folder = Path(path)
    for name in ("config.json", WEIGHTS_FILE, "tokenizer.json"):
        if not (folder / name).is_file():
            raise FileNotFoundError(
                f"{folder}: no {name}; teacher average needs fine-tuned checkpoint folders "
                "(config.json, model.safetensors, tokenizer.json), as `teacher finetune` writes them"
            )
    if teacher_kind(folder) == "biencoder":
        raise ValueError(f"{folder}: a pair bi-encoder; teacher average takes sequence classifiers only")
    config = {k: v for k, v in read_json(folder / "config.json").items() if k not in _CONFIG_NOISE}
    tokenizer_hash = sha256_file(folder / "tokenizer.json")
    eval_file = folder / "eval.json"
    return _Member(
        path=folder,
        config=config,
        tokenizer_hash=tokenizer_hash,
        eval=read_json(eval_file) if eval_file.is_file() else {},
    )


def _check_compatible(members: Sequence[_Member]) -> None:
    first = members[0]
    for other in members[1:]:
        differing = sorted(
            k for k in set(first.config) | set(other.config) if first.config.get(k) != other.config.get(k)
        )
        if differing:
            raise ValueError(
                f"{other.path}: config.json differs from {first.path}'s in {', '.join(differing)}; "
                "only fine-tunings of one architecture can be averaged"
            )
        if other.tokenizer_hash != first.tokenizer_hash:
            raise ValueError(
                f"{other.path}: tokenizer.json differs from {first.path}'s; averaged embeddings would "
                "mix rows of different pieces"
            )
        first_labels, other_labels = first.eval.get("label_names"), other.eval.get("label_names")
        if first_labels and other_labels and first_labels != other_labels:
            raise ValueError(f"{other.path}: labels {other_labels} differ from {first.path}'s {first_labels}")


def average_state_dicts(
    states: Iterable[tuple[str, dict[str, torch.Tensor]]], weights: Sequence[float]
) -> dict[str, torch.Tensor]:
    """``Σ_i w_i θ_i`` tensor by tensor over ``(name, state dict)`` pairs, read one at a time (a
    generator holds one member in memory beside the float32 sum); each tensor keeps its first
    member's dtype. Integer tensors (buffers such as position ids) must be equal and are kept."""
    total: dict[str, torch.Tensor] = {}
    reference: dict[str, tuple[torch.Size, torch.dtype]] = {}  # the first member's shapes and dtypes
    first_name = None
    for (name, state), weight in zip(states, weights, strict=True):
        if first_name is None:
            first_name = name
            reference = {k: (t.shape, t.dtype) for k, t in state.items()}
            total = {k: weight * t.float() if t.is_floating_point() else t for k, t in state.items()}
            continue
        if set(state) != set(reference):
            extra = sorted(set(state) ^ set(reference))[:3]
            raise ValueError(f"{name}: its tensors differ from {first_name}'s (e.g. {', '.join(extra)})")
        for key, tensor in state.items():
            if tensor.shape != reference[key][0]:
                raise ValueError(
                    f"{name}: tensor {key} has shape {tuple(tensor.shape)}, {first_name}'s {tuple(reference[key][0])}"
                )
            if reference[key][1].is_floating_point:
                total[key] += weight * tensor.float()
            elif not torch.equal(tensor, total[key]):
                raise ValueError(f"{name}: integer tensor {key} differs from {first_name}'s")
    if first_name is None:
        raise ValueError("no state dicts to average")
    return {k: t.to(reference[k][1]).contiguous() for k, t in total.items()}


def average_teachers(config: SoupConfig) -> dict:
    """Write the averaged teacher to ``config.out`` (config and tokenizer of the first member, the
    weights' mean as safetensors, ``eval.json`` with the members, weights and splits trained on)."""
    members = [_read_member(path) for path in config.members]  # every check before any weight is read
    _check_compatible(members)
    weights = config.normalised_weights()
    states = ((str(member.path), load_file(str(member.path / WEIGHTS_FILE))) for member in members)
    averaged = average_state_dicts(states, weights)
    trained_on = None
    if all(m.eval.get("trained_on") is not None for m in members):
        trained_on = sorted({split for m in members for split in m.eval["trained_on"]})
    first = members[0]
    report = {
        "soup": [
            {"path": str(m.path), "weight": w, "test_accuracy": m.eval.get("test_accuracy")}
            for m, w in zip(members, weights)
        ],
        "config": config.to_dict(),
        **{
            key: first.eval[key]
            for key in ("dataset", "dataset_fingerprint", "num_labels", "label_names", "task")
            if key in first.eval
        },
        # None when a member does not record it: `teacher ensemble --weights auto` then refuses, as for that member
        "trained_on": trained_on,
    }
    with atomic_dir(config.out) as staging:
        for item in first.path.iterdir():
            if item.is_file() and item.name not in _NOT_COPIED:
                (staging / item.name).write_bytes(item.read_bytes())
        save_file(averaged, str(staging / WEIGHTS_FILE), metadata={"format": "pt"})
        write_json(staging / "eval.json", report)
    logger.info(
        "averaged %d teachers into %s (weights %s)", len(members), config.out, ", ".join(f"{w:.3g}" for w in weights)
    )
    return report
