"""``distil-bilstm quickstart``: the whole pipeline on the built-in sample in a few minutes.

    data (built-in NSMC sample) → teacher fine-tuned from multilingual-e5-small pruned to the sample
    (Korean; the packaged MiniLM for English) → its logits → KD and CE students + the TF-IDF
    baseline → compare → predictions

Everything goes under one folder (:class:`QuickstartLayout`), so a rerun reuses what exists (the
teacher, its logits, finished students) and a user can delete one folder to start over.
``--data-dir/--dataset/--teacher`` run the same flow on real data and teachers.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from ..data.datasets import DataConfig, Dataset
from ..rundir import RunFailedError
from ..teachers.bases.defaults import default_base, is_korean
from ..teachers.running.source import TeacherSource
from ..teachers.running.teacher import check_checkpoint_path, loading
from ..utils import path_safe

logger = logging.getLogger(__name__)

# what run_quickstart does, in order (``baseline`` only with ``QuickstartConfig.baseline``)
STAGES = ("data", "teacher", "students", "baseline", "compare", "predict")
EXAMPLES = [
    "정말 재미있게 봤어요. 배우들 연기가 최고",
    "시간 낭비였다. 지루하고 뻔한 전개",
    "기대 안 했는데 감동적이었다",
    "돈 아깝다 다시는 안 본다",
]


@dataclass(kw_only=True)
class QuickstartConfig:
    dataset: str = "nsmc_sample"
    data_dir: str | None = None
    teacher: str | None = None  # a teacher checkpoint or logit store; None: fine-tune one from ``base``
    base: str | None = None  # None: Korean data: multilingual-e5-small pruned to it; else the packaged MiniLM-L6
    out: str = "quickstart"
    # teacher fine-tuning (when no ``teacher``): the sample has 4,750 training reviews
    teacher_epochs: int = 2
    teacher_lr: float = 1e-4
    teacher_max_length: int = 64
    teacher_max_train: int | None = None
    # the embeddings and first N layers stay as pretrained: a 12-layer teacher in the time budget
    teacher_freeze_layers: int = 4
    # None: transfer the base's vocabulary to the data when it is mostly Hangul and the base's own
    # vocabulary is not a multilingual Unigram one (an English base reads Korean only as [UNK] and
    # byte-like pieces); 0: never; N: an N-piece vocabulary
    adapt_vocab: int | None = None
    # students
    preset: str = "base"
    vocab_size: int = 2000
    train_epoch: int = 8
    patience: int = 2
    baseline: bool = True  # the TF-IDF + logistic-regression row a student must beat
    examples: list[str] = field(default_factory=lambda: list(EXAMPLES))
    seed: int = 42
    device: str = "auto"

    def __post_init__(self) -> None:
        for name in ("teacher_epochs", "teacher_max_length", "vocab_size", "train_epoch"):
            if getattr(self, name) < 1:
                raise ValueError(f"QuickstartConfig.{name} must be >= 1, got {getattr(self, name)!r}")
        if self.teacher_lr <= 0:
            raise ValueError(f"QuickstartConfig.teacher_lr must be > 0, got {self.teacher_lr!r}")
        if self.adapt_vocab is not None and self.adapt_vocab < 0:
            raise ValueError(f"QuickstartConfig.adapt_vocab must be >= 0 or None, got {self.adapt_vocab!r}")
        if self.patience < 0:
            raise ValueError(f"QuickstartConfig.patience must be >= 0, got {self.patience!r}")
        if self.teacher_freeze_layers < 0:
            raise ValueError(f"QuickstartConfig.teacher_freeze_layers must be >= 0, got {self.teacher_freeze_layers!r}")
        if self.teacher_max_train is not None and self.teacher_max_train < 1:
            raise ValueError(f"QuickstartConfig.teacher_max_train must be >= 1, got {self.teacher_max_train!r}")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class QuickstartLayout:
    """The one place that knows where the quickstart writes."""

    root: Path

    def teacher(self, dataset: str) -> Path:
        return self.root / f"teacher-{path_safe(dataset)}"

    @property
    def vocab_root(self) -> Path:
        return self.root / "tokenizer"

    @property
    def logits(self) -> Path:
        return self.root / "logits"

    @property
    def runs(self) -> Path:
        return self.root / "runs"

    @property
    def results(self) -> Path:
        return self.root / "results"


def vocab_transfer_size(config: QuickstartConfig, dataset: Dataset, base: str) -> int | None:
    if config.adapt_vocab is not None:
        return config.adapt_vocab or None
    from ..teachers.bases.unigram_prune import is_unigram_base

    return 4000 if is_korean(dataset) and not is_unigram_base(base) else None


def ensure_teacher(config: QuickstartConfig, dataset: Dataset, layout: QuickstartLayout) -> Path:
    """``config.teacher``, or a teacher fine-tuned on the training split (reused on a rerun)."""
    if config.teacher:
        return TeacherSource.resolve(config.teacher, cache_dir=layout.logits).check().path
    out = layout.teacher(dataset.name)
    if (out / "eval.json").is_file():
        logger.info("teacher: reusing %s (delete it to fine-tune again)", out)
        return out
    from ..teachers.tuning.finetune import FinetuneConfig, finetune

    base = config.base or default_base(dataset)
    check_checkpoint_path(base)
    adapt = vocab_transfer_size(config, dataset, base)
    with loading(base):
        layers = _layer_count(base)
    finetune(
        FinetuneConfig(
            base=base,
            out=str(out),
            train_epoch=config.teacher_epochs,
            lr=config.teacher_lr,
            max_length=config.teacher_max_length,
            # a base shallower than the setting keeps its last layer trainable
            freeze_layers=min(config.teacher_freeze_layers, layers - 1),
            max_train_examples=config.teacher_max_train,
            adapt_vocab=adapt,
            seed=config.seed,
            device=config.device,
        ),
        dataset,
    )
    return out


def _layer_count(base: str) -> int:
    from transformers import AutoConfig

    return AutoConfig.from_pretrained(base).num_hidden_layers


def student_configs(config: QuickstartConfig, layout: QuickstartLayout, teacher: Path) -> list:
    from .config import DistilConfig

    common = dict(
        dataset=config.dataset,
        data_dir=config.data_dir,
        vocab_size=config.vocab_size,
        vocab_root=str(layout.vocab_root),
        cache_dir=str(layout.logits),
        run_root=str(layout.runs),
        preset=config.preset,
        train_epoch=config.train_epoch,
        patience=config.patience,
        seed=config.seed,
        device=config.device,
    )
    return [DistilConfig(loss="kl", teacher_path=str(teacher), **common), DistilConfig(loss="ce", **common)]


def run_quickstart(config: QuickstartConfig, *, on_stage: Callable[[str], None] = lambda _: None) -> dict:
    """Run every stage; returns where things were written, the results table, the predictions
    and the seconds each stage took. ``on_stage(name)`` is called as each stage starts."""
    from ..baselines.tfidf import BaselineConfig, train_baseline
    from ..serving.inference import Predictor
    from .compare import compare
    from .grid import execute_run
    from .pipeline import RunResources

    layout = QuickstartLayout(Path(config.out))
    marks: list[tuple[str, float]] = []

    def stage(name: str) -> None:
        marks.append((name, time.perf_counter()))
        on_stage(name)

    stage("data")
    resources = RunResources()  # the students reuse this dataset
    dataset = resources.dataset(DataConfig(name=config.dataset, data_dir=config.data_dir))
    stage("teacher")
    teacher = ensure_teacher(config, dataset, layout)
    stage("students")  # the first one builds the vocabulary and the teacher's logit store
    runs = []
    for student in student_configs(config, layout, teacher):
        result = execute_run(student, resources=resources)
        if result.get("status") == "failed":  # no table without both students: stop at the first failure
            raise RunFailedError(f"student run {result['run_dir']} failed: {result.get('error')}")
        runs.append(result)
    if config.baseline:
        stage("baseline")
        baseline = BaselineConfig(dataset=config.dataset, data_dir=config.data_dir, run_root=str(layout.runs))
        if not (baseline.run_dir() / "metrics.json").is_file():
            train_baseline(baseline, dataset=dataset)
    stage("compare")
    report = compare(layout.runs, layout.results, baseline_roots=[layout.runs])
    stage("predict")
    best = max(runs, key=lambda r: r.get("valid_accuracy") or 0.0)
    predictor = Predictor.load(best["run_dir"], device="cpu")
    predictions = list(zip(config.examples, predictor.predict(config.examples)))
    marks.append(("end", time.perf_counter()))
    seconds = {name: round(t1 - t0, 1) for (name, t0), (_, t1) in zip(marks, marks[1:])}
    return {
        "layout": layout,
        "runs": runs,
        "best_run": best["run_dir"],
        "report": report,
        "predictions": predictions,
        "teacher": str(teacher),
        "seconds": seconds,
        "total_seconds": round(marks[-1][1] - marks[0][1], 1),
    }
