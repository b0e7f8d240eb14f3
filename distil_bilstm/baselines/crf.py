"""The named-entity baseline a user tries first: a linear-chain CRF on hand features (the NER
counterpart of TF-IDF + logistic regression), with CRFsuite (``sklearn-crfsuite``).

Features of token ``i`` (a word, or a Korean character): its lower-cased form, prefixes and suffixes
of 2–3 characters, its shape (``Xxxx`` → ``Xx``, ``1996-08`` → ``d-d``), title / upper / digit
flags, and the forms and flags of the tokens at ``i ± 1`` and ``i ± 2`` (sentence start and end
marked). L-BFGS with L1 ``c1`` and L2 ``c2``: the ``c1`` kept is the best on validation entity F1,
then tested once. The run folder holds the model in CRFsuite's own file format (``model.crfsuite``,
no pickle), ``config.json`` and ``metrics.json`` (entity precision/recall/F1, per type, token accuracy).
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

from ..data.tagging import TaggedDataset, load_tagged_dataset
from ..rundir import RunDir
from ..training.entities import entity_scores
from ..utils import atomic_path, field_checker, write_json
from .tfidf import baseline_run_dir

logger = logging.getLogger(__name__)

MODEL_FILE = "model.crfsuite"
ARCHITECTURE = "crf"  # student.json's: compare lists the run as its dataset's baseline


@dataclass(kw_only=True)
class CrfConfig:
    dataset: str = "conll2003"
    data_dir: str | None = None
    valid_size: float = 0.05
    split_seed: int = 1
    c1_values: list[float] = field(default_factory=lambda: [0.05, 0.1, 0.3])  # L1, chosen on validation F1
    c2: float = 0.01  # L2
    max_iterations: int = 150
    run_root: str = "runs"
    run_name: str | None = None

    def __post_init__(self) -> None:
        check = field_checker(self)
        check(bool(self.c1_values) and all(c >= 0 for c in self.c1_values), "c1_values", "must be non-negative numbers")
        check(self.c2 >= 0, "c2", "must be >= 0")
        check(self.max_iterations >= 1, "max_iterations", "must be >= 1")

    def to_dict(self) -> dict:
        return asdict(self)

    def run_dir(self) -> Path:
        return baseline_run_dir(self.to_dict(), kind="crf")


def _shape(token: str) -> str:
    shape = re.sub(r"[A-Z]", "X", token)
    shape = re.sub(r"[a-z]", "x", shape)
    shape = re.sub(r"[0-9]", "d", shape)
    return re.sub(r"(.)\1+", r"\1", shape)  # runs collapsed: Xxxxx -> Xx


def token_features(tokens: Sequence[str], i: int) -> dict[str, str | bool]:
    """The hand features of ``tokens[i]`` and its neighbours (CRFsuite's string and boolean attributes)."""
    word = tokens[i]
    features: dict[str, str | bool] = {
        "bias": True,
        "lower": word.lower(),
        "shape": _shape(word),
        "pre2": word[:2],
        "pre3": word[:3],
        "suf2": word[-2:],
        "suf3": word[-3:],
        "title": word.istitle(),
        "upper": word.isupper(),
        "digit": word.isdigit(),
    }
    for offset in (-2, -1, 1, 2):
        j = i + offset
        if 0 <= j < len(tokens):
            other = tokens[j]
            features.update(
                {
                    f"{offset}:lower": other.lower(),
                    f"{offset}:title": other.istitle(),
                    f"{offset}:upper": other.isupper(),
                    f"{offset}:shape": _shape(other),
                }
            )
        else:
            features[f"{offset}:edge"] = True  # before the start or past the end
    return features


def sentence_features(tokens: Sequence[str]) -> list[dict]:
    return [token_features(tokens, i) for i in range(len(tokens))]


def _crf(c1: float, config: CrfConfig):
    try:
        import sklearn_crfsuite
    except ImportError:
        raise ImportError("the CRF baseline needs sklearn-crfsuite: pip install sklearn-crfsuite") from None
    return sklearn_crfsuite.CRF(
        algorithm="lbfgs", c1=c1, c2=config.c2, max_iterations=config.max_iterations, all_possible_transitions=True
    )


def train_crf_baseline(config: CrfConfig, *, dataset: TaggedDataset | None = None) -> dict:
    """Fit one CRF per ``c1`` on train, keep the best on validation entity F1, test it, write the run."""
    dataset = dataset or load_tagged_dataset(
        config.dataset, data_dir=config.data_dir, valid_size=config.valid_size, seed=config.split_seed
    )
    splits = {name: dataset.split(name) for name in ("train", "valid", "test")}
    features = {name: [sentence_features(s.tokens) for s in sentences] for name, sentences in splits.items()}
    gold = {name: [list(s.tags) for s in sentences] for name, sentences in splits.items()}
    start = time.perf_counter()
    best, history = None, []
    for c1 in config.c1_values:
        crf = _crf(c1, config)
        crf.fit(features["train"], gold["train"])
        f1 = entity_scores(gold["valid"], crf.predict(features["valid"]))["f1"]
        history.append({"c1": c1, "valid_entity_f1": f1})
        logger.info("CRF c1=%g: valid entity F1 %.4f", c1, f1)
        if best is None or f1 > best[1]:
            best = (crf, f1, c1)
    train_seconds = time.perf_counter() - start
    crf, valid_f1, c1 = best
    start = time.perf_counter()
    test = entity_scores(gold["test"], crf.predict(features["test"])) if splits["test"] else {}
    test_seconds = time.perf_counter() - start
    run = config.run_dir()
    run.mkdir(parents=True, exist_ok=True)
    with atomic_path(run / MODEL_FILE) as tmp:  # CRFsuite's binary model, as its tagger opens it
        Path(tmp).write_bytes(Path(crf.modelfile.name).read_bytes())
    folder = RunDir(run)
    folder.write_config(config.to_dict())
    folder.write_student(ARCHITECTURE, {"features": len(crf.state_features_)}, label_names=dataset.tag_names)
    metrics = {
        "run_dir": str(run),
        "dataset": dataset.name,
        "dataset_fingerprint": dataset.fingerprint,
        "architecture": ARCHITECTURE,
        "tag_names": dataset.tag_names,
        "c1": c1,
        "history": history,
        "valid_entity_f1": valid_f1,
        "test_entity_f1": test.get("f1"),
        "test_entity_precision": test.get("precision"),
        "test_entity_recall": test.get("recall"),
        "test_token_accuracy": test.get("token_accuracy"),
        "test_per_type": test.get("per_type"),
        "features": len(crf.state_features_),
        "params": len(crf.state_features_) + len(crf.transition_features_),  # one weight each
        "size_bytes": (run / MODEL_FILE).stat().st_size,
        "train_seconds": round(train_seconds, 1),
        "sentences_per_second": round(len(splits["test"]) / test_seconds, 1) if splits["test"] else None,
    }
    write_json(run / "metrics.json", metrics)
    return metrics
