from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from distil_bilstm.data.datasets import load_dataset, load_transfer_set
from distil_bilstm.data.transfer import encode_transfer_set
from distil_bilstm.data.vocab import ConcatEncoded, encode_texts, load_vocab
from distil_bilstm.runs.config import DistilConfig
from distil_bilstm.runs.pipeline import ensure_vocab, run_distillation
from distil_bilstm.training.batching import SplitTensors
from distil_bilstm.training.losses import distillation_loss
from tests.conftest import write_lines

TRANSFER = ["이 영화 정말 좋다", "", "최악 [MASK] 영화", "배우 연기 [MASK]", "지루한 영화", "감동 감동"]


def setup(tmp_path, small_nsmc):
    dataset = load_dataset("nsmc", data_dir=small_nsmc, download=False)
    folder = ensure_vocab(dataset, vocab_root=tmp_path / "tok", vocab_size=300)
    held_out = dataset.split("test")["text"].iloc[0]
    path = write_lines(tmp_path / "transfer.txt", TRANSFER + [held_out])
    return dataset, folder, load_vocab(folder), path


def test_encoded_transfer_set_round_trips_through_its_memory_map(tmp_path, small_nsmc):
    dataset, folder, tokenizer, path = setup(tmp_path, small_nsmc)
    kept = [t for t in TRANSFER if t]  # empty lines are not texts; the held-out one is dropped by the guard
    transfer = encode_transfer_set(
        path, dataset=dataset, tokenizer=tokenizer, vocab_folder=folder, max_length=16, cache_root=tmp_path / "cache"
    )
    assert len(transfer) == len(kept) and transfer.header["leaked_dropped"] == 1
    assert transfer.encoded.ids.dtype == torch.int32  # the flat int32 file, memory-mapped
    expected = encode_texts(tokenizer, kept, max_length=16)
    rows = torch.arange(len(kept))
    for got, want in zip(transfer.encoded.batch(rows), expected.batch(rows)):
        assert torch.equal(got, want)
    # the fingerprint is the one `teacher logits --transfer-set` gives the set's store
    assert transfer.fingerprint == load_transfer_set(path, dataset=dataset).fingerprint

    again = encode_transfer_set(
        path, dataset=dataset, tokenizer=tokenizer, vocab_folder=folder, max_length=16, cache_root=tmp_path / "cache"
    )
    assert again.header == transfer.header  # from the cache
    path.write_text("\n".join(kept[:2]) + "\n", encoding="utf-8")  # the file changed: rebuilt
    assert (
        len(
            encode_transfer_set(
                path,
                dataset=dataset,
                tokenizer=tokenizer,
                vocab_folder=folder,
                max_length=16,
                cache_root=tmp_path / "cache",
            )
        )
        == 2
    )


def test_mask_token_is_one_known_student_token(tmp_path, small_nsmc):
    _, _, tokenizer, _ = setup(tmp_path, small_nsmc)
    ids = encode_texts(tokenizer, ["최악 [MASK] 영화"]).ids.tolist()
    assert tokenizer.mask_token == "[MASK]" and ids.count(tokenizer.mask_token_id) == 1


def test_concatenated_parts_batch_like_one():
    parts = [encode_texts_like([[5, 6], [7]]), encode_texts_like([[8, 9, 10], [11]])]
    whole = ConcatEncoded(parts)
    ids, lengths = whole.batch(torch.tensor([3, 0, 2]))
    assert lengths.tolist() == [1, 2, 3]
    assert ids.tolist() == [[11, 0, 0], [5, 6, 0], [8, 9, 10]]


def encode_texts_like(rows):
    from distil_bilstm.data.vocab import EncodedTexts

    lengths = torch.tensor([len(r) for r in rows])
    offsets = torch.cumsum(lengths, 0) - lengths
    return EncodedTexts(torch.tensor([t for r in rows for t in r], dtype=torch.int32), offsets, lengths)


def test_epoch_rows_keep_gold_and_draw_the_pool():
    split = SplitTensors(
        encoded=encode_texts_like([[1]] * 50),
        labels=torch.zeros(50, dtype=torch.int64),
        pool_start=10,
        pool_per_epoch=15,
    )
    first = split.epoch_rows(seed=1, epoch=0)
    assert len(first) == split.epoch_size() == 25 and first[:10].tolist() == list(range(10))
    assert len(set(first.tolist())) == 25 and (first[10:] >= 10).all()
    assert np.array_equal(first, split.epoch_rows(seed=1, epoch=0))  # replayable on resume
    assert not np.array_equal(first, split.epoch_rows(seed=1, epoch=1))
    assert len(SplitTensors(encoded=split.encoded, labels=split.labels).epoch_rows(seed=1, epoch=0)) == 50


def test_soft_only_rows_on_a_hand_built_batch():
    student = torch.tensor([[2.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    teacher = torch.tensor([[1.0, 0.0], [0.0, 3.0], [2.0, 0.0]])
    gold = torch.tensor([0, -1, -1])  # one gold row, two transfer rows
    t, alpha = 2.0, 0.1
    soft = [
        torch.sum(
            torch.softmax(teacher[i] / t, 0)
            * (torch.log_softmax(teacher[i] / t, 0) - torch.log_softmax(student[i] / t, 0))
        )
        * t
        * t
        for i in range(3)
    ]
    hard = torch.nn.functional.cross_entropy(student[:1], gold[:1])
    expected = ((alpha * hard + (1 - alpha) * soft[0]) + soft[1] + soft[2]) / 3
    got = distillation_loss("kl", student, teacher, gold, alpha=alpha, temperature=t)
    assert got.item() == pytest.approx(expected.item(), rel=1e-5)


def test_run_with_a_transfer_set_labels_it_and_trains_on_it(tmp_path, small_nsmc, tiny_teacher_dir):
    _, _, _, path = setup(tmp_path, small_nsmc)
    common = dict(
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
    plain = DistilConfig(**common)
    config = DistilConfig(**common, transfer_sets=[str(path)], transfer_per_epoch=4)
    assert config.run_dir() != plain.run_dir() and "-tr1-" in config.run_dir().name
    metrics = run_distillation(config)
    assert metrics["transfer_rows"] == 5 and metrics["transfer_rows_per_epoch"] == 4
    assert metrics["transfer_sets"][0]["leaked_dropped"] == 1
    store = tmp_path / "logits" / "tiny_teacher" / "nsmc.transfer.transfer"
    assert json.loads((store / "header.json").read_text())["num_examples"] == 5  # labelled on demand
    gold = len(load_dataset("nsmc", data_dir=small_nsmc, download=False).split("train"))
    assert json.loads((config.run_dir() / "metrics.json").read_text())["transfer_rows"] == 5
    progress = torch.load(config.run_dir() / "checkpoint.pt", weights_only=True)["progress"]
    assert progress["train_examples_seen"] == 2 * (gold + 4)  # every gold row + 4 drawn transfer rows, per epoch

    from distil_bilstm.runs.compare import collect_runs, results_table

    frame = results_table(collect_runs(tmp_path / "runs")[0])
    row = frame[frame["kind"] == "student"].iloc[0]
    assert row["transfer"] == 5 and row["model"].endswith("+ transfer")  # the report names the set and its rows


def test_transfer_config_checks():
    with pytest.raises(ValueError, match="DistilConfig.transfer_sets need a distillation loss"):
        DistilConfig(loss="ce", transfer_sets=["x.txt"])
    with pytest.raises(ValueError, match="DistilConfig.transfer_per_epoch must be >= 1"):
        DistilConfig(teacher_path="t", transfer_sets=["x.txt"], transfer_per_epoch=0)
    # without transfer sets the key changes nothing, so earlier runs keep their names
    assert DistilConfig(teacher_path="t", transfer_per_epoch=5).identity() == DistilConfig(teacher_path="t").identity()
    assert DistilConfig(teacher_path="t", transfer_sets="x.txt").transfer_sets == ["x.txt"]


def test_cli_labels_a_transfer_set_named_under_the_data_folder(tmp_path, small_nsmc, tiny_teacher_dir, capsys):
    from distil_bilstm.cli import main

    write_lines(small_nsmc / "nsmc" / "extra.txt", TRANSFER)
    args = [
        "teacher",
        "logits",
        "--dataset",
        "nsmc",
        "--data-dir",
        str(small_nsmc),
        "--teacher",
        str(tiny_teacher_dir),
        "--cache-dir",
        str(tmp_path / "logits"),
        "--transfer-set",
        "nsmc/extra.txt",
        "--device",
        "cpu",
    ]
    assert main(args) == 0
    assert "| nsmc.transfer.extra | 5 | 5 |" in capsys.readouterr().out
    assert main(args[:-4] + ["--transfer-set", "nsmc/missing.txt"]) == 1  # a clear error, no traceback
