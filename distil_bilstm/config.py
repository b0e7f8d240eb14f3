"""``DistilConfig``: everything one distillation run needs, with DistilKoBiLSTM's names.

Loaded from YAML or JSON, then ``--set key=value`` overrides (values parsed as YAML scalars);
an unknown key is an error, never silently ignored.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from .embeddings import LIBRARIES as SKIPGRAM_LIBRARIES
from .losses import LOSSES, DistillationLoss
from .training_config import TrainingConfig
from .student import PRESETS, POOLINGS, StudentConfig
from .utils import path_safe

# keys added after runs were already named: at these values they leave a run's identity (and
# folder name) as it was before the key existed
ADDED_LATER = {"select_metric": "accuracy"}
EMBEDDING_INITS = ("random", "teacher", "skipgram")


@dataclass(kw_only=True)
class DistilConfig:
    # data
    dataset: str = "nsmc"
    data_dir: str | None = None
    valid_size: float = 0.05
    split_seed: int = 1
    max_length: int = 128
    # vocabulary (tokenizer/<dataset>/vocab_size_N, built when missing)
    vocab_size: int = 3000
    vocab_root: str = "tokenizer"
    # student (preset sets embedding/hidden; explicit embedding_dim/hidden_dim win)
    preset: str | None = "base"
    embedding_dim: int | None = None
    hidden_dim: int | None = None
    num_layers: int = 1
    dropout: float = 0.3
    pooling: str = "last"
    relu_dim: int = 0
    # random | teacher: PCA of the teacher's embeddings mapped to our vocabulary | skipgram: vectors
    # trained on the vocabulary's tokens of the train split + embedding_texts (distil-bilstm embeddings)
    embedding_init: str = "random"
    embedding_texts: list[str] = field(default_factory=list)  # unlabelled in-domain texts for skipgram (paths or data-dir names)
    skipgram_library: str = "gensim"  # gensim | fasttext
    # distillation
    loss: str = "kl"
    loss_rate: float = 0.1  # α: weight of the hard-label CE term
    temperature: float = 2.0
    teacher_path: str | None = None  # teacher checkpoint folder, or a logit store folder
    cache_dir: str = "teacher_model/logits"
    # transfer sets: unlabelled or augmented texts (paths or data-dir names) whose rows join the
    # training split with label -1 (soft loss only); their logits are cached like the dataset's.
    # In a grid, give a list of lists (each inner list is one run's sets).
    transfer_sets: list[str] = field(default_factory=list)
    transfer_per_epoch: int | None = None  # transfer rows drawn per epoch (None: all of them)
    # optimisation
    batch_size: int = 64
    lr: float = 2e-3
    weight_decay: float = 0.0
    scheduler: str = "none"
    step_size: int = 1  # StepLR: epochs per decay; CyclicLR: half-cycle in epochs
    gamma: float = 0.5
    train_epoch: int = 20  # maximum epochs; early stopping usually ends sooner
    patience: int = 3  # epochs without a better valid score before stopping (0: never stop early)
    select_metric: str = "accuracy"  # accuracy | macro_f1: the valid score that picks the best epoch
    clip_grad: float = 5.0
    seed: int = 42
    device: str = "auto"
    eval_batch_size: int = 512
    # output
    run_root: str = "runs"
    run_name: str | None = None  # default: made from the hyperparameters
    log_every: int = 50

    def __post_init__(self) -> None:
        # YAML reads "2" as an int: normalise so that identical runs hash identically
        for name in ("valid_size", "dropout", "loss_rate", "temperature", "lr", "weight_decay", "gamma", "clip_grad"):
            value = getattr(self, name)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                setattr(self, name, float(value))

        for name in ("embedding_texts", "transfer_sets"):  # file lists
            value = getattr(self, name)
            if isinstance(value, str):  # one file; in a grid a list is an axis, so a scalar is common
                value = [value]
            setattr(self, name, [str(t) for t in (value or [])])

        def check(ok: bool, name: str, message: str) -> None:
            if not ok:
                raise ValueError(f"DistilConfig.{name} {message}, got {getattr(self, name)!r}")

        check(self.loss in LOSSES, "loss", f"must be one of {LOSSES}")
        check(self.preset is None or self.preset in PRESETS, "preset", f"must be one of {list(PRESETS)} or null")
        check(self.preset is not None or (self.embedding_dim and self.hidden_dim), "preset",
              "may be null only when embedding_dim and hidden_dim are given")
        check(self.pooling in POOLINGS, "pooling", f"must be one of {POOLINGS}")
        check(self.embedding_init in EMBEDDING_INITS, "embedding_init", f"must be one of {EMBEDDING_INITS}")
        check(self.embedding_init != "teacher" or bool(self.teacher_path), "embedding_init", "'teacher' needs teacher_path")
        check(self.skipgram_library in SKIPGRAM_LIBRARIES, "skipgram_library", f"must be one of {SKIPGRAM_LIBRARIES}")
        check(0.0 <= self.loss_rate <= 1.0, "loss_rate", "must be in [0, 1]")
        check(self.temperature > 0, "temperature", "must be > 0")
        check(self.vocab_size > 5, "vocab_size", "must be > 5")
        check(self.max_length >= 1, "max_length", "must be >= 1")
        check(self.loss == "ce" or bool(self.teacher_path), "teacher_path", f"is required for loss={self.loss!r}")
        check(0.0 < self.valid_size < 1.0, "valid_size", "must be in (0, 1)")
        check(not self.transfer_sets or self.loss != "ce", "transfer_sets",
              "need a distillation loss (kl or mse): transfer rows have no gold label, only the teacher's logits")
        check(self.transfer_per_epoch is None or self.transfer_per_epoch >= 1, "transfer_per_epoch", "must be >= 1 or null")
        check(self.embedding_dim is None or self.embedding_dim >= 1, "embedding_dim", "must be >= 1 or null")
        check(self.hidden_dim is None or self.hidden_dim >= 1, "hidden_dim", "must be >= 1 or null")
        try:  # the student's and the Trainer's own checks now, not after data and teacher logits
            self.student_config(vocab_size=self.vocab_size, num_labels=2)
            self.training_config()
        except ValueError as err:
            raise ValueError(str(err).replace("StudentConfig.", "DistilConfig.").replace("TrainingConfig.", "DistilConfig.")) from None

    # ---- derived

    def student_config(self, *, vocab_size: int, num_labels: int) -> StudentConfig:
        sizes = {k: v for k, v in (("embedding_dim", self.embedding_dim), ("hidden_dim", self.hidden_dim)) if v}
        common = dict(vocab_size=vocab_size, num_labels=num_labels, num_layers=self.num_layers, dropout=self.dropout,
                      pooling=self.pooling, relu_dim=self.relu_dim, **sizes)
        return StudentConfig.from_preset(self.preset, **common) if self.preset else StudentConfig(**common)

    def training_config(self) -> TrainingConfig:
        """The optimisation keys, as the Trainer takes them."""
        return TrainingConfig(**{k: getattr(self, k) for k in TrainingConfig.keys()})

    def loss_function(self) -> DistillationLoss:
        return DistillationLoss(kind=self.loss, alpha=self.loss_rate, temperature=self.temperature)

    def default_run_name(self) -> str:
        """``<dataset>/<preset>-v<vocab>-<loss>[-a<α>-T<T>]-lr<lr>-bs<batch>-s<seed>-<hash>``."""
        size = self.preset or f"e{self.embedding_dim}h{self.hidden_dim}"
        init = {"random": "", "teacher": "-tinit", "skipgram": "-sg"}[self.embedding_init]
        if self.embedding_init == "skipgram" and self.skipgram_library != "gensim":
            init += f"-{self.skipgram_library}"
        kd = "" if self.loss == "ce" else f"-a{self.loss_rate:g}" + (f"-T{self.temperature:g}" if self.loss == "kl" else "")
        transfer = f"-tr{len(self.transfer_sets)}" if self.transfer_sets else ""
        name = (f"{size}{init}-v{self.vocab_size}-{self.loss}{kd}{transfer}-lr{self.lr:g}-bs{self.batch_size}-s{self.seed}"
                f"-{self.identity()[:6]}")
        return f"{path_safe(self.dataset)}/{name}"

    def inert_keys(self) -> set[str]:
        """Keys that cannot change this run's result: CE ignores α, T and (unless its embeddings come
        from the teacher) the teacher; MSE ignores T; the skip-gram keys matter only with skip-gram
        init; ``transfer_per_epoch`` only with transfer sets. A grid over ``loss × temperature``
        thus trains CE once."""
        inert = set() if self.embedding_init == "skipgram" else {"embedding_texts", "skipgram_library"}
        if not self.transfer_sets:  # keeps the names of runs made before transfer sets existed
            inert |= {"transfer_sets", "transfer_per_epoch"}
        if self.loss == "ce":
            return inert | {"loss_rate", "temperature"} | ({"teacher_path"} if self.embedding_init != "teacher" else set())
        return inert | ({"temperature"} if self.loss == "mse" else set())

    def identity(self) -> str:
        """Hash of everything that changes the result (not where it is written, the device, or
        keys this loss ignores)."""
        ignored = {"run_root", "run_name", "device", "log_every", "eval_batch_size", "data_dir", "cache_dir", "vocab_root"}
        ignored |= self.inert_keys()
        payload = {k: v for k, v in self.to_dict().items()
                   if k not in ignored and not (k in ADDED_LATER and v == ADDED_LATER[k])}
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()

    def run_dir(self) -> Path:
        return Path(self.run_root) / (self.run_name or self.default_run_name())

    # ---- (de)serialisation

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "DistilConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown config key(s) {unknown}; known keys: {sorted(known)}")
        return cls(**values)

    @classmethod
    def from_file(cls, path: str | Path, overrides: list[str] | None = None) -> "DistilConfig":
        return cls.from_dict(apply_overrides(load_mapping(path), overrides or []))


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
