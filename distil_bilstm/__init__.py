"""distil-bilstm: distill a fine-tuned transformer classifier into small BiLSTM students.

The pipeline, one subpackage per stage: ``data`` → ``teachers`` → ``students`` → ``training`` →
``runs`` → ``serving`` (``baselines`` is the model to beat, ``cli`` the command line).

The names a user types are importable from here (``from distil_bilstm import DistilConfig,
run_distillation, Predictor``); each is loaded on first use, so that ``import distil_bilstm`` stays
cheap and a serving process never imports the training code.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

# public name → the module that defines it
_PUBLIC = {
    # data
    "DataConfig": "data.datasets",
    "Dataset": "data.datasets",
    "DataFormatError": "data.files",
    "load_dataset": "data.datasets",
    "load_transfer_set": "data.datasets",
    "VocabConfig": "data.vocab",
    # teachers
    "FinetuneConfig": "teachers.tuning.config",
    "finetune": "teachers.tuning.finetune",
    "load_teacher": "teachers.running.reference",
    "TeacherRef": "teachers.running.reference",
    "LogitStore": "teachers.stores.store",
    "build_ensemble": "teachers.stores.ensemble",
    # students
    "StudentSettings": "students.registry",
    "build_student": "students.registry",
    # baselines
    "BaselineConfig": "baselines.tfidf",
    "train_baseline": "baselines.tfidf",
    # training
    "Trainer": "training.trainer",
    "TrainingConfig": "training.config",
    "Callback": "training.callbacks",
    "TensorBoardCallback": "training.callbacks",
    "DistillationLoss": "training.losses",
    # runs
    "DistilConfig": "runs.config",
    "RunDir": "rundir",
    "RunResources": "runs.pipeline",
    "run_distillation": "runs.pipeline",
    "plan_grid": "runs.grid",
    "load_grid": "runs.grid",
    "run_grid": "runs.grid",
    "compare": "runs.compare",
    "QuickstartConfig": "runs.quickstart",
    "QuickstartLayout": "runs.quickstart",
    "ensure_teacher": "runs.quickstart",
    "run_quickstart": "runs.quickstart",
    # serving
    "Predictor": "serving.inference",
    "Prediction": "serving.inference",
    "predict": "serving.inference",
}

__all__ = ["__version__", *_PUBLIC]


def __getattr__(name: str):
    # PEP 562: import the defining module only when a public name is first asked for.
    if name not in _PUBLIC:
        raise AttributeError(f"module 'distil_bilstm' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_PUBLIC[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
