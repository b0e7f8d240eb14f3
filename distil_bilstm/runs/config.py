"""``DistilConfig``: one distillation run, composed of typed settings with one job each.

    DataSettings          dataset, split, max_length (the student's tokens), vocabulary
    StudentSettings       the student family and its keys        (students.py)
    DistillationSettings  loss, α, T, teacher (and teacher_max_length, its pieces), transfer sets, hidden-state loss
    TrainingConfig        optimiser, schedule, epochs, early stopping, device   (training_config.py)

A config file keeps DistilKoBiLSTM's flat names (``vocab_size``, ``hidden_dim``, ``loss_rate`` …),
or groups them under ``data:``, ``student:``, ``distillation:``, ``training:``; ``--set key=value``
overrides either way (values parsed as YAML scalars). Each settings object checks its own values
when the config is made; an unknown key is an error, never silently ignored. The flat dictionary is
what a run folder's ``config.json`` holds and what the run's identity hashes.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import yaml

from ..data.datasets import DataConfig
from ..data.pairs import TASKS
from ..students.registry import StudentSettings
from ..training.config import TrainingConfig
from ..training.distillation import DistillationSettings
from ..training.losses import DistillationLoss
from ..utils import compose_settings, dataclass_from_dict, field_checker, path_safe

# keys added after runs were already named: at these values they leave a run's identity (and
# folder name) as it was before the key existed
ADDED_LATER = {
    "select_metric": "accuracy",
    "student": "bilstm",
    "layers": None,
    "hidden_loss": "none",
    "hidden_loss_weight": 1.0,
    "optimizer": "adam",
    "epoch_lrs": None,
    "warmup_ratio": 0.1,
    "pair_head": "features",
    "similarity_loss_weight": 0.0,
    "teacher_max_length": None,
    "text_column": None,
    "text_b_column": None,
    "label_column": None,
    "labels": None,
    "task": None,
    "test_size": 0.1,
}
# keys that say where or how fast, not what: never part of a run's identity
NOT_IDENTITY = {
    "run_root",
    "run_name",
    "device",
    "log_every",
    "eval_batch_size",
    "data_dir",
    "cache_dir",
    "vocab_root",
    "checkpoint_every",
    "strict",
}


@dataclass(kw_only=True, frozen=True)
class DataSettings:
    dataset: str = "nsmc"
    data_dir: str | None = None
    # a user's own file (CSV/TSV/JSONL/Parquet), as `teacher logits` and every --dataset flag read it:
    # its columns (default: found by name), its label set (default: every value the column holds;
    # rows with another are dropped, or refused under strict) and its task (default: regression when
    # the label column is named score or similarity)
    text_column: str | None = None
    text_b_column: str | None = None
    label_column: str | None = None
    labels: tuple[str, ...] | None = None
    task: str | None = None
    strict: bool = False
    valid_size: float = 0.05
    test_size: float = 0.1  # a single-file dataset's test share
    split_seed: int = 1
    max_length: int = 128
    # vocabulary (tokenizer/<dataset>/vocab_size_N, built when missing)
    vocab_size: int = 3000
    vocab_root: str = "tokenizer"

    def __post_init__(self) -> None:
        check = field_checker(self)
        check(0.0 < self.valid_size < 1.0, "valid_size", "must be in (0, 1)")
        check(0.0 < self.test_size < 1.0, "test_size", "must be in (0, 1)")
        check(self.task in (None, *TASKS), "task", f"must be null or one of {TASKS}")
        check(
            self.labels is None or (len(self.labels) >= 2 and len(set(self.labels)) == len(self.labels)),
            "labels",
            "must be null or two or more distinct label names",
        )
        check(self.max_length >= 1, "max_length", "must be >= 1")
        check(self.vocab_size > 5, "vocab_size", "must be > 5")

    def data_config(self) -> DataConfig:
        return DataConfig(
            name=self.dataset,
            data_dir=self.data_dir,
            text_column=self.text_column,
            label_column=self.label_column,
            text_b_column=self.text_b_column,
            label_names=list(self.labels) if self.labels else None,
            task=self.task,
            strict=self.strict,
            valid_size=self.valid_size,
            test_size=self.test_size,
            seed=self.split_seed,
        )


SECTIONS: dict[str, type] = {
    "data": DataSettings,
    "student": StudentSettings,
    "distillation": DistillationSettings,
    "training": TrainingConfig,
}
LIST_KEYS = ("embedding_texts", "transfer_sets")  # file lists: one file may be given as a string


class _RunConfig:
    """``DistilConfig``'s behaviour (first in its bases, so these methods win over the settings')."""

    def __post_init__(self) -> None:
        # numbers as numbers ("2e-3" from --set or YAML is a float; a word, NaN or 1.5 epochs is refused
        # naming the key), file lists as lists; every settings object checks its own values now, not
        # after data and teacher logits
        object.__setattr__(self, "_sections", compose_settings(self, SECTIONS, file_lists=LIST_KEYS))

        check = field_checker(self)
        # rules that span two settings
        check(
            self.embedding_init != "teacher" or bool(self.teacher_path),
            "embedding_init",
            "'teacher' needs teacher_path",
        )
        check(
            self.student != "transformer" or bool(self.teacher_path),
            "student",
            "'transformer' is made from the teacher's layers and needs teacher_path",
        )
        check(
            self.hidden_loss == "none"
            or self.student == "transformer"
            or (self.student == "siamese_bilstm" and self.pair_head == "cosine"),
            "hidden_loss",
            "compares the student's and the teacher's sentence states and needs student: transformer, "
            "or student: siamese_bilstm with pair_head: cosine (whose W·u is a sentence embedding)",
        )

    # ---- the settings, as the stages take them

    def data_settings(self) -> DataSettings:
        return self._sections["data"]

    def student_settings(self) -> StudentSettings:
        return self._sections["student"]

    def distillation_settings(self) -> DistillationSettings:
        return self._sections["distillation"]

    def training_config(self) -> TrainingConfig:
        return self._sections["training"]

    def loss_function(self) -> DistillationLoss:
        return self.distillation_settings().loss_function()

    def default_run_name(self) -> str:
        """``<dataset>/<student>-v<vocab>-<loss>[-a<α>-T<T>]-lr<lr>-bs<batch>-s<seed>-<hash>``."""
        kd = (
            ""
            if self.loss == "ce"
            else f"-a{self.loss_rate:g}" + (f"-T{self.temperature:g}" if self.loss == "kl" else "")
        )
        transfer = f"-tr{len(self.transfer_sets)}" if self.transfer_sets else ""
        hidden = f"-{self.hidden_loss}" if self.hidden_loss != "none" else ""
        hidden += f"-sim{self.similarity_loss_weight:g}" if self.similarity_loss_weight else ""
        name = (
            f"{self.student_settings().run_name()}-v{self.vocab_size}-{self.loss}{kd}{hidden}{transfer}-lr{self.lr:g}"
            f"-bs{self.batch_size}-s{self.seed}-{self.identity()[:6]}"
        )
        return f"{path_safe(self.dataset)}/{name}"

    def inert_keys(self) -> set[str]:
        """Keys that cannot change this run's result (each settings object knows its own), plus the
        teacher for CE unless the student is made from it. A grid over ``loss × temperature`` thus
        trains CE once."""
        inert = self.student_settings().inert_keys() | self.distillation_settings().inert_keys()
        if self.scheduler not in ("linear", "linear_epochs"):
            inert |= {"warmup_ratio", "epoch_lrs"}
        if self.loss == "ce" and self.embedding_init != "teacher" and self.student != "transformer":
            inert.add("teacher_path")
        return inert

    def identity(self) -> str:
        """Hash of everything that changes the result (not where it is written, the device, or
        keys this run ignores)."""
        ignored = NOT_IDENTITY | self.inert_keys()
        payload = {
            k: v
            for k, v in self.to_dict().items()
            if k not in ignored and not (k in ADDED_LATER and v == ADDED_LATER[k])
        }
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()

    def run_dir(self) -> Path:
        return Path(self.run_root) / (self.run_name or self.default_run_name())

    # ---- (de)serialisation

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "DistilConfig":
        return dataclass_from_dict(cls, flatten_sections(values), what="config")

    @classmethod
    def from_file(cls, path: str | Path, overrides: list[str] | None = None) -> "DistilConfig":
        return cls.from_dict(apply_overrides(load_mapping(path), overrides or []))


@dataclass(kw_only=True, frozen=True)
class DistilConfig(_RunConfig, TrainingConfig, DistillationSettings, StudentSettings, DataSettings):
    """One distillation run: the flat keys of the data, student, distillation and training settings
    (DistilKoBiLSTM's names), each declared once, in its settings class, and inherited here (file
    lists held as lists), plus where the run is written."""

    run_root: str = "runs"
    run_name: str | None = None  # default: made from the hyperparameters


def flatten_sections(values: dict) -> dict:
    """``{data: {...}, student: {family: transformer, ...}, ...}`` → flat keys; flat keys pass as
    they are. A key under the wrong section is an error naming both."""
    flat = {}
    for key, value in values.items():
        if key in SECTIONS and isinstance(value, dict):
            allowed = {f.name for f in fields(SECTIONS[key])}
            for inner, inner_value in value.items():
                name = "student" if (key, inner) == ("student", "family") else inner
                if name not in allowed:
                    raise ValueError(f"config section {key}: unknown key {inner!r}; its keys: {sorted(allowed)}")
                flat[name] = inner_value
        else:
            flat[key] = value
    return flat


def load_mapping(path: str | Path) -> dict:
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    try:
        values = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as err:
        raise ValueError(f"{path}: cannot parse config ({err})") from None
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise ValueError(f"{path}: a config must be a mapping of key: value")
    return values


def parse_override(item: str) -> tuple[str, Any]:
    """``key=value`` with the value read as a YAML scalar (``0.1`` → float, ``null`` → None)."""
    if "=" not in item:
        raise ValueError(f"--set expects key=value, got {item!r}")
    key, raw = item.split("=", 1)
    return key.strip(), yaml.safe_load(raw) if raw.strip() else ""


def apply_overrides(values: dict, overrides: list[str]) -> dict:
    merged = dict(values)
    for item in overrides:
        key, value = parse_override(item)
        merged[key] = value
    return merged
