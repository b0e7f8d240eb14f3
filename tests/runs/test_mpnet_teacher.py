"""An MPNet teacher (all-mpnet-base-v2's architecture: no token types, <s> </s> specials, a lower-casing
tokenizer) through every stage that touches a teacher: fine-tuning (with vocabulary transfer), labelling
in torch and ONNX int8 with its agreement check, distillation into a BiLSTM with embeddings from the
teacher; the transformer student (BERT layers) refuses it in one line. Tiny and random, built in
tmp_path: nothing is downloaded."""

from __future__ import annotations

import json

import numpy as np
import pytest

from distil_bilstm.data.datasets import load_dataset
from distil_bilstm.runs.config import DistilConfig
from distil_bilstm.runs.pipeline import run_distillation
from distil_bilstm.teachers.running.onnx_runtime import compare_with_torch, load_onnx_teacher
from distil_bilstm.teachers.running.reference import load_teacher
from distil_bilstm.teachers.tuning.finetune import FinetuneConfig, finetune
from tests.conftest import write_reviews

# all-mpnet-base-v2's tokenizer settings (its tokenizer_config.json), less its name
MPNET_TOKENIZER = {
    "do_lower_case": True, "bos_token": "<s>", "eos_token": "</s>", "sep_token": "</s>", "cls_token": "<s>",
    "unk_token": "[UNK]", "pad_token": "<pad>", "mask_token": "<mask>", "tokenize_chinese_chars": True,
    "strip_accents": None, "model_max_length": 512, "tokenizer_class": "MPNetTokenizer",
}  # fmt: skip


@pytest.fixture
def reviews(tmp_path):
    return load_dataset("sst2", data_dir=write_reviews(tmp_path / "data"), download=False)


@pytest.fixture
def tiny_mpnet(tmp_path, reviews):
    """A 1-layer MPNet classifier (hidden 16) whose vocabulary is MPNet's specials and the reviews' pieces."""
    import torch
    from transformers import AutoTokenizer, MPNetConfig, MPNetForSequenceClassification

    from distil_bilstm.data.vocab import SPECIAL_TOKENS, VocabConfig, train_wordpiece

    pieces = train_wordpiece(reviews.split("train")["text"].tolist(), VocabConfig(vocab_size=200, min_frequency=1))
    words = [t for t in sorted(pieces.get_vocab(), key=pieces.get_vocab().get) if t not in SPECIAL_TOKENS]
    out = tmp_path / "tiny_mpnet"
    out.mkdir()
    (out / "vocab.txt").write_text(
        "\n".join(["<s>", "<pad>", "</s>", "[UNK]", "<mask>", *words]) + "\n", encoding="utf-8"
    )
    (out / "tokenizer_config.json").write_text(json.dumps(MPNET_TOKENIZER), encoding="utf-8")
    tokenizer = AutoTokenizer.from_pretrained(out)
    assert len(tokenizer) == len(words) + 5 and tokenizer.pad_token_id == 1  # not a 5-token vocabulary
    torch.manual_seed(0)
    config = MPNetConfig(vocab_size=len(tokenizer), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                         intermediate_size=32, max_position_embeddings=130, num_labels=2, pad_token_id=1)  # fmt: skip
    MPNetForSequenceClassification(config).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def test_an_mpnet_teacher_through_finetune_labelling_onnx_and_students(tmp_path, reviews, tiny_mpnet):
    teacher_dir = tmp_path / "teacher_model" / "mpnet"
    report = finetune(
        FinetuneConfig(base=str(tiny_mpnet), out=str(teacher_dir), train_epoch=3, lr=3e-3, batch_size=16, max_length=32,
                       adapt_vocab=400, device="cpu"),
        reviews,
    )  # fmt: skip
    assert report["test_accuracy"] > 0.8
    teacher = load_teacher(teacher_dir, device="cpu")
    assert type(teacher.model).__name__ == "MPNetForSequenceClassification" and len(teacher.tokenizer) < 400
    # the adapted vocabulary keeps MPNet's own tokenizer, specials and pad id (its position ids count from it)
    tokens = teacher.tokenizer.convert_ids_to_tokens(teacher.tokenizer("Great fun", "boring")["input_ids"])
    assert tokens == ["<s>", "great", "fun", "</s>", "</s>", "boring", "</s>"] and teacher.tokenizer.pad_token_id == 1

    texts = reviews.table["text"].tolist()
    int8 = load_onnx_teacher(teacher, runtime="onnx-int8", cache_dir=tmp_path / "onnx")
    check = compare_with_torch(teacher, int8, texts, batch_size=16, max_length=32)
    assert check["sample"] == len(texts) and check["argmax_agreement"] >= 0.9
    torch_logits = teacher.logits(texts, batch_size=16, max_length=32, progress=False)
    assert np.abs(int8.logits(texts, batch_size=16, max_length=32, progress=False) - torch_logits).max() < 1.0

    common = dict(dataset="sst2", data_dir=str(tmp_path / "data"), vocab_size=200, vocab_root=str(tmp_path / "tok"),
                  teacher_path=str(teacher_dir), cache_dir=str(tmp_path / "logits"), lr=0.01, batch_size=16,
                  train_epoch=2, patience=0, run_root=str(tmp_path / "runs"), device="cpu")  # fmt: skip
    bilstm = run_distillation(DistilConfig(**common, preset="tiny", loss="kl", embedding_init="teacher"))
    assert bilstm["teacher_test_accuracy"] > 0.8 and 0 <= bilstm["test_accuracy"] <= 1
    store = json.loads((tmp_path / "logits" / "mpnet" / "sst2" / "header.json").read_text())
    assert store["max_length"] == 32  # the teacher's own length, read from its eval.json
    # the transformer student is made of BERT layers: an MPNet teacher's are refused in one line
    with pytest.raises(ValueError, match=r"made of the teacher's BERT layers; .*mpnet is a 'mpnet' model"):
        run_distillation(DistilConfig(**{**common, "lr": 1e-3}, student="transformer", layers=[0], loss="kl"))
