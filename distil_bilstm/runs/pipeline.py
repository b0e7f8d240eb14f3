"""One distillation run end to end.

    data → vocabulary (built when missing) → teacher logits (cached when missing) → student → Trainer

Loading a finished run to classify texts lives in :mod:`distil_bilstm.inference`.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from dataclasses import asdict, replace
from pathlib import Path
from typing import Sequence

import torch

from ..data.datasets import DataConfig, Dataset, load_dataset, load_transfer_set
from ..data.sources import resolve_text_file
from ..data.vocab import (
    VocabConfig,
    build_vocabularies,
    encode_texts,
    load_vocab,
    vocab_changes,
    vocab_dir,
    vocab_hash,
    vocab_source,
    vocab_tokens,
)
from ..rundir import RunDir
from ..students.embeddings import (
    SkipgramConfig,
    SkipgramVectors,
    ensure_skipgram,
)
from ..students.registry import STUDENTS, make_student
from ..teachers.running.reference import load_teacher
from ..teachers.running.source import TeacherSource
from ..teachers.running.states import cache_teacher_states, state_rows
from ..teachers.stores.store import LogitStore
from ..training.batching import SplitTensors, label_tensor
from ..training.callbacks import TensorBoardCallback
from ..training.config import TrainingConfig
from ..training.losses import DistillationLoss
from ..training.metrics import REGRESSION_METRICS
from ..training.trainer import Trainer
from ..utils import read_json, resolve_device
from .config import DistilConfig
from .teaching import (
    check_embedding_width,
    init_student_embeddings,
    open_teacher_logits,
    teacher_source,
    with_transfer_sets,
)

logger = logging.getLogger(__name__)


def data_config(config: DistilConfig) -> DataConfig:
    return config.data_settings().data_config()


def ensure_vocab(dataset: Dataset, *, vocab_root: str | Path, vocab_size: int) -> Path:
    """``tokenizer/<dataset>/vocab_size_N``, trained on the train split unless the one there was made
    from the same texts and settings (its source.json): one made from anything else (a data file
    replaced under the same name) is rebuilt, saying what changed. Runs keep their own copies."""
    folder = vocab_dir(vocab_root, dataset.name, vocab_size)
    train_texts = dataset.split("train")["text"].tolist()
    # the settings it was built with (`distil-bilstm vocab --lowercase` …) are kept; the texts must be these
    saved = folder / "vocab_config.json"
    base = VocabConfig.from_dict(read_json(saved)) if saved.is_file() else VocabConfig(vocab_size=vocab_size)
    changes = vocab_changes(folder, vocab_source(train_texts, base))
    if changes:
        log = logger.info if changes == "no vocabulary there" else logger.warning
        log("%s: %s; building it from the train split", folder, changes)
        build_vocabularies(
            train_texts,
            dataset.split("valid")["text"].tolist(),
            sizes=[vocab_size],
            out_root=vocab_root,
            dataset=dataset.name,
            base=base,
        )
    return folder


class RunResources:
    """What runs share: each dataset, vocabulary (with its encoded splits) and logit store is
    loaded once per distinct value and reused by every later run that asks for it (a grid of
    runs over ``loss`` × ``preset`` reads and tokenises NSMC once); skip-gram vectors likewise.
    ``loads`` counts real loads."""

    def __init__(self) -> None:
        self._datasets: dict[str, Dataset] = {}
        self._vocabs: dict[tuple, tuple[Path, object]] = {}
        self._encoded: dict[tuple, dict] = {}
        self._stores: dict[tuple, LogitStore] = {}
        self._vectors: dict[tuple, SkipgramVectors] = {}
        self._states: dict[tuple, torch.Tensor] = {}
        self.loads: Counter = Counter()

    def dataset(self, config: DistilConfig | DataConfig) -> Dataset:
        data = data_config(config) if isinstance(config, DistilConfig) else config
        key = json.dumps(asdict(data), sort_keys=True, default=str)
        if key not in self._datasets:
            self._datasets[key] = load_dataset(data)
            self.loads["dataset"] += 1
        return self._datasets[key]

    def vocabulary(self, config: DistilConfig, dataset: Dataset) -> tuple[Path, object]:
        key = (config.vocab_root, dataset.name, config.vocab_size)
        if key not in self._vocabs:
            folder = ensure_vocab(dataset, vocab_root=config.vocab_root, vocab_size=config.vocab_size)
            self._vocabs[key] = (folder, load_vocab(folder))
            self.loads["vocabulary"] += 1
        return self._vocabs[key]

    def encoded_splits(self, dataset: Dataset, folder: Path, tokenizer, *, max_length: int) -> dict:
        """``{split: (EncodedTexts, labels, idx)}``, tokenised once per (dataset, vocabulary, max_length)."""
        key = (dataset.fingerprint, str(folder), max_length)
        if key not in self._encoded:
            self._encoded[key] = {
                name: (
                    encode_texts(tokenizer, frame["text"].tolist(), max_length=max_length),
                    label_tensor(frame["label"].to_numpy()),
                    torch.tensor(frame["idx"].to_numpy()),
                )
                for name, frame in ((n, dataset.split(n)) for n in ("train", "valid", "test"))
            }
            self.loads["encoding"] += 1
        return self._encoded[key]

    def skipgram(
        self, config: DistilConfig, dataset: Dataset, vocab_folder: Path, tokenizer, *, dim: int
    ) -> SkipgramVectors:
        """Skip-gram vectors of this vocabulary at width ``dim`` (built and cached on first use)."""
        key = (str(vocab_folder), dataset.fingerprint, dim, config.skipgram_library, tuple(config.embedding_texts))
        if key not in self._vectors:
            self._vectors[key] = ensure_skipgram(
                dataset,
                vocab_folder=vocab_folder,
                tokenizer=tokenizer,
                text_files=config.embedding_texts,
                config=SkipgramConfig(dim=dim, library=config.skipgram_library),
                data_dir=config.data_dir,
            )
            self.loads["skipgram"] += 1
        return self._vectors[key]

    def teacher_states(
        self,
        config: DistilConfig,
        dataset: Dataset,
        teacher_dir: Path,
        *,
        source: TeacherSource,
        shape: str,
        max_length: int,
        device: torch.device,
    ) -> torch.Tensor:
        """The teacher's sentence states of the train split, then of every transfer set's rows (the
        order :func:`with_transfer_sets` stacks them in): ``(N, hidden)`` for ``shape`` "whole",
        ``(N, 2, hidden)`` "per_side", each text read at ``max_length`` teacher pieces. What the
        cosine loss compares; read from (or computed once into) the states stores beside the
        teacher's logits, so a grid's runs share them."""
        key = (str(teacher_dir.resolve()), dataset.fingerprint, tuple(config.transfer_sets), max_length, shape)
        if key not in self._states:
            start = time.perf_counter()
            parts = [(dataset, source.states_dir(dataset.name))]
            for name in config.transfer_sets:
                path = resolve_text_file(name, config.data_dir)
                parts.append((load_transfer_set(path, dataset=dataset), source.states_dir(dataset.name, path)))
            teacher = load_teacher(teacher_dir, device=device, num_labels=dataset.num_labels)
            states = []
            for target, store_dir in parts:
                texts, fingerprint = state_rows(target)
                states.append(
                    cache_teacher_states(
                        teacher,
                        texts,
                        store_dir=store_dir,
                        rows_fingerprint=fingerprint,
                        shape=shape,
                        max_length=max_length,
                    )
                )
            states = torch.cat(states)
            self._states[key] = states.squeeze(1) if shape == "whole" else states
            logger.info(
                "teacher states for the hidden-state loss: %d rows in %.1f s", len(states), time.perf_counter() - start
            )
            self.loads["teacher_states"] += 1
        return self._states[key]

    def teacher_logits(
        self, config: DistilConfig, dataset: Dataset, *, source: TeacherSource, device: torch.device
    ) -> LogitStore:
        key = (str(source.path.resolve()), config.cache_dir, dataset.fingerprint, config.teacher_max_length)
        if key not in self._stores:
            self._stores[key] = open_teacher_logits(
                source, dataset, max_length=config.teacher_max_length, device=device
            )
            self.loads["teacher_logits"] += 1
        return self._stores[key]


def split_tensors(encoded: dict, store: LogitStore | None) -> dict[str, SplitTensors]:
    """Training tensors per split; the teacher's logits are gathered from the store by ``idx``."""
    return {
        name: SplitTensors(encoded=texts, labels=labels, teacher=store.gather(idx) if store is not None else None)
        for name, (texts, labels, idx) in encoded.items()
    }


def task_training(config: DistilConfig, dataset: Dataset) -> tuple[TrainingConfig, DistillationLoss]:
    """The run's training config and loss for ``dataset``'s task: a regression (a similarity score)
    selects epochs on valid Spearman unless ``select_metric`` names a correlation, and its loss
    compares scores (``mse``: regression KD; ``ce``: the gold score alone; ``kl`` is refused)."""
    training, loss = config.training_config(), config.loss_function()
    if not dataset.is_regression:
        return training, loss
    if training.select_metric not in REGRESSION_METRICS:
        training = replace(training, select_metric="spearman")
    try:
        return training, replace(loss, task="regression")
    except ValueError as err:
        raise ValueError(f"{dataset.name}: {err}") from None


def run_distillation(
    config: DistilConfig, *, resume: bool = False, callbacks: Sequence = (), resources: RunResources | None = None
) -> dict:
    """Train one student as ``config`` says; returns (and writes) its metrics.

    Pass the same ``resources`` to several runs to load their data, vocabularies and teacher
    logits once (``distil-bilstm grid`` does).
    """
    device = resolve_device(config.device)
    resources = resources or RunResources()
    dataset = resources.dataset(config)
    training, loss = task_training(config, dataset)  # a loss the task cannot use is refused before any work
    folder, tokenizer = resources.vocabulary(config, dataset)
    # the teacher, resolved once for the whole run (a CE run that makes nothing of it leaves it alone)
    source = teacher_source(config) if config.teacher_path and "teacher_path" not in config.inert_keys() else None
    store = resources.teacher_logits(config, dataset, source=source, device=device) if config.loss != "ce" else None
    splits = split_tensors(resources.encoded_splits(dataset, folder, tokenizer, max_length=config.max_length), store)
    transfer_info = {}
    if config.transfer_sets:
        splits["train"], transfer_info = with_transfer_sets(
            splits["train"], config, dataset, source=source, vocab_folder=folder, tokenizer=tokenizer, device=device
        )

    torch.manual_seed(config.seed)
    family = STUDENTS[config.student]
    if family.reads_pairs and not dataset.pairs:
        raise ValueError(
            f"student {config.student!r} reads sentence pairs; {dataset.name} has one text per example "
            "(use student: bilstm)"
        )
    needs_checkpoint = family.needs_teacher_checkpoint or config.hidden_loss != "none"
    teacher_dir = source.checkpoint_dir(store.header if store is not None else None) if needs_checkpoint else None
    build = make_student(
        config.student_settings(),
        vocab_size=len(tokenizer),
        num_labels=dataset.num_labels,
        teacher_dir=teacher_dir,
        tokens=vocab_tokens(tokenizer) if teacher_dir else (),
    )
    model, init_info = build.model, dict(build.info)
    if family.takes_embedding_init:
        init_info.update(
            init_student_embeddings(
                model,
                config,
                dataset=dataset,
                vocab_folder=folder,
                tokenizer=tokenizer,
                store=store,
                source=source,
                resources=resources,
            )
        )
    if config.hidden_loss != "none":
        shape = "per_side" if family.reads_pairs else "whole"  # the siamese student embeds each side alone
        if family.reads_pairs:
            check_embedding_width(model, teacher_dir)
        # the teacher reads each text as it did for its logits (the store's max_length)
        max_length = store.header.get("max_length", config.max_length) if store is not None else config.max_length
        splits["train"].teacher_features = resources.teacher_states(
            config, dataset, teacher_dir, source=source, shape=shape, max_length=max_length, device=device
        )
    run = RunDir(config.run_dir())
    if not resume and run.has_checkpoint():
        raise ValueError(
            f"{run.path} already holds a run with these hyperparameters; pass --resume to continue it, "
            "or set run_name (or another seed) for a new one"
        )
    run.mkdir()
    run.write_config(config.to_dict())
    run.write_student(build.architecture, build.values, label_names=dataset.label_names, pairs=dataset.pairs)
    run.copy_vocab(folder)
    run_dir = run.path
    logger.info(
        "run %s: %s student (%s), %d parameters, %d train (%d per epoch) / %d valid / %d test examples",
        run_dir,
        family.label,
        config.student_settings().run_name(),
        sum(p.numel() for p in model.parameters()),
        len(splits["train"]),
        splits["train"].epoch_size(),
        len(splits["valid"]),
        len(splits["test"]),
    )

    hparams = {k: v for k, v in config.to_dict().items() if v is not None}
    trainer = Trainer(
        model,
        config=training,
        loss=loss,
        identity=config.identity(),
        train=splits["train"],
        valid=splits["valid"],
        test=splits["test"],
        run_dir=run_dir,
        device=device,
        callbacks=[TensorBoardCallback(run_dir, hparams), *callbacks],
        label_names=dataset.label_names,
    )
    metrics = trainer.fit(resume=resume)
    metrics = {
        "run_dir": str(run_dir),
        "dataset": dataset.name,
        "dataset_fingerprint": dataset.fingerprint,
        "vocab_sha256": vocab_hash(folder),
        "student": build.architecture,
        **(
            {
                "teacher_valid_accuracy": store.header.get("teacher_valid_accuracy"),
                "teacher_test_accuracy": store.header.get("teacher_test_accuracy"),
                **(
                    {
                        "teacher_valid_spearman": store.header.get("teacher_valid_spearman"),
                        "teacher_test_spearman": store.header.get("teacher_test_spearman"),
                    }
                    if dataset.is_regression
                    else {}
                ),
                "teacher_path": store.header.get("teacher_path"),
            }
            if store is not None
            else {}
        ),
        "task": dataset.task,
        **init_info,
        **transfer_info,
        **metrics,
    }
    run.write_metrics(metrics)
    return metrics
