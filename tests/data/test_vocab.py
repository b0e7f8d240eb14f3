from __future__ import annotations

import pytest
import torch

from distil_bilstm.data.vocab import (
    VocabConfig,
    build_vocabularies,
    encode_texts,
    load_vocab,
    save_vocab,
    train_wordpiece,
    vocab_dir,
)

TEXTS = ["이 영화 정말 재미있어요", "정말 별로인 영화", "연기가 좋아요 정말", "스토리가 재미없어요"] * 20


def test_vocab_round_trip_keeps_hangul_and_case(tmp_path):
    config = VocabConfig(vocab_size=120, min_frequency=1)
    out = vocab_dir(tmp_path, "toy", 120)
    save_vocab(train_wordpiece(TEXTS, config), out, config)
    tokenizer = load_vocab(out)
    vocab_lines = (out / "vocab.txt").read_text(encoding="utf-8").splitlines()
    assert len(tokenizer) == len(vocab_lines) > 5  # not the 5-token trap
    assert tokenizer.pad_token_id == 0
    tokens = tokenizer.tokenize("정말 재미있어요")
    assert "".join(t.removeprefix("##") for t in tokens) == "정말재미있어요"  # no jamo decomposition
    assert tokenizer.unk_token not in tokens
    assert load_vocab(out / "vocab.txt").get_vocab() == tokenizer.get_vocab()


def test_load_vocab_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="no vocabulary here"):
        load_vocab(tmp_path / "nope")


def test_vocab_config_validation():
    with pytest.raises(ValueError, match="VocabConfig.vocab_size must be > 5"):
        VocabConfig(vocab_size=3)


def test_build_vocabularies_reports_each_size(tmp_path):
    reports = build_vocabularies(
        TEXTS, TEXTS[:8], sizes=[60, 90], out_root=tmp_path, dataset="toy", base=VocabConfig(min_frequency=1)
    )
    assert [(tmp_path / "toy" / f"vocab_size_{s}" / "vocab.txt").is_file() for s in (60, 90)] == [True, True]
    assert [r.requested_size for r in reports] == [60, 90]
    assert all(r.vocab_size <= 60 for r in reports)  # this corpus has only ~58 distinct pieces
    # every word fits whole: (4 + 3 + 3 + 2) words over the 4 distinct evaluation texts
    assert reports[1].mean_tokens == 3.0
    assert reports[1].unk_rate == 0.0


def test_encode_and_pad(tmp_path):
    config = VocabConfig(vocab_size=100, min_frequency=1)
    save_vocab(train_wordpiece(TEXTS, config), tmp_path, config)
    tokenizer = load_vocab(tmp_path)
    encoded = encode_texts(tokenizer, ["정말 재미있어요", "", "영화"], max_length=4)
    assert encoded.lengths.tolist()[1] == 1  # empty text becomes one [UNK]
    assert int(encoded.lengths.max()) <= 4
    ids, lengths = encoded.batch(torch.tensor([2, 0]))
    assert ids.shape == (2, int(lengths.max()))
    assert ids[0, lengths[0] :].eq(0).all()
    assert (
        ids[1, : lengths[1]].tolist()
        == tokenizer("정말 재미있어요", add_special_tokens=False, truncation=True, max_length=4)["input_ids"]
    )
    # select: a compact copy of some rows that pads back to the same batch
    picked = encoded.select(torch.tensor([2, 0]))
    assert len(picked) == 2 and len(picked.ids) == int(lengths.sum())
    assert [t.tolist() for t in picked.batch(torch.tensor([0, 1]))] == [ids.tolist(), lengths.tolist()]


def test_a_vocabulary_made_from_other_texts_is_rebuilt_saying_what_changed(tmp_path, caplog):
    import logging

    from distil_bilstm.data.datasets import load_dataset
    from distil_bilstm.runs.pipeline import ensure_vocab
    from tests.conftest import write_reviews

    caplog.set_level(logging.INFO)
    data = write_reviews(tmp_path / "data")
    dataset = load_dataset("sst2", data_dir=data, download=False)
    folder = ensure_vocab(dataset, vocab_root=tmp_path / "tok", vocab_size=150)
    first = (folder / "vocab.txt").read_text(encoding="utf-8")
    assert ensure_vocab(dataset, vocab_root=tmp_path / "tok", vocab_size=150) == folder  # same texts: reused
    assert "training texts differ" not in caplog.text
    # the data file replaced under the same name (other text): the vocabulary is not reused
    lines = (data / "sst2" / "train.tsv").read_text(encoding="utf-8").splitlines()
    (data / "sst2" / "train.tsv").write_text(
        "\n".join([lines[0]] + [f"brand new words {i} here\t{i % 2}" for i in range(200)]) + "\n", encoding="utf-8"
    )
    replaced = load_dataset("sst2", data_dir=data, download=False)
    ensure_vocab(replaced, vocab_root=tmp_path / "tok", vocab_size=150)
    assert "its training texts differ" in caplog.text
    second = (folder / "vocab.txt").read_text(encoding="utf-8")
    assert second != first and "brand" in second.split()
