"""Batch prediction: a file of any size in, a CSV of labels and probabilities out, streamed."""

from __future__ import annotations

import csv
import time
from pathlib import Path

from tqdm.auto import tqdm

from ..data.files import iter_texts
from ..data.pairs import read_as, split_pair
from ..utils import atomic_path, count_lines
from .inference import Predictor, softmax


def predict_file(
    predictor: Predictor, path: str | Path, *, out: str | Path | None = None, text_column: str | None = None
) -> dict:
    """Classify every row of ``path`` (a TSV with a text column, or one text per line) and write
    ``out`` (default ``<path>.predictions.csv``): text, label, label_id, one ``p_<label>`` column
    per label, one output row per input row in input order (an empty text is classified as
    [UNK]). Texts are read and written in windows; the output appears only when complete."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file to predict")
    out = Path(out) if out else path.with_name(path.name + ".predictions.csv")
    texts = (
        read_as(text, pairs=predictor.reads_pairs, where=f"{path}, text {n}")
        for n, text in enumerate(iter_texts(path, text_column=text_column, keep_empty=True), start=1)
    )
    rows, start = 0, time.perf_counter()
    with (
        atomic_path(out) as tmp,
        open(tmp, "w", encoding="utf-8", newline="") as fh,
        tqdm(total=count_lines(path), desc="predict", unit="text") as bar,
    ):
        writer = csv.writer(fh)
        shown = ["sentence1", "sentence2"] if predictor.reads_pairs else ["text"]
        if predictor.is_regression:
            writer.writerow([*shown, "score"])
        else:
            writer.writerow([*shown, "label", "label_id", *(f"p_{name}" for name in predictor.label_names)])
        for text, logits in predictor.scored(texts):
            sides = list(split_pair(text)) if predictor.reads_pairs else [text]
            if predictor.is_regression:  # a score, unrounded
                writer.writerow([*sides, repr(float(logits[0]))])
                rows += 1
                bar.update(1)
                continue
            probs = softmax(logits.astype("float64"))
            best = int(probs.argmax())
            writer.writerow([*sides, predictor.label_names[best], best, *(f"{p:.6f}" for p in probs)])
            rows += 1
            bar.update(1)
    seconds = time.perf_counter() - start
    return {
        "rows": rows,
        "out": str(out),
        "seconds": seconds,
        "examples_per_second": rows / seconds if seconds else 0.0,
    }
