"""Teacher logits computed as Ray tasks: ``distil-bilstm teacher logits --backend ray``.

The store is already built from independent chunks (:func:`~.logit_store.build_store`), so a
chunk is the unit of work: a pool of actors, each holding the teacher once (on a GPU when the
cluster has them), labels the missing chunks; the driver writes each chunk file atomically as
its logits come back. The chunk plan, the texts of each chunk and the teacher's batching inside a
chunk are those of a local run, so the store's bytes are too.
"""

from __future__ import annotations

import logging
from typing import Sequence

from ..stores.store import ChunkRunner

logger = logging.getLogger(__name__)


class LabelWorker:
    """One actor: loads the teacher once, then labels chunks (``ray.remote`` is applied at run time
    so that this module imports without Ray)."""

    def __init__(
        self,
        teacher_path: str,
        *,
        num_labels: int,
        runtime: str,
        cache_dir: str,
        batch_size: int,
        max_length: int,
        threads: int,
        device: str = "auto",
    ):
        import torch

        from .reference import load_teacher

        torch.set_num_threads(threads)
        teacher = load_teacher(teacher_path, device=device, num_labels=num_labels)
        if runtime != "torch":
            from .onnx_runtime import load_onnx_teacher

            teacher = load_onnx_teacher(teacher, runtime=runtime, cache_dir=cache_dir, threads=threads)
        self.teacher, self.batch_size, self.max_length = teacher, batch_size, max_length

    def run(self, chunk: int, texts: Sequence[str]):
        return chunk, self.teacher.logits(texts, batch_size=self.batch_size, max_length=self.max_length, progress=False)


def ray_chunk_runner(
    *,
    teacher_path: str,
    num_labels: int,
    runtime: str = "torch",
    cache_dir: str = "teacher_model/logits",
    batch_size: int = 128,
    max_length: int = 128,
    workers: int = 0,
    threads: int = 0,
    address: str | None = None,
    device: str = "auto",
) -> ChunkRunner:
    """A ``build_store`` chunk runner over a Ray cluster (``address``; None: the running one or a
    local one). ``workers`` actors (0: one per GPU, else one per ``threads`` CPUs), each with
    ``threads`` CPU threads (0: 1 with GPUs, else 2), each loading the teacher on ``device`` as the
    command was given it (auto: the actor's GPU where it has one)."""
    try:
        import ray
        from ray.util import ActorPool
    except ImportError as err:
        raise RuntimeError("--backend ray needs Ray: pip install 'distil-bilstm[ray]'") from err

    def run(texts, missing, advance):
        if not missing:
            return
        if not ray.is_initialized():
            ray.init(address=address, include_dashboard=False, log_to_driver=False)
        resources = ray.cluster_resources()
        gpus = int(resources.get("GPU", 0))
        per_actor = threads or (1 if gpus else 2)
        count = workers or gpus or max(1, int(resources.get("CPU", 1)) // per_actor)
        count = min(count, len(missing))
        actor = ray.remote(num_cpus=per_actor, num_gpus=1 if gpus else 0)(LabelWorker)
        logger.info(
            "labelling %d chunks with %d Ray actor(s) (%s, %d thread(s) each)",
            len(missing),
            count,
            "1 GPU" if gpus else "CPU",
            per_actor,
        )
        pool = ActorPool(
            [
                actor.remote(
                    teacher_path,
                    num_labels=num_labels,
                    runtime=runtime,
                    cache_dir=cache_dir,
                    batch_size=batch_size,
                    max_length=max_length,
                    threads=per_actor,
                    device=device,
                )
                for _ in range(count)
            ]
        )
        sizes = {chunk: hi - lo for chunk, lo, hi in missing}
        jobs = [(chunk, list(texts[lo:hi])) for chunk, lo, hi in missing]
        for chunk, logits in pool.map_unordered(lambda a, job: a.run.remote(*job), jobs):
            advance(sizes[chunk])
            yield chunk, logits

    return run
