"""Entity-level scores of tag sequences, by conlleval's rules (what seqeval and papers report).

An entity is a maximal run of tokens of one type: it starts at ``B-X``, or at ``I-X`` after a token
that is not of type ``X`` (conlleval starts a chunk there too), and goes on over ``I-X``. A predicted
entity counts only if a gold entity has the same type, start and end (exact span match).

    precision = |gold ∩ predicted| / |predicted|     recall = |gold ∩ predicted| / |gold|
    F1 = 2 · precision · recall / (precision + recall)       (micro-averaged over all entities)

Tjong Kim Sang & De Meulder 2003 (conlleval); Nakayama 2018 (seqeval, its default mode).
"""

from __future__ import annotations

from collections import Counter
from typing import Sequence

Span = tuple[str, int, int]  # (type, first token, last token + 1)


def entity_spans(tags: Sequence[str]) -> list[Span]:
    """The entities of one tag sequence, in order."""
    spans: list[Span] = []
    kind, start = None, 0
    for position, tag in enumerate([*tags, "O"]):  # the sentinel closes the last entity
        prefix, _, label = tag.partition("-")
        continues = prefix == "I" and label == kind
        if kind is not None and not continues:
            spans.append((kind, start, position))
            kind = None
        if prefix in ("B", "I") and not continues:
            kind, start = label, position
    return spans


def _prf(true_positives: int, predicted: int, gold: int) -> dict:
    precision = true_positives / predicted if predicted else 0.0
    recall = true_positives / gold if gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "support": gold}


def entity_scores(gold: Sequence[Sequence[str]], predicted: Sequence[Sequence[str]]) -> dict:
    """Micro precision, recall and F1 over entities, the same per type, and token accuracy, for
    sentences of gold and predicted tags (each pair of equal length)."""
    if len(gold) != len(predicted):
        raise ValueError(f"{len(gold)} gold sentences but {len(predicted)} predicted")
    hits, n_gold, n_pred = Counter(), Counter(), Counter()
    tokens = correct = 0
    for i, (g, p) in enumerate(zip(gold, predicted)):
        if len(g) != len(p):
            raise ValueError(f"sentence {i}: {len(g)} gold tags but {len(p)} predicted")
        gold_spans, pred_spans = set(entity_spans(g)), set(entity_spans(p))
        for kind, *_ in gold_spans:
            n_gold[kind] += 1
        for kind, *_ in pred_spans:
            n_pred[kind] += 1
        for kind, *_ in gold_spans & pred_spans:
            hits[kind] += 1
        tokens += len(g)
        correct += sum(a == b for a, b in zip(g, p))
    scores = _prf(sum(hits.values()), sum(n_pred.values()), sum(n_gold.values()))
    scores["per_type"] = {kind: _prf(hits[kind], n_pred[kind], n_gold[kind]) for kind in sorted(n_gold | n_pred)}
    scores["token_accuracy"] = correct / tokens if tokens else float("nan")
    return scores
