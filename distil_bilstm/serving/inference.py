"""Inference: load a trained model — a student or baseline run folder, or an export — and classify texts.

Nothing here imports training code (no pandas, scikit-learn, TensorBoard or transformers): the
tokenisation uses the ``tokenizers`` library alone (the same ids as training's
``BertTokenizerFast``, tested), torch is imported only for a torch or TorchScript model, and
onnxruntime only for an ONNX one. A server built on this starts fast and small.

Speed: texts are read in windows (``window`` texts, default 16 batches); inside a window they are
sorted by length so that each batch is padded only to its own longest text, and results come
back in input order.
"""

from __future__ import annotations

import itertools
import json
import logging
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import numpy as np

from ..data.pairs import PAIR_SEP, Text, is_pair, make_pair, split_pair, split_pairs, text_key
from ..rundir import ExportDir, RunDir, split_student_json
from ..utils import length_sorted_batches, read_json, softmax

logger = logging.getLogger(__name__)


@dataclass
class Prediction:
    label: str
    label_id: int
    probabilities: dict[str, float]
    score: float | None = None  # a regression model's output (a pair's similarity), unrounded; label "score"

    def to_dict(self) -> dict:
        values = asdict(self)
        if self.score is None:
            del values["score"]
        return values


class TextEncoder:
    """A student vocabulary's WordPiece tokenisation (no special tokens; an empty text becomes one
    [UNK]; at most ``max_length`` tokens), with the ``tokenizers`` library alone."""

    def __init__(self, vocab_dir: str | Path, *, max_length: int):
        from tokenizers import BertWordPieceTokenizer

        vocab_dir = Path(vocab_dir)
        vocab_file = vocab_dir / "vocab.txt"
        if not vocab_file.is_file():
            raise FileNotFoundError(f"{vocab_file}: no vocabulary here")
        settings = read_json(vocab_dir / "vocab_config.json") if (vocab_dir / "vocab_config.json").is_file() else {}
        self.lowercase = bool(settings.get("lowercase", False))
        self.strip_accents = bool(settings.get("strip_accents", False))
        try:
            self.tokenizer = BertWordPieceTokenizer(
                str(vocab_file),
                clean_text=True,
                handle_chinese_chars=True,
                strip_accents=self.strip_accents,
                lowercase=self.lowercase,
            )
        except Exception as err:  # the tokenizers library raises a bare Exception (e.g. "not valid UTF-8")
            raise ValueError(f"{vocab_file}: not a readable vocabulary ({err})") from None
        self.tokenizer.enable_truncation(max_length)
        self.max_length = max_length
        self.unk_id = self.tokenizer.token_to_id("[UNK]")
        self.sep_id = self.tokenizer.token_to_id("[SEP]")
        self.vocab_size = self.tokenizer.get_vocab_size()
        self.vocab_file = vocab_file

    def encode(self, texts: Sequence[Text]) -> list[list[int]]:
        """Ids per text; a sentence pair (data/pairs.py) as ``A [SEP] B``, each side cut on its own,
        as training's ``pair_token_rows``."""
        texts = list(texts)
        if texts and is_pair(texts[0]):
            firsts, seconds = split_pairs(texts)
            return [a + [self.sep_id] + b for a, b in zip(self.encode(firsts), self.encode(seconds))]
        try:
            encoded = self.tokenizer.encode_batch(texts, add_special_tokens=False)
        except TypeError:  # a text that is no str, or a str that is no Unicode text (a lone surrogate)
            raise ValueError(f"text {_first_unreadable(texts)} is not valid Unicode text") from None
        return [e.ids or [self.unk_id] for e in encoded]

    def check_model(self, expected_size: int, *, recorded_in: Path) -> None:
        """Refuse a vocabulary whose size is not the model's embedding rows (a cut or replaced vocab.txt
        would change every prediction without a word)."""
        if self.vocab_size != expected_size:
            raise ValueError(
                f"{self.vocab_file}: {self.vocab_size} tokens, but {recorded_in} says the model was trained "
                f"with {expected_size}: this vocabulary does not belong to the model"
            )


def _first_unreadable(texts: Sequence[Text]) -> str:
    """Which of ``texts`` cannot be tokenized, as ``#i (why)``."""
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            return f"#{i} ({type(text).__name__}, not a string)"
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as err:
            return f"#{i} (character {err.start} is {text[err.start]!r}, a lone surrogate)"
    return "?"


def pad(rows: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
    """Right-pad with 0 ([PAD]): ``input_ids (batch, longest)`` int64 and ``lengths (batch,)`` int64."""
    lengths = np.fromiter((len(r) for r in rows), dtype=np.int64, count=len(rows))
    input_ids = np.zeros((len(rows), int(lengths.max())), dtype=np.int64)
    for i, row in enumerate(rows):
        input_ids[i, : len(row)] = row
    return input_ids, lengths


# --------------------------------------------------------------------------------------------
# backends: (input_ids (B, T) int64, lengths (B,) int64) numpy → logits (B, C) float32 numpy


class TorchBackend:
    """A student module (from a run folder's safetensors, or a TorchScript file)."""

    def __init__(self, model, device):
        import torch

        self.torch, self.model, self.device = torch, model.eval().to(device), device

    def __call__(self, input_ids: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        with self.torch.inference_mode():
            logits = self.model(self.torch.from_numpy(input_ids).to(self.device), self.torch.from_numpy(lengths))
        return logits.float().cpu().numpy()

    @classmethod
    def from_run(cls, run: RunDir, *, device: str = "auto") -> "TorchBackend":
        from ..students.registry import build_student
        from ..utils import read_safetensors, resolve_device

        resolved = resolve_device(device)
        architecture, values, _ = split_student_json(run.read_student())
        model = build_student(architecture, values)
        try:
            model.load_state_dict(read_safetensors(run.weights_file))
        except RuntimeError as err:  # missing keys or other shapes: the weights of another model
            raise ValueError(
                f"{run.weights_file}: these weights do not fit {run.student_file} ({str(err).splitlines()[0]})"
            ) from None
        return cls(model, resolved)

    @classmethod
    def from_torchscript(cls, path: Path, *, device: str = "auto") -> "TorchBackend":
        import torch

        from ..utils import resolve_device

        resolved = resolve_device(device)
        with warnings.catch_warnings():
            warnings.simplefilter(
                "ignore", DeprecationWarning
            )  # TorchScript is deprecated upstream; exported on request
            model = torch.jit.load(str(path), map_location=resolved)
        return cls(model, resolved)


class OnnxBackend:
    def __init__(self, path: str | Path, *, threads: int | None = None):
        import onnxruntime as ort

        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        try:
            self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as err:  # onnxruntime's InvalidProtobuf / Fail: an empty, truncated or foreign file
            raise ValueError(
                f"{path}: not a loadable ONNX model ({str(err).splitlines()[0][:200]}); export it again"
            ) from None

    def __call__(self, input_ids: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        return self.session.run(["logits"], {"input_ids": input_ids, "lengths": lengths})[0]


# --------------------------------------------------------------------------------------------


class StudentScorer:
    """Texts → logits for a student: tokenise, batch by length, pad, run the backend."""

    def __init__(self, backend, encoder: TextEncoder, *, batch_size: int = 256):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.backend, self.encoder, self.batch_size = backend, encoder, batch_size

    def __call__(self, texts: list[Text], num_labels: int) -> np.ndarray:
        rows = self.encoder.encode(texts)
        logits = np.empty((len(rows), num_labels), dtype=np.float32)
        for batch in length_sorted_batches([len(r) for r in rows], self.batch_size):
            logits[batch] = self.backend(*pad([rows[i] for i in batch]))
        return logits

    def describe(self) -> dict:
        return {"max_tokens": self.encoder.max_length, "vocab_size": self.encoder.vocab_size}


class NgramScorer:
    """Texts → logits for an n-gram baseline run (TF-IDF + a linear model, numpy only)."""

    batch_size = 256

    def __init__(self, model):
        self.model = model

    def __call__(self, texts: list[Text], num_labels: int) -> np.ndarray:
        return self.model.logits(texts)

    def describe(self) -> dict:
        return {"features": sum(len(b) for b in self.model.blocks)}


class Predictor:
    """A trained model ready to classify texts: ``Predictor.load(folder).predict([...])``.

    Texts are scored in windows (``window`` texts at a time, default 16 batches) and come back
    in input order, so a stream of any length needs only one window in memory."""

    def __init__(
        self,
        scorer,
        label_names: list[str],
        *,
        window: int | None = None,
        source: str = "",
        kind: str = "torch",
        reads_pairs: bool = False,
    ):
        self.scorer, self.label_names = scorer, list(label_names)
        self.window = window or 16 * scorer.batch_size
        self.source, self.kind = source, kind
        self.reads_pairs = reads_pairs  # trained on sentence pairs: give it pairs (predict_pairs)

    @classmethod
    def load(
        cls, path: str | Path, *, device: str = "auto", batch_size: int = 256, threads: int | None = None
    ) -> "Predictor":
        """A run folder (``distil``, ``grid``, ``baseline``) or an export folder (``export``)."""
        path = Path(path)
        export = ExportDir(path)
        if export.is_export():
            info = export.read_info()
            encoder = TextEncoder(export.vocab_dir, max_length=info["max_length"])
            if "vocab_size" in info.get("student", {}):
                encoder.check_model(int(info["student"]["vocab_size"]), recorded_in=export.info_file)
            model_file = export.model_file(info)
            if info["format"] in ("onnx", "onnx-int8"):
                backend = OnnxBackend(model_file, threads=threads)
            else:
                backend = TorchBackend.from_torchscript(model_file, device=device)
            return cls(
                StudentScorer(backend, encoder, batch_size=batch_size),
                info["label_names"],
                source=str(path),
                kind=info["format"],
                reads_pairs=bool(info.get("pairs")),
            )
        run = RunDir(path)
        run.require_model()
        architecture, _, label_names = split_student_json(run.read_student())
        if architecture == "tfidf-lr":
            from ..baselines.ngrams import TfidfLinearModel

            scorer = NgramScorer(TfidfLinearModel.load_run(path))
            return cls(scorer, label_names, source=str(path), kind=architecture, reads_pairs=run.reads_pairs())
        max_length = run.read_config().get("max_length", 128) if run.config_file.is_file() else 128
        encoder = TextEncoder(run.vocab_dir, max_length=max_length)
        student = run.read_student()
        if "vocab_size" in student:
            encoder.check_model(int(student["vocab_size"]), recorded_in=run.student_file)
        scorer = StudentScorer(TorchBackend.from_run(run, device=device), encoder, batch_size=batch_size)
        return cls(scorer, label_names, source=str(path), kind="torch", reads_pairs=run.reads_pairs())

    def as_read(self, text: Text) -> Text:
        """``text`` as this model reads it: for a one-text model a tab is whitespace; a pair model
        takes only pairs (:meth:`predict_pairs`, ``--text-b``, ``{"pairs": …}``), a one-text model none."""
        if not self.reads_pairs:
            if is_pair(text):
                raise ValueError(
                    f"{self.source} reads one text, not sentence pairs; got the pair {text_key(text)!r:.80}"
                )
            return text.replace(PAIR_SEP, " ") if isinstance(text, str) else text
        if not is_pair(text):
            raise ValueError(
                f"{self.source} reads sentence pairs; give each as two texts (Predictor.predict_pairs, "
                f'predict --text-b, serve\'s {{"pairs": [[a, b]]}}), got the single text {text!r:.80}'
            )
        return text

    def scored(self, texts: Iterable[str]) -> Iterator[tuple[str, np.ndarray]]:
        """``(text, logits (num_labels,))`` per text, in input order, for a stream of any length."""
        texts = map(self.as_read, texts)
        while window := list(itertools.islice(texts, self.window)):
            yield from zip(window, self.scorer(window, len(self.label_names)))

    def logits_iter(self, texts: Iterable[str]) -> Iterator[np.ndarray]:
        for _, row in self.scored(texts):
            yield row

    def logits(self, texts: Sequence[Text]) -> np.ndarray:
        rows = list(self.logits_iter(texts))
        return np.stack(rows) if rows else np.empty((0, len(self.label_names)), dtype=np.float32)

    def predict_iter(self, texts: Iterable[str]) -> Iterator[Prediction]:
        for row in self.logits_iter(texts):
            yield self.prediction(row)

    def predict(self, texts: Sequence[Text] | str) -> list[Prediction]:
        return list(self.predict_iter([texts] if isinstance(texts, str) else texts))

    def predict_pairs(self, pairs: Sequence[tuple[str, str]]) -> list[Prediction]:
        """Score sentence pairs ``[(a, b), ...]`` (a pair model: the siamese student, a cross-encoder's students)."""
        if not self.reads_pairs:
            raise ValueError(f"{self.source} reads one text, not sentence pairs")
        return self.predict([make_pair(a, b, where=f"pairs[{i}]") for i, (a, b) in enumerate(pairs)])

    @property
    def is_regression(self) -> bool:
        """One output: the model gives a score, not class probabilities."""
        return len(self.label_names) == 1

    def prediction(self, logits: np.ndarray) -> Prediction:
        if self.is_regression:
            return Prediction(self.label_names[0], 0, {}, score=float(logits[0]))
        probs = softmax(logits.astype(np.float64))
        best = int(probs.argmax())
        return Prediction(self.label_names[best], best, {n: float(p) for n, p in zip(self.label_names, probs)})

    def describe(self) -> dict:
        return {
            "source": self.source,
            "format": self.kind,
            "labels": self.label_names,
            "pairs": self.reads_pairs,
            **self.scorer.describe(),
        }


def predict(model: str | Path, texts: Sequence[Text], *, device: str = "auto") -> list[Prediction]:
    """Classify ``texts`` with the student in ``model`` (a run folder or an export folder)."""
    return Predictor.load(model, device=device).predict(texts)


def dumps_prediction(text: str, prediction: Prediction) -> str:
    shown = {"pair": list(split_pair(text))} if is_pair(text) else {"text": text}
    if prediction.score is not None:
        return json.dumps({**shown, "score": prediction.score}, ensure_ascii=False)
    return json.dumps(
        {
            **shown,
            "label": prediction.label,
            "probabilities": {k: round(v, 4) for k, v in prediction.probabilities.items()},
        },
        ensure_ascii=False,
    )
