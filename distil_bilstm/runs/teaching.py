"""What a distillation run takes from its teacher: the logits of the dataset and of every transfer set
(opened from their stores, or labelled once when the teacher is a checkpoint), the student's first
embeddings, and the width check of a hidden-state loss. The teacher is resolved once per run
(:class:`TeacherSource`) and handed to each of these."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from ..data.datasets import Dataset, load_transfer_set
from ..data.transfer import TransferSet, encode_transfer_set
from ..data.vocab import vocab_tokens
from ..students.embeddings import init_embedding_from_vectors
from ..teachers.bases.vocab_transfer import student_embeddings_from_teacher
from ..teachers.running.labelling import cache_dataset_logits
from ..teachers.running.source import TeacherSource
from ..teachers.stores.store import HEADER, LogitStore
from ..training.batching import SplitTensors, with_pool
from ..utils import read_json
from .config import DistilConfig

if TYPE_CHECKING:
    from .pipeline import RunResources

logger = logging.getLogger(__name__)


def teacher_source(config: DistilConfig) -> TeacherSource:
    return TeacherSource.resolve(config.teacher_path, cache_dir=config.cache_dir)


def open_teacher_logits(
    source: TeacherSource, dataset: Dataset, *, max_length: int | None, device: torch.device
) -> LogitStore:
    """The logit store for (teacher, dataset): opened when one made from the same teacher, data, labels
    and length exists (the teacher is not loaded for that), else computed once by a checkpoint teacher
    (a store teacher is opened as it is)."""
    store = source.open_store(dataset, max_length=max_length)
    if store is not None:
        logger.info("%s: cache hit, 0 teacher forward passes", store.path)
        return store
    teacher = source.reference.load(device=device, num_labels=dataset.num_labels)
    result = cache_dataset_logits(
        teacher,
        dataset,
        store_dir=source.store_dir(dataset.name),
        max_length=source.reference.labelling_length(max_length),
    )
    del teacher
    return result.store


def init_student_embeddings(
    model: torch.nn.Module,
    config: DistilConfig,
    *,
    dataset: Dataset,
    vocab_folder: Path,
    tokenizer,
    store: LogitStore | None,
    source: TeacherSource | None,
    resources: "RunResources",
) -> dict:
    """Overwrite the student's default (random) embedding rows as ``config.embedding_init`` says;
    returns what the run's metrics should record about it."""
    weight = model.embedding.weight  # (vocab, embedding_dim)
    if config.embedding_init == "teacher":
        teacher_dir = source.checkpoint_dir(store.header if store is not None else None)
        tokens = vocab_tokens(tokenizer)
        with torch.no_grad():
            weight.copy_(student_embeddings_from_teacher(teacher_dir, tokens, weight.shape[1]))
        logger.info("student embeddings initialised from the teacher at %s", teacher_dir)
        return {"embedding_init": "teacher", "embedding_source": str(teacher_dir)}
    if config.embedding_init == "skipgram":
        vectors = resources.skipgram(config, dataset, vocab_folder, tokenizer, dim=weight.shape[1])
        rows = init_embedding_from_vectors(weight, vectors, padding_idx=model.embedding.padding_idx)
        logger.info("student embeddings: %d of %d rows from skip-gram vectors (%s)", rows, len(weight), vectors.folder)
        return {
            "embedding_init": "skipgram",
            "embedding_source": str(vectors.folder),
            "embedding_rows_initialised": rows,
        }
    return {"embedding_init": config.embedding_init}


def transfer_logits(
    source: TeacherSource, dataset: Dataset, transfer: TransferSet, *, max_length: int | None, device: torch.device
) -> LogitStore:
    """The teacher's logits for a transfer set: its store, labelled now when the teacher is a
    checkpoint and no store exists yet."""
    store_dir = source.transfer_store_dir(dataset.name, transfer.path)
    if not source.is_store:
        max_length = source.reference.labelling_length(max_length)
        if not (store_dir / HEADER).is_file():  # a store's transfer logits cannot be made here
            teacher = source.reference.load(device=device, num_labels=dataset.num_labels)
            cache_dataset_logits(
                teacher, load_transfer_set(transfer.path, dataset=dataset), store_dir=store_dir, max_length=max_length
            )
            del teacher
    return source.open_transfer_store(dataset, transfer.path, fingerprint=transfer.fingerprint, max_length=max_length)


def with_transfer_sets(
    train: SplitTensors,
    config: DistilConfig,
    dataset: Dataset,
    *,
    source: TeacherSource,
    vocab_folder: Path,
    tokenizer,
    device: torch.device,
) -> tuple[SplitTensors, dict]:
    """The training split followed by every transfer set's rows (label -1, teacher logits from
    their stores); returns it with what the run's metrics record about the sets."""
    pools, used = [], []
    for name in config.transfer_sets:
        transfer = encode_transfer_set(
            name,
            dataset=dataset,
            tokenizer=tokenizer,
            vocab_folder=vocab_folder,
            max_length=config.max_length,
            cache_root=config.cache_dir,
            data_dir=config.data_dir,
        )
        store = transfer_logits(source, dataset, transfer, max_length=config.teacher_max_length, device=device)
        pools.append((transfer.encoded, store.logits))
        used.append(
            {
                "path": str(transfer.path),
                "rows": len(transfer),
                "leaked_dropped": transfer.header["leaked_dropped"],
                "store": str(store.path),
            }
        )
        logger.info(
            "transfer set %s: %d rows (%d dropped as validation/test texts)",
            transfer.path,
            len(transfer),
            transfer.header["leaked_dropped"],
        )
    split = with_pool(train, pools, unlabelled=dataset.unlabelled, per_epoch=config.transfer_per_epoch)
    info = {
        "transfer_sets": used,
        "transfer_rows": len(split) - len(train),
        "transfer_rows_per_epoch": split.epoch_size() - len(train),
    }
    return split, info


def check_embedding_width(model: torch.nn.Module, teacher_dir: Path) -> None:
    """The siamese student's sentence embedding W u must be as wide as the teacher's states it is
    compared with: refused before any teacher pass otherwise."""
    hidden = int(read_json(teacher_dir / "config.json")["hidden_size"])
    if model.embedding_width != hidden:
        raise ValueError(
            f"hidden_loss compares the siamese student's sentence embedding W·u ({model.embedding_width} wide) "
            f"with the teacher's states ({hidden} wide, {teacher_dir}): set relu_dim: {hidden}"
        )
