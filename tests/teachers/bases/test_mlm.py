from __future__ import annotations

import json

import pytest
import torch

from distil_bilstm.data.datasets import load_dataset
from distil_bilstm.teachers.bases.mlm import MlmConfig, continue_pretraining, mask_tokens
from distil_bilstm.teachers.tuning.finetune import FinetuneConfig, finetune

from ...conftest import write_reviews


@pytest.fixture
def reviews(tmp_path):
    return load_dataset("sst2", data_dir=write_reviews(tmp_path / "data"), download=False)


@pytest.fixture
def tiny_bert(tmp_path, reviews):
    """A real 1-layer BERT classifier (hidden 16) with a WordPiece vocabulary of the small data."""
    from transformers import BertConfig, BertForSequenceClassification

    from distil_bilstm.data.vocab import VocabConfig, load_vocab, save_vocab, train_wordpiece

    vocab_config = VocabConfig(vocab_size=200, min_frequency=1, limit_alphabet=300)
    save_vocab(train_wordpiece(reviews.split("train")["text"].tolist(), vocab_config), tmp_path / "vocab", vocab_config)
    tokenizer = load_vocab(tmp_path / "vocab")
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=64,
        num_labels=2,
        hidden_dropout_prob=0.1,
    )
    out = tmp_path / "tiny_bert"
    BertForSequenceClassification(config).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def load(folder):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    return AutoModelForSequenceClassification.from_pretrained(str(folder)), AutoTokenizer.from_pretrained(str(folder))


def test_masking_follows_bert():
    class Tok:  # what mask_tokens asks of a tokenizer: its mask id and size
        mask_token_id = 4

        def __len__(self):
            return 50

    ids = torch.randint(5, 50, (200, 50))
    special = torch.zeros_like(ids, dtype=torch.bool)
    special[:, 0] = True
    inputs, labels = mask_tokens(
        ids, special, tokenizer=Tok(), mask_prob=0.15, generator=torch.Generator().manual_seed(0)
    )
    chosen = labels != -100
    assert not chosen[:, 0].any() and torch.equal(labels[chosen], ids[chosen])
    assert 0.13 < chosen.float().mean() < 0.17  # 15% of the positions
    assert 0.75 < (inputs[chosen] == 4).float().mean() < 0.85  # 80% of those become [MASK]
    assert torch.equal(inputs[~chosen], ids[~chosen])  # everything else untouched


def test_masked_lm_lowers_its_loss_and_leaves_the_head(tiny_bert, reviews, tmp_path):
    model, tokenizer = load(tiny_bert)
    head = {k: v.clone() for k, v in model.classifier.state_dict().items()}
    encoder = model.bert.encoder.layer[0].attention.self.query.weight.clone()
    texts = reviews.split("train")["text"].tolist()
    torch.manual_seed(0)
    report = continue_pretraining(
        model,
        tokenizer,
        texts,
        MlmConfig(epochs=6, lr=3e-3, batch_size=16, max_length=32),
        state_dir=tmp_path / "state",
        device=torch.device("cpu"),
    )
    assert report["steps"] == 6 * 15 and report["loss_last_50"] < report["loss_first_50"] - 0.5
    assert all(torch.equal(v, model.classifier.state_dict()[k]) for k, v in head.items())
    assert not torch.equal(encoder, model.bert.encoder.layer[0].attention.self.query.weight)


def test_masked_lm_resumes_to_the_same_weights(tiny_bert, reviews, tmp_path):
    texts = reviews.split("train")["text"].tolist()
    config = MlmConfig(epochs=2, lr=1e-3, batch_size=16, max_length=32, checkpoint_every=100)
    cpu = torch.device("cpu")

    model_a, tokenizer = load(tiny_bert)
    torch.manual_seed(0)
    continue_pretraining(model_a, tokenizer, texts, config, state_dir=tmp_path / "a", device=cpu)

    def stop_at_7(step, loss):
        if step == 7:
            raise KeyboardInterrupt

    model_b, _ = load(tiny_bert)
    torch.manual_seed(0)
    with pytest.raises(KeyboardInterrupt, match="stopped at step 7; rerun the same command to resume"):
        continue_pretraining(model_b, tokenizer, texts, config, state_dir=tmp_path / "b", device=cpu, on_step=stop_at_7)
    model_b, _ = load(tiny_bert)  # a new process: fresh weights, the checkpoint brings the progress back
    torch.manual_seed(123)
    report = continue_pretraining(model_b, tokenizer, texts, config, state_dir=tmp_path / "b", device=cpu)
    assert report["steps"] == 30
    a, b = model_a.state_dict(), model_b.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    with pytest.raises(ValueError, match="belongs to another masked-LM setup"):
        continue_pretraining(model_b, tokenizer, texts[:100], config, state_dir=tmp_path / "b", device=cpu)


def test_finetune_with_masked_lm_never_sees_held_out_text(tiny_bert, reviews, tmp_path):
    held_out = reviews.table.loc[reviews.table["split"].isin(("valid", "test")), "text"].tolist()[:7]
    unlabelled = tmp_path / "unlabelled.txt"
    unlabelled.write_text(
        "\n".join(held_out + ["완전히 새로운 리뷰 하나", "another fresh review", "세 번째 리뷰"]) + "\n",
        encoding="utf-8",
    )
    out = tmp_path / "teacher"
    config = FinetuneConfig(
        base=str(tiny_bert),
        out=str(out),
        train_epoch=1,
        lr=1e-3,
        batch_size=16,
        max_length=32,
        mlm_texts=[str(unlabelled)],
        mlm_lr=1e-3,
        device="cpu",
    )
    finetune(config, reviews)
    report = json.loads((out / "eval.json").read_text())["masked_lm"]
    assert (report["texts"], report["held_out_dropped"]) == (3, 7)
    assert (tmp_path / "teacher.mlm" / "encoder" / "model.safetensors").is_file()
    assert json.loads((out / "eval.json").read_text())["trained_on"] == ["train"]
    with pytest.raises(ValueError, match="FinetuneConfig.mlm_epochs must be >= 1"):
        FinetuneConfig(base="x", out="y", mlm_epochs=0)
