"""unigram_prune: a SentencePiece-Unigram base cut to the texts of one task, tokenizing them as before."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from distil_bilstm.teachers.bases.unigram_prune import (
    PruneConfig,
    is_basic_char_piece,
    open_syllable,
    prune_base,
)

from ...conftest import sample_texts


@pytest.fixture
def tiny_xlmr(tmp_path):
    """A real 1-layer XLM-R (hidden 16) with a Unigram vocabulary trained on 200 sample reviews
    and a few English lines, saved as a Hugging Face base with XLM-R's specials."""
    from tokenizers import Tokenizer, models, trainers
    from transformers import XLMRobertaConfig, XLMRobertaModel

    from distil_bilstm.teachers.bases.e5_image import save_tokenizer, unigram_tokenizer

    corpus = sample_texts("train", 200) + ["a great film", "the worst movie ever", "최고"] * 5
    trainer = trainers.UnigramTrainer(
        vocab_size=3000, special_tokens=["<s>", "<pad>", "</s>", "<unk>"], unk_token="<unk>"
    )
    raw = Tokenizer(models.Unigram())
    raw.pre_tokenizer = unigram_tokenizer([("<s>", 0.0), ("</s>", 0.0), ("<unk>", 0.0)], unk_id=2).pre_tokenizer
    raw.train_from_iterator(corpus, trainer)
    pieces = json.loads(raw.to_str())["model"]["vocab"] + [["<mask>", 0.0]]
    base = tmp_path / "tiny-xlmr"
    save_tokenizer(unigram_tokenizer([tuple(p) for p in pieces], unk_id=3), base)
    torch.manual_seed(0)
    config = XLMRobertaConfig(
        vocab_size=len(pieces),
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=130,
        pad_token_id=1,
    )
    XLMRobertaModel(config).save_pretrained(base)
    return base


def states(base, texts):
    from transformers import AutoModel, AutoTokenizer

    tokenizer, model = AutoTokenizer.from_pretrained(str(base)), AutoModel.from_pretrained(str(base)).eval()
    with torch.no_grad():
        return [model(**tokenizer(t, return_tensors="pt")).last_hidden_state[0].numpy() for t in texts]


def tokens(base, texts):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(base))
    return [tokenizer.convert_ids_to_tokens(tokenizer(t)["input_ids"]) for t in texts]


def test_open_syllable_drops_the_final_consonant():
    assert [open_syllable(c) for c in "쵝왤닼최a"] == list("최왜다최a")


def test_basic_characters():
    assert is_basic_char_piece("é") and is_basic_char_piece("▁!") and is_basic_char_piece("ㅋ")
    assert not is_basic_char_piece("ab") and not is_basic_char_piece("\x9c") and not is_basic_char_piece("영")


def test_pruned_base_tokenizes_and_encodes_its_texts_as_the_full_one(tiny_xlmr, tmp_path):
    texts = sample_texts("train", 80)
    report = prune_base(tiny_xlmr, texts, tmp_path / "pruned", config=PruneConfig(ascii_pieces=20, unk_min_count=0))
    assert report["vocab"] < report["full_vocab"] and report["parameters_after"] < report["parameters_before"]
    assert report["corpus_texts"] == 80 and report["added"] == 0
    assert tokens(tmp_path / "pruned", texts) == tokens(tiny_xlmr, texts)
    for ours, full in zip(states(tmp_path / "pruned", texts[:10]), states(tiny_xlmr, texts[:10])):
        np.testing.assert_allclose(ours, full, atol=1e-6)
    vocab = json.loads((tmp_path / "pruned" / "tokenizer.json").read_text())["model"]["vocab"]
    assert vocab[-1][0] == "<mask>" and [p for p, _ in vocab[:4]] == ["<s>", "<pad>", "</s>", "<unk>"]


def test_unknown_characters_become_pieces_from_their_open_syllable(tiny_xlmr, tmp_path):
    texts = sample_texts("train", 40) + ["쵝오의 영화"] * 10 + ["뷁"] * 3  # 쵝: 10 times (added), 뷁: 3 (left out)
    report = prune_base(tiny_xlmr, texts, tmp_path / "pruned", config=PruneConfig(unk_min_count=10))
    assert report["added_inits"] == {"쵝": "최"}  # the tiny vocabulary misses a few rarer characters too
    assert report["unk_chars_after"] == report["unk_chars_before"] - 10
    assert report["texts_with_unk_after"] == report["texts_with_unk_before"] - 10
    from transformers import AutoModel, AutoTokenizer

    pruned, full = (
        AutoTokenizer.from_pretrained(str(tmp_path / "pruned")),
        AutoTokenizer.from_pretrained(str(tiny_xlmr)),
    )
    assert "쵝" in pruned.convert_ids_to_tokens(pruned("쵝오")["input_ids"])
    rows = AutoModel.from_pretrained(str(tmp_path / "pruned")).get_input_embeddings().weight
    full_rows = AutoModel.from_pretrained(str(tiny_xlmr)).get_input_embeddings().weight
    choi = full.convert_tokens_to_ids("최")
    assert choi != full.unk_token_id
    torch.testing.assert_close(rows[pruned.convert_tokens_to_ids("쵝")], full_rows[choi])


def test_real_e5_pruned_to_the_sample(e5_full_base, tmp_path):
    texts = sample_texts("train", 300)
    report = prune_base(e5_full_base, texts, tmp_path / "e5-sample")
    assert report["full_vocab"] == 250_002 and 10_000 < report["vocab"] < 30_000
    assert report["parameters_after"] < report["parameters_before"] / 3
    held_back = texts[:50]  # tokens identical on the texts pruned to; states to float precision
    assert tokens(tmp_path / "e5-sample", held_back) == tokens(e5_full_base, held_back)
    for ours, full in zip(states(tmp_path / "e5-sample", held_back[:20]), states(e5_full_base, held_back[:20])):
        cosine = (ours * full).sum(-1) / np.linalg.norm(ours, axis=-1) / np.linalg.norm(full, axis=-1)
        assert cosine.min() >= 0.99999


def test_a_wordpiece_base_is_refused(tiny_teacher_dir, tmp_path):
    with pytest.raises(ValueError, match=r"tokenizer\.json: the tokenizer is WordPiece, not Unigram"):
        prune_base(tiny_teacher_dir, ["a"], tmp_path / "out")


def test_no_texts_is_refused(tiny_xlmr, tmp_path):
    with pytest.raises(ValueError, match="pruning needs texts"):
        prune_base(tiny_xlmr, [], tmp_path / "out")


def test_prune_config_checks_its_fields():
    with pytest.raises(ValueError, match="unk_min_count"):
        PruneConfig(unk_min_count=-1)
    with pytest.raises(ValueError, match="ascii_pieces"):
        PruneConfig(ascii_pieces=-5)


def test_prune_cli_reports_before_and_after(tiny_xlmr, small_nsmc, tmp_path, capsys):
    from distil_bilstm.cli import main

    extra = tmp_path / "more.txt"
    extra.write_text("쵝오의 영화\n" * 10, encoding="utf-8")
    code = main(
        [
            "teacher",
            "prune",
            "--base",
            str(tiny_xlmr),
            "--dataset",
            "nsmc",
            "--data-dir",
            str(small_nsmc),
            "--texts",
            str(extra),
            "--out",
            str(tmp_path / "pruned"),
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "| pieces |" in out and "| parameters |" in out and "texts with <unk> (%)" in out
    report = json.loads((tmp_path / "pruned" / "prune.json").read_text())
    assert report["added_inits"].get("쵝") == "최" and f"--base {tmp_path / 'pruned'}" in out


def test_prune_cli_refuses_a_missing_tokenizer(small_nsmc, tmp_path, caplog):
    from distil_bilstm.cli import main

    (tmp_path / "empty").mkdir()
    assert (
        main(
            [
                "teacher",
                "prune",
                "--base",
                str(tmp_path / "empty"),
                "--dataset",
                "nsmc",
                "--data-dir",
                str(small_nsmc),
                "--out",
                str(tmp_path / "out"),
            ]
        )
        != 0
    )
    assert "empty/tokenizer.json: no such file" in caplog.text


def test_the_prune_command_reads_a_tagged_datasets_training_sentences_as_written(tiny_xlmr, tmp_path, capsys):
    from distil_bilstm.cli import main
    from distil_bilstm.data.tagging import load_tagged_dataset
    from distil_bilstm.teachers.bases.defaults import tagged_pruning_texts

    from ...conftest import write_tagged

    data = write_tagged(tmp_path / "people.jsonl", n=60)
    dataset = load_tagged_dataset(str(data))
    texts = tagged_pruning_texts(dataset)
    assert len(texts) == len(dataset.split("train")) and texts[0] == " ".join(dataset.split("train")[0].tokens)
    out = tmp_path / "pruned"
    args = ["teacher", "prune", "--base", str(tiny_xlmr), "--dataset", str(data), "--out", str(out)]
    assert main([*args, "--ascii-pieces", "20", "--unk-min-count", "0"]) == 0
    assert f"{len(texts):,} texts use" in capsys.readouterr().out
    assert tokens(out, texts[:5]) == tokens(tiny_xlmr, texts[:5])
