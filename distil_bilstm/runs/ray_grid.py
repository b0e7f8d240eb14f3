"""The grid on Ray Tune (``distil-bilstm grid --backend ray``; ``pip install distil-bilstm[ray]``): each run a trial,
reporting its valid score per epoch so that ASHA may stop weak ones early."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from ..rundir import RunDir
from .grid import (
    FAILED,
    FINISHED,
    STOPPED,
    GridRun,
    available_cores,
    execute_run,
    headline,
    run_config_from_dict,
    run_status,
)


def run_grid_ray(
    runs: list[GridRun],
    *,
    scheduler: str | None = None,
    cpus_per_trial: int = 1,
    address: str | None = None,
    storage_path: str | Path | None = None,
    name: str = "grid",
) -> list[dict]:
    """The same grid as Ray Tune trials (``pip install distil-bilstm[ray]``).

    Each trial reports ``valid_score`` per epoch (its ``select_metric``: accuracy, macro-F1, or
    Spearman for a regression task), so ``scheduler="asha"`` (ASHA, Li et al.
    2018) can stop weak trials after a few epochs. ``address`` joins a running cluster
    (``ray start --head`` / ``"auto"``); without it a local Ray uses this machine's cores. Trials
    run in the driver's working folder, so on a cluster every node needs the same paths (a shared
    filesystem) for data, vocabularies, logit stores and ``run_root``.
    """
    try:
        import ray
        from ray import tune
    except ImportError:
        raise ImportError("--backend ray needs Ray Tune: pip install 'distil-bilstm[ray]'") from None

    already_finished = [run_status(r) == FINISHED for r in runs]
    todo = [r for r, f in zip(runs, already_finished) if not f]
    done = [
        {"axes": r.axes, "run_dir": str(r.run_dir), "status": FINISHED, "skipped": True}
        for r, f in zip(runs, already_finished)
        if f
    ]
    if not todo:
        return done
    if not ray.is_initialized():
        ray.init(address=address, **({} if address else {"num_cpus": available_cores()}), log_to_driver=False)
    tune_scheduler = None
    if scheduler == "asha":
        from ray.tune.schedulers import ASHAScheduler

        # ASHA stops a trial once it reaches max_t; one past the last epoch lets a surviving trial
        # finish on its own (test evaluation, metrics.json) instead of being cut at its last report
        tune_scheduler = ASHAScheduler(
            time_attr="epoch", max_t=max(r.config.train_epoch for r in todo) + 1, grace_period=1
        )
    elif scheduler not in (None, "fifo"):
        raise ValueError(f"unknown Ray scheduler {scheduler!r}; choose asha or fifo")
    trainable = tune.with_resources(_ray_trial, {"cpu": cpus_per_trial})
    tuner = tune.Tuner(
        trainable,
        param_space={
            "config": tune.grid_search([r.config.to_dict() for r in todo]),
            "workdir": os.getcwd(),
            "threads": cpus_per_trial,
        },
        tune_config=tune.TuneConfig(metric="valid_score", mode="max", scheduler=tune_scheduler),
        run_config=tune.RunConfig(
            name=name, storage_path=str(Path(storage_path or "ray_results").resolve()), verbose=1
        ),
    )
    result_grid = tuner.fit()
    by_dir = {}
    for result in result_grid:
        run_dir = Path(result.config["workdir"]) / run_config_from_dict(result.config["config"]).run_dir()
        finished = RunDir(run_dir).is_finished()
        status = FINISHED if finished else FAILED if result.error else STOPPED  # stopped: by the scheduler
        last = result.metrics or {}
        by_dir[str(run_dir)] = {
            "run_dir": str(run_dir),
            "status": status,
            "epochs": last.get("epoch"),
            **(headline(RunDir(run_dir).read_metrics()) if finished else {"valid_score": last.get("valid_score")}),
            **({"error": str(result.error).splitlines()[0]} if result.error else {}),
        }
    return done + [
        {"axes": r.axes, **by_dir.get(str(r.run_dir.resolve()), {"run_dir": str(r.run_dir), "status": FAILED})}
        for r in todo
    ]


def _ray_trial(trial: dict) -> None:
    """One Ray Tune trial: a grid run that reports each epoch's valid score (the run's select metric) to Tune."""
    from ray import tune

    from ..training.callbacks import Callback

    class ReportToTune(Callback):
        def on_epoch_end(self, trainer, *, metrics: dict) -> None:
            # the score the run selects its epoch by: valid accuracy was NaN for a regression task
            tune.report(
                {
                    "epoch": metrics["epoch"],
                    "valid_score": metrics[f"valid_{trainer.config.select_metric}"],
                    "train_loss": metrics["train_loss"],
                }
            )

    torch.set_num_threads(int(trial["threads"]))
    os.chdir(trial["workdir"])  # relative paths in the config mean the driver's folder
    row = execute_run(run_config_from_dict(trial["config"]), callbacks=[ReportToTune()])
    if row["status"] == FAILED:
        raise RuntimeError(row["error"])
