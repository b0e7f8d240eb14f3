from __future__ import annotations

import json

import numpy as np
import pytest

from distil_bilstm.data.datasets import fingerprint_rows, load_dataset, load_transfer_set
from distil_bilstm.data.files import DataFormatError
from distil_bilstm.data.pairs import Pair, correlation_scores, make_pair, read_as, split_pair, text_key
from distil_bilstm.data.vocab import (
    SPECIAL_TOKENS,
    VocabConfig,
    encode_texts,
    load_vocab,
    save_vocab,
    train_wordpiece,
)
from tests.conftest import write_lines


def test_korsts_loads_pairs_with_scores_and_its_dev_file_as_valid(small_korsts):
    dataset = load_dataset("korsts", data_dir=small_korsts, download=False)
    assert (
        dataset.task == "regression" and dataset.pairs and dataset.label_names == ["score"] and dataset.num_labels == 1
    )
    assert dataset.table["label"].dtype == np.float64
    assert dataset.table["split"].value_counts().to_dict() == {"train": 160, "valid": 40, "test": 40}
    first, second = split_pair(dataset.table["text"].iloc[0])
    assert first.endswith(".") and second.endswith(".") and "\t" not in first + second
    assert dataset.table["label"].between(0, 5).all()


def test_a_pair_file_with_a_bad_score_or_an_empty_side_names_file_and_line(tmp_path):
    good = [f"a b {i}\tc d {i}\t{i % 5}.5" for i in range(30)]
    path = write_lines(
        tmp_path / "pairs.tsv", ["sentence1\tsentence2\tscore", good[0], "e f\tg h\tmuch", "i j\t\t1", *good[1:]]
    )
    dataset = load_dataset(str(path))  # the header's names make it a regression over pairs
    assert dataset.task == "regression" and dataset.pairs and len(dataset) == 30
    assert dataset.dropped == {"bad score": 1, "empty text": 1}
    with pytest.raises(DataFormatError, match=r"pairs.tsv, line 3: score 'much' in column 'score' is not a number"):
        load_dataset(str(path), strict=True)


def test_a_jsonl_pair_file_names_its_columns_and_reads_a_tab_inside_a_side_as_whitespace(tmp_path):
    rows = [
        {"q": "환불 되나요", "a": "환불 가능한가요", "same": "1"},
        {"q": "배송은\t언제", "a": "주문 취소", "same": "0"},
    ]
    rows += [{"q": f"배송 언제 와요 {i}", "a": f"주문 취소 {i}", "same": str(i % 2)} for i in range(30)]
    path = write_lines(tmp_path / "faq.jsonl", [json.dumps(r, ensure_ascii=False) for r in rows])
    dataset = load_dataset(str(path), text_column="q", text_b_column="a", label_column="same")
    assert dataset.task == "classification" and dataset.pairs and dataset.label_names == ["0", "1"]
    assert dataset.dropped == {} and split_pair(dataset.table["text"].iloc[1]) == ("배송은 언제", "주문 취소")
    with pytest.raises(DataFormatError, match=r"no column 'b' \(--text-b-column\)"):
        load_dataset(str(path), text_column="q", text_b_column="b", label_column="same")


def test_join_pair_carries_a_pair_losslessly_and_refuses_what_is_no_text(tiny_teacher_dir, tmp_path):
    """A tab inside a side becomes a space, which changes no token of the teacher's tokenizer or of a
    student vocabulary: the joined text is the pair, whatever its sides hold."""
    from transformers import AutoTokenizer

    assert split_pair(make_pair(" a ", "b")) == ("a", "b") and split_pair(make_pair("a", "b\tc")) == ("a", "b c")
    teacher = AutoTokenizer.from_pretrained(tiny_teacher_dir)
    config = VocabConfig(vocab_size=60)
    student = load_vocab(
        save_vocab(train_wordpiece(["배송은 언제 와요", "주문 취소 가능"] * 20, config), tmp_path / "v", config)
    )
    for text in ["배송은\t언제 와요", "a\tb \t c", "\t주문\t"]:
        for tokenizer in (teacher, student):
            assert tokenizer(text)["input_ids"] == tokenizer(text.replace("\t", " "))["input_ids"]
    with pytest.raises(ValueError, match="first text is a int"):
        make_pair(3, "b")


def test_a_pair_dataset_carries_both_texts_as_fields_and_keeps_the_fingerprints_of_the_joined_form(small_korsts):
    """Examples of a pair dataset are Pairs, not strings: code written for one text fails on one
    (no str method, no iteration) instead of reading a joined string. Stores made when pairs were
    carried as ``a<TAB>b`` keep their fingerprint."""
    dataset = load_dataset("korsts", data_dir=small_korsts, download=False)
    texts = dataset.table["text"].tolist()
    assert all(isinstance(t, Pair) for t in texts)
    joined = [f"{t.first}\t{t.second}" for t in texts]
    assert dataset.fingerprint == fingerprint_rows(dataset.table["idx"], joined, dataset.table["label"])
    assert [text_key(t) for t in texts] == joined
    with pytest.raises(AttributeError):
        texts[0].split()
    with pytest.raises(TypeError):
        iter(texts[0])


def test_a_tab_never_makes_a_pair_and_a_file_of_the_other_kind_is_refused(small_korsts, tmp_path):
    assert read_as("a\tb", pairs=False, where="x") == "a b"
    assert read_as("a\tb", pairs=True, where="x") == Pair("a", "b")
    with pytest.raises(ValueError, match="line 3 .*sentence pairs are expected"):
        read_as("no second text", pairs=True, where="line 3")
    with pytest.raises(ValueError, match="line 4: a sentence pair, but single texts are expected"):
        read_as(Pair("a", "b"), pairs=False, where="line 4")
    korsts = load_dataset("korsts", data_dir=small_korsts, download=False)
    plain = write_lines(tmp_path / "plain.txt", ["첫 문장\t둘째 문장", "하나뿐인 문장"])
    with pytest.raises(DataFormatError, match=r"plain.txt, text 2 .*sentence pairs are expected"):
        load_transfer_set(plain, dataset=korsts)
    single = load_dataset(
        str(write_lines(tmp_path / "one.tsv", ["text\tlabel", *[f"좋아요 {i}\t{i % 2}" for i in range(30)]]))
    )
    assert not single.pairs and load_transfer_set(plain, dataset=single).table["text"].tolist() == [
        "첫 문장 둘째 문장",  # a tab in a single text is whitespace
        "하나뿐인 문장",
    ]
    pair_file = write_lines(tmp_path / "pairs.tsv", ["sentence1\tsentence2", "a b\tc d"])
    with pytest.raises(DataFormatError, match=r"pairs.tsv, text 1: a sentence pair, but single texts are expected"):
        load_transfer_set(pair_file, dataset=single)


def test_a_transfer_pair_equal_to_a_held_out_pair_is_dropped_both_sides_compared(small_korsts, tmp_path):
    dataset = load_dataset("korsts", data_dir=small_korsts, download=False)
    held_out = split_pair(dataset.split("test")["text"].iloc[0])
    path = write_lines(
        tmp_path / "aug.tsv", ["sentence1\tsentence2", "\t".join(held_out), "\t".join(held_out[::-1]), "x y\tz w"]
    )
    transfer = load_transfer_set(path, dataset=dataset)
    assert transfer.dropped == {"leaked": 1}  # the swapped pair is another pair
    assert len(transfer) == 2 and transfer.pairs and np.isnan(transfer.table["label"]).all()


def test_student_encoding_of_a_pair_is_a_sep_b_each_side_cut_on_its_own(tmp_path):
    config = VocabConfig(vocab_size=60, min_frequency=1, limit_alphabet=60)
    save_vocab(train_wordpiece(["a b c d e", "f g h"], config), tmp_path / "v", config)
    tokenizer = load_vocab(tmp_path / "v")
    encoded = encode_texts(tokenizer, [make_pair("a b c d e", "f g")], max_length=3)
    ids, lengths = encoded.batch(np.array([0]))
    sep = SPECIAL_TOKENS.index("[SEP]")
    assert ids[0].tolist()[3] == sep and int(lengths[0]) == 6  # 3 + [SEP] + 2


def test_correlation_scores_match_hand_computed_values():
    gold = np.array([1.0, 2.0, 3.0, 4.0])
    scores = correlation_scores(gold, np.array([1.0, 3.0, 2.0, 4.0]))
    assert scores["spearman"] == pytest.approx(0.8)  # 1 - 6 * 2 / (4 * 15)
    assert scores["mse"] == pytest.approx(0.5)
    assert np.isnan(correlation_scores(gold, np.ones(4))["spearman"])  # constant predictions: undefined, not 0


def test_augmenting_pairs_changes_each_side_and_writes_two_text_columns(small_korsts, tmp_path):
    from distil_bilstm.data.augment import AugmentConfig, augment_dataset
    from distil_bilstm.data.files import iter_texts

    dataset = load_dataset("korsts", data_dir=small_korsts, download=False)
    out = tmp_path / "aug.tsv"
    meta = augment_dataset(
        dataset, out=out, config=AugmentConfig(n_iter=4, pos=False, p_mask=0.3, seed=1), progress=False
    )
    assert meta["pairs"] and meta["sources"] == 160 and meta["rows"] > 160
    assert out.read_text(encoding="utf-8").splitlines()[0] == "sentence1\tsentence2\tsource_idx"
    samples = list(iter_texts(out))
    originals = set(dataset.split("train")["text"])
    assert len(samples) == meta["rows"] and not originals & set(samples)
    assert all(len(split_pair(s)) == 2 and all(split_pair(s)) for s in samples)
    firsts_changed = sum(split_pair(s)[0] not in {split_pair(o)[0] for o in originals} for s in samples)
    seconds_changed = sum(split_pair(s)[1] not in {split_pair(o)[1] for o in originals} for s in samples)
    assert firsts_changed and seconds_changed  # both sides are augmented
