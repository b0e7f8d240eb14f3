from __future__ import annotations

import json
from pathlib import Path

import pytest

from distil_bilstm.cli import main
from distil_bilstm.runs.config import DistilConfig
from distil_bilstm.runs.pipeline import run_distillation
from distil_bilstm.serving.inference import predict


def test_distil_end_to_end_with_a_tiny_teacher(tmp_path, small_nsmc, tiny_teacher_dir):
    config = DistilConfig(
        dataset="nsmc",
        data_dir=str(small_nsmc),
        vocab_size=300,
        vocab_root=str(tmp_path / "tok"),
        preset="tiny",
        loss="kl",
        teacher_path=str(tiny_teacher_dir),
        cache_dir=str(tmp_path / "logits"),
        batch_size=16,
        train_epoch=2,
        patience=0,
        run_root=str(tmp_path / "runs"),
        device="cpu",
    )
    metrics = run_distillation(config)
    run_dir = config.run_dir()
    assert run_dir.parent.name == "nsmc" and run_dir.name.startswith("tiny-v300-kl-a0.1-T2-")
    for name in (
        "config.json",
        "student.json",
        "model.safetensors",
        "metrics.json",
        "vocab/vocab.txt",
        "checkpoint.pt",
    ):
        assert (run_dir / name).is_file(), name
    assert list(run_dir.glob("events.out.tfevents.*"))
    saved = json.loads((run_dir / "metrics.json").read_text())
    for key in (
        "valid_accuracy",
        "test_accuracy",
        "params",
        "size_bytes",
        "train_seconds",
        "examples_per_second",
        "teacher_test_accuracy",
    ):
        assert saved[key] is not None, key
    assert saved == json.loads(json.dumps(metrics))
    assert (tmp_path / "tok" / "nsmc" / "vocab_size_300" / "vocab.txt").is_file()  # built on demand
    assert (tmp_path / "logits" / "tiny_teacher" / "nsmc" / "header.json").is_file()  # cached on demand

    with pytest.raises(ValueError, match="already holds a run with these hyperparameters; pass --resume"):
        run_distillation(config)  # a finished run is never overwritten
    assert run_distillation(config, resume=True)["test_accuracy"] == metrics["test_accuracy"]

    preds = predict(run_dir, ["정말 재미있어요", "최악의 영화"], device="cpu")
    assert [p.label in ("negative", "positive") for p in preds] == [True, True]
    assert sum(preds[0].probabilities.values()) == pytest.approx(1.0, abs=1e-5)


def test_cli_distil_and_predict(tmp_path, small_nsmc, capsys):
    code = main(
        [
            "distil",
            "--set",
            "dataset=nsmc",
            "--set",
            f"data_dir={small_nsmc}",
            "--set",
            "loss=ce",
            "--set",
            "preset=mini",
            "--set",
            "vocab_size=300",
            "--set",
            f"vocab_root={tmp_path / 'tok'}",
            "--set",
            "train_epoch=1",
            "--set",
            f"run_root={tmp_path / 'runs'}",
            "--set",
            "device=cpu",
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "| parameters |" in out
    run_dir = out.strip().splitlines()[-1].removeprefix("run saved to ")
    assert main(["predict", "--model", run_dir, "좋아요"]) == 0
    line = json.loads(capsys.readouterr().out.strip())
    assert line["text"] == "좋아요" and set(line["probabilities"]) == {"negative", "positive"}


def test_cli_rejects_unknown_key(capsys, caplog):
    assert main(["distil", "--set", "learning_rate=0.1"]) == 1
    assert "unknown config key(s) ['learning_rate']" in caplog.text


def test_distil_reads_a_users_file_with_its_own_columns_and_labels(tmp_path):
    """The run config names a custom file's columns and label set, as `teacher logits` flags do."""
    from tests.conftest import BAD, GOOD

    lines = ["id,review,stars"] + [
        f"{i},{GOOD[i % 5] if i % 2 else BAD[i % 5]} {i},{'pos' if i % 2 else 'neg'}" for i in range(120)
    ]
    path = tmp_path / "mine.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    config = DistilConfig(
        dataset=str(path),
        text_column="review",
        label_column="stars",
        labels=["pos", "neg"],
        vocab_size=150,
        vocab_root=str(tmp_path / "tok"),
        preset="tiny",
        loss="ce",
        batch_size=16,
        train_epoch=1,
        run_root=str(tmp_path / "runs"),
        device="cpu",
    )
    metrics = run_distillation(config)
    assert json.loads((Path(metrics["run_dir"]) / "student.json").read_text())["label_names"] == ["pos", "neg"]
    with pytest.raises(ValueError, match=r"DistilConfig.labels must be null or two or more distinct label names"):
        DistilConfig(dataset=str(path), loss="ce", labels=["pos"])
