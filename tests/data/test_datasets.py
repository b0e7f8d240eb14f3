from __future__ import annotations

import pytest

from distil_bilstm.data.datasets import DataConfig, load_dataset
from distil_bilstm.data.files import DataFormatError, read_labelled_file, read_texts

from ..conftest import write_lines


def test_full_nsmc_train_is_read_losslessly(shared_data):
    frame, dropped = read_labelled_file(
        shared_data / "nsmc" / "ratings_train.txt",
        text_column="document",
        label_column="label",
        label_map={"0": 0, "1": 1},
    )
    assert len(frame) + sum(dropped.values()) == 150_000
    assert len(frame) == 150_000 - dropped.get("empty text", 0)
    # texts with bare quote characters survive unchanged (quote processing would merge rows)
    assert frame["text"].str.contains('"').sum() > 100
    assert set(frame["label"].unique()) == {0, 1}


def test_nsmc_slice_splits_and_idx(small_nsmc):
    dataset = load_dataset("nsmc", data_dir=small_nsmc, download=False)
    table = dataset.table
    assert len(table) == 160
    assert table["idx"].tolist() == list(range(160))
    assert (table["split"] == "test").sum() == 40
    assert (table["split"] == "valid").sum() == 6  # 5% of 120
    assert dataset.label_names == ["negative", "positive"]
    # the first test row is the first line of ratings_test.txt
    assert table.loc[120, "line"] == 2 and table.loc[120, "split"] == "test"


def test_splits_are_deterministic_and_seed_controlled(small_nsmc):
    first = load_dataset("nsmc", data_dir=small_nsmc, download=False).table["split"].tolist()
    again = load_dataset("nsmc", data_dir=small_nsmc, download=False).table["split"].tolist()
    other = load_dataset("nsmc", data_dir=small_nsmc, download=False, seed=7).table["split"].tolist()
    assert first == again
    assert first != other


def test_single_file_split_test_then_valid(tmp_path):
    lines = [f"{(i % 5) + 1}\t리뷰 {i}" for i in range(200)]
    write_lines(tmp_path / "naver_shopping" / "naver_shopping.txt", lines)
    dataset = load_dataset("naver_shopping", data_dir=tmp_path, download=False)
    assert dataset.dropped == {"excluded label": 40}  # rating 3 is not part of the task
    counts = dataset.table["split"].value_counts().to_dict()
    assert counts == {"train": 136, "test": 16, "valid": 8}  # 0.1 of 160, then 0.05 of 144
    assert dataset.table["label"].tolist()[:5] == [0, 0, 1, 1, 0]


def test_combined_sources_share_one_index(tmp_path, small_nsmc):
    write_lines(small_nsmc / "steam" / "steam.txt", [f"{i % 2}\tgame {i}" for i in range(30)])
    dataset = load_dataset("nsmc+steam", data_dir=small_nsmc, download=False)
    assert len(dataset) == 190
    assert dataset.table["idx"].is_monotonic_increasing and dataset.table["idx"].iloc[-1] == 189
    assert dataset.table["source"].value_counts().to_dict() == {"nsmc": 160, "steam": 30}


def test_custom_csv_with_named_columns(tmp_path):
    path = write_lines(
        tmp_path / "reviews.csv", ["review,stars"] + ['"good, really",pos', "bad,neg", '"he said ""ok""",pos'] * 10
    )
    dataset = load_dataset(str(path), text_column="review", label_column="stars")
    assert dataset.label_names == ["neg", "pos"]
    assert dataset.table["text"].iloc[0] == "good, really"
    assert dataset.table["text"].iloc[2] == 'he said "ok"'


def test_too_few_rows_to_split_name_the_file_and_what_was_dropped(tmp_path):
    path = write_lines(tmp_path / "tiny.csv", ["text,label", "good,pos", "bad,neg", "empty label,", "meh,neu?"])
    with pytest.raises(
        DataFormatError,
        match=r"tiny.csv: 1 labelled row\(s\) are too few to carve a validation split of "
        r"0.05 and keep rows to train on \(2 dropped: unknown label 2\)",
    ):
        load_dataset(str(path), label_names=["neg", "pos"])


def test_missing_columns_name_file_and_expected(tmp_path):
    write_lines(tmp_path / "nsmc" / "ratings_train.txt", ["id\ttext\tlabel", "1\thello\t0"])
    write_lines(tmp_path / "nsmc" / "ratings_test.txt", ["id\tdocument\tlabel", "1\thello\t0"])
    with pytest.raises(
        DataFormatError,
        match=r"ratings_train.txt: missing column\(s\) \['document'\]; expected columns \['document', 'label'\]",
    ):
        load_dataset("nsmc", data_dir=tmp_path, download=False)


def test_bad_rows_dropped_and_counted_or_strict(tmp_path):
    path = write_lines(
        tmp_path / "x.tsv", ["id\tdocument\tlabel", "1\tgood\t1", "2\t\t0", "3\tmeh\t7", "4\tbad\t0", "5\tshort"]
    )
    frame, dropped = read_labelled_file(path, text_column="document", label_column="label", label_map={"0": 0, "1": 1})
    assert frame["text"].tolist() == ["good", "bad"]
    assert dict(dropped) == {"empty text": 1, "unknown label": 1, "malformed row": 1}
    with pytest.raises(DataFormatError, match=r"x.tsv, line 3: empty text"):
        read_labelled_file(path, text_column="document", label_column="label", label_map={"0": 0, "1": 1}, strict=True)
    path.write_text("id\tdocument\tlabel\n1\tgood\t1\n3\tmeh\t7\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"x.tsv, line 3: label '7' in column 'label' is not one of \['0', '1'\]"):
        read_labelled_file(path, text_column="document", label_column="label", label_map={"0": 0, "1": 1}, strict=True)


def test_non_utf8_file_is_a_clear_error(tmp_path):
    path = write_lines(
        tmp_path / "cp949.tsv", ["id\tdocument\tlabel"] + [f"{i}\t좋은 영화\t1" for i in range(5)], encoding="cp949"
    )
    with pytest.raises(DataFormatError, match=r"cp949.tsv, line 2: not valid UTF-8"):
        read_labelled_file(path, text_column="document", label_column="label", label_map={"0": 0, "1": 1})


def test_missing_file_says_where_to_put_it_without_downloading(tmp_path):
    with pytest.raises(
        FileNotFoundError, match=r"nsmc/ratings_train.txt is missing: put ratings_train.txt in .*nsmc/.*e9t/nsmc"
    ):
        load_dataset("nsmc", data_dir=tmp_path, download=False)


def test_unknown_dataset_and_bad_config():
    with pytest.raises(ValueError, match=r"unknown dataset 'imdb'"):
        load_dataset("imdb")
    with pytest.raises(ValueError, match=r"DataConfig.valid_size must be in \(0, 1\)"):
        DataConfig(name="nsmc", valid_size=1.5)


def test_fingerprint_changes_with_a_label(small_nsmc):
    dataset = load_dataset("nsmc", data_dir=small_nsmc, download=False)
    same = load_dataset("nsmc", data_dir=small_nsmc, download=False)
    assert dataset.fingerprint == same.fingerprint
    same.table.loc[3, "label"] = 1 - same.table.loc[3, "label"]
    del same.__dict__["fingerprint"]  # cached_property: recompute after the edit
    assert dataset.fingerprint != same.fingerprint


def test_read_texts_header_and_plain(tmp_path):
    # unlabeled.txt's shape: id<TAB>document, a header line
    path = write_lines(tmp_path / "unlabeled.txt", ["id\tdocument", *(f'{i}\t리뷰 "{i}" 입니다' for i in range(10))])
    assert read_texts(path)["text"].tolist()[:2] == ['리뷰 "0" 입니다', '리뷰 "1" 입니다']
    assert len(read_texts(path)) == 10
    plain = write_lines(tmp_path / "plain.txt", ["first text", "", "second text"])
    assert read_texts(plain)["text"].tolist() == ["first text", "second text"]


def test_transfer_set_is_unlabelled_and_indexed(tmp_path, small_nsmc):
    dataset = load_dataset("nsmc", data_dir=small_nsmc, download=False)
    from distil_bilstm.data.datasets import load_transfer_set

    path = write_lines(tmp_path / "aug.txt", ["id\tdocument", "1\t첫 문장", "2\t둘째 문장"])
    transfer = load_transfer_set(path, dataset=dataset)
    assert transfer.name == "nsmc.transfer.aug"
    assert transfer.table[["idx", "text", "label"]].values.tolist() == [[0, "첫 문장", -1], [1, "둘째 문장", -1]]
    assert transfer.label_names == dataset.label_names


# ---- inputs that cannot crash it: each gets one message naming the file and what is wrong


@pytest.mark.parametrize("suffix", [".csv", ".tsv"])
def test_zero_byte_file_is_named(tmp_path, suffix):
    path = tmp_path / f"empty{suffix}"
    path.write_bytes(b"")
    with pytest.raises(DataFormatError, match=f"{path}: empty file .*header row"):
        load_dataset(str(path))


@pytest.mark.parametrize("header", ["text,label", "text\tlabel"])
def test_header_only_file_is_named(tmp_path, header):
    path = tmp_path / ("header.csv" if "," in header else "header.tsv")
    path.write_text(header + "\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match=f"{path}: no data rows"):
        load_dataset(str(path))


def test_header_only_registry_file_is_named(tmp_path):
    write_lines(tmp_path / "sst2" / "train.tsv", ["sentence\tlabel"])
    write_lines(tmp_path / "sst2" / "dev.tsv", ["sentence\tlabel", "fine\t1"])
    with pytest.raises(DataFormatError, match=r"train.tsv: no data rows \(only the header"):
        load_dataset("sst2", data_dir=tmp_path, download=False)


def _toy(tmp_path, header="review,rating", stray=("7", "positive")):
    rows = [header] + [f"review number {i},{i % 2}" for i in range(40)] + [f"odd one {s},{s}" for s in stray]
    return write_lines(tmp_path / "toy.csv", rows)


def test_common_column_names_are_found_without_flags(tmp_path):
    dataset = load_dataset(str(_toy(tmp_path, stray=())))
    assert dataset.label_names == ["0", "1"] and len(dataset) == 40
    other = write_lines(tmp_path / "other.tsv", ["Sentence\tSentiment", "good\t1", "bad\t0", "fine\t1", "poor\t0"])
    assert load_dataset(str(other)).table["text"].tolist()[:2] == ["good", "bad"]
    unnamed = write_lines(tmp_path / "unnamed.csv", ["body,score", "good,1", "bad,0"])
    with pytest.raises(DataFormatError, match=r"no text column among \['body', 'score'\].*--text-column"):
        load_dataset(str(unnamed))


def test_declared_labels_drop_and_count_strays(tmp_path):
    path = _toy(tmp_path)
    dataset = load_dataset(DataConfig(name=str(path), label_names=["0", "1"]))
    assert dataset.label_names == ["0", "1"] and len(dataset) == 40
    assert dataset.dropped == {"unknown label": 2}
    with pytest.raises(
        DataFormatError, match=r"toy.csv, line 42: label '7' in column 'rating' is not one of \['0', '1'\]"
    ):
        load_dataset(DataConfig(name=str(path), label_names=["0", "1"], strict=True))


def test_rare_label_gets_a_warning_naming_it_and_its_line(tmp_path, caplog):
    rows = ["text,label"] + [f"review {i},{i % 2}" for i in range(2000)] + ["typo row,7"]
    path = write_lines(tmp_path / "big.csv", rows)
    with caplog.at_level("WARNING"):
        dataset = load_dataset(str(path))
    assert dataset.num_labels == 3  # undeclared: kept, but the user is told
    assert "label '7' appears on 1 of 2001 rows (first at line 2002)" in caplog.text and "--labels" in caplog.text


def test_a_label_on_one_row_of_a_small_file_is_flagged_too(tmp_path, caplog):
    with caplog.at_level("WARNING"):
        dataset = load_dataset(str(_toy(tmp_path)))  # 20 × "0", 20 × "1", one "7", one "positive"
    assert dataset.label_names == ["0", "1", "7", "positive"]
    assert "label '7' appears on 1 of 42 rows (first at line 42)" in caplog.text
    assert "label 'positive' appears on 1 of 42 rows (first at line 43)" in caplog.text
    assert "label '0'" not in caplog.text


def test_cli_reports_a_bad_file_in_one_line(tmp_path, caplog):
    from distil_bilstm.cli import main

    path = tmp_path / "empty.tsv"
    path.write_bytes(b"")
    assert main(["baseline", "--dataset", str(path), "--run-root", str(tmp_path / "runs")]) == 1
    assert f"{path}: empty file" in caplog.text and "Traceback" not in caplog.text
    toy = _toy(tmp_path)
    assert (
        main(["baseline", "--dataset", str(toy), "--labels", "0,1", "--strict", "--run-root", str(tmp_path / "runs")])
        == 1
    )
    assert "line 42: label '7'" in caplog.text


def test_builtin_sample_needs_no_data_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DISTIL_BILSTM_DATA", raising=False)
    dataset = load_dataset("nsmc_sample", data_dir=tmp_path / "nowhere")
    counts = dataset.table["split"].value_counts().to_dict()
    assert counts == {"train": 4750, "valid": 250, "test": 1000}
    assert dataset.label_names == ["negative", "positive"]
