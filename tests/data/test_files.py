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
    path = write_lines(tmp_path / "reviews.tsv", ["id\tReview\tlabel"] + [f"{i}\t{r['review']}\t{r['stars']}" for i, r in enumerate(ROWS)])
    assert list(iter_texts(path))[:2] == [ROWS[0]["review"], ROWS[1]["review"]]
    dataset = load_dataset(str(path))
    assert set(dataset.table["text"]) == {r["review"] for r in ROWS} and len(dataset) == 20
