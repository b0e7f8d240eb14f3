from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from distil_bilstm.cli import main
from distil_bilstm.data.datasets import DataConfig, LeakageGuard, load_dataset
from distil_bilstm.data.vocab import load_vocab
from distil_bilstm.runs.config import DistilConfig
from distil_bilstm.runs.pipeline import RunResources, ensure_vocab, run_distillation
from distil_bilstm.students.embeddings import (
    SkipgramConfig,
    SkipgramVectors,
    StaleEmbeddingsError,
    ensure_skipgram,
    init_embedding_from_vectors,
    open_vectors,
    skipgram_inputs,
)

from ..conftest import write_reviews


@pytest.fixture
def reviews(tmp_path):
    """(dataset, vocab folder, tokenizer) of 240 train (5% of them valid) / 40 test rows."""
    dataset = load_dataset(DataConfig(name="sst2", data_dir=str(write_reviews(tmp_path / "data")), download=False))
    folder = ensure_vocab(dataset, vocab_root=tmp_path / "tok", vocab_size=120)
    return dataset, folder, load_vocab(folder)


def held_out_texts(dataset, n: int) -> list[str]:
    return dataset.table.loc[dataset.table["split"].isin(("valid", "test")), "text"].tolist()[:n]


@pytest.mark.parametrize("library", ["fasttext", "gensim"])
def test_vectors_reproducible_for_a_seed(reviews, library):
    dataset, folder, tokenizer = reviews
    seed = 3 if library == "gensim" else 0
    config = SkipgramConfig(dim=8, epochs=2, library=library, threads=1, seed=seed)
    first = ensure_skipgram(dataset, vocab_folder=folder, tokenizer=tokenizer, config=config)
    again = ensure_skipgram(dataset, vocab_folder=folder, tokenizer=tokenizer, config=config, rebuild=True)
    assert first.vectors.shape == (len(tokenizer), 8)
    assert torch.equal(first.vectors, again.vectors) and torch.equal(first.known, again.known)
    assert 0.2 < first.coverage <= 1.0 and not first.known[0]  # [PAD] never occurs in a text
    assert first.folder.parent == folder / "skipgram" and first.folder.name.startswith(f"{library}-d8-")
    other = (
        SkipgramConfig(dim=8, epochs=2, library=library, threads=1, seed=4)
        if library == "gensim"
        else SkipgramConfig(dim=8, epochs=3, library=library, threads=1)
    )
    changed = ensure_skipgram(dataset, vocab_folder=folder, tokenizer=tokenizer, config=other)
    assert changed.folder != first.folder and not torch.equal(changed.vectors, first.vectors)


def test_cache_key_follows_vocabulary_and_texts(reviews, tmp_path):
    dataset, folder, _ = reviews
    texts = tmp_path / "unlabelled.txt"
    texts.write_text("새로운 리뷰 하나\n또 다른 리뷰\n", encoding="utf-8")
    config = SkipgramConfig(dim=8)
    base = skipgram_inputs(dataset=dataset, vocab_folder=folder, text_files=[], config=config).key()
    with_texts = skipgram_inputs(dataset=dataset, vocab_folder=folder, text_files=[texts], config=config).key()
    texts.write_text("새로운 리뷰 하나\n", encoding="utf-8")
    edited_texts = skipgram_inputs(dataset=dataset, vocab_folder=folder, text_files=[texts], config=config).key()
    (folder / "vocab.txt").write_text((folder / "vocab.txt").read_text(encoding="utf-8") + "추가\n", encoding="utf-8")
    edited_vocab = skipgram_inputs(dataset=dataset, vocab_folder=folder, text_files=[], config=config).key()
    wider = skipgram_inputs(dataset=dataset, vocab_folder=folder, text_files=[], config=SkipgramConfig(dim=16)).key()
    assert len({base, with_texts, edited_texts, edited_vocab, wider}) == 5


def test_no_validation_or_test_text_reaches_the_corpus(reviews, tmp_path):
    dataset, folder, tokenizer = reviews
    leaked = held_out_texts(dataset, 5)
    texts = tmp_path / "unlabelled.tsv"
    texts.write_text(
        "id\tdocument\n" + "".join(f"{i}\t{t}\n" for i, t in enumerate(leaked + ["완전히 새 리뷰", "another new one"])),
        encoding="utf-8",
    )
    guard = LeakageGuard(dataset)
    assert list(guard(leaked + [" " + leaked[0] + " ", "완전히 새 리뷰"])) == ["완전히 새 리뷰"]
    assert (guard.seen, guard.dropped) == (7, 6)

    vectors = ensure_skipgram(
        dataset, vocab_folder=folder, tokenizer=tokenizer, text_files=[texts], config=SkipgramConfig(dim=8, epochs=1)
    )
    stats = vectors.header["stats"]
    assert (stats["train_texts"], stats["extra_texts"], stats["leaked_dropped"]) == (len(dataset.split("train")), 2, 5)
    assert vectors.header["inputs"]["texts"][0]["path"] == str(texts)


def test_init_copies_vectors_into_exactly_the_known_rows():
    torch.manual_seed(0)
    embedding = nn.Embedding(6, 4, padding_idx=0)
    before = embedding.weight.detach().clone()
    known = torch.tensor([True, True, False, True, False, True])  # row 0 is [PAD]: never overwritten
    raw = torch.arange(24, dtype=torch.float32).view(6, 4)
    vectors = SkipgramVectors(vectors=raw, known=known, header={}, folder=None)
    assert init_embedding_from_vectors(embedding.weight, vectors, padding_idx=0) == 3
    after = embedding.weight.detach()
    rows = torch.tensor([1, 3, 5])
    assert torch.equal(after[0], torch.zeros(4)) and torch.equal(after[[2, 4]], before[[2, 4]])
    scale = before[rows].std() / raw[rows].std()  # one factor: the replaced rows' spread is kept
    assert torch.allclose(after[rows], raw[rows] * scale)
    assert after[rows].std() == pytest.approx(float(before[rows].std()), rel=1e-5)
    with pytest.raises(ValueError, match=r"vectors are \(6, 4\) but the student embedding is \(6, 8\)"):
        init_embedding_from_vectors(nn.Embedding(6, 8).weight, vectors)


def test_stale_or_changed_cache_is_refused(reviews):
    dataset, folder, tokenizer = reviews
    config = SkipgramConfig(dim=8, epochs=1)
    vectors = ensure_skipgram(dataset, vocab_folder=folder, tokenizer=tokenizer, config=config)
    inputs = skipgram_inputs(dataset=dataset, vocab_folder=folder, text_files=[], config=config)
    header_file = vectors.folder / "header.json"
    header = json.loads(header_file.read_text())
    header["inputs"]["dataset_fingerprint"] = "0" * 64
    header_file.write_text(json.dumps(header))
    with pytest.raises(StaleEmbeddingsError, match="built from another dataset_fingerprint"):
        ensure_skipgram(dataset, vocab_folder=folder, tokenizer=tokenizer, config=config)
    rebuilt = ensure_skipgram(dataset, vocab_folder=folder, tokenizer=tokenizer, config=config, rebuild=True)
    assert torch.equal(rebuilt.vectors, vectors.vectors)

    (vectors.folder / "vectors.safetensors").write_bytes(b"not the vectors")
    with pytest.raises(StaleEmbeddingsError, match="changed since it was written"):
        open_vectors(vectors.folder, inputs)


def test_config_validation_and_identity():
    with pytest.raises(ValueError, match="SkipgramConfig.library must be one of"):
        SkipgramConfig(library="word2vec-c")
    with pytest.raises(ValueError, match="SkipgramConfig.seed must be 0 with library 'fasttext'"):
        SkipgramConfig(library="fasttext", seed=5)
    with pytest.raises(ValueError, match="SkipgramConfig.window must be >= 1"):
        SkipgramConfig(window=0)
    with pytest.raises(ValueError, match="DistilConfig.skipgram_library must be one of"):
        DistilConfig(loss="ce", embedding_init="skipgram", skipgram_library="glove")
    config = DistilConfig(loss="ce", embedding_init="skipgram", embedding_texts="nsmc/unlabeled.txt")
    assert config.embedding_texts == ["nsmc/unlabeled.txt"]  # one file or a list
    assert "-sg-" in config.default_run_name()
    assert config.identity() != DistilConfig(loss="ce", embedding_init="skipgram").identity()
    # random init ignores the skip-gram keys: the same run, and the same hash as before they existed
    assert DistilConfig(loss="ce", embedding_texts=["x.txt"]).identity() == DistilConfig(loss="ce").identity()


def test_distil_with_skipgram_init_builds_once_and_records_it(tmp_path):
    data_dir = write_reviews(tmp_path / "data")
    resources = RunResources()
    common = dict(
        dataset="sst2",
        data_dir=str(data_dir),
        vocab_size=120,
        vocab_root=str(tmp_path / "tok"),
        preset="tiny",
        loss="ce",
        embedding_init="skipgram",
        batch_size=32,
        train_epoch=1,
        patience=0,
        run_root=str(tmp_path / "runs"),
        device="cpu",
    )
    metrics = run_distillation(DistilConfig(**common), resources=resources)
    assert metrics["embedding_init"] == "skipgram" and "/skipgram/gensim-d8-" in metrics["embedding_source"]
    assert metrics["embedding_rows_initialised"] > 10
    assert (
        json.loads((tmp_path / "runs" / "sst2" / metrics["run_dir"].split("/")[-1] / "config.json").read_text())[
            "embedding_init"
        ]
        == "skipgram"
    )
    run_distillation(DistilConfig(**common, seed=7), resources=resources)
    assert resources.loads["skipgram"] == 1  # the second run reuses the vectors
    assert main(["compare", str(tmp_path / "runs"), "--out", str(tmp_path / "results")]) == 0
    markdown = (tmp_path / "results" / "results.md").read_text(encoding="utf-8")
    assert "| Emb init |" in markdown.splitlines()[0] and "BiLSTM Tiny · CE + skip-gram emb" in markdown


def test_embeddings_cli(tmp_path, capsys, caplog):
    data_dir = write_reviews(tmp_path / "data")
    texts = tmp_path / "more.txt"
    texts.write_text("정말 재미있는 리뷰\n지루한 영화\n", encoding="utf-8")
    argv = [
        "embeddings",
        "--dataset",
        "sst2",
        "--data-dir",
        str(data_dir),
        "--no-download",
        "--vocab-size",
        "120",
        "--vocab-root",
        str(tmp_path / "tok"),
        "--preset",
        "tiny",
        "--epochs",
        "1",
        "--texts",
        str(texts),
    ]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "vocab coverage" in out and "embedding_init=skipgram" in out
    assert list((tmp_path / "tok" / "sst2" / "vocab_size_120" / "skipgram").glob("gensim-d8-*/vectors.safetensors"))
    assert main(argv[:-1] + [str(tmp_path / "missing.txt")]) == 1  # a clear error naming the file, no traceback
    assert "texts file" in caplog.text and "missing.txt' not found" in caplog.text
