from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from transformers import AutoModel

from distil_bilstm.data.datasets import load_dataset
from distil_bilstm.data.pairs import make_pair, split_pairs
from distil_bilstm.teachers.running.biencoder import (
    BiEncoderRegressor,
    BiEncoderTeacher,
    pair_rows,
    split_rows,
)
from distil_bilstm.teachers.running.labelling import cache_dataset_logits
from distil_bilstm.teachers.running.reference import load_teacher
from distil_bilstm.teachers.running.teacher import pad_batch
from distil_bilstm.teachers.tuning.finetune import FinetuneConfig, finetune


@pytest.fixture
def bi_teacher_dir(tiny_pair_teacher_dir, small_korsts, tmp_path):
    dataset = load_dataset("korsts", data_dir=small_korsts, download=False)
    out = tmp_path / "bi-teacher"
    report = finetune(
        FinetuneConfig(
            base=str(tiny_pair_teacher_dir),
            out=str(out),
            train_epoch=2,
            lr=1e-3,
            batch_size=16,
            max_length=32,
            pair_encoder="bi",
            device="cpu",
        ),
        dataset,
    )
    return out, report, dataset


def test_split_rows_gives_back_each_side_as_the_tokenizer_encodes_it_alone(tiny_pair_teacher_dir):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_pair_teacher_dir)
    pairs = [("아주 긴 첫 문장 입니다 정말로", "짧다"), ("하나", "둘 셋 넷 다섯 여섯")]
    rows = pair_rows(tokenizer, [make_pair(a, b) for a, b in pairs], 32)
    ids, mask = pad_batch(rows, 0)  # padded with 0 as the Trainer pads: not the tokenizer's pad id
    sides, side_mask = split_rows(ids, mask.sum(dim=1), cls_id=tokenizer.cls_token_id, pad_id=tokenizer.pad_token_id)
    assert sides.shape[0] == 4 and side_mask.shape == sides.shape
    for k, text in enumerate([a for a, _ in pairs] + [b for _, b in pairs]):
        want = tokenizer(text)["input_ids"]
        assert sides[k][side_mask[k]].tolist() == want and int(side_mask[k].sum()) == len(want)
        assert (sides[k][~side_mask[k]] == tokenizer.pad_token_id).all()
    with pytest.raises(ValueError, match="no second side"):
        split_rows(ids[:, :3], torch.tensor([3, 3]), cls_id=tokenizer.cls_token_id, pad_id=0)


def test_finetune_a_bi_encoder_and_label_pairs_with_it(bi_teacher_dir, tmp_path):
    out, report, dataset = bi_teacher_dir
    assert report["pair_encoder"] == "bi" and report["score_scale"] == pytest.approx(
        dataset.split("train")["label"].max()
    )
    assert {"valid_spearman", "test_spearman"} <= set(report)
    assert json.loads((out / "biencoder.json").read_text()) == {
        "similarity": "cosine",
        "pooling": "mean",
        "scale": report["score_scale"],
    }
    teacher = load_teacher(out, device="cpu", num_labels=1)
    assert isinstance(teacher, BiEncoderTeacher) and teacher.num_labels == 1
    texts = dataset.split("test")["text"].tolist()[:12]
    scores = teacher.logits(texts, max_length=32, progress=False)
    assert scores.shape == (12, 1) and np.all(np.abs(scores) <= teacher.scale + 1e-5)

    # the same scores by hand: each side alone through the encoder, mean over its tokens, cosine, × scale
    encoder = AutoModel.from_pretrained(out).eval()
    firsts, seconds = split_pairs(texts)

    def embed(sentence: str) -> torch.Tensor:
        enc = teacher.tokenizer(sentence, return_tensors="pt")
        with torch.no_grad():
            return encoder(**enc).last_hidden_state[0].mean(dim=0)

    by_hand = [
        teacher.scale * torch.cosine_similarity(embed(a), embed(b), dim=0).item() for a, b in zip(firsts, seconds)
    ]
    np.testing.assert_allclose(scores[:, 0], by_hand, atol=1e-5)

    # and as fine-tuning saw them (rows of both sides, padded with 0)
    regressor = BiEncoderRegressor(
        encoder, cls_id=teacher.tokenizer.cls_token_id, pad_id=teacher.tokenizer.pad_token_id, scale=teacher.scale
    )
    ids, mask = pad_batch(pair_rows(teacher.tokenizer, texts, 32), 0)
    with torch.no_grad():
        np.testing.assert_allclose(regressor(ids, mask.sum(dim=1)).numpy()[:, 0], scores[:, 0], atol=1e-5)

    result = cache_dataset_logits(teacher, dataset, store_dir=tmp_path / "store", max_length=32, progress=False)
    header = result.store.header
    assert header["task"] == "regression" and header["num_labels"] == 1
    # equal up to the ranks of tied scores (identical pairs score 5 in one runtime, 5 - 5e-7 in the other)
    assert header["teacher_test_spearman"] == pytest.approx(report["test_spearman"], abs=2e-3)


def test_bi_encoder_errors(bi_teacher_dir, small_nsmc, tiny_teacher_dir, tmp_path):
    out, _, _ = bi_teacher_dir
    teacher = load_teacher(out, device="cpu")
    with pytest.raises(ValueError, match="bi-encoder: it scores sentence pairs, not single texts"):
        teacher.logits(["한 문장"], progress=False)
    with pytest.raises(ValueError, match="is a bi-encoder .* the dataset has 2 labels"):
        load_teacher(out, device="cpu", num_labels=2)
    with pytest.raises(ValueError, match="FinetuneConfig.pair_encoder must be one of"):
        FinetuneConfig(base="x", out="y", pair_encoder="siamese")
    nsmc = load_dataset("nsmc", data_dir=small_nsmc, download=False)
    with pytest.raises(
        ValueError, match="FinetuneConfig.pair_encoder: 'bi' scores sentence pairs.*single-text classification"
    ):
        finetune(
            FinetuneConfig(base=str(tiny_teacher_dir), out=str(tmp_path / "x"), pair_encoder="bi", device="cpu"), nsmc
        )
    from distil_bilstm.teachers.running.onnx_runtime import load_onnx_teacher

    with pytest.raises(ValueError, match="is a bi-encoder: label it with --runtime torch"):
        load_onnx_teacher(teacher, runtime="onnx", cache_dir=tmp_path / "onnx")
    (out / "biencoder.json").write_text(json.dumps({"similarity": "dot", "pooling": "mean", "scale": 5}))
    with pytest.raises(ValueError, match="biencoder.json: expected similarity 'cosine'"):
        load_teacher(out, device="cpu")


def test_teacher_logits_with_states_encodes_each_sentence_once_and_a_run_reads_them(
    bi_teacher_dir, small_korsts, tmp_path, monkeypatch, caplog
):
    from distil_bilstm.cli import main
    from distil_bilstm.runs.config import DistilConfig
    from distil_bilstm.runs.pipeline import run_distillation
    from distil_bilstm.teachers.running import teacher as teacher_module
    from distil_bilstm.teachers.stores.store import LogitStore
    from tests.conftest import write_lines

    out, _, dataset = bi_teacher_dir
    transfer = write_lines(tmp_path / "aug.tsv", ["sentence1\tsentence2", "가 나 다\t라 마", "바 사\t가 나 다"])
    encoded = []  # every text the teacher's encoder reads
    real = teacher_module._encode_states
    monkeypatch.setattr(
        teacher_module, "_encode_states", lambda t, texts, **kw: encoded.extend(texts) or real(t, texts, **kw)
    )
    cache = tmp_path / "logits"
    assert (
        main(
            [
                "teacher",
                "logits",
                "--dataset",
                "korsts",
                "--data-dir",
                str(small_korsts),
                "--no-download",
                "--teacher",
                str(out),
                "--transfer-set",
                str(transfer),
                "--cache-dir",
                str(cache),
                "--max-length",
                "32",
                "--states",
                "per_side",
            ]
        )
        == 0
    )
    sentences = {s for text in dataset.table["text"] for s in split_pairs([text])[0] + split_pairs([text])[1]}
    assert (
        len(encoded) == len(set(encoded)) == len(sentences | {"가 나 다", "라 마", "바 사"})
    )  # one pass for states and scores
    train_states = LogitStore.open(cache / out.name / "korsts.states")
    assert train_states.logits.shape == (160, 2 * 16) and train_states.header["max_length"] == 32
    assert LogitStore.open(cache / out.name / "korsts.transfer.aug.states").logits.shape == (2, 2 * 16)

    encoded.clear()  # a run reads the states written above: no teacher pass
    metrics = run_distillation(
        DistilConfig(
            dataset="korsts",
            data_dir=str(small_korsts),
            vocab_size=120,
            vocab_root=str(tmp_path / "tok"),
            student="siamese_bilstm",
            preset="tiny",
            pair_head="cosine",
            relu_dim=16,
            loss="mse",
            loss_rate=0.0,
            hidden_loss="cos",
            teacher_path=str(cache / out.name / "korsts"),
            cache_dir=str(cache),
            transfer_sets=[str(transfer)],
            batch_size=16,
            train_epoch=1,
            run_root=str(tmp_path / "runs"),
            device="cpu",
        )
    )
    assert encoded == [] and metrics["transfer_rows"] == 2
    assert (
        main(
            [
                "teacher",
                "logits",
                "--dataset",
                "korsts",
                "--data-dir",
                str(small_korsts),
                "--no-download",
                "--teacher",
                str(out),
                "--runtime",
                "onnx",
                "--states",
                "per_side",
            ]
        )
        == 1
    )
    assert "--states reads a transformer teacher's hidden states in PyTorch" in caplog.text
