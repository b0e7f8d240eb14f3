"""training/entities.py: entity F1 by conlleval's rules, against hand-computed values and seqeval."""

from __future__ import annotations

import random

import pytest

from distil_bilstm.training.entities import entity_scores, entity_spans


def test_spans_follow_conlleval():
    assert entity_spans(["B-PER", "I-PER", "O", "B-LOC"]) == [("PER", 0, 2), ("LOC", 3, 4)]
    # an I- after O or after another type opens an entity; B- after I- of the same type opens a new one
    assert entity_spans(["I-ORG", "I-ORG", "I-LOC", "B-LOC", "I-LOC"]) == [("ORG", 0, 2), ("LOC", 2, 3), ("LOC", 3, 5)]
    assert entity_spans([]) == [] and entity_spans(["O", "O"]) == []


def test_scores_by_hand():
    gold = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "O"]]
    pred = [["B-PER", "I-PER", "O", "O"], ["B-ORG", "B-LOC"]]
    # gold: PER(0,2) LOC(3,4) ORG(0,1) = 3; predicted: PER(0,2) ORG(0,1) LOC(1,2) = 3; hits: PER, ORG = 2
    scores = entity_scores(gold, pred)
    assert scores["precision"] == pytest.approx(2 / 3) and scores["recall"] == pytest.approx(2 / 3)
    assert scores["f1"] == pytest.approx(2 / 3)
    assert scores["per_type"]["LOC"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    assert scores["per_type"]["PER"]["f1"] == 1.0
    assert scores["token_accuracy"] == pytest.approx(4 / 6)  # 6 tokens, 2 wrong
    with pytest.raises(ValueError, match="sentence 0: 1 gold tags but 2 predicted"):
        entity_scores([["O"]], [["O", "O"]])


def test_agrees_with_seqeval_on_random_sequences():
    seqeval = pytest.importorskip("seqeval.metrics", reason="seqeval (the dev extras) cross-checks the scores")
    rng = random.Random(0)
    tags = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "I-ORG"]
    gold = [[rng.choice(tags) for _ in range(rng.randint(1, 12))] for _ in range(300)]
    pred = [[t if rng.random() < 0.7 else rng.choice(tags) for t in g] for g in gold]
    ours = entity_scores(gold, pred)
    assert ours["precision"] == pytest.approx(seqeval.precision_score(gold, pred))
    assert ours["recall"] == pytest.approx(seqeval.recall_score(gold, pred))
    assert ours["f1"] == pytest.approx(seqeval.f1_score(gold, pred))
