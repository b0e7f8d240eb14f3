"""runs/tagging.py and ``distil-bilstm tagger``: a BiLSTM tagger trained end to end on a few tagged
sentences written to tmp_path."""

from __future__ import annotations

import json

import pytest
import torch

from distil_bilstm.cli import main
from distil_bilstm.data.tag_units import TagUnits
from distil_bilstm.rundir import RunDir, split_student_json
from distil_bilstm.runs.tagging import TagRunConfig, train_tagger
from distil_bilstm.students.tagger import BiLSTMTagger, TaggerConfig
from distil_bilstm.training.batching import SplitTensors
from distil_bilstm.training.config import TrainingConfig
from distil_bilstm.training.losses import DistillationLoss
from distil_bilstm.training.trainer import Trainer

from ..conftest import write_tagged

SMALL = ["--set", "embedding_dim=16", "--set", "hidden_dim=16", "--set", "char_dim=8", "--set", "char_filters=8"]


def test_the_tagger_command_trains_and_writes_a_run(tmp_path, capsys):
    data = write_tagged(tmp_path / "people.jsonl")
    args = ["tagger", "--dataset", str(data), "--set", f"run_root={tmp_path / 'runs'}", "--set", "train_epoch=4"]
    assert main([*args, *SMALL, "--set", "lr=1e-2", "--set", "dropout=0.1"]) == 0
    out = capsys.readouterr().out
    assert "test F1" in out and "run saved to" in out
    run = RunDir(out.rsplit("run saved to ", 1)[1].strip())
    metrics = run.read_metrics()
    assert metrics["test_entity_f1"] > 0.9 and metrics["valid_entity_f1"] > 0.9
    assert set(metrics["test_per_type"]) == {"PER", "LOC"} and metrics["tag_names"][0] == "O"
    student = run.read_student()
    assert student["architecture"] == "bilstm-tagger" and student["label_names"] == metrics["tag_names"]
    units = TagUnits.load(run.vocab_dir)
    assert "kim" in units.words and units.max_chars == 20  # lowercased words; characters keep their case


def test_a_crf_tagger_trains_and_decodes_with_viterbi(tmp_path):
    data = write_tagged(tmp_path / "people.jsonl")
    values = dict(embedding_dim=16, hidden_dim=16, char_dim=8, char_filters=8, dropout=0.1, lr=1e-2, train_epoch=4)
    metrics = train_tagger(TagRunConfig(dataset=str(data), run_root=str(tmp_path), crf=True, **values))
    assert metrics["test_entity_f1"] > 0.9
    architecture, student, tags = split_student_json(RunDir(metrics["run_dir"]).read_student())
    assert architecture == "bilstm-tagger" and student["crf"] is True and len(tags) == 5
    plain = BiLSTMTagger(TaggerConfig.from_dict({**student, "crf": False}))
    assert metrics["params"] == sum(p.numel() for p in plain.parameters()) + 5 * 5 + 2 * 5  # transitions, start, end


def test_a_resumed_tagger_run_ends_with_the_same_weights(tmp_path):
    data = write_tagged(tmp_path / "people.jsonl", n=120)
    values = dict(dataset=str(data), embedding_dim=8, hidden_dim=8, char_dim=4, char_filters=4, train_epoch=2)
    whole = train_tagger(TagRunConfig(**values, run_root=str(tmp_path / "a"), run_name="r"))
    config = TagRunConfig(**values, run_root=str(tmp_path / "b"), run_name="r", checkpoint_every=3, log_every=1)
    trainer_stop = StopAfter(5)
    with pytest.raises(KeyboardInterrupt):
        train_tagger(config, callbacks=[trainer_stop])
    resumed = train_tagger(config, resume=True)
    assert resumed["test_entity_f1"] == whole["test_entity_f1"]
    a = RunDir(whole["run_dir"]).weights_file.read_bytes()
    assert a == RunDir(resumed["run_dir"]).weights_file.read_bytes()


class StopAfter:
    """A callback that asks the trainer to stop after ``steps`` steps (what Ctrl-C does)."""

    def __init__(self, steps: int):
        self.steps = steps

    def on_step(self, trainer, **_):
        if trainer.global_step >= self.steps:
            trainer.request_stop()

    def on_epoch_end(self, trainer, **_):
        pass

    def on_fit_end(self, trainer, **_):
        pass


@pytest.mark.parametrize(
    "values,match",
    [
        ({"max_chars": -1}, r"TagRunConfig.max_chars must be >= 0"),
        ({"hidden_dim": 0}, r"TagRunConfig.hidden_dim must be >= 1"),
        ({"select_metric": "f1"}, r"TagRunConfig.select_metric must be one of"),
        ({"embedding_init": "glove"}, r"TagRunConfig.embedding_init must be 'random' or 'skipgram'"),
        ({"embedding_texts": ("a.txt",)}, r"TagRunConfig.embedding_texts are read by embedding_init 'skipgram' only"),
        ({"untagged_words": -1}, r"TagRunConfig.untagged_words must be >= 0"),
    ],
)
def test_config_errors_name_the_key(values, match):
    with pytest.raises(ValueError, match=match):
        TagRunConfig(**values)
    with pytest.raises(ValueError, match=r"unknown TagRunConfig key\(s\) \['hidden_size'\]"):
        TagRunConfig.from_dict({"hidden_size": 10})


def test_the_trainer_refuses_a_metric_of_the_other_kind_of_task(tmp_path):
    units = TagUnits.build([], lowercase=True, min_count=1, max_chars=0)
    model = BiLSTMTagger(TaggerConfig(vocab_size=len(units.words), num_tags=3))
    tags = SplitTensors(encoded=units.encode([]), labels=torch.zeros((0, 0), dtype=torch.int64))
    texts = SplitTensors(encoded=units.encode([]), labels=torch.zeros(0, dtype=torch.int64))
    common = dict(
        loss=DistillationLoss(kind="ce"), identity="x", test=None, run_dir=tmp_path, device=torch.device("cpu")
    )
    with pytest.raises(ValueError, match="select_metric 'accuracy' scores texts, not tags"):
        Trainer(model, config=TrainingConfig(), train=tags, valid=tags, **common)
    with pytest.raises(ValueError, match="select_metric 'entity_f1' is a tagger's"):
        Trainer(model, config=TrainingConfig(select_metric="entity_f1"), train=texts, valid=texts, **common)


@pytest.mark.parametrize("crf", [False, True])
def test_a_tagger_distilled_from_a_token_teacher_follows_it(tmp_path, caplog, crf):
    """Taught by its teacher alone (α = 0), the student's tags agree with the teacher's more than a
    student of the gold tags does; the teacher's per-word logits are stored once and reused."""
    from distil_bilstm.data.tagging import load_tagged_dataset

    from ..conftest import make_token_teacher

    data = write_tagged(tmp_path / "people.jsonl", n=160)
    dataset = load_tagged_dataset(str(data))
    teacher = make_token_teacher(tmp_path, dataset, dataset.tag_names)  # untrained: its own, arbitrary tags
    values = dict(dataset=str(data), embedding_dim=16, hidden_dim=16, char_dim=8, char_filters=8, dropout=0.0)
    values |= dict(lr=2e-2, train_epoch=6, patience=0, crf=crf, run_root=str(tmp_path / "runs"))
    cache = str(tmp_path / "logits")
    taught = train_tagger(TagRunConfig(**values, teacher_path=str(teacher), loss="kl", loss_rate=0.0, cache_dir=cache))
    gold = train_tagger(TagRunConfig(**values))
    store = next((tmp_path / "logits").glob("*/*"))
    with caplog.at_level("INFO"):
        train_tagger(TagRunConfig(**values, teacher_path=str(teacher), loss="kl", loss_rate=0.5, cache_dir=cache))
    assert "cache hit, 0 teacher forward passes" in caplog.text and store.is_dir()
    teacher_tags = _argmax_tags(store, dataset)
    assert _agreement(taught, dataset, teacher_tags) > _agreement(gold, dataset, teacher_tags)


def _argmax_tags(store_dir, dataset) -> list[list[int]]:
    from distil_bilstm.teachers.stores.ragged import RaggedStore

    store = RaggedStore.open(store_dir)
    train = [i for i, split in enumerate(dataset.splits) if split == "train"]
    return [store.sentence(i).argmax(1).tolist() for i in train]


def _agreement(metrics: dict, dataset, reference: list[list[int]]) -> float:
    """The share of training tokens whose tag the run's tagger gives as ``reference`` does."""
    run = RunDir(metrics["run_dir"])
    _, values, _ = split_student_json(run.read_student())
    model = BiLSTMTagger(TaggerConfig.from_dict(values)).eval()
    from safetensors.torch import load_file

    model.load_state_dict(load_file(run.weights_file))
    units = TagUnits.load(run.vocab_dir)
    encoded = units.encode(dataset.split("train"))
    ids, lengths = encoded.batch(torch.arange(len(encoded)))
    with torch.inference_mode():
        predicted = model.decode(model(ids, lengths), lengths)
    same = sum(p == r for row, ref in zip(predicted.tolist(), reference) for p, r in zip(row, ref))
    return same / sum(len(ref) for ref in reference)


def test_a_tagger_of_characters_reads_no_character_encoder(tmp_path):
    """KLUE's tokens are characters: with max_chars 0 the tagger embeds each token alone."""
    rows = [
        {
            "tokens": list("김철수가 서울에 갔다"),
            "tags": ["B-PS", "I-PS", "I-PS", *["O"] * 2, "B-LC", "I-LC"] + ["O"] * 4,
        }
    ]
    data = tmp_path / "chars.jsonl"
    data.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows * 40) + "\n", encoding="utf-8")
    values = dict(embedding_dim=8, hidden_dim=8, max_chars=0, lowercase=False, train_epoch=1, run_root=str(tmp_path))
    metrics = train_tagger(TagRunConfig(dataset=str(data), **values))
    _, student, _ = split_student_json(RunDir(metrics["run_dir"]).read_student())
    assert student["char_vocab_size"] == 0 and metrics["test_entity_f1"] is not None


def test_untagged_transfer_sentences_are_labelled_by_the_teacher_and_join_training(tmp_path, caplog):
    from distil_bilstm.data.tagging import load_tagged_dataset

    from ..conftest import make_token_teacher

    data = write_tagged(tmp_path / "people.jsonl", n=120)
    dataset = load_tagged_dataset(str(data))
    held_out = " ".join(dataset.split("test")[0].tokens)
    extra = tmp_path / "untagged.txt"
    extra.write_text(
        f"text\nChoi went to Rome\n\n{held_out}\nPark Jr lives in Seoul\n", encoding="utf-8"
    )  # a header, too
    teacher = make_token_teacher(tmp_path, dataset, dataset.tag_names)
    values = dict(embedding_dim=8, hidden_dim=8, char_dim=4, char_filters=4, train_epoch=2, run_root=str(tmp_path))
    with caplog.at_level("INFO"):
        metrics = train_tagger(
            TagRunConfig(
                dataset=str(data),
                teacher_path=str(teacher),
                loss="kl",
                transfer_sets=str(extra),  # one file may be given as a string
                cache_dir=str(tmp_path / "logits"),
                crf=True,
                **values,
            )
        )
    assert "left out 1 sentences equal to a validation or test sentence" in caplog.text
    assert "transfer: 2 sentences labelled by the teacher" in caplog.text
    stores = sorted(p.name for p in (tmp_path / "logits").glob("*/*"))
    assert len(stores) == 2 and any(".transfer.untagged" in name for name in stores)
    assert metrics["test_entity_f1"] is not None
    with pytest.raises(ValueError, match="TagRunConfig.transfer_sets need loss 'kl' and a teacher_path"):
        TagRunConfig(dataset=str(data), transfer_sets=[str(extra)])


def test_skipgram_vectors_start_the_word_embedding_and_untagged_words_join_the_vocabulary(tmp_path, caplog):
    data = write_tagged(tmp_path / "people.jsonl", n=120)
    texts = tmp_path / "untagged.txt"
    lines = ["Yesterday Garcia went to Madrid", "Garcia lives in Madrid", "Yesterday Kim went to Lisbon"] * 30
    texts.write_text("text\n" + "\n".join(lines) + "\n", encoding="utf-8")
    values = dict(dataset=str(data), embedding_dim=8, hidden_dim=8, char_dim=4, char_filters=4, train_epoch=1)
    plain = train_tagger(TagRunConfig(**values, run_root=str(tmp_path / "plain")))
    caplog.set_level("INFO")
    config = TagRunConfig(
        **values,
        run_root=str(tmp_path / "sg"),
        embedding_init="skipgram",
        embedding_texts=(str(texts),),
        untagged_words=2,
    )
    metrics = train_tagger(config)
    words = TagUnits.load(RunDir(metrics["run_dir"]).vocab_dir).words
    # the two most frequent untagged words the training split lacks: "garcia" (60) and "madrid" (60)
    assert (
        words[-2:] == ("garcia", "madrid")
        and len(words) == len(TagUnits.load(RunDir(plain["run_dir"]).vocab_dir).words) + 2
    )
    assert f"skip-gram vectors for {len(words) - 2} of {len(words)} words" in caplog.text  # all but [PAD], [UNK]
    assert not list(RunDir(metrics["run_dir"]).path.glob("skipgram-corpus.txt"))  # the corpus is not kept
    assert config.identity() != TagRunConfig(**values, run_root=str(tmp_path / "sg")).identity()
