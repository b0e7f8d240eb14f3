"""Hyperparameter grid: every combination of a config's list-valued keys, run resumably.

    vocab_size: [3000, 5000]
    loss: [kl, ce]            →  2 × 2 = 4 runs (a CE run ignores α and T, so
    temperature: 2                duplicates collapse: see ``DistilConfig.inert_keys``)

A grid whose ``dataset`` is a tagged one (conll2003, klue_ner, a .jsonl of tokens and tags) holds
``TagRunConfig`` keys and trains taggers (runs/tagging.py); any other, ``DistilConfig`` keys.

Each run's identity is its config's ``identity()`` (a hash of its resolved config), which also
names its folder. Rerunning the grid skips finished runs (``metrics.json``), resumes interrupted
ones (``checkpoint.pt``) and retries failed ones. A failing run writes ``status.json`` with its
error and the grid goes on; ``<run_root>/grid-<name>.json`` summarises every run's status.

Backends: ``local`` (``workers`` processes, each with ``cores // workers`` torch threads) and
``ray`` (Ray Tune trials: runs/ray_grid.py).
"""

from __future__ import annotations

import concurrent.futures as cf
import itertools
import logging
import multiprocessing
import os
import signal
import time
import traceback
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from ..rundir import RunDir
from ..utils import signal_handler, write_json
from .config import DistilConfig, apply_overrides, load_mapping

if TYPE_CHECKING:
    from .tagging import TagRunConfig

logger = logging.getLogger(__name__)

FINISHED, FAILED, STOPPED = "finished", "failed", "stopped"


def run_config_from_dict(values: dict) -> "DistilConfig | TagRunConfig":
    """A grid combination's config: a tagger's (``TagRunConfig``) when its dataset is a tagged one
    (conll2003, klue_ner, a .jsonl of tokens and tags), else a sentence student's (``DistilConfig``)."""
    from ..data.tagging import is_tagged_source
    from .tagging import TagRunConfig

    if is_tagged_source(str(values.get("dataset") or "")):
        return TagRunConfig.from_dict(values)
    return DistilConfig.from_dict(values)


def _inert_keys(config) -> set[str]:
    return config.inert_keys() if isinstance(config, DistilConfig) else set()


@dataclass
class GridRun:
    config: "DistilConfig | TagRunConfig"
    axes: dict  # this combination's value of each list-valued key

    @property
    def run_dir(self) -> Path:
        return self.config.run_dir()

    @property
    def label(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.axes.items()) or "(single run)"


def expand_grid(values: dict) -> list[dict]:
    """Every combination of the list-valued keys (first key varies slowest); scalars are kept.

    >>> expand_grid({"loss": ["kl", "ce"], "preset": ["base", "small"], "lr": 0.002})[1]
    {'loss': 'kl', 'preset': 'small', 'lr': 0.002}
    """
    axes = {k: v for k, v in values.items() if isinstance(v, (list, tuple))}
    for key, options in axes.items():
        if not options:
            raise ValueError(f"grid key {key!r} is an empty list; give at least one value")
    return [{**values, **dict(zip(axes, combo))} for combo in itertools.product(*axes.values())]


def plan_grid(values: dict, overrides: list[str] | None = None, *, source: str = "grid config") -> list[GridRun]:
    """Validate every combination before anything runs; drop combinations that are the same run."""
    values = apply_overrides(values, overrides or [])
    runs, errors, seen = [], [], {}
    for combo, axes in _combinations(values, source):
        chosen = {k: combo[k] for k in axes}
        try:
            config = run_config_from_dict(combo)
        except ValueError as err:
            errors.append(f"  {', '.join(f'{k}={v}' for k, v in chosen.items())}: {err}")
            continue
        identity = config.identity()
        if identity in seen:
            logger.info(
                "%s is the same run as %s (keys %s do not matter for loss=%s)",
                chosen,
                seen[identity].axes,
                sorted(_inert_keys(config)),
                config.loss,
            )
            continue
        seen[identity] = GridRun(config, chosen)
        runs.append(seen[identity])
    if errors:
        raise ValueError(f"{source}: {len(errors)} combination(s) are invalid:\n" + "\n".join(errors))
    if len(runs) > 1 and values.get("run_name"):
        raise ValueError(
            f"{source}: run_name would give all {len(runs)} runs one folder; leave it unset in a grid "
            "(runs are named from their hyperparameters) and set run_root instead"
        )
    return runs


def _combinations(values: dict, source: str) -> list[tuple[dict, list[str]]]:
    """(combination, the keys that vary) for every run of ``values``. ``variants:`` (a list of
    mappings) makes several grids in one file: each variant's keys override the common ones and
    the result is expanded like a grid of its own. It is how a file mixes runs that cannot be
    crossed (CE runs, and KD runs with transfer sets that CE cannot use)."""
    values = dict(values)
    variants = values.pop("variants", None)
    if variants is None:
        return [
            (combo, [k for k, v in values.items() if isinstance(v, (list, tuple))]) for combo in expand_grid(values)
        ]
    if not isinstance(variants, list) or not variants or not all(isinstance(v, dict) for v in variants):
        raise ValueError(f"{source}: variants must be a non-empty list of key: value mappings")
    out = []
    for variant in variants:
        merged = {**values, **variant}
        axes = list(dict.fromkeys([*variant, *(k for k, v in merged.items() if isinstance(v, (list, tuple)))]))
        out += [(combo, axes) for combo in expand_grid(merged)]
    return out


def load_grid(path: str | Path, overrides: list[str] | None = None) -> list[GridRun]:
    return plan_grid(load_mapping(path), overrides, source=str(path))


# --------------------------------------------------------------------------------------------
# one run, as the grid sees it


def run_status(run: GridRun) -> str:
    """``finished`` / ``interrupted`` (a checkpoint to resume) / ``failed`` / ``pending``."""
    folder = RunDir(run.run_dir)
    if folder.is_finished():
        return FINISHED
    if folder.has_checkpoint():
        return "interrupted"
    return folder.read_status().get("status", "pending")


def execute_run(config: "DistilConfig | TagRunConfig", *, resources=None, callbacks=()) -> dict:
    """Run (or skip, or resume) one grid run; never raises for a failing run, except Ctrl-C."""
    from .pipeline import run_distillation
    from .tagging import TagRunConfig, train_tagger

    run = GridRun(config, {})
    status, started = run_status(run), time.perf_counter()
    if status == FINISHED:
        logger.info("skip %s: finished", run.run_dir)
        return {
            "run_dir": str(run.run_dir),
            "status": FINISHED,
            "skipped": True,
            **headline(RunDir(run.run_dir).read_metrics()),
        }
    resume = status == "interrupted"
    logger.info("%s %s", "resume" if resume else "start", run.run_dir)
    try:
        if isinstance(config, TagRunConfig):
            metrics = train_tagger(config, resume=resume, callbacks=list(callbacks))
        else:
            metrics = run_distillation(config, resume=resume, resources=resources, callbacks=callbacks)
    except KeyboardInterrupt:
        raise
    except Exception as err:  # one bad run must not end the grid: record it and go on
        logger.error("run %s failed: %s: %s", run.run_dir, type(err).__name__, err)
        record = {
            "status": FAILED,
            "error": f"{type(err).__name__}: {err}",
            "traceback": traceback.format_exc(),
            "identity": config.identity(),
            "config": config.to_dict(),
        }
        folder = RunDir(run.run_dir)
        folder.mkdir()
        folder.write_status(record)
        return {"run_dir": str(run.run_dir), "status": FAILED, "error": record["error"]}
    RunDir(run.run_dir).clear_status()  # an earlier failure of this run is history now
    return {
        "run_dir": str(run.run_dir),
        "status": FINISHED,
        "skipped": False,
        "seconds": round(time.perf_counter() - started, 1),
        **headline(metrics),
    }


def headline(metrics: dict) -> dict:
    if metrics.get("task") == "regression":
        keys = ("valid_spearman", "test_spearman")
    elif "test_entity_f1" in metrics:  # a tagger
        keys = ("valid_entity_f1", "test_entity_f1")
    else:
        keys = ("valid_accuracy", "test_accuracy")
    return {k: metrics.get(k) for k in (*keys, "params", "train_seconds")}


# --------------------------------------------------------------------------------------------
# local backend


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def threads_per_worker(workers: int, cores: int | None = None) -> tuple[int, int]:
    """(workers, torch threads each) so that workers × threads ≤ cores."""
    cores = cores or available_cores()
    if workers < 1:
        raise ValueError(f"--workers must be >= 1, got {workers}")
    if workers > cores:
        logger.warning("%d workers on %d cores: using %d workers", workers, cores, cores)
        workers = cores
    return workers, max(1, cores // workers)


_worker_resources = None  # one RunResources per worker process


def _init_worker(threads: int, log_level: int) -> None:
    global _worker_resources
    from .pipeline import RunResources

    torch.set_num_threads(threads)
    os.environ.setdefault("TQDM_DISABLE", "1")  # several progress bars on one terminal are noise
    logging.basicConfig(
        level=log_level,
        format=f"%(asctime)s [worker {os.getpid()}] %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    _worker_resources = RunResources()


def _execute_in_worker(config_values: dict) -> dict:
    return execute_run(run_config_from_dict(config_values), resources=_worker_resources)


def run_grid(runs: list[GridRun], *, workers: int = 1, summary_path: str | Path | None = None) -> list[dict]:
    """Run every combination (skipping finished ones); returns one status row per run."""
    from .pipeline import RunResources

    workers, threads = threads_per_worker(min(workers, max(1, len(runs))))  # a lone run gets every core
    if workers == 1:  # runs in this process, on the threads torch already has (OMP_NUM_THREADS is respected)
        threads = torch.get_num_threads()
    counts = Counter(run_status(r) for r in runs)
    logger.info(
        "grid: %d runs (%d finished, %d interrupted, %d failed before), %d worker(s) × %d thread(s)",
        len(runs),
        counts[FINISHED],
        counts["interrupted"],
        counts[FAILED],
        workers,
        threads,
    )
    results: dict[int, dict] = {}

    def record(i: int, row: dict) -> None:
        results[i] = {"axes": runs[i].axes, **row}
        if summary_path:
            ordered = [
                results.get(j, {"axes": r.axes, "run_dir": str(r.run_dir), "status": run_status(r)})
                for j, r in enumerate(runs)
            ]
            write_json(summary_path, {"runs": ordered})

    if workers == 1:
        resources = RunResources()
        for i, run in enumerate(runs):
            logger.info("grid run %d/%d: %s", i + 1, len(runs), run.label)
            record(i, execute_run(run.config, resources=resources))
        return [results[i] for i in range(len(runs))]

    context = multiprocessing.get_context("spawn")  # fork would copy torch's thread pools
    with (
        sigterm_interrupts() as terminated,
        cf.ProcessPoolExecutor(
            workers,
            mp_context=context,
            initializer=_init_worker,
            initargs=(threads, logging.getLogger("distil_bilstm").getEffectiveLevel()),
        ) as pool,
    ):
        try:
            futures = {pool.submit(_execute_in_worker, run.config.to_dict()): i for i, run in enumerate(runs)}
            for future in cf.as_completed(futures):
                i = futures[future]
                try:
                    row = future.result()
                except Exception as err:  # the worker process itself died
                    row = {"run_dir": str(runs[i].run_dir), "status": FAILED, "error": f"{type(err).__name__}: {err}"}
                record(i, row)
                logger.info("grid: %d/%d done (%s: %s)", len(results), len(runs), runs[i].label, row["status"])
        except KeyboardInterrupt:
            if terminated:  # Ctrl-C reaches every process of the terminal's group; a SIGTERM reached this one alone
                for worker in multiprocessing.active_children():
                    os.kill(worker.pid, signal.SIGINT)  # each checkpoints after its current step and stops
            pool.shutdown(wait=True, cancel_futures=True)
            raise
    return [results[i] for i in range(len(runs))]


@contextmanager
def sigterm_interrupts() -> Iterator[list[int]]:
    """While inside, SIGTERM (``kill``, ``timeout``, a job scheduler) raises KeyboardInterrupt as Ctrl-C
    does, and the yielded list records it. Without this a terminated grid leaves its workers training
    on, orphaned, and a rerun would train the same run twice into one folder. Only the main thread may
    install signal handlers: elsewhere this does nothing."""
    terminated: list[int] = []

    def handler(signum, frame):
        terminated.append(signum)
        raise KeyboardInterrupt(f"terminated (signal {signum})")

    with signal_handler(signal.SIGTERM, handler):
        yield terminated
