from __future__ import annotations

import os
import pickle

import numpy as np
import pytest
import torch

from distil_bilstm.data.datasets import load_dataset
from distil_bilstm.teachers.running.labelling import cache_dataset_logits
from distil_bilstm.teachers.running.reference import load_teacher
from distil_bilstm.teachers.running.teacher import predict_logits
from distil_bilstm.teachers.stores.store import (
    LogitStore,
    StaleStoreError,
    align_logits,
    build_store,
    read_external_logits,
)


def test_store_equals_direct_forward_and_second_run_is_free(tiny_teacher_dir, small_nsmc, tmp_path):
    dataset = load_dataset("nsmc", data_dir=small_nsmc, download=False)
    teacher = load_teacher(tiny_teacher_dir, device="cpu", num_labels=2)
    store_dir = tmp_path / "store"
    first = cache_dataset_logits(teacher, dataset, store_dir=store_dir, chunk_size=50, max_length=32, progress=False)
    assert first.computed_examples == 160
    direct = predict_logits(teacher, dataset.table["text"].tolist(), batch_size=16, max_length=32, progress=False)
    np.testing.assert_allclose(first.store.logits.numpy(), direct, rtol=1e-4, atol=1e-5)
    idx = torch.tensor([5, 150, 0])
    np.testing.assert_allclose(first.store.gather(idx).numpy(), direct[[5, 150, 0]], rtol=1e-4, atol=1e-5)
    header = first.store.header
    assert header["dataset_fingerprint"] == dataset.fingerprint and header["num_labels"] == 2
    assert 0.0 <= header["teacher_test_accuracy"] <= 1.0
    assert not (store_dir / "chunks").exists()
    second = cache_dataset_logits(teacher, dataset, store_dir=store_dir, chunk_size=50, max_length=32, progress=False)
    assert second.computed_examples == 0


def test_stale_fingerprint_is_refused_then_recomputed(tiny_teacher_dir, small_nsmc, tmp_path):
    dataset = load_dataset("nsmc", data_dir=small_nsmc, download=False)
    teacher = load_teacher(tiny_teacher_dir, device="cpu")
    cache_dataset_logits(teacher, dataset, store_dir=tmp_path / "s", max_length=32, progress=False)
    changed = load_dataset("nsmc", data_dir=small_nsmc, download=False)
    changed.table.loc[0, "label"] = 1 - changed.table.loc[0, "label"]
    with pytest.raises(
        StaleStoreError, match=r"is stale: dataset fingerprint differs \(store [0-9a-f]{12}, data [0-9a-f]{12}\)"
    ):
        cache_dataset_logits(teacher, changed, store_dir=tmp_path / "s", max_length=32, progress=False)
    with pytest.raises(StaleStoreError, match="label count differs"):
        LogitStore.open(tmp_path / "s", num_labels=3)
    redo = cache_dataset_logits(
        teacher, changed, store_dir=tmp_path / "s", max_length=32, recompute=True, progress=False
    )
    assert redo.computed_examples == 160 and redo.store.header["dataset_fingerprint"] == changed.fingerprint


def test_resume_after_interruption_gives_identical_bytes(tiny_teacher_dir, small_nsmc, tmp_path, capsys):
    dataset = load_dataset("nsmc", data_dir=small_nsmc, download=False)
    teacher = load_teacher(tiny_teacher_dir, device="cpu")
    texts = dataset.table["text"].tolist()
    header = {"dataset_fingerprint": dataset.fingerprint, "teacher_hash": teacher.weights_hash, "num_labels": 2}
    calls = []

    def compute(chunk, advance):
        calls.append(len(chunk))
        if len(calls) == 3:
            raise KeyboardInterrupt  # killed while the third chunk runs
        return predict_logits(teacher, chunk, max_length=32, progress=False, on_batch=advance)

    with pytest.raises(KeyboardInterrupt):
        build_store(tmp_path / "resumed", texts=texts, compute=compute, header=header, chunk_size=40)
    assert not (tmp_path / "resumed" / "header.json").exists()  # never looks complete
    with pytest.raises(FileNotFoundError, match="no complete logit store"):
        LogitStore.open(tmp_path / "resumed")
    capsys.readouterr()
    calls.clear()
    resumed = build_store(
        tmp_path / "resumed",
        texts=texts,
        compute=lambda c, _: (calls.append(len(c)), predict_logits(teacher, c, max_length=32, progress=False))[1],
        header=header,
        chunk_size=40,
    )
    assert calls == [40, 40] and resumed.computed_examples == 80  # only the two missing chunks
    # one progress bar over the whole set, starting where the interrupted run stopped
    bar = capsys.readouterr().err
    assert "teacher logits (4 chunks):  50%" in bar and "160/160" in bar and "ex/s" in bar
    whole = build_store(
        tmp_path / "whole",
        texts=texts,
        compute=lambda c, _: predict_logits(teacher, c, max_length=32, progress=False),
        header=header,
        chunk_size=40,
    )
    assert (tmp_path / "resumed" / "logits.npy").read_bytes() == (tmp_path / "whole" / "logits.npy").read_bytes()
    assert whole.computed_examples == 160


def test_import_formats(tmp_path):
    logits = np.arange(12, dtype=np.float32).reshape(6, 2)
    csv = tmp_path / "t.csv"
    csv.write_text(
        "idx,logit_0,logit_1\n" + "".join(f"{i},{a},{b}\n" for i, (a, b) in reversed(list(enumerate(logits))))
    )
    np.save(tmp_path / "t.npy", logits)
    np.savez(tmp_path / "t.npz", idx=np.arange(6)[::-1], logits=logits[::-1])
    with open(tmp_path / "teacher_output.pickle", "wb") as fh:
        pickle.dump({i: [float(a), float(b)] for i, (a, b) in enumerate(logits)}, fh)
    for name in ("t.csv", "t.npy", "t.npz", "teacher_output.pickle"):
        idx, values = read_external_logits(tmp_path / name)
        np.testing.assert_array_equal(align_logits(idx, values, num_examples=6, num_labels=2, source=name), logits)


class _Evil:
    def __reduce__(self):
        return (os.system, ("touch pwned",))


def test_malicious_pickle_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with open(tmp_path / "teacher_output.pickle", "wb") as fh:
        pickle.dump({0: [0.1, 0.2], 1: _Evil()}, fh)
    with pytest.raises(ValueError, match=r"refusing to load (posix|os|nt)\.system"):
        read_external_logits(tmp_path / "teacher_output.pickle")
    assert not (tmp_path / "pwned").exists()


def test_import_must_cover_every_index():
    with pytest.raises(ValueError, match=r"covers 2 of 3 examples; missing idx \[1\]"):
        align_logits(np.array([0, 2]), np.zeros((2, 2), np.float32), num_examples=3, num_labels=2, source="x.csv")
    with pytest.raises(ValueError, match="the dataset has 3 labels"):
        align_logits(np.array([0]), np.zeros((1, 2), np.float32), num_examples=1, num_labels=3, source="x.csv")
