"""data/tagging.py: CoNLL, KLUE and JSON Lines readers, IOB1 → BIO, tag repair, the tagged dataset."""

from __future__ import annotations

import json

import pytest

from distil_bilstm.data.files import DataFormatError
from distil_bilstm.data.tagging import ReadReport, load_tagged_dataset, read_tagged, tag_names, to_bio

from ..conftest import write_lines

CONLL = [
    "-DOCSTART- -X- O O",
    "",
    "EU NNP I-NP I-ORG",
    "rejects VBZ I-VP O",
    "German JJ I-NP I-MISC",
    "",
    "Peter NNP I-NP I-PER",
    "Blackburn NNP I-NP I-PER",
    "Smith NNP I-NP B-PER",
    "",
]


def test_iob1_becomes_bio_and_bio_is_repaired_or_refused():
    assert to_bio(["I-PER", "I-PER", "B-PER", "O", "I-LOC"], scheme="iob1") == ["B-PER", "I-PER", "B-PER", "O", "B-LOC"]
    report = ReadReport()
    assert to_bio(["O", "I-LOC", "I-LOC", "I-PER"], scheme="bio", report=report) == ["O", "B-LOC", "I-LOC", "B-PER"]
    assert report.counts["repaired I- tag"] == 2
    with pytest.raises(DataFormatError, match=r"x.tsv, line 3: token 2 is tagged I-LOC but follows O"):
        to_bio(["O", "I-LOC"], scheme="bio", strict=True, where="x.tsv, line 3")


def test_conll_columns(tmp_path):
    path = write_lines(tmp_path / "train.txt", CONLL)
    sentences = read_tagged(path, fmt="conll", scheme="iob1")
    assert [s.tokens for s in sentences] == [("EU", "rejects", "German"), ("Peter", "Blackburn", "Smith")]
    assert [s.tags for s in sentences] == [("B-ORG", "O", "B-MISC"), ("B-PER", "I-PER", "B-PER")]
    assert [s.line for s in sentences] == [3, 7]
    assert tag_names(sentences) == ["O", "B-MISC", "I-MISC", "B-ORG", "I-ORG", "B-PER", "I-PER"]


@pytest.mark.parametrize(
    "bad_line, message",
    [
        ("rejects VBZ O", r"train.txt, line 4: 3 columns, but the file's lines have 4"),
        ("rejects VBZ I-VP PERSON", r"train.txt, line 4: tag 'PERSON' is not O, B-TYPE or I-TYPE"),
    ],
)
def test_conll_errors_name_file_and_line(tmp_path, bad_line, message):
    lines = list(CONLL)
    lines[3] = bad_line
    with pytest.raises(DataFormatError, match=message):
        read_tagged(write_lines(tmp_path / "train.txt", lines), fmt="conll", scheme="iob1")


def test_klue_characters_spaces_included(tmp_path):
    lines = [
        "## 토큰, 레이블 구분자 : \\t",
        "## s1\t<제니:PS> 옴",
        "제\tB-PS",
        "니\tI-PS",
        " \tO",
        "옴\tO",
        "",
        "## s2\t가",
        "가\tI-LC",
        "",
    ]
    report = ReadReport()
    sentences = read_tagged(write_lines(tmp_path / "k.tsv", lines), fmt="klue", report=report)
    assert [("".join(s.tokens), s.tags) for s in sentences] == [
        ("제니 옴", ("B-PS", "I-PS", "O", "O")),
        ("가", ("B-LC",)),
    ]
    assert report.counts["repaired I- tag"] == 1
    with pytest.raises(DataFormatError, match=r"k2.tsv, line 2: expected one character, a tab and its tag"):
        read_tagged(write_lines(tmp_path / "k2.tsv", ["## s\tab", "ab\tO"]), fmt="klue")


def test_json_lines_of_a_users_own(tmp_path):
    rows = [{"tokens": ["Kim", "went", "to", "Seoul"], "tags": ["B-PER", "O", "O", "B-LOC"]}] * 30
    path = write_lines(tmp_path / "mine.jsonl", [json.dumps(r) for r in rows])
    dataset = load_tagged_dataset(str(path))
    assert len(dataset.split("test")) == 3 and len(dataset.split("valid")) == 2 and len(dataset.split("train")) == 25
    assert dataset.tag_names == ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"]
    assert dataset.tag_ids(dataset.sentences[0]) == [3, 0, 0, 1]
    assert dataset.fingerprint == load_tagged_dataset(str(path)).fingerprint  # stable idx and content
    bad = write_lines(tmp_path / "bad.jsonl", [json.dumps({"tokens": ["a", "b"], "tags": ["O"]})])
    with pytest.raises(DataFormatError, match=r"bad.jsonl, line 1: 2 tokens but 1 tags"):
        load_tagged_dataset(str(bad))


def test_a_test_tag_the_training_split_never_has_is_refused(tmp_path):
    folder = tmp_path / "data" / "conll2003"
    write_lines(folder / "train.txt", CONLL)
    write_lines(folder / "valid.txt", CONLL)
    write_lines(folder / "test.txt", ["Paris NNP I-NP I-LOC", ""])
    with pytest.raises(
        DataFormatError, match=r"test.txt, line 1: tag\(s\) \['B-LOC'\] never appear in the training split"
    ):
        load_tagged_dataset("conll2003", data_dir=tmp_path / "data")


def test_the_shared_ner_files(shared_data):
    conll = load_tagged_dataset("conll2003", data_dir=shared_data)
    # the data README's 14,987 / 3,466 / 3,684 count the -DOCSTART- lines (946 / 216 / 231) as sentences
    assert [len(conll.split(s)) for s in ("train", "valid", "test")] == [14_041, 3_250, 3_453]
    assert conll.tag_names == ["O", "B-LOC", "I-LOC", "B-MISC", "I-MISC", "B-ORG", "I-ORG", "B-PER", "I-PER"]
    klue = load_tagged_dataset("klue_ner", data_dir=shared_data)
    assert len(klue.split("train")) + len(klue.split("valid")) == 4_000 and len(klue.split("test")) == 500
    assert {t[2:] for t in klue.tag_names if t != "O"} == {"PS", "LC", "OG", "DT", "TI", "QT"}
