"""``RunDir``: the one place that knows the files of a run folder.

    runs/<dataset>/<run name>/
        config.json         the run's DistilConfig (what was asked for)
        student.json        the student's architecture + label names (enough to rebuild it)
        model.safetensors   best weights by validation accuracy
        vocab/              the student vocabulary (vocab.txt + tokenizer settings)
        metrics.json        written last: its presence means "finished"
        checkpoint.pt       last training state, for --resume
        status.json         a failed grid run's error

Trainer, pipeline, grid, report and inference ask this class for paths instead of spelling file
names themselves. It imports nothing heavier than the standard library and our JSON helpers, so
inference and serving can use it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from .utils import read_json, write_json


class RunFailedError(RuntimeError):
    """A run that its caller cannot go on without has failed; the run's ``status.json`` keeps the error."""


STUDENT_FORMAT = 1  # version of student.json's layout


TAGGER_ARCHITECTURE = "bilstm-tagger"  # student.json's architecture of a named-entity tagger


class RunDir:
    CONFIG = "config.json"
    STUDENT = "student.json"
    WEIGHTS = "model.safetensors"
    VOCAB = "vocab"
    METRICS = "metrics.json"
    CHECKPOINT = "checkpoint.pt"
    STATUS = "status.json"

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.config_file = self.path / self.CONFIG
        self.student_file = self.path / self.STUDENT
        self.weights_file = self.path / self.WEIGHTS
        self.vocab_dir = self.path / self.VOCAB
        self.metrics_file = self.path / self.METRICS
        self.checkpoint_file = self.path / self.CHECKPOINT
        self.status_file = self.path / self.STATUS

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r})"

    def __fspath__(self) -> str:
        return str(self.path)

    # ---- state

    def is_run(self) -> bool:
        """A run folder (as opposed to, say, a teacher checkpoint that also has a config.json)."""
        return self.config_file.is_file() and self.student_file.is_file()

    def is_finished(self) -> bool:
        return self.metrics_file.is_file()

    def has_checkpoint(self) -> bool:
        return self.checkpoint_file.is_file()

    def require_model(self) -> None:
        """Raise a clear error unless this folder holds a trained student."""
        missing = [p.name for p in (self.student_file, self.weights_file) if not p.is_file()]
        missing += [] if self.vocab_dir.is_dir() else [f"{self.VOCAB}/"]
        if missing:
            raise FileNotFoundError(
                f"{self.path}: not a trained student run (missing {', '.join(missing)}); "
                "point --model at a folder written by `distil-bilstm distil` or `grid`"
            )

    # ---- read / write

    def read_config(self) -> dict:
        return read_json(self.config_file)

    def read_student(self) -> dict:
        return read_json(self.student_file)

    def read_metrics(self) -> dict:
        return read_json(self.metrics_file)

    def read_status(self) -> dict:
        return read_json(self.status_file) if self.status_file.is_file() else {}

    def write_config(self, values: dict) -> None:
        write_json(self.config_file, values)

    def write_student(self, architecture: str, config: dict, *, label_names: list[str], pairs: bool = False) -> None:
        """``student.json``: the architecture name, its constructor arguments and the label names
        (and ``pairs: true`` for a model that reads sentence pairs)."""
        write_json(
            self.student_file,
            {
                "format": STUDENT_FORMAT,
                "architecture": architecture,
                **config,
                "label_names": list(label_names),
                **({"pairs": True} if pairs else {}),
            },
        )

    def is_tagger(self) -> bool:
        """A tagger's run (``distil-bilstm tagger``): its student.json names the tagger architecture."""
        return self.student_file.is_file() and self.read_student().get("architecture") == TAGGER_ARCHITECTURE

    def reads_pairs(self) -> bool:
        return bool(self.read_student().get("pairs", False))

    def write_metrics(self, values: dict) -> None:
        write_json(self.metrics_file, values)

    def write_status(self, values: dict) -> None:
        write_json(self.status_file, values)

    def clear_status(self) -> None:
        self.status_file.unlink(missing_ok=True)

    def copy_vocab(self, folder: str | Path) -> None:
        if self.vocab_dir.exists():
            shutil.rmtree(self.vocab_dir)
        shutil.copytree(folder, self.vocab_dir)

    def mkdir(self) -> None:
        self.path.mkdir(parents=True, exist_ok=True)


def split_student_json(values: dict) -> tuple[str, dict, list[str]]:
    """(architecture, constructor arguments, label names) of a ``student.json``. Files written
    before the architecture was recorded are BiLSTMs."""
    values = dict(values)
    values.pop("format", None)
    architecture = values.pop("architecture", "bilstm")
    label_names = values.pop("label_names")
    values.pop("pairs", None)  # what the model reads, not a constructor argument (RunDir.reads_pairs)
    return architecture, values, label_names


class ExportDir:
    """An exported student: the model file, ``vocab/`` and ``export.json`` (format, inputs,
    outputs, label names, tokenisation settings, the check against PyTorch)."""

    INFO = "export.json"
    VOCAB = "vocab"
    CRF = "crf.json"  # a CRF tagger's transitions: its Viterbi runs outside the graph
    MODEL_FILES = {"onnx": "model.onnx", "onnx-int8": "model.int8.onnx", "torchscript": "model.torchscript.pt"}

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.info_file = self.path / self.INFO
        self.vocab_dir = self.path / self.VOCAB
        self.crf_file = self.path / self.CRF

    def is_export(self) -> bool:
        return self.info_file.is_file()

    def is_tagger(self) -> bool:
        """An exported tagger: its export.json says the task is entities."""
        return self.is_export() and self.read_info().get("task") == "entities"

    def model_path(self, fmt: str) -> Path:
        if fmt not in self.MODEL_FILES:
            raise ValueError(f"unknown export format {fmt!r}; choose from {sorted(self.MODEL_FILES)}")
        return self.path / self.MODEL_FILES[fmt]

    def model_file(self, info: dict) -> Path:
        path = self.model_path(info["format"])
        if not path.is_file():
            raise FileNotFoundError(f"{self.path}: export.json says {info['format']} but {path.name} is missing")
        return path

    def read_info(self) -> dict:
        return read_json(self.info_file)

    def write_info(self, values: dict) -> None:
        write_json(self.info_file, values)


def holds_tagger(path: str | Path) -> bool:
    """``path`` is a tagger's run or export folder: what predict, evaluate and serve ask to pick
    entities over labels."""
    return RunDir(path).is_tagger() or ExportDir(path).is_tagger()
