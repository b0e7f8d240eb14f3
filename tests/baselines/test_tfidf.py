from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from distil_bilstm.baselines.ngrams import TfidfBlock, char_wb_ngrams, word_ngrams
from distil_bilstm.baselines.tfidf import BaselineConfig, train_baseline
from distil_bilstm.cli import main
from distil_bilstm.serving.inference import Predictor

from ..conftest import write_reviews

TEXTS = [
    "정말  재미있는 영화!! 최고",
    "a  Moving, FUNNY film",
    "",
    "x",
    "돈이 아까운 영화 boring and dull ㅋㅋ",
    "tab\tand\nnewline separated words",
]


@pytest.mark.parametrize(
    "analyzer,n_range", [("word", (1, 2)), ("word", (2, 3)), ("char_wb", (1, 4)), ("char_wb", (2, 5))]
)
def test_analyzers_match_scikit_learn(analyzer, n_range):
    from sklearn.feature_extraction.text import TfidfVectorizer

    sk = TfidfVectorizer(analyzer=analyzer, ngram_range=n_range).build_analyzer()
    ours = word_ngrams if analyzer == "word" else char_wb_ngrams
    for text in TEXTS:
        assert ours(text, n_range) == sk(text), text


def test_tfidf_block_matches_scikit_learn_features():
    from sklearn.feature_extraction.text import TfidfVectorizer

    vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 3), sublinear_tf=True).fit(TEXTS * 2)
    terms = sorted(vectorizer.vocabulary_, key=vectorizer.vocabulary_.get)
    block = TfidfBlock("char_wb", (1, 3), terms, vectorizer.idf_)
    expected = vectorizer.transform(TEXTS + ["unseen ngrams only: qqq"]).toarray()
    for row, (idx, weights) in zip(expected, block.transform(TEXTS + ["unseen ngrams only: qqq"])):
        dense = np.zeros(len(terms))
        dense[idx] = weights
        np.testing.assert_allclose(dense, row, atol=1e-12)


@pytest.mark.parametrize("name", ["sst2", "korean_hate_speech"])  # two classes, and three (a multinomial model)
def test_baseline_run_round_trips_without_pickle(tmp_path, name):
    from scipy.sparse import hstack

    from distil_bilstm.baselines.tfidf import _vectorizers
    from distil_bilstm.data.datasets import load_dataset

    from ..runs.test_multiclass import write_hate_speech

    data_dir = write_reviews(tmp_path / "data") if name == "sst2" else write_hate_speech(tmp_path / "data")
    config = BaselineConfig(dataset=name, data_dir=str(data_dir), c_values=[0.5, 4.0], run_root=str(tmp_path / "runs"))
    dataset = load_dataset(name, data_dir=data_dir, download=False)
    metrics = train_baseline(config, dataset=dataset)
    run = tmp_path / "runs" / name / metrics["run_dir"].split("/")[-1]
    assert {p.name for p in run.iterdir()} == {
        "config.json",
        "student.json",
        "model.safetensors",
        "vocab",
        "metrics.json",
    }
    assert {p.suffix for p in run.rglob("*") if p.is_file()} == {".json", ".safetensors"}  # data only, nothing pickled
    assert json.loads((run / "student.json").read_text())["architecture"] == "tfidf-lr"
    assert metrics["C"] in (0.5, 4.0) and [h["C"] for h in metrics["history"]] == [0.5, 4.0]
    rows = 1 if dataset.num_labels == 2 else dataset.num_labels  # a binary model has one weight row
    assert metrics["params"] == rows * (metrics["features"] + 1) and metrics["examples_per_second"] > 0

    # the same probabilities as scikit-learn's model refitted with the chosen C
    from sklearn.linear_model import LogisticRegression

    train = dataset.split("train")
    vectorizers = _vectorizers(config)
    x = hstack([v.fit_transform(train["text"]) for _, v in vectorizers]).tocsr()
    model = LogisticRegression(C=metrics["C"], max_iter=config.max_iter).fit(x, train["label"])
    texts = dataset.split("test")["text"].tolist()[:20] + TEXTS
    expected = model.predict_proba(hstack([v.transform(texts) for _, v in vectorizers]).tocsr())
    predictor = Predictor.load(run)
    ours = np.array([[p.probabilities[n] for n in predictor.label_names] for p in predictor.predict(texts)])
    np.testing.assert_allclose(ours, expected, atol=1e-6)
    assert metrics["test_accuracy"] == pytest.approx(
        float(
            (
                predictor.logits(dataset.split("test")["text"].tolist()).argmax(1) == dataset.split("test")["label"]
            ).mean()
        )
    )


def test_baseline_cli_compare_and_evaluate(tmp_path, capsys, caplog):
    data_dir = write_reviews(tmp_path / "data")
    assert (
        main(
            [
                "baseline",
                "--dataset",
                "sst2",
                "--data-dir",
                str(data_dir),
                "--no-download",
                "--c",
                "1",
                "--run-root",
                str(tmp_path / "runs"),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    run_dir = out.strip().splitlines()[-1].split("baseline saved to ")[1].split(";")[0]
    assert main(["evaluate", "--model", run_dir, "--dataset", "sst2", "--data-dir", str(data_dir), "--json"]) == 0
    assert 0 <= json.loads(capsys.readouterr().out)["accuracy"] <= 1
    assert main(["compare", str(tmp_path / "runs"), "--out", str(tmp_path / "results")]) == 0
    assert main(["export", "--model", run_dir, "--out", str(tmp_path / "x")]) == 1  # a clear refusal, no traceback
    assert "is a tfidf-lr run, which export does not take" in caplog.text
    table = pd.read_csv(tmp_path / "results" / "results.csv")
    assert list(table["kind"]) == ["baseline"] and table.iloc[0]["model"] == "Baseline: TF-IDF + LR (C=1)"


def test_config_validation():
    with pytest.raises(ValueError, match="BaselineConfig.c_values must be positive"):
        BaselineConfig(c_values=[0])
    with pytest.raises(ValueError, match=r"BaselineConfig.word_ngrams must be \[low, high\]"):
        BaselineConfig(word_ngrams=[2, 1])
    with pytest.raises(ValueError, match="BaselineConfig.kind must be one of"):
        BaselineConfig(kind="fasttext")


def test_texts_without_word_ngrams_name_the_dataset(tmp_path):
    path = tmp_path / "digits.tsv"
    path.write_text("text\tlabel\n" + "".join(f"{i % 10}\t{i % 2}\n" for i in range(60)), encoding="utf-8")
    config = BaselineConfig(dataset=str(path), run_root=str(tmp_path / "runs"))
    with pytest.raises(
        ValueError,
        match=r"digits.tsv: the TF-IDF baseline cannot be fitted on its \d+ training texts "
        r"\(empty vocabulary.*they begin \['",
    ):
        train_baseline(config)


def test_a_pair_classification_baseline_reads_both_sides_and_is_used_with_pairs(tmp_path):
    """A pair is one bag of both sides' n-grams to the TF-IDF model, in training and at inference,
    and the run says it reads pairs (a single text is refused, as by a pair student)."""
    from distil_bilstm.data.datasets import load_dataset
    from distil_bilstm.data.pairs import make_pair

    # the label is decided by the second side alone: a model that read one side could not learn it
    rows = [{"q": f"질문 {i}", "a": "환불 가능해요" if i % 2 else "배송 늦어요", "same": str(i % 2)} for i in range(60)]
    path = tmp_path / "faq.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    dataset = load_dataset(str(path), text_column="q", text_b_column="a", label_column="same")
    config = BaselineConfig(dataset=str(path), c_values=[4.0], run_root=str(tmp_path / "runs"))
    metrics = train_baseline(config, dataset=dataset)
    assert metrics["test_accuracy"] == 1.0
    predictor = Predictor.load(metrics["run_dir"], device="cpu")
    assert predictor.reads_pairs
    assert [p.label for p in predictor.predict_pairs([("질문 3", "환불 가능해요"), ("질문 3", "배송 늦어요")])] == [
        "1",
        "0",
    ]
    bag = TfidfBlock("word", (1, 1), ["질문", "환불", "배송"], np.ones(3)).transform(
        [make_pair("질문 3", "배송 늦어요")]
    )
    assert bag[0][0].tolist() == [0, 2]  # words of both sides
    with pytest.raises(ValueError, match="reads sentence pairs"):
        predictor.predict(["질문 3"])
