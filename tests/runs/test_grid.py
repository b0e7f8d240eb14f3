from __future__ import annotations

import json
import logging
import os
import re
import signal
import subprocess
import sys
import time

import pytest
import torch
import yaml

from distil_bilstm.cli import main
from distil_bilstm.runs.grid import (
    FAILED,
    FINISHED,
    execute_run,
    expand_grid,
    plan_grid,
    run_grid,
    run_status,
    threads_per_worker,
)
from distil_bilstm.runs.pipeline import RunResources
from tests.training.test_trainer import StopAt  # Ctrl-C stand-in: asks the Trainer to checkpoint and stop


def tiny_grid(tmp_path, small_nsmc, teacher_dir, **axes) -> dict:
    return {
        "dataset": "nsmc",
        "data_dir": str(small_nsmc),
        "vocab_size": 300,
        "vocab_root": str(tmp_path / "tok"),
        "preset": "mini",
        "loss": "kl",
        "teacher_path": str(teacher_dir),
        "cache_dir": str(tmp_path / "logits"),
        "batch_size": 32,
        "train_epoch": 1,
        "patience": 0,
        "run_root": str(tmp_path / "runs"),
        "device": "cpu",
        **axes,
    }


def test_expand_grid_is_the_product_of_the_lists_and_keeps_scalars():
    combos = expand_grid(
        {"vocab_size": [3000, 5000], "temperature": [2, 3], "preset": ["base", "small", "tiny"], "lr": 0.002}
    )
    assert len(combos) == 2 * 2 * 3
    assert all(c["lr"] == 0.002 for c in combos)
    assert {(c["vocab_size"], c["temperature"], c["preset"]) for c in combos} == {
        (v, t, p) for v in (3000, 5000) for t in (2, 3) for p in ("base", "small", "tiny")
    }
    assert expand_grid({"lr": 0.1}) == [{"lr": 0.1}]  # no list: one run
    with pytest.raises(ValueError, match="grid key 'preset' is an empty list"):
        expand_grid({"preset": []})


def test_plan_grid_validates_every_combination_and_merges_identical_runs():
    runs = plan_grid({"loss": ["kl", "ce"], "temperature": [2, 3], "teacher_path": "t"})
    # CE ignores T, so its two combinations are one run: 2 KL + 1 CE
    assert sorted((r.config.loss, r.config.temperature) for r in runs) == [("ce", 2.0), ("kl", 2.0), ("kl", 3.0)]
    assert len({r.config.identity() for r in runs}) == 3
    with pytest.raises(
        ValueError, match=r"1 combination\(s\) are invalid:\n  loss=kl: DistilConfig.teacher_path is required"
    ):
        plan_grid({"loss": ["kl", "ce"]})  # no teacher for the KL run, caught before anything runs
    with pytest.raises(ValueError, match="run_name would give all 2 runs one folder"):
        plan_grid({"preset": ["base", "small"], "loss": "ce", "run_name": "mine"})


def test_variants_mix_runs_that_cannot_be_crossed():
    runs = plan_grid(
        {
            "preset": ["base", "tiny"],
            "teacher_path": "t",
            "variants": [
                {"loss": "ce"},
                {"loss": "kl"},
                {"loss": "kl", "transfer_sets": ["aug.tsv", "unl.txt", ["aug.tsv", "unl.txt"]]},
            ],
        }
    )
    got = sorted((r.config.preset, r.config.loss, tuple(r.config.transfer_sets)) for r in runs)
    assert len(got) == 2 * (1 + 1 + 3) and ("tiny", "kl", ("aug.tsv", "unl.txt")) in got and ("base", "ce", ()) in got
    assert {r.label for r in runs if r.config.transfer_sets == ["aug.tsv"]} == {
        "loss=kl, transfer_sets=aug.tsv, preset=base",
        "loss=kl, transfer_sets=aug.tsv, preset=tiny",
    }
    with pytest.raises(ValueError, match="variants must be a non-empty list of key: value mappings"):
        plan_grid({"teacher_path": "t", "variants": {"loss": "ce"}})


def test_threads_per_worker_stays_within_the_cores():
    assert threads_per_worker(1, cores=8) == (1, 8)
    assert threads_per_worker(3, cores=8) == (3, 2)
    assert threads_per_worker(4, cores=2) == (2, 1)  # clamped
    with pytest.raises(ValueError, match="--workers must be >= 1"):
        threads_per_worker(0, cores=2)


def test_grid_runs_loads_once_skips_finished_and_survives_a_failing_run(tmp_path, small_nsmc, tiny_teacher_dir):
    values = tiny_grid(tmp_path, small_nsmc, tiny_teacher_dir, loss=["kl", "ce"], preset=["mini", "tiny"])
    runs = plan_grid(values)
    assert len(runs) == 4
    # make one run fail: its transfer set is not valid JSON Lines (a real error from the data loader; a
    # garbage vocabulary no longer fails a run: one made from other texts is rebuilt)
    broken = tmp_path / "broken.jsonl"
    broken.write_text("{not json\n", encoding="utf-8")
    bad = plan_grid({**values, "loss": "kl", "preset": "mini", "transfer_sets": [str(broken)]})[0]
    runs.insert(1, bad)

    resources = RunResources()
    results = [execute_run(run.config, resources=resources) for run in runs]  # run_grid's sequential path
    assert [r["status"] for r in results] == [FINISHED, FAILED, FINISHED, FINISHED, FINISHED]
    assert results[1]["error"].startswith("DataFormatError: ") and "broken.jsonl, line 1" in results[1]["error"]
    status = json.loads((bad.run_dir / "status.json").read_text())
    assert status["status"] == FAILED and "Traceback" in status["traceback"]
    # data read, tokenised and teacher logits computed once for the four good runs
    assert resources.loads["dataset"] == 1 and resources.loads["teacher_logits"] == 1
    assert resources.loads["encoding"] == 1  # one vocabulary (300) serves all four
    assert all((r.run_dir / "metrics.json").is_file() for r in runs if r is not bad)

    # rerun: every finished run is skipped, the failed one is retried (and fails again)
    summary = tmp_path / "runs" / "grid.json"
    again = run_grid(runs, summary_path=summary)
    assert [r.get("skipped") for r in again] == [True, None, True, True, True]
    assert [r["status"] for r in again] == [FINISHED, FAILED, FINISHED, FINISHED, FINISHED]
    assert [r["status"] for r in json.loads(summary.read_text())["runs"]] == [r["status"] for r in again]


def test_grid_resumes_an_interrupted_run(tmp_path, small_nsmc, tiny_teacher_dir, caplog):
    [run] = plan_grid(
        tiny_grid(tmp_path, small_nsmc, tiny_teacher_dir, loss="ce", preset="mini", train_epoch=2, log_every=1)
    )  # callbacks see every step
    with pytest.raises(KeyboardInterrupt):
        execute_run(run.config, callbacks=[StopAt(3)])  # Ctrl-C is not a failure: it stops the grid
    assert run_status(run) == "interrupted" and not (run.run_dir / "status.json").exists()
    with caplog.at_level(logging.INFO, logger="distil_bilstm"):
        [row] = run_grid([run], workers=2)  # one run: in this process, on the threads torch already has
    assert row["status"] == FINISHED and row["skipped"] is False
    assert f"1 worker(s) × {torch.get_num_threads()} thread(s)" in caplog.text
    assert json.loads((run.run_dir / "metrics.json").read_text())["epochs_trained"] == 2


def test_cli_grid_with_two_workers(tmp_path, small_nsmc, tiny_teacher_dir, capsys):
    config = tmp_path / "grid.yaml"
    config.write_text(
        yaml.safe_dump(tiny_grid(tmp_path, small_nsmc, tiny_teacher_dir, loss=["kl", "ce"])), encoding="utf-8"
    )
    assert main(["grid", "--config", str(config), "--workers", "2"]) == 0
    out = capsys.readouterr().out
    assert "2 runs: 2 ok, 0 failed" in out
    summary = json.loads((tmp_path / "runs" / "grid-grid.json").read_text())
    assert [r["status"] for r in summary["runs"]] == [FINISHED, FINISHED]
    assert main(["grid", "--config", str(config)]) == 0  # rerun: both skipped
    assert capsys.readouterr().out.count("| finished |") == 2


def test_a_terminated_grid_stops_its_workers_with_a_checkpoint_each(tmp_path, small_nsmc, tiny_teacher_dir):
    """SIGTERM (kill, timeout, a scheduler) reaches the grid's own process only: it must pass the stop
    on, or its workers train on, orphaned, and a rerun trains each run twice into one folder."""
    values = tiny_grid(tmp_path, small_nsmc, tiny_teacher_dir, loss="ce", seed=[1, 2], train_epoch=100_000)
    config, log = tmp_path / "grid.yaml", tmp_path / "grid.log"
    config.write_text(yaml.safe_dump(values), encoding="utf-8")
    with log.open("w") as err:
        grid = subprocess.Popen(
            [sys.executable, "-m", "distil_bilstm.cli", "grid", "--config", str(config), "--workers", "2"],
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    deadline, training = time.monotonic() + 180, set()
    try:
        while len(training) < 2 and time.monotonic() < deadline and grid.poll() is None:
            time.sleep(0.5)  # both workers past their first epoch: each has something to checkpoint
            training = {
                int(pid) for pid in re.findall(r"\[worker (\d+)\] INFO \S+: epoch 1: train loss", log.read_text())
            }
        assert len(training) == 2, log.read_text()[-2000:]
        grid.send_signal(signal.SIGTERM)
        assert grid.wait(timeout=120) == 130, log.read_text()[-2000:]
        for pid in training:  # a live orphan would still take signal 0
            with pytest.raises(ProcessLookupError):
                os.kill(pid, 0)
    finally:  # whatever failed, leave no 100,000-epoch process behind
        for pid in [grid.pid, *training]:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        grid.wait()
    assert [run_status(run) for run in plan_grid(values)] == ["interrupted", "interrupted"]
    assert "grid interrupted; rerun the same command to resume" in log.read_text()


def test_grid_with_ray_tune(tmp_path, small_nsmc, tiny_teacher_dir, monkeypatch):
    ray = pytest.importorskip("ray")
    pytest.importorskip("ray.tune")
    from distil_bilstm.runs.ray_grid import run_grid_ray

    monkeypatch.chdir(tmp_path)
    runs = plan_grid(tiny_grid(tmp_path, small_nsmc, tiny_teacher_dir, loss=["kl", "ce"], train_epoch=2))
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        results = run_grid_ray(runs, scheduler="asha", storage_path=tmp_path / "ray_results")
    finally:
        ray.shutdown()
    assert len(results) == 2 and {r["status"] for r in results} <= {FINISHED, "stopped"}
    assert any(r["status"] == FINISHED for r in results)
    finished = [r for r in runs if (r.run_dir / "metrics.json").is_file()]
    assert finished and all(
        json.loads((r.run_dir / "metrics.json").read_text())["valid_accuracy"] > 0 for r in finished
    )


def test_a_grid_over_a_tagged_dataset_trains_taggers_and_reports_entity_f1(tmp_path, capsys):
    from tests.conftest import write_tagged

    data = write_tagged(tmp_path / "people.jsonl", n=120)
    grid = {
        "dataset": str(data),
        "run_root": str(tmp_path / "runs"),
        "embedding_dim": 8,
        "hidden_dim": 8,
        "char_dim": 4,
        "char_filters": 4,
        "train_epoch": 1,
        "device": "cpu",
        "crf": [True, False],
    }
    config = tmp_path / "tagger-grid.yaml"
    config.write_text(yaml.safe_dump(grid))
    runs = plan_grid(grid)
    assert [type(r.config).__name__ for r in runs] == ["TagRunConfig", "TagRunConfig"]
    assert main(["grid", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert "test entity F1" in out and "2 runs: 2 ok, 0 failed" in out
    for run in runs:
        assert run_status(run) == FINISHED
        assert list(run.run_dir.glob("events.out.tfevents.*"))  # TensorBoard, as a sentence run's
    summary = json.loads((tmp_path / "runs" / "grid-tagger-grid.json").read_text())
    assert all(r["test_entity_f1"] is not None for r in summary["runs"])
    with pytest.raises(ValueError, match=r"crf=True: unknown TagRunConfig key\(s\) \['vocab_size'\]"):
        plan_grid({**grid, "vocab_size": 300})
