"""Teachers: load a Hugging Face sequence classifier (or a TF-IDF baseline run) and run it over texts.

Any ``AutoModelForSequenceClassification`` checkpoint works (BERT, ELECTRA, RoBERTa, DistilBERT,
MiniLM…) together with its own tokenizer, from a local folder or a hub id where a network exists.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm
from transformers import (
    AutoModelForSequenceClassification,
    AutoTokenizer,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

from ...data.pairs import Text, is_pair, split_pairs
from ...rundir import RunDir
from ...training.batching import length_sorted_batches
from ...training.masks import masked_mean
from ...utils import read_json, resolve_device, sha256_file

logger = logging.getLogger(__name__)


WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


@dataclass
class Teacher:
    model: PreTrainedModel
    tokenizer: PreTrainedTokenizerBase
    path: str
    weights_hash: str  # sha256 of config + weights: a changed teacher makes its logit caches stale
    device: torch.device
    trained_on: list[str] | None = None  # dataset splits it was trained on (eval.json); None: not recorded
    label_names: tuple[str, ...] | None = None  # its outputs' names (config.json id2label); None: not named
    # {(text, max_length): state} when a caller asks the teacher to remember its sentence states (a
    # bi-encoder's scores are made of them: `teacher logits --states` then encodes each sentence once)
    state_memo: dict | None = field(default=None, repr=False)

    runtime = "torch"  # what computes the logits (teacher_runtime.OnnxTeacher: onnx, onnx-int8)
    check: dict | None = None  # a non-reference runtime's agreement with torch

    @property
    def num_labels(self) -> int:
        return int(self.model.config.num_labels)

    def logits(
        self,
        texts: Sequence[Text],
        *,
        batch_size: int = 128,
        max_length: int = 128,
        progress: bool = True,
        on_batch: Callable[[int], None] | None = None,
    ) -> np.ndarray:
        return predict_logits(
            self, texts, batch_size=batch_size, max_length=max_length, progress=progress, on_batch=on_batch
        )

    @property
    def name(self) -> str:
        return teacher_name(self.path)


# transformers' names for labels nobody named: such a teacher's columns are matched by position
_GENERIC_LABEL = re.compile(r"^LABEL_\d+$")


def named_labels(names: Sequence[str] | None) -> tuple[str, ...] | None:
    """``names`` when somebody named them; None for transformers' defaults (``LABEL_0`` …) or none."""
    if not names or all(_GENERIC_LABEL.match(str(n)) for n in names):
        return None
    return tuple(str(n) for n in names)


def match_labels(
    teacher_names: Sequence[str] | None, dataset_names: Sequence[str], *, teacher: str, dataset: str
) -> list[int] | None:
    """The teacher's output column for each of the dataset's labels, matched by name: None where they
    are in the same order (or the teacher's are not named: matched by position); a permutation where
    the same names come in another order; otherwise a ``ValueError`` naming both lists."""
    if teacher_names is None or list(teacher_names) == list(dataset_names):
        return None
    by_name = {str(n).casefold(): i for i, n in enumerate(teacher_names)}
    wanted = [str(n).casefold() for n in dataset_names]
    if len(by_name) != len(teacher_names) or sorted(by_name) != sorted(wanted):
        raise ValueError(
            f"teacher {teacher} has labels {list(teacher_names)} but {dataset} has {list(dataset_names)}: labels are "
            "matched by name, and these differ (name the dataset's labels as the teacher does, e.g. "
            f"--labels {','.join(teacher_names)} for a file whose label column holds those names)"
        )
    order = [by_name[n] for n in wanted]
    if order == list(range(len(order))):
        return None
    logger.info(
        "teacher %s orders its labels %s; the dataset %s: its columns are reordered by name",
        teacher,
        list(teacher_names),
        list(dataset_names),
    )
    return order


def teacher_name(path: str | os.PathLike) -> str:
    """The folder name teachers' stores and exports are filed under."""
    return Path(path).name or str(path).replace("/", "_")


@dataclass
class NgramTeacher:
    """A baseline run (``distil-bilstm baseline``) used as a teacher: its logits are its
    log-probabilities, so an ensemble or a student sees exactly its probabilities."""

    model: "object"  # ngrams.TfidfLinearModel
    path: str
    weights_hash: str
    num_labels: int
    trained_on: list[str] | None = None
    label_names: tuple[str, ...] | None = None
    runtime = "numpy"
    check = None

    @property
    def name(self) -> str:
        return Path(self.path).name

    def logits(self, texts: Sequence[Text], **_) -> np.ndarray:
        logits = self.model.logits(texts).astype(np.float64)
        return (logits - logsumexp(logits)).astype(np.float32)


def logsumexp(logits: np.ndarray) -> np.ndarray:
    """``log Σ_j exp(z_j)`` per row, kept as a column ``(N, 1)``."""
    top = logits.max(axis=1, keepdims=True)
    return top + np.log(np.exp(logits - top).sum(axis=1, keepdims=True))


def load_ngram_teacher(path: str | os.PathLike, *, weights_hash: str, label_names: Sequence[str]) -> NgramTeacher:
    """A baseline run's n-gram model as a teacher (``teachers.reference.load_teacher`` decides that ``path`` is one)."""
    from ...baselines.ngrams import TfidfLinearModel

    model = TfidfLinearModel.load_run(Path(path))
    return NgramTeacher(model, str(path), weights_hash, len(label_names), ["train"], tuple(label_names))


def teacher_weights_hash(path: str | os.PathLike) -> str:
    """sha256 over ``config.json`` and the weight files of a checkpoint folder."""
    folder = Path(path)
    digest = hashlib.sha256()
    files = [folder / "config.json"] + sorted(
        p for p in folder.iterdir() if p.name in WEIGHT_FILES or p.name.endswith(".safetensors")
    )
    for file in files:
        if file.is_file():
            digest.update(file.name.encode())
            digest.update(sha256_file(file).encode())
    return digest.hexdigest()


@contextmanager
def loading(path: str) -> Iterator[None]:
    """transformers' own loading errors (no weights in a folder, an id not on the hub or not cached
    offline) are ``OSError``s that may not say which checkpoint: prefix it."""
    try:
        yield
    except OSError as err:
        if isinstance(err, FileNotFoundError) or str(err).startswith(str(path)):
            raise
        raise OSError(f"{path}: {err}") from None


def check_checkpoint_path(path: str) -> bool:
    """Whether ``path`` is a local checkpoint folder (True) or a hub id (False). A local path that
    names no folder (one starting with ``.``, ``/`` or ``~``, with two slashes or more, or under a
    folder that exists here), a folder without ``config.json`` and a run folder are refused naming
    the path, before transformers takes them for a hub id or a model."""
    candidate = Path(path).expanduser()
    if candidate.is_dir():
        if not (candidate / "config.json").is_file():
            raise FileNotFoundError(f"{path}: no config.json; is this a Hugging Face checkpoint folder?")
        if RunDir(candidate).is_run():  # its config.json is a run's, not a transformer's
            raise ValueError(f"{path}: a run folder (its config.json is the run's), not a Hugging Face checkpoint")
        return True
    # a hub id is "name" or "org/name"; anything else is a local path
    local_path = (
        candidate.exists()
        or path.startswith((".", "/", "~"))
        or path.count("/") > 1
        or (len(candidate.parts) > 1 and candidate.parent.is_dir())
    )
    if local_path:
        raise FileNotFoundError(f"{path}: not a checkpoint folder (expected config.json and model weights)")
    return False


def load_classifier(
    path: str,
    *,
    device: str | torch.device = "auto",
    num_labels: int | None = None,
    weights_hash: str | None = None,
    trained_on: Sequence[str] | None = None,
) -> Teacher:
    """A fine-tuned Hugging Face classifier and its tokenizer, checked to have ``num_labels`` outputs
    (``teachers.reference.load_teacher`` decides that ``path`` is one)."""
    device = resolve_device(device)
    with loading(path):
        model = AutoModelForSequenceClassification.from_pretrained(path)
        tokenizer = AutoTokenizer.from_pretrained(path)
    if num_labels is not None and model.config.num_labels != num_labels:
        raise ValueError(f"teacher {path} has {model.config.num_labels} labels but the dataset has {num_labels}")
    model.to(device).eval()
    weights_hash = weights_hash or f"hub:{path}:{getattr(model.config, '_commit_hash', '')}"
    names = named_labels([model.config.id2label[i] for i in sorted(model.config.id2label)])
    return Teacher(
        model=model,
        tokenizer=tokenizer,
        path=path,
        weights_hash=weights_hash,
        device=device,
        trained_on=list(trained_on) if trained_on else None,
        label_names=names,
    )


def recorded_trained_on(folder: str | os.PathLike) -> list[str] | None:
    """The splits a fine-tuned checkpoint was trained on, as its eval.json records them (None: not recorded)."""
    eval_file = Path(folder) / "eval.json"
    return read_json(eval_file).get("trained_on") if eval_file.is_file() else None


# --------------------------------------------------------------------------------------------
# batching


def tokenize_for_teacher(tokenizer: PreTrainedTokenizerBase, texts: Sequence[Text], max_length: int) -> list[list[int]]:
    """The teacher's ids of each text; sentence pairs (data/pairs.py) as the tokenizer's own pair
    encoding (``<s> A </s></s> B </s>``, ``[CLS] A [SEP] B [SEP]``): a cross-encoder reads both."""
    texts = list(texts)
    if texts and is_pair(texts[0]):
        firsts, seconds = split_pairs(texts)
        return tokenizer(firsts, seconds, truncation=True, max_length=max_length)["input_ids"]
    return tokenizer(texts, truncation=True, max_length=max_length)["input_ids"]


def pad_batch(rows: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(input_ids, attention_mask), both (batch, longest row)."""
    longest = max(len(r) for r in rows)
    ids = torch.full((len(rows), longest), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), longest), dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, : len(row)] = torch.tensor(row, dtype=torch.long)
        mask[i, : len(row)] = 1
    return ids, mask


def predict_logits(
    teacher: Teacher,
    texts: Sequence[Text],
    *,
    batch_size: int = 128,
    max_length: int = 128,
    progress: bool = True,
    desc: str = "teacher",
    on_batch: Callable[[int], None] | None = None,
) -> np.ndarray:
    """Teacher logits ``(len(texts), num_labels)`` float32, in the order of ``texts``.
    ``on_batch(n)`` is called after each batch of ``n`` texts (a caller's own progress bar)."""
    model = teacher.model
    model.eval()

    @torch.inference_mode()
    def forward(ids: torch.Tensor, mask: torch.Tensor) -> np.ndarray:
        return (
            model(input_ids=ids.to(teacher.device), attention_mask=mask.to(teacher.device)).logits.float().cpu().numpy()
        )

    return batched_logits(
        teacher.tokenizer,
        texts,
        forward,
        width=teacher.num_labels,
        batch_size=batch_size,
        max_length=max_length,
        progress=progress,
        desc=desc,
        on_batch=on_batch,
    )


def batched_logits(
    tokenizer: PreTrainedTokenizerBase,
    texts: Sequence[Text],
    forward: Callable[[torch.Tensor, torch.Tensor], np.ndarray],
    *,
    width: int,
    batch_size: int,
    max_length: int,
    progress: bool = True,
    desc: str = "teacher",
    on_batch: Callable[[int], None] | None = None,
) -> np.ndarray:
    """``forward(input_ids, attention_mask)`` → ``(batch, width)`` over length-sorted batches of
    ``texts``, results ``(len(texts), width)`` in the order of ``texts``: the loop every teacher
    runtime (torch, ONNX) and the teacher's sentence states share."""
    pad_id = tokenizer.pad_token_id or 0
    encoded = tokenize_for_teacher(tokenizer, texts, max_length)
    out = np.zeros((len(texts), width), dtype=np.float32)
    bar = tqdm(total=len(texts), desc=desc, unit="ex", disable=not progress, leave=False)
    for positions in length_sorted_batches([len(e) for e in encoded], batch_size):
        ids, mask = pad_batch([encoded[p] for p in positions], pad_id)
        out[positions] = forward(ids, mask)
        bar.update(len(positions))
        if on_batch:
            on_batch(len(positions))
    bar.close()
    return out


def sentence_states(
    teacher: Teacher,
    texts: Sequence[Text],
    *,
    batch_size: int = 128,
    max_length: int = 128,
    desc: str = "teacher states",
    progress: bool = True,
) -> np.ndarray:
    """The teacher's last-layer token states averaged over each text's tokens (padding excluded),
    ``(len(texts), hidden)`` float32: the targets of the cosine hidden-state loss. With a
    ``teacher.state_memo``, only the texts it does not hold yet are encoded (and then remembered)."""
    memo = teacher.state_memo
    if memo is None:
        return _encode_states(
            teacher, texts, batch_size=batch_size, max_length=max_length, desc=desc, progress=progress
        )
    missing = list(dict.fromkeys(t for t in texts if (t, max_length) not in memo))
    if missing:
        states = _encode_states(
            teacher, missing, batch_size=batch_size, max_length=max_length, desc=desc, progress=progress
        )
        memo.update(((text, max_length), row) for text, row in zip(missing, states))
    if not len(texts):
        return np.zeros((0, teacher.model.config.hidden_size), dtype=np.float32)
    return np.stack([memo[(text, max_length)] for text in texts])


def _encode_states(
    teacher: Teacher, texts: Sequence[Text], *, batch_size: int, max_length: int, desc: str, progress: bool
) -> np.ndarray:
    model = teacher.model
    model.eval()

    @torch.inference_mode()
    def forward(ids: torch.Tensor, mask: torch.Tensor) -> np.ndarray:
        mask = mask.to(teacher.device)
        states = model.base_model(
            input_ids=ids.to(teacher.device), attention_mask=mask
        ).last_hidden_state  # (batch, seq, hidden)
        return masked_mean(states, mask).float().cpu().numpy()

    return batched_logits(
        teacher.tokenizer,
        texts,
        forward,
        width=model.config.hidden_size,
        batch_size=batch_size,
        max_length=max_length,
        progress=progress,
        desc=desc,
    )


def accuracy(logits: np.ndarray, labels: np.ndarray) -> float:
    return float((np.asarray(logits).argmax(axis=1) == np.asarray(labels)).mean()) if len(labels) else float("nan")
