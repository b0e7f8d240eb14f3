"""One distillation run end to end, and loading a finished run for prediction.

    data → vocabulary (built when missing) → teacher logits (cached when missing) → student → Trainer
"""

from __future__ import annotations

import json
import logging
import shutil
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

import torch
from safetensors.torch import load_file

from .config import DistilConfig
from .data import DataConfig, Dataset, load_dataset
from .logit_store import LogitStore, default_store_dir
from .student import BiLSTMClassifier, StudentConfig
from .tokenization import VocabConfig, build_vocabularies, encode_texts, load_vocab, vocab_dir, vocab_hash
from .teacher import cache_dataset_logits, load_teacher, student_embeddings_from_teacher
from .trainer import SplitTensors, TensorBoardCallback, Trainer
from .utils import read_json, resolve_device, write_json

logger = logging.getLogger(__name__)


def data_config(config: DistilConfig) -> DataConfig:
    return DataConfig(name=config.dataset, data_dir=config.data_dir, valid_size=config.valid_size, seed=config.split_seed)


def ensure_vocab(config: DistilConfig, dataset: Dataset) -> Path:
    """``tokenizer/<dataset>/vocab_size_N``; trained on the train split when it does not exist yet."""
    folder = vocab_dir(config.vocab_root, dataset.name, config.vocab_size)
    if not (folder / "vocab.txt").is_file():
        logger.info("no vocabulary at %s: building it from the train split", folder)
        build_vocabularies(dataset.split("train")["text"].tolist(), dataset.split("valid")["text"].tolist(),
                           sizes=[config.vocab_size], out_root=config.vocab_root, dataset=dataset.name, base=VocabConfig())
    return folder


def open_teacher_logits(config: DistilConfig, dataset: Dataset, *, device: torch.device) -> LogitStore:
    """The logit store for (teacher, dataset), computing it once if it does not exist yet.

    ``teacher_path`` may be a store folder (``header.json``) or a teacher checkpoint folder.
    """
    path = Path(config.teacher_path)
    if (path / "header.json").is_file():
        return LogitStore.open(path, fingerprint=dataset.fingerprint, num_labels=dataset.num_labels)
    teacher = load_teacher(path, device=device, num_labels=dataset.num_labels)
    store_dir = default_store_dir(config.cache_dir, teacher.name, dataset.name)
    result = cache_dataset_logits(teacher, dataset, store_dir=store_dir)
    del teacher
    return result.store


class RunResources:
    """What runs share: each dataset, vocabulary (with its encoded splits) and logit store is
    loaded once per distinct value and reused by every later run that asks for it (a grid of
    runs over ``loss`` × ``preset`` reads and tokenises NSMC once). ``loads`` counts real loads."""

    def __init__(self) -> None:
        self._datasets: dict[str, Dataset] = {}
        self._vocabs: dict[tuple, tuple[Path, object]] = {}
        self._encoded: dict[tuple, dict] = {}
        self._stores: dict[tuple, LogitStore] = {}
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
            folder = ensure_vocab(config, dataset)
            self._vocabs[key] = (folder, load_vocab(folder))
            self.loads["vocabulary"] += 1
        return self._vocabs[key]

    def encoded_splits(self, dataset: Dataset, folder: Path, tokenizer, *, max_length: int) -> dict:
        """``{split: (EncodedTexts, labels, idx)}``, tokenised once per (dataset, vocabulary, max_length)."""
        key = (dataset.fingerprint, str(folder), max_length)
        if key not in self._encoded:
            self._encoded[key] = {
                name: (encode_texts(tokenizer, frame["text"].tolist(), max_length=max_length),
                       torch.tensor(frame["label"].to_numpy()), torch.tensor(frame["idx"].to_numpy()))
                for name, frame in ((n, dataset.split(n)) for n in ("train", "valid", "test"))
            }
            self.loads["encoding"] += 1
        return self._encoded[key]

    def teacher_logits(self, config: DistilConfig, dataset: Dataset, *, device: torch.device) -> LogitStore:
        key = (str(Path(config.teacher_path).resolve()), config.cache_dir, dataset.fingerprint)
        if key not in self._stores:
            self._stores[key] = open_teacher_logits(config, dataset, device=device)
            self.loads["teacher_logits"] += 1
        return self._stores[key]


def teacher_checkpoint_dir(config: DistilConfig, store: LogitStore | None) -> Path:
    """The teacher checkpoint behind ``teacher_path`` (which may name its logit store instead)."""
    path = Path(config.teacher_path)
    if (path / "config.json").is_file():
        return path
    recorded = Path(store.header.get("teacher_path", "")) if store is not None else path
    if not (recorded / "config.json").is_file():
        raise FileNotFoundError(f"embedding_init=teacher needs the teacher checkpoint; {path} and {recorded} are not one")
    return recorded


def split_tensors(encoded: dict, store: LogitStore | None) -> dict[str, SplitTensors]:
    """Training tensors per split; the teacher's logits are gathered from the store by ``idx``."""
    return {
        name: SplitTensors(encoded=texts, labels=labels, teacher=store.gather(idx) if store is not None else None)
        for name, (texts, labels, idx) in encoded.items()
    }


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
    folder, tokenizer = resources.vocabulary(config, dataset)
    store = resources.teacher_logits(config, dataset, device=device) if config.loss != "ce" else None
    splits = split_tensors(resources.encoded_splits(dataset, folder, tokenizer, max_length=config.max_length), store)

    torch.manual_seed(config.seed)
    student_config = config.student_config(vocab_size=len(tokenizer), num_labels=dataset.num_labels)
    model = BiLSTMClassifier(student_config)
    if config.embedding_init == "teacher":
        teacher_dir = teacher_checkpoint_dir(config, store)
        tokens = [t for t, _ in sorted(tokenizer.get_vocab().items(), key=lambda kv: kv[1])]
        with torch.no_grad():
            model.embedding.weight.copy_(student_embeddings_from_teacher(teacher_dir, tokens, student_config.embedding_dim))
        logger.info("student embeddings initialised from the teacher at %s", teacher_dir)
    run_dir = config.run_dir()
    if not resume and (run_dir / "checkpoint.pt").is_file():
        raise ValueError(f"{run_dir} already holds a run with these hyperparameters; pass --resume to continue it, "
                         "or set run_name (or another seed) for a new one")
    run_dir.mkdir(parents=True, exist_ok=True)
    write_json(run_dir / "config.json", config.to_dict())
    write_json(run_dir / "student.json", {**student_config.to_dict(), "label_names": dataset.label_names})
    vocab_copy = run_dir / "vocab"
    if vocab_copy.exists():
        shutil.rmtree(vocab_copy)
    shutil.copytree(folder, vocab_copy)
    logger.info("run %s: %s student, %d parameters, %d train / %d valid / %d test examples", run_dir,
                config.preset or "custom", sum(p.numel() for p in model.parameters()),
                len(splits["train"]), len(splits["valid"]), len(splits["test"]))

    hparams = {k: v for k, v in config.to_dict().items() if v is not None}
    trainer = Trainer(model, config=config, train=splits["train"], valid=splits["valid"], test=splits["test"],
                      run_dir=run_dir, device=device, callbacks=[TensorBoardCallback(run_dir, hparams), *callbacks])
    metrics = trainer.fit(resume=resume)
    metrics = {
        "run_dir": str(run_dir),
        "dataset": dataset.name,
        "dataset_fingerprint": dataset.fingerprint,
        "vocab_sha256": vocab_hash(folder),
        **({"teacher_valid_accuracy": store.header.get("teacher_valid_accuracy"),
            "teacher_test_accuracy": store.header.get("teacher_test_accuracy"),
            "teacher_path": store.header.get("teacher_path")} if store is not None else {}),
        **metrics,
    }
    write_json(run_dir / "metrics.json", metrics)
    return metrics


# ------------------------------------------------------------------------------------------------
# prediction


@dataclass
class Prediction:
    label: str
    label_id: int
    probabilities: dict[str, float]


class Predictor:
    """A finished run, ready to classify texts (the seed's ``predict_sentiment``)."""

    def __init__(self, model: BiLSTMClassifier, tokenizer, label_names: list[str], *, max_length: int, device: torch.device):
        self.model, self.tokenizer, self.label_names = model.eval(), tokenizer, label_names
        self.max_length, self.device = max_length, device

    @classmethod
    def from_run_dir(cls, run_dir: str | Path, *, device: str = "auto") -> "Predictor":
        run_dir = Path(run_dir)
        if not (run_dir / "model.safetensors").is_file():
            raise FileNotFoundError(f"{run_dir}: no model.safetensors; is this a finished `distil-bilstm distil` run?")
        resolved = resolve_device(device)
        student = read_json(run_dir / "student.json")
        label_names = student.pop("label_names")
        model = BiLSTMClassifier(StudentConfig.from_dict(student))
        model.load_state_dict(load_file(run_dir / "model.safetensors"))
        max_length = read_json(run_dir / "config.json").get("max_length", 128)
        return cls(model.to(resolved), load_vocab(run_dir / "vocab"), label_names, max_length=max_length, device=resolved)

    @torch.inference_mode()
    def predict(self, texts: Sequence[str]) -> list[Prediction]:
        if isinstance(texts, str):
            texts = [texts]
        encoded = encode_texts(self.tokenizer, list(texts), max_length=self.max_length)
        input_ids, lengths = encoded.batch(torch.arange(len(encoded)))
        probs = torch.softmax(self.model(input_ids.to(self.device), lengths), dim=-1).cpu()
        return [
            Prediction(self.label_names[int(p.argmax())], int(p.argmax()), {n: float(v) for n, v in zip(self.label_names, p)})
            for p in probs
        ]


def predict(run_dir: str | Path, texts: Sequence[str], *, device: str = "auto") -> list[Prediction]:
    """Classify ``texts`` with the student saved in ``run_dir``."""
    return Predictor.from_run_dir(run_dir, device=device).predict(texts)
