from __future__ import annotations

import numpy as np
import pytest

from distil_bilstm.data.datasets import LeakageGuard, load_dataset, load_transfer_set
from distil_bilstm.data.pairs import split_pair
from distil_bilstm.data.sentence_pairs import PairTextsConfig, pair_texts, sample_sentences
from tests.conftest import write_lines


def test_config_refuses_out_of_range_values_naming_the_field():
    with pytest.raises(ValueError, match=r"PairTextsConfig.per_file must be >= 2"):
        PairTextsConfig(per_file=1)
    with pytest.raises(ValueError, match=r"PairTextsConfig.max_chars must be >= min_chars \(10\), got 5"):
        PairTextsConfig(min_chars=10, max_chars=5)
    assert PairTextsConfig.from_dict(PairTextsConfig(per_file=7).to_dict()) == PairTextsConfig(per_file=7)


def test_sampling_keeps_distinct_in_bounds_sentences_and_drops_held_out_sides(small_korsts):
    dataset = load_dataset("korsts", data_dir=small_korsts, download=False)
    held_out_side = split_pair(dataset.split("valid")["text"].iloc[0])[1]
    texts = [
        "짧",
        " 이 영화 정말 좋다",
        "이 영화 정말 좋다 ",
        held_out_side,
        "x" * 300,
        *[f"문장 번호 {i}" for i in range(50)],
    ]
    counts = {"read": 0, "length": 0, "duplicate": 0, "valid/test": 0}
    sample = sample_sentences(
        texts,
        config=PairTextsConfig(per_file=10, max_chars=100),
        guard=LeakageGuard(dataset, sides=True),
        rng=np.random.default_rng(0),
        counts=counts,
    )
    assert counts == {"read": 55, "length": 2, "duplicate": 1, "valid/test": 1}
    assert len(sample) == 10 and len(set(sample)) == 10 and held_out_side not in sample
    # uniform over the 51 eligible sentences, not the first ten
    assert any(s.startswith("문장 번호") and int(s.split()[-1]) >= 10 for s in sample)


def test_pair_texts_writes_a_transfer_set_the_pipeline_reads(small_korsts, tmp_path):
    dataset = load_dataset("korsts", data_dir=small_korsts, download=False)
    reviews = write_lines(tmp_path / "reviews.tsv", ["id\tdocument", *[f"{i}\t리뷰 {i} 재밌다" for i in range(30)]])
    comments = write_lines(
        tmp_path / "comments.tsv", ["comments\thate", *[f"댓글 {i} 별로다\tnone" for i in range(11)]]
    )
    out = tmp_path / "pairs.tsv"
    meta = pair_texts(
        [reviews, comments], dataset=dataset, out=out, config=PairTextsConfig(per_file=20), progress=False
    )
    assert meta["sentences"] == 31 and meta["rows"] == 15  # 20 + 11, one left unpaired
    assert [f["kept"] for f in meta["files"]] == [20, 11]
    transfer = load_transfer_set(out, dataset=dataset)
    assert len(transfer) == 15 and transfer.pairs and not transfer.dropped
    sides = [side for text in transfer.table["text"] for side in split_pair(text)]
    assert len(set(sides)) == 30 and all(s.startswith(("리뷰", "댓글")) for s in sides)
    assert (out.parent / "pairs.tsv.json").is_file()


def test_pair_texts_refuses_a_single_text_dataset_and_too_few_sentences(small_nsmc, small_korsts, tmp_path):
    texts = write_lines(tmp_path / "t.txt", ["하나의 문장"])
    nsmc = load_dataset("nsmc", data_dir=small_nsmc, download=False)
    with pytest.raises(ValueError, match="nsmc has single texts: give the unlabelled file itself as a transfer set"):
        pair_texts([texts], dataset=nsmc, out=tmp_path / "o.tsv", config=PairTextsConfig())
    korsts = load_dataset("korsts", data_dir=small_korsts, download=False)
    with pytest.raises(ValueError, match=r"t.txt: fewer than two sentences within 5–200 characters"):
        pair_texts([texts], dataset=korsts, out=tmp_path / "o.tsv", config=PairTextsConfig(), progress=False)
    assert not (tmp_path / "o.tsv").exists()


def test_the_pair_texts_command_names_files_under_the_data_folder_and_a_missing_one(
    small_korsts, tmp_path, capsys, caplog
):
    from distil_bilstm.cli import main

    write_lines(small_korsts / "extra" / "texts.txt", [f"데이터 폴더의 문장 {i}" for i in range(9)])
    out = tmp_path / "pairs.tsv"
    args = ["pair-texts", "--dataset", "korsts", "--data-dir", str(small_korsts), "--no-download", "--out", str(out)]
    assert main([*args, "--texts", "extra/texts.txt"]) == 0
    printed = capsys.readouterr().out
    assert "4 pairs of 9 sentences" in printed and "--states per_side" in printed
    assert main([*args, "--texts", "extra/none.txt"]) == 1
    assert "texts file 'extra/none.txt' not found" in caplog.text
