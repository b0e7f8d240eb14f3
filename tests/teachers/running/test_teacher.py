from __future__ import annotations

import json
import os
import signal

import numpy as np
import pytest
import torch

from distil_bilstm.data.datasets import load_dataset
from distil_bilstm.teachers.running.reference import load_teacher
from distil_bilstm.teachers.running.teacher import check_checkpoint_path, predict_logits, teacher_weights_hash
from distil_bilstm.teachers.tuning.finetune import FinetuneConfig, finetune


def test_predict_logits_equals_direct_forward(tiny_teacher_dir, small_nsmc):
    teacher = load_teacher(tiny_teacher_dir, device="cpu", num_labels=2)
    texts = load_dataset("nsmc", data_dir=small_nsmc, download=False).table["text"].tolist()[:30]
    logits = predict_logits(teacher, texts, batch_size=7, max_length=32, progress=False)
    with torch.inference_mode():
        for i in (0, 13, 29):  # one at a time, no padding at all
            enc = teacher.tokenizer(texts[i], truncation=True, max_length=32, return_tensors="pt")
            direct = teacher.model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]).logits[0].numpy()
            np.testing.assert_allclose(logits[i], direct, rtol=1e-4, atol=1e-5)


def test_load_teacher_errors(tiny_teacher_dir, tmp_path):
    with pytest.raises(ValueError, match="has 2 labels but the dataset has 3"):
        load_teacher(tiny_teacher_dir, device="cpu", num_labels=3)
    with pytest.raises(FileNotFoundError, match="no config.json"):
        load_teacher(tmp_path, device="cpu")


def test_checkpoint_paths_are_told_from_hub_ids(tiny_teacher_dir, tmp_path, monkeypatch):
    assert check_checkpoint_path(str(tiny_teacher_dir)) is True
    assert check_checkpoint_path("some-org/some-model") is False  # a hub id: transformers resolves it
    assert check_checkpoint_path("bert-base-uncased") is False
    with pytest.raises(FileNotFoundError, match=r"/nowhere: not a checkpoint folder"):
        check_checkpoint_path(str(tmp_path / "nowhere"))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "teacher_model").mkdir()
    # "teacher_model/typo" looks like a hub id, but teacher_model/ is a folder here: a mistyped path
    with pytest.raises(FileNotFoundError, match="teacher_model/typo: not a checkpoint folder"):
        check_checkpoint_path("teacher_model/typo")
    with pytest.raises(FileNotFoundError, match="teacher_model: no config.json"):
        check_checkpoint_path("teacher_model")
    run = tmp_path / "runs" / "base-ce"  # a student run has a config.json too, the run's
    run.mkdir(parents=True)
    (run / "config.json").write_text("{}", encoding="utf-8")
    (run / "student.json").write_text("{}", encoding="utf-8")
    with pytest.raises(ValueError, match="base-ce: a run folder .* not a Hugging Face checkpoint"):
        check_checkpoint_path(str(run))


def test_a_checkpoint_without_weights_is_named(tiny_teacher_dir, tmp_path):
    half = tmp_path / "half-copied"
    half.mkdir()
    (half / "config.json").write_bytes((tiny_teacher_dir / "config.json").read_bytes())
    with pytest.raises(OSError, match=r"half-copied: .*no file named model.safetensors"):
        load_teacher(half, device="cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal of device='cuda' on a machine without a GPU")
def test_cuda_without_a_gpu_is_refused(tiny_teacher_dir):
    with pytest.raises(ValueError, match="CUDA is not available"):
        load_teacher(tiny_teacher_dir, device="cuda")


def test_weights_hash_changes_with_weights(tiny_teacher_dir):
    before = teacher_weights_hash(tiny_teacher_dir)
    teacher = load_teacher(tiny_teacher_dir, device="cpu")
    assert teacher.weights_hash == before
    with torch.no_grad():
        teacher.model.classifier.bias.add_(1.0)
    teacher.model.save_pretrained(tiny_teacher_dir)
    assert teacher_weights_hash(tiny_teacher_dir) != before


def test_finetune_tiny_model_writes_checkpoint_and_eval(tiny_teacher_dir, small_nsmc, tmp_path):
    dataset = load_dataset("nsmc", data_dir=small_nsmc, download=False)
    config = FinetuneConfig(
        base=str(tiny_teacher_dir),
        out=str(tmp_path / "teacher_model" / "tiny"),
        train_epoch=2,
        lr=1e-3,
        epoch_lrs=[1e-3, 5e-4],
        batch_size=16,
        max_length=32,
        max_train_examples=64,
        adapt_vocab=200,
        device="cpu",
    )
    report = finetune(config, dataset)
    out = tmp_path / "teacher_model" / "tiny"
    assert (out / "model.safetensors").is_file() and (out / "eval.json").is_file()
    saved = json.loads((out / "eval.json").read_text())
    assert saved["train_examples"] == 64 and len(saved["history"]) == 2
    assert 0.0 <= saved["test_accuracy"] <= 1.0 and saved["test_accuracy"] == report["test_accuracy"]
    reloaded = load_teacher(out, device="cpu", num_labels=2)
    base_size = len(load_teacher(tiny_teacher_dir, device="cpu").tokenizer)
    # the adapted vocabulary (its Hangul alphabet alone exceeds 200 pieces on this slice) replaced the base one
    assert len(reloaded.tokenizer) == reloaded.model.config.vocab_size != base_size
    assert not list(out.parent.glob(".tiny.*"))  # no staging folder left behind
    assert not (out.parent / "tiny.finetune").exists()  # nor a fine-tuning state once the teacher is in place


@pytest.mark.parametrize("adapt_vocab", [None, 200])
def test_finetune_resumes_to_the_same_weights(tiny_teacher_dir, small_nsmc, tmp_path, caplog, adapt_vocab):
    from safetensors.torch import load_file

    dataset = load_dataset("nsmc", data_dir=small_nsmc, download=False)

    def config(name: str) -> FinetuneConfig:
        return FinetuneConfig(
            base=str(tiny_teacher_dir),
            out=str(tmp_path / name),
            train_epoch=2,
            lr=1e-3,
            epoch_lrs=[1e-3, 5e-4],
            batch_size=16,
            max_length=32,
            max_train_examples=64,
            adapt_vocab=adapt_vocab,
            checkpoint_every=2,
            device="cpu",
        )

    whole = finetune(config("whole"), dataset)
    steps = []

    def interrupt(step, loss):
        steps.append(step)
        if len(steps) == 7:  # epoch 2 (4 batches an epoch), step 3: a real Ctrl-C
            os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(KeyboardInterrupt):
        finetune(config("resumed"), dataset, on_step=interrupt)
    # the shared Trainer's checkpoint, in the teacher's state folder until the teacher is in place
    assert (tmp_path / "resumed.finetune" / "checkpoint.pt").is_file() and not (tmp_path / "resumed").exists()
    with caplog.at_level("INFO"):
        resumed = finetune(config("resumed"), dataset)
    assert "resumed from" in caplog.text and "at epoch 2 step 3" in caplog.text  # Ctrl-C saved the state
    if adapt_vocab:
        # WordPiece training does not order tied tokens reproducibly, so two separate runs may number
        # their pieces differently; the resumed run must therefore reuse the interrupted run's vocabulary
        assert "adapted vocabulary: reusing" in caplog.text
        return
    assert resumed["history"] == whole["history"]
    a, b = load_file(tmp_path / "whole" / "model.safetensors"), load_file(tmp_path / "resumed" / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    with pytest.raises(ValueError, match="FinetuneConfig.checkpoint_every must be >= 0"):  # 0: at epoch ends only
        FinetuneConfig(base="x", out="y", checkpoint_every=-1)


def test_finetune_config_validation():
    with pytest.raises(ValueError, match=r"FinetuneConfig.epoch_lrs must be null, or one positive rate per epoch"):
        FinetuneConfig(base="x", out="y", train_epoch=2, epoch_lrs=[1e-4, 1e-5, 1e-6])
    with pytest.raises(ValueError, match="FinetuneConfig.train_epoch must be >= 1"):
        FinetuneConfig(base="x", out="y", train_epoch=0)
    with pytest.raises(ValueError, match="FinetuneConfig.adapt_alphabet must be >= 1"):
        FinetuneConfig(base="x", out="y", adapt_vocab=100, adapt_alphabet=0)


@pytest.mark.parametrize("alphabet", [30, 2000])
def test_finetune_adapt_alphabet_limits_the_characters_kept(tiny_teacher_dir, small_nsmc, tmp_path, alphabet):
    dataset = load_dataset("nsmc", data_dir=small_nsmc, download=False)
    config = FinetuneConfig(
        base=str(tiny_teacher_dir),
        out=str(tmp_path / "tiny"),
        train_epoch=1,
        lr=1e-3,
        batch_size=16,
        max_length=32,
        max_train_examples=16,
        adapt_vocab=300,
        adapt_alphabet=alphabet,
        device="cpu",
    )
    report = finetune(config, dataset)
    vocab = load_teacher(tmp_path / "tiny", device="cpu").tokenizer.get_vocab()
    characters = {t for t in vocab if len(t) == 1}
    train_characters = set("".join(dataset.split("train")["text"])) - {" "}
    if alphabet == 30:  # only the 30 most frequent characters: rarer ones make their words [UNK]
        assert len(characters) == 30 and report["train_unk_rate"] > 0.2
    else:  # every character of this slice is kept
        assert len(characters) == len(train_characters) and report["train_unk_rate"] < 0.01


def test_student_embeddings_from_teacher(tiny_teacher_dir):
    from distil_bilstm.teachers.bases.vocab_transfer import student_embeddings_from_teacher

    tokens = ["[PAD]", "[UNK]", "영화", "##요", "정말", "최악"]
    rows = student_embeddings_from_teacher(tiny_teacher_dir, tokens, 4)
    assert rows.shape == (6, 4)
    assert rows[0].abs().sum() == 0  # [PAD] stays zero
    assert rows.std().item() == pytest.approx(1.0, rel=0.3)
    # wider than the teacher (hidden 16): padded, still the right shape
    assert student_embeddings_from_teacher(tiny_teacher_dir, tokens, 20).shape == (6, 20)


def test_finetune_include_valid_trains_on_the_whole_training_file(tiny_teacher_dir, small_nsmc, tmp_path):
    dataset = load_dataset("nsmc", data_dir=small_nsmc, download=False)
    config = FinetuneConfig(
        base=str(tiny_teacher_dir),
        out=str(tmp_path / "tiny"),
        train_epoch=1,
        lr=1e-3,
        batch_size=16,
        max_length=32,
        include_valid=True,
        device="cpu",
    )
    report = finetune(config, dataset)
    assert report["train_examples"] == len(dataset.split("train")) + len(dataset.split("valid"))
    # valid rows were trained on, so no valid accuracy is reported; test still is
    assert report["valid_accuracy"] is None and report["test_accuracy"] is not None


def test_finetune_with_frozen_layers_trains_only_what_is_above_them(tiny_teacher_dir, small_nsmc, tmp_path):
    from safetensors.torch import load_file

    dataset = load_dataset("nsmc", data_dir=small_nsmc, download=False)
    out = tmp_path / "frozen"
    finetune(
        FinetuneConfig(
            base=str(tiny_teacher_dir),
            out=str(out),
            train_epoch=1,
            lr=1e-2,
            batch_size=16,
            max_length=32,
            max_train_examples=48,
            freeze_layers=1,
            device="cpu",
        ),
        dataset,
    )
    before, after = load_file(str(tiny_teacher_dir / "model.safetensors")), load_file(str(out / "model.safetensors"))
    frozen = [k for k in before if ".embeddings." in k or ".encoder.layer.0." in k]
    assert frozen and all(torch.equal(before[k], after[k]) for k in frozen)
    assert not torch.equal(before["classifier.weight"], after["classifier.weight"])
    assert not torch.equal(before["bert.pooler.dense.weight"], after["bert.pooler.dense.weight"])
    with pytest.raises(ValueError, match="freeze_layers 2: the base has only 1 layers"):
        finetune(
            FinetuneConfig(
                base=str(tiny_teacher_dir), out=str(tmp_path / "x"), train_epoch=1, freeze_layers=2, device="cpu"
            ),
            dataset,
        )
    with pytest.raises(ValueError, match="FinetuneConfig.freeze_layers must be >= 0"):
        FinetuneConfig(base="x", out="y", freeze_layers=-1)


def test_finetune_a_cross_encoder_regression_teacher_on_pairs(tiny_teacher_dir, small_korsts, tmp_path):
    """A 2-label base becomes a one-output cross-encoder: pairs read as [CLS] A [SEP] B [SEP], squared
    error to the score, the epoch kept by valid Spearman."""
    from distil_bilstm.data.pairs import split_pair
    from distil_bilstm.teachers.running.teacher import tokenize_for_teacher

    dataset = load_dataset("korsts", data_dir=small_korsts, download=False)
    out = tmp_path / "sts-teacher"
    report = finetune(
        FinetuneConfig(
            base=str(tiny_teacher_dir), out=str(out), train_epoch=2, lr=1e-3, batch_size=16, max_length=32, device="cpu"
        ),
        dataset,
    )
    assert report["task"] == "regression" and report["num_labels"] == 1
    assert {"valid_spearman", "test_spearman", "test_pearson"} <= set(report) and "valid_spearman" in report["history"][
        0
    ]
    teacher = load_teacher(out, device="cpu", num_labels=1)
    assert teacher.model.config.problem_type == "regression"
    text = dataset.split("test")["text"].iloc[0]
    first, second = split_pair(text)
    assert tokenize_for_teacher(teacher.tokenizer, [text], 64)[0] == teacher.tokenizer(first, second)["input_ids"]
    assert predict_logits(teacher, [text], progress=False).shape == (1, 1)
