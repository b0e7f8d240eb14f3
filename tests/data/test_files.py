"""distil_bilstm.data.files: JSON Lines and Parquet datasets read like CSV/TSV ones."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from distil_bilstm.data.datasets import load_dataset
from distil_bilstm.data.files import DataFormatError, iter_texts

from ..conftest import write_lines

ROWS = [{"review": "정말 재미있게 봤어요", "stars": "pos"}, {"review": "시간 낭비였다", "stars": "neg"}] * 10


def write_jsonl(path, records) -> str:
    write_lines(path, [json.dumps(r, ensure_ascii=False) for r in records])
    return str(path)


def test_a_json_lines_dataset_loads_with_its_columns_found_by_name(tmp_path):
    records = [{"id": i, "text": r["review"], "label": int(r["stars"] == "pos")} for i, r in enumerate(ROWS)]
    dataset = load_dataset(write_jsonl(tmp_path / "reviews.jsonl", records))
    assert dataset.label_names == ["0", "1"] and len(dataset) == 20
    assert dataset.table.sort_values("idx")["text"].tolist() == [r["text"] for r in records]


def test_a_parquet_dataset_loads_like_a_csv(tmp_path):
    pytest.importorskip("pyarrow", reason="reading Parquet needs pyarrow (pip install pyarrow)")
    path = tmp_path / "reviews.parquet"
    pd.DataFrame(ROWS).to_parquet(path)
    dataset = load_dataset(str(path), text_column="review", label_column="stars")
    assert dataset.label_names == ["neg", "pos"] and len(dataset) == 20
    assert set(dataset.table["text"]) == {"정말 재미있게 봤어요", "시간 낭비였다"}


def test_broken_json_names_file_and_line(tmp_path):
    path = tmp_path / "broken.jsonl"
    write_lines(path, [json.dumps({"text": "좋다", "label": 1}), '{"text": "나쁘다", "label": 0', ""])
    with pytest.raises(DataFormatError, match=r"broken.jsonl, line 2: not valid JSON"):
        load_dataset(str(path))
    write_lines(path, [json.dumps({"text": "좋다", "label": 1}), json.dumps(["나쁘다", 0])])
    with pytest.raises(DataFormatError, match=r"broken.jsonl, line 2: expected a JSON object per line, got list"):
        load_dataset(str(path))


def test_a_record_without_its_text_is_dropped_and_counted_or_refused_when_strict(tmp_path):
    records = [{"text": r["review"], "label": r["stars"]} for r in ROWS] + [{"label": "pos"}]
    path = write_jsonl(tmp_path / "gaps.jsonl", records)
    assert load_dataset(path).dropped == {"empty text": 1}
    with pytest.raises(DataFormatError, match=r"gaps.jsonl, line 21: empty text"):
        load_dataset(path, strict=True)


def test_a_file_that_is_not_parquet_is_named(tmp_path):
    pytest.importorskip("pyarrow", reason="reading Parquet needs pyarrow (pip install pyarrow)")
    path = tmp_path / "fake.parquet"
    path.write_text("text,label\n좋다,1\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"fake.parquet: not a readable Parquet file"):
        load_dataset(str(path))


def test_transfer_texts_from_json_lines_need_a_text_column(tmp_path):
    path = write_jsonl(tmp_path / "unlabelled.jsonl", [{"document": r["review"]} for r in ROWS[:3]])
    assert list(iter_texts(path)) == [r["review"] for r in ROWS[:3]]
    other = write_jsonl(tmp_path / "other.jsonl", [{"body": "좋다"}])
    with pytest.raises(DataFormatError, match=r"other.jsonl: missing column .*found \['body'\]"):
        list(iter_texts(other))


def test_unlabelled_and_labelled_files_find_their_text_column_alike(tmp_path):
    # One list of column names, matched in any case, for a transfer set and a dataset: a header
    # "Review" (a spreadsheet's capital) is found by both.
    path = write_lines(
        tmp_path / "reviews.tsv",
        ["id\tReview\tlabel"] + [f"{i}\t{r['review']}\t{r['stars']}" for i, r in enumerate(ROWS)],
    )
    assert list(iter_texts(path))[:2] == [ROWS[0]["review"], ROWS[1]["review"]]
    dataset = load_dataset(str(path))
    assert set(dataset.table["text"]) == {r["review"] for r in ROWS} and len(dataset) == 20


def test_bytes_that_are_not_utf8_are_reported_on_their_own_line(tmp_path):
    lines = ["text\tlabel"] + [f"good film {i}\t{i % 2}" for i in range(20)]
    path = tmp_path / "latin1.tsv"
    data = ("\n".join(lines) + "\n").encode("utf-8").replace(b"good film 10", "café film".encode("latin-1"))
    path.write_bytes(data)  # the 12th line (row 11) holds a latin-1 é; a decoder reads in blocks
    with pytest.raises(DataFormatError, match=r"latin1.tsv, line 12: not valid UTF-8 .*byte 4 of the line"):
        load_dataset(str(path))


def test_a_huge_header_is_not_echoed_whole(tmp_path):
    path = write_lines(tmp_path / "wide.tsv", ["\t".join(f"column{i}" for i in range(100_000)), "a\tb"])
    with pytest.raises(DataFormatError) as err:
        load_dataset(str(path))
    assert "column0" in str(err.value) and len(str(err.value)) < 1000 and "characters)" in str(err.value)


def test_a_single_class_file_is_refused_naming_it(tmp_path):
    path = write_lines(tmp_path / "one.tsv", ["text\tlabel"] + [f"good film {i}\tpos" for i in range(20)])
    with pytest.raises(DataFormatError, match=r"one.tsv: column 'label' holds one label only \('pos' on 20 rows\)"):
        load_dataset(str(path))


@pytest.mark.parametrize(
    "column, values, message",
    [
        ("review", [r["review"].encode("utf-8") for r in ROWS], None),  # UTF-8 bytes are text
        ("review", [b"\xff\xfe bad"] * 20, r"row 1, column 'review': bytes that are not UTF-8 text"),
        ("stars", [[1, 2]] * 20, r"row 1, column 'stars': a ndarray .* not one text or label"),
    ],
)
def test_parquet_values_that_are_not_one_text_or_label(tmp_path, column, values, message):
    pytest.importorskip("pyarrow", reason="reading Parquet needs pyarrow (pip install pyarrow)")
    frame = pd.DataFrame(ROWS)
    frame[column] = values
    path = tmp_path / "reviews.parquet"
    frame.to_parquet(path)
    if message is None:
        dataset = load_dataset(str(path), text_column="review", label_column="stars")
        assert set(dataset.table["text"]) == {"정말 재미있게 봤어요", "시간 낭비였다"}  # not "b'\\xec…'"
    else:
        with pytest.raises(DataFormatError, match=message):
            load_dataset(str(path), text_column="review", label_column="stars")


def test_whole_float_labels_of_parquet_read_as_a_csv_writes_them(tmp_path):
    pytest.importorskip("pyarrow", reason="reading Parquet needs pyarrow (pip install pyarrow)")
    frame = pd.DataFrame({"review": [r["review"] for r in ROWS], "label": [float(r["stars"] == "pos") for r in ROWS]})
    frame.to_parquet(tmp_path / "f.parquet")
    assert load_dataset(str(tmp_path / "f.parquet")).label_names == ["0", "1"]
