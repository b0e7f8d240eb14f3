"""A teacher run once over a dataset into its logit store, chunk by chunk and resumably."""

from __future__ import annotations

import logging
import os
import time

import numpy as np

from ...data.pairs import correlation_scores
from .teacher import Teacher, accuracy, match_labels

logger = logging.getLogger(__name__)


def cache_dataset_logits(
    teacher: Teacher,
    dataset,
    *,
    store_dir: str | os.PathLike,
    batch_size: int = 128,
    max_length: int = 128,
    chunk_size: int = 8192,
    recompute: bool = False,
    progress: bool = True,
    chunk_runner=None,
):
    """Run ``teacher`` once over every example of ``dataset`` into an idx-keyed logit store.

    Returns a ``BuildResult``; its header carries the teacher's accuracy on each labelled split.
    ``chunk_runner``: compute the chunks elsewhere (see ``logit_store.build_store``).
    """
    from ..stores.store import build_store

    if dataset.num_labels and teacher.num_labels != dataset.num_labels:
        raise ValueError(
            f"teacher {teacher.path} has {teacher.num_labels} labels but {dataset.name} has {dataset.num_labels}"
        )
    # the teacher's columns in the dataset's label order, matched by name (None: the same order)
    order = (
        None
        if dataset.is_regression
        else match_labels(
            getattr(teacher, "label_names", None), dataset.label_names, teacher=str(teacher.path), dataset=dataset.name
        )
    )
    table = dataset.table

    def summarize(logits: np.ndarray) -> dict:
        result = {}
        labels = table["label"].to_numpy()
        for split in ("train", "valid", "test"):
            if dataset.is_regression:
                rows = (table["split"] == split).to_numpy() & ~np.isnan(labels)
                if rows.any():
                    result[f"teacher_{split}_spearman"] = correlation_scores(labels[rows], logits[rows, 0])["spearman"]
                continue
            rows = (table["split"] == split).to_numpy() & (labels >= 0)
            if rows.any():
                result[f"teacher_{split}_accuracy"] = accuracy(logits[rows], labels[rows])
        # wall time of the process that finished the store (a resumed build counts its last part)
        result["labelling_seconds"] = round(time.perf_counter() - start, 1)
        return result

    header = {
        "teacher_path": str(teacher.path),
        "teacher_hash": teacher.weights_hash,
        "dataset": dataset.name,
        "dataset_fingerprint": dataset.fingerprint,
        "num_labels": teacher.num_labels,
        "label_names": list(dataset.label_names),
        "task": dataset.task,  # regression: one column, the teacher's score
        "max_length": max_length,
        **({"teacher_label_names": list(teacher.label_names)} if getattr(teacher, "label_names", None) else {}),
        **({"label_order": order} if order else {}),
        "teacher_trained_on": teacher.trained_on,
        "runtime": teacher.runtime,
        **({"runtime_check": teacher.check} if teacher.check else {}),
    }
    start = time.perf_counter()

    def compute(texts, advance):
        logits = teacher.logits(texts, batch_size=batch_size, max_length=max_length, progress=False, on_batch=advance)
        return logits if order is None else logits[:, order]

    if chunk_runner is not None and order is not None:  # chunks computed elsewhere come in the teacher's order
        chunk_runner = _reordered(chunk_runner, order)
    result = build_store(
        store_dir,
        texts=table["text"].tolist(),
        compute=compute,
        header=header,
        chunk_size=chunk_size,
        recompute=recompute,
        summarize=summarize,
        progress=progress,
        chunk_runner=chunk_runner,
    )
    seconds = time.perf_counter() - start
    if result.computed_examples:
        logger.info(
            "teacher ran on %d examples in %.1f s (%.0f examples/s)",
            result.computed_examples,
            seconds,
            result.computed_examples / seconds,
        )
    else:
        logger.info("0 teacher forward passes: every logit came from %s", store_dir)
    return result


def _reordered(runner, order: list[int]):
    """``runner`` (a ``ChunkRunner``) with each chunk's columns put in ``order``."""

    def run(texts, missing, advance):
        for chunk, logits in runner(texts, missing, advance):
            yield chunk, np.asarray(logits)[:, order]

    return run
