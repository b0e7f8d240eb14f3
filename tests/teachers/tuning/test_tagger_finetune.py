"""teachers/tuning/tagger_finetune.py: a token teacher fine-tuned through the shared Trainer, then
labelling its dataset and teaching a BiLSTM tagger (finetune → logits → distil), all in tmp_path."""

from __future__ import annotations

import json

import pytest

from distil_bilstm.cli import main
from distil_bilstm.data.tagging import load_tagged_dataset
from distil_bilstm.runs.tagging import TagRunConfig, train_tagger
from distil_bilstm.teachers.running.reference import TeacherRef
from distil_bilstm.teachers.tuning.config import FinetuneConfig
from distil_bilstm.teachers.tuning.tagger_finetune import finetune_tagger, tagged_split

from ...conftest import make_token_teacher, write_tagged


@pytest.fixture
def people(tmp_path):
    path = write_tagged(tmp_path / "people.jsonl", n=200)
    return path, load_tagged_dataset(str(path))


def test_labels_sit_on_each_words_first_piece(tmp_path, people):
    from transformers import AutoTokenizer

    _, dataset = people
    base = make_token_teacher(tmp_path, dataset, dataset.tag_names)
    tokenizer = AutoTokenizer.from_pretrained(base)
    sentence = dataset.split("train")[0]
    split = tagged_split([sentence], tokenizer=tokenizer, tag_names=dataset.tag_names, max_length=32)
    ids, _ = split.encoded.batch(split.labels.new_tensor([0]))
    labels = split.labels[0].tolist()
    words = tokenizer([list(sentence.tokens)], is_split_into_words=True).word_ids(0)
    firsts = [i for i, w in enumerate(words) if w is not None and w not in words[:i]]
    assert [labels[i] for i in firsts] == [dataset.tag_names.index(t) for t in sentence.tags]
    assert all(labels[i] == -1 for i in range(len(labels)) if i not in firsts)  # [CLS], [SEP], later pieces
    assert ids.shape[1] == len(labels)


def test_a_fine_tuned_token_teacher_teaches_a_bilstm_tagger(tmp_path, people, capsys):
    path, dataset = people
    base = make_token_teacher(tmp_path / "base", dataset, ["O", "B-X", "I-X"])  # another head: replaced
    out = tmp_path / "teacher"
    args = ["teacher", "finetune", "--dataset", str(path), "--base", str(base), "--out", str(out)]
    assert main([*args, "--epochs", "4", "--lr", "3e-3", "--batch-size", "16", "--max-length", "32"]) == 0
    assert "test entity F1" in capsys.readouterr().out
    report = json.loads((out / "eval.json").read_text())
    assert report["task"] == "tagging" and report["label_names"] == dataset.tag_names
    assert report["test_entity_f1"] > 0.8 and report["max_length"] == 32
    reference = TeacherRef.resolve(out)
    assert reference.kind == "tagger" and reference.max_length == 32
    values = dict(embedding_dim=16, hidden_dim=16, char_dim=8, char_filters=8, dropout=0.1, lr=1e-2, train_epoch=4)
    metrics = train_tagger(
        TagRunConfig(
            dataset=str(path),
            run_root=str(tmp_path / "runs"),
            teacher_path=str(out),
            loss="kl",
            loss_rate=0.5,
            cache_dir=str(tmp_path / "logits"),
            **values,
        )
    )
    assert metrics["test_entity_f1"] > 0.8
    with pytest.raises(ValueError, match="FinetuneConfig.adapt_vocab: not available for a token-classification"):
        finetune_tagger(FinetuneConfig(base=str(base), out=str(tmp_path / "x"), adapt_vocab=100), dataset)
