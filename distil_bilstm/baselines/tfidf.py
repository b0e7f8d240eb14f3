"""``distil-bilstm baseline``: the model a user tries first, as a run like any student's.

TF-IDF (word 1–2-grams and ``char_wb`` 1–4-grams, sublinear tf, min_df 2) + logistic regression,
the regularisation ``C`` chosen on the validation split only, then tested once. The run folder is
what ``predict``, ``evaluate``, ``serve`` and ``compare`` read for a student (``RunDir``):
``config.json``, ``student.json`` (architecture ``tfidf-lr``), ``metrics.json`` (accuracy,
parameters = the linear model's weights, size on disk, train seconds, CPU examples/s), and instead
of pickled scikit-learn objects ``model.safetensors`` (idf weights, coefficients, intercepts) plus
``vocab/ngrams.json`` (each analyzer's settings and terms in feature order): plain data that
:mod:`distil_bilstm.ngrams` turns back into the same model without scikit-learn.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..data.datasets import DataConfig, Dataset, load_dataset
from ..data.pairs import bag_text
from ..rundir import RunDir
from ..utils import atomic_path, path_safe, shown, write_json
from .ngrams import VOCAB_FILE, TfidfLinearModel

logger = logging.getLogger(__name__)

KINDS = ("tfidf-lr",)
ARCHITECTURE = "tfidf-lr"


@dataclass(kw_only=True)
class BaselineConfig:
    dataset: str = "nsmc"
    data_dir: str | None = None
    valid_size: float = 0.05
    split_seed: int = 1
    kind: str = "tfidf-lr"
    word_ngrams: list[int] = field(default_factory=lambda: [1, 2])
    char_ngrams: list[int] = field(default_factory=lambda: [1, 4])
    min_df: int = 2
    c_values: list[float] = field(default_factory=lambda: [0.5, 1.0, 2.0, 4.0, 8.0])  # chosen on validation
    max_iter: int = 1000
    run_root: str = "runs"
    run_name: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"BaselineConfig.kind must be one of {KINDS}, got {self.kind!r}")
        for name in ("word_ngrams", "char_ngrams"):
            low_high = getattr(self, name)
            if len(low_high) != 2 or not 1 <= low_high[0] <= low_high[1]:
                raise ValueError(f"BaselineConfig.{name} must be [low, high] with 1 <= low <= high, got {low_high!r}")
        if self.min_df < 1:
            raise ValueError(f"BaselineConfig.min_df must be >= 1, got {self.min_df!r}")
        if not self.c_values or any(c <= 0 for c in self.c_values):
            raise ValueError(f"BaselineConfig.c_values must be positive numbers, got {self.c_values!r}")
        self.c_values = [float(c) for c in self.c_values]

    def to_dict(self) -> dict:
        return asdict(self)

    def identity(self) -> str:
        return config_identity(self.to_dict())

    def run_dir(self) -> Path:
        return baseline_run_dir(self.to_dict(), kind=self.kind)


def config_identity(values: dict) -> str:
    """A baseline's identity: the hash of its config less where it reads and writes."""
    payload = {k: v for k, v in values.items() if k not in ("data_dir", "run_root", "run_name")}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def baseline_run_dir(values: dict, *, kind: str) -> Path:
    """``<run_root>/<dataset>/<run_name or baseline-<kind>-<identity>>`` of a baseline config's values."""
    name = values["run_name"] or f"baseline-{kind}-{config_identity(values)[:6]}"
    return Path(values["run_root"]) / path_safe(values["dataset"]) / name


def _vectorizers(config: BaselineConfig):
    from sklearn.feature_extraction.text import TfidfVectorizer

    common = dict(sublinear_tf=True, min_df=config.min_df, dtype=np.float64)
    return [
        ("word", TfidfVectorizer(analyzer="word", ngram_range=tuple(config.word_ngrams), **common)),
        ("char_wb", TfidfVectorizer(analyzer="char_wb", ngram_range=tuple(config.char_ngrams), **common)),
    ]


def train_baseline(config: BaselineConfig, *, dataset: Dataset | None = None) -> dict:
    """Fit the vectorizers and one logistic regression per ``C`` on train, keep the best on
    valid, test it, and write the run folder; returns its metrics."""
    from scipy.sparse import hstack
    from sklearn.linear_model import LogisticRegression

    dataset = dataset or load_dataset(
        DataConfig(name=config.dataset, data_dir=config.data_dir, valid_size=config.valid_size, seed=config.split_seed)
    )
    splits = {name: dataset.split(name) for name in ("train", "valid", "test")}
    bags = {name: [bag_text(t) for t in frame["text"]] for name, frame in splits.items()}  # a pair: its words
    start = time.perf_counter()
    vectorizers = _vectorizers(config)
    try:
        train_x = hstack([v.fit_transform(bags["train"]) for _, v in vectorizers]).tocsr()
    except ValueError as err:  # scikit-learn's "empty vocabulary" for texts without n-grams (numbers, symbols)
        texts = bags["train"]
        raise ValueError(
            f"{dataset.name}: the TF-IDF baseline cannot be fitted on its {len(texts)} training texts ({err}); "
            f"they begin {shown(texts[:3])}"
        ) from None
    valid_x = hstack([v.transform(bags["valid"]) for _, v in vectorizers]).tocsr()
    train_y, valid_y = splits["train"]["label"].to_numpy(), splits["valid"]["label"].to_numpy()
    logger.info(
        "%d n-gram features (%s)", train_x.shape[1], ", ".join(f"{n} {len(v.vocabulary_):,}" for n, v in vectorizers)
    )
    history, best = [], None
    for c in config.c_values:
        model = LogisticRegression(C=c, max_iter=config.max_iter).fit(train_x, train_y)
        accuracy = float((model.predict(valid_x) == valid_y).mean())
        history.append({"C": c, "valid_accuracy": accuracy})
        logger.info("C=%g: valid accuracy %.4f", c, accuracy)
        if best is None or accuracy > best[1]:
            best = (model, accuracy, c)
    train_seconds = time.perf_counter() - start
    model, valid_accuracy, best_c = best

    run = RunDir(config.run_dir())
    run.mkdir()
    _save(run, vectorizers, model)
    run.write_config(config.to_dict())
    run.write_student(
        ARCHITECTURE, {"features": int(train_x.shape[1])}, label_names=dataset.label_names, pairs=dataset.pairs
    )

    loaded = TfidfLinearModel.load_run(run.path)  # test what was saved, through the inference code
    test = splits["test"]
    start = time.perf_counter()
    logits = loaded.logits(test["text"].tolist())
    seconds = time.perf_counter() - start
    test_accuracy = float((logits.argmax(1) == test["label"].to_numpy()).mean()) if len(test) else None
    metrics = {
        "run_dir": str(run.path),
        "dataset": dataset.name,
        "dataset_fingerprint": dataset.fingerprint,
        "kind": config.kind,
        "C": best_c,
        "valid_accuracy": valid_accuracy,
        "test_accuracy": test_accuracy,
        "params": loaded.num_parameters,
        "features": int(train_x.shape[1]),
        "size_bytes": run.weights_file.stat().st_size + (run.vocab_dir / VOCAB_FILE).stat().st_size,
        "train_seconds": round(train_seconds, 2),
        "examples_per_second": round(len(test) / seconds, 1) if seconds and len(test) else None,
        "history": history,
    }
    run.write_metrics(metrics)
    return metrics


def _save(run: RunDir, vectorizers, model) -> None:
    """Vocabularies as JSON (terms in feature order), idf/coef/intercept as safetensors."""
    from safetensors.numpy import save_file

    blocks, tensors = [], {}
    for i, (analyzer, vectorizer) in enumerate(vectorizers):
        terms = [None] * len(vectorizer.vocabulary_)
        for term, index in vectorizer.vocabulary_.items():
            terms[index] = term
        blocks.append(
            {
                "analyzer": analyzer,
                "ngram_range": list(vectorizer.ngram_range),
                "lowercase": True,
                "sublinear_tf": True,
                "norm": "l2",
                "terms": terms,
            }
        )
        tensors[f"idf_{i}"] = vectorizer.idf_.astype(np.float64)
    # C order: a multinomial model's coef_ may be Fortran-ordered, and safetensors stores the raw
    # buffer under a C-order shape (a transposed, wrong model for 3+ classes; binary rows are 1-D)
    tensors["coef"] = np.ascontiguousarray(model.coef_, dtype=np.float64)
    tensors["intercept"] = np.ascontiguousarray(model.intercept_, dtype=np.float64)
    run.vocab_dir.mkdir(parents=True, exist_ok=True)
    write_json(run.vocab_dir / VOCAB_FILE, {"blocks": blocks, "classes": [int(c) for c in model.classes_]})
    with atomic_path(run.weights_file) as tmp:
        save_file(tensors, str(tmp))
