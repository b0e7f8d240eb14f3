"""A three-class task end to end: a teacher fine-tuned from a two-class checkpoint's encoder with a
new head (through the shared Trainer), its logits, and students selected on macro-F1."""

from __future__ import annotations

import json
import random

import torch

from distil_bilstm.cli import main

COMMENTS = {  # none / offensive / hate, recombined at random
    "none": ["좋은 기사 감사합니다", "응원합니다 힘내세요", "멋진 무대였어요", "오늘도 화이팅"],
    "offensive": ["진짜 한심하다", "수준 떨어지네", "말 같지도 않은 소리", "어이가 없네"],
    "hate": ["저런 것들은 다 추방해야", "역겨운 족속들", "사라져야 할 인간들", "벌레만도 못한 것들"],
}


def write_hate_speech(data_dir, *, n_train=150, n_dev=45, seed=0):
    rng = random.Random(seed)
    folder = data_dir / "korean_hate_speech"
    folder.mkdir(parents=True)
    for name, n in (("train.tsv", n_train), ("dev.tsv", n_dev)):
        lines = ["comments\tcontain_gender_bias\tbias\thate"]
        for i in range(n):
            label = list(COMMENTS)[i % 3]
            lines.append(f"{' '.join(rng.sample(COMMENTS[label], 2))} {rng.randrange(30)}번\tFalse\tnone\t{label}")
        (folder / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return data_dir


def test_three_class_teacher_from_a_two_class_encoder_then_students(tmp_path, tiny_teacher_dir, capsys):
    from transformers import AutoModelForSequenceClassification

    from distil_bilstm.runs.config import DistilConfig
    from distil_bilstm.runs.pipeline import run_distillation

    data = write_hate_speech(tmp_path / "data")
    out = tmp_path / "teacher_model" / "khs"
    code = main(
        [
            "teacher",
            "finetune",
            "--dataset",
            "korean_hate_speech",
            "--data-dir",
            str(data),
            "--no-download",
            "--base",
            str(tiny_teacher_dir),
            "--num-labels",
            "3",
            "--out",
            str(out),
            "--train-epoch",
            "2",
            "--lr",
            "3e-3",
            "--batch-size",
            "16",
            "--max-length",
            "32",
            "--select-metric",
            "macro_f1",
            "--device",
            "cpu",
        ]
    )
    assert code == 0 and "kept epoch" in capsys.readouterr().out
    report = json.loads((out / "eval.json").read_text())
    assert report["num_labels"] == 3 and report["label_names"] == ["none", "offensive", "hate"]
    assert set(report["test_per_class"]) == {"none", "offensive", "hate"} and 0 <= report["test_macro_f1"] <= 1
    assert len(report["history"]) == 2 and all("valid_macro_f1" in h for h in report["history"])
    teacher = AutoModelForSequenceClassification.from_pretrained(out)
    base = AutoModelForSequenceClassification.from_pretrained(tiny_teacher_dir)
    assert teacher.classifier.out_features == 3 and base.classifier.out_features == 2
    assert not torch.equal(
        teacher.bert.encoder.layer[0].output.dense.weight, base.bert.encoder.layer[0].output.dense.weight
    )

    common = dict(
        dataset="korean_hate_speech",
        data_dir=str(data),
        vocab_size=150,
        vocab_root=str(tmp_path / "tok"),
        teacher_path=str(out),
        cache_dir=str(tmp_path / "cache"),
        select_metric="macro_f1",
        batch_size=16,
        train_epoch=2,
        patience=0,
        run_root=str(tmp_path / "runs"),
        device="cpu",
    )
    for extra in ({"preset": "tiny"}, {"student": "transformer", "optimizer": "adamw", "lr": 1e-3}):
        metrics = run_distillation(DistilConfig(**common, **extra))
        assert metrics["select_metric"] == "macro_f1" and set(metrics["test_per_class"]) == {
            "none",
            "offensive",
            "hate",
        }
        assert metrics["valid_macro_f1"] == max(h["valid_macro_f1"] for h in metrics["history"])


def test_num_labels_must_match_the_dataset(tmp_path, tiny_teacher_dir, caplog):
    data = write_hate_speech(tmp_path / "data", n_train=30, n_dev=9)
    code = main(
        [
            "teacher",
            "finetune",
            "--dataset",
            "korean_hate_speech",
            "--data-dir",
            str(data),
            "--no-download",
            "--base",
            str(tiny_teacher_dir),
            "--num-labels",
            "2",
            "--out",
            str(tmp_path / "t"),
        ]
    )
    assert code != 0
    assert "--num-labels 2, but korean_hate_speech has 3 labels (none, offensive, hate)" in caplog.text
