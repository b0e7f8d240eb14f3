"""``teacher finetune --distill-from``: a teacher that learns from a logit store (and its transfer sets)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from distil_bilstm.cli import main
from distil_bilstm.data.datasets import load_dataset, load_transfer_set
from distil_bilstm.teachers.running.labelling import cache_dataset_logits
from distil_bilstm.teachers.running.reference import load_teacher
from distil_bilstm.teachers.running.source import TeacherSource
from distil_bilstm.teachers.running.teacher import predict_logits
from distil_bilstm.teachers.stores.store import HEADER, finish_store
from distil_bilstm.teachers.tuning.finetune import FinetuneConfig, finetune


def positive_store(tiny_teacher_dir, dataset, store_dir):
    """A real store of ``dataset`` whose logits are then replaced by a confident "positive" for
    every row: a teacher that learns from it alone (alpha 0) must come to say "positive"."""
    teacher = load_teacher(tiny_teacher_dir, device="cpu", num_labels=2)
    made = cache_dataset_logits(teacher, dataset, store_dir=store_dir, max_length=32, progress=False)
    header = {
        k: v
        for k, v in made.store.header.items()
        if k not in ("num_examples", "num_labels", "logits_sha256", "created")
    }
    finish_store(store_dir, np.tile(np.float32([-4.0, 4.0]), (len(made.store), 1)), header)
    return teacher


def config(tiny_teacher_dir, out, **overrides) -> FinetuneConfig:
    values = dict(
        base=str(tiny_teacher_dir), out=str(out), train_epoch=2, lr=3e-3, batch_size=16, max_length=32, device="cpu"
    )
    return FinetuneConfig(**{**values, **overrides})


def test_a_teacher_learns_from_a_store_and_its_transfer_set(tiny_teacher_dir, small_nsmc, tmp_path, caplog):
    dataset = load_dataset("nsmc", data_dir=small_nsmc, download=False)
    store = tmp_path / "logits" / "positive" / "nsmc"
    teacher = positive_store(tiny_teacher_dir, dataset, store)
    extra = small_nsmc / "nsmc" / "unlabeled.txt"
    extra.write_text("\n".join(f"새로 본 리뷰 {i}번 괜찮네" for i in range(30)) + "\n", encoding="utf-8")
    transfer = load_transfer_set(extra, dataset=dataset)
    transfer_store = TeacherSource.resolve(store, cache_dir=tmp_path).transfer_store_dir("nsmc", extra)
    cache_dataset_logits(teacher, transfer, store_dir=transfer_store, max_length=32, progress=False)
    finish_store(
        transfer_store,
        np.tile(np.float32([-4.0, 4.0]), (30, 1)),
        {k: v for k, v in json.loads((transfer_store / HEADER).read_text()).items() if k != "num_examples"},
    )

    out = tmp_path / "distilled"
    cli = [
        "teacher",
        "finetune",
        "--dataset",
        "nsmc",
        "--data-dir",
        str(small_nsmc),
        "--no-download",
        "--base",
        str(tiny_teacher_dir),
        "--out",
        str(out),
        "--epochs",
        "2",
        "--lr",
        "3e-3",
        "--batch-size",
        "16",
        "--max-length",
        "32",
        "--device",
        "cpu",
        "--distill-from",
        str(store),
        "--distill-alpha",
        "0",
    ]
    assert main([*cli, "--transfer-set", "nsmc/missing.txt"]) == 1  # one clear line, nothing trained
    assert "texts file 'nsmc/missing.txt' not found" in caplog.text and not out.exists()
    assert (
        main([*cli, "--transfer-set", "nsmc/unlabeled.txt", "--transfer-per-epoch", "8"]) == 0
    )  # a name under --data-dir
    report = json.loads((out / "eval.json").read_text())
    distilled = report["distilled_from"]
    assert distilled["store"] == str(store) and distilled["alpha"] == 0.0 and report["config"]["loss"] == "kl"
    assert (
        distilled["store_sha256"] == json.loads((store / HEADER).read_text())["logits_sha256"]
    )  # in the resumable identity
    assert distilled["transfer_sets"] == [{"path": str(extra), "rows": 30, "store": str(transfer_store)}]
    assert distilled["transfer_rows_per_epoch"] == 8 and report["train_examples"] == len(dataset.split("train"))
    learned = load_teacher(out, device="cpu", num_labels=2)
    test = dataset.split("test")["text"].tolist()
    said_positive = (predict_logits(learned, test, max_length=32, progress=False).argmax(1) == 1).mean()
    assert said_positive == 1.0  # the store's view, not the gold labels' (about half negative)
    assert (dataset.split("test")["label"] == 1).mean() < 0.8


def test_distillation_errors_name_what_is_missing(tiny_teacher_dir, small_nsmc, tmp_path):
    dataset = load_dataset("nsmc", data_dir=small_nsmc, download=False)
    with pytest.raises(
        FileNotFoundError, match=r"teacher_path .*nowhere: no logit store there \(header.json missing\)"
    ):
        finetune(config(tiny_teacher_dir, tmp_path / "a", teacher_path=str(tmp_path / "nowhere"), loss="kl"), dataset)
    store = tmp_path / "logits" / "positive" / "nsmc"
    positive_store(tiny_teacher_dir, dataset, store)
    extra = tmp_path / "unlabeled.txt"
    extra.write_text("아직 라벨 없는 리뷰\n", encoding="utf-8")
    with pytest.raises(
        FileNotFoundError, match=r"transfer set .*unlabeled.txt: no logits at .*nsmc.transfer.unlabeled; label it"
    ):
        finetune(
            config(tiny_teacher_dir, tmp_path / "b", teacher_path=str(store), loss="kl", transfer_sets=[str(extra)]),
            dataset,
        )
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_a_missing_base_is_named_before_any_work(small_nsmc, tmp_path):
    dataset = load_dataset("nsmc", data_dir=small_nsmc, download=False)
    with pytest.raises(FileNotFoundError, match=r"FinetuneConfig.base: .*no-such-base: not a checkpoint folder"):
        finetune(config(tmp_path / "no-such-base", tmp_path / "a"), dataset)
    with pytest.raises(FileNotFoundError, match=r"FinetuneConfig.base: .*: no config.json"):
        finetune(config(tmp_path, tmp_path / "b"), dataset)
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
