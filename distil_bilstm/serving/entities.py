"""A trained tagger put to use: raw texts → named entities with character offsets and a score.

A text is cut into the tokens the tagger was trained on (units.json's ``tokens``: CoNLL-style words
— runs of letters and digits, each other non-space character alone — or KLUE's characters, spaces
included), tagged (a CRF tagger by Viterbi), and each entity (a span of conlleval's rules,
training/entities.py) is reported as its text, type, ``start``/``end`` character offsets into the
text and ``score``: the mean over its tokens of the probability the tagger gives each token's tag
(the per-token softmax of its scores). Like serving/inference.py this imports neither pandas nor
transformers.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from ..data.tag_units import split_tokens
from ..rundir import TAGGER_ARCHITECTURE, ExportDir, RunDir, split_student_json
from ..training.entities import entity_scores, entity_spans
from ..utils import length_sorted_batches, read_json, softmax
from .inference import OnnxBackend
from .tag_decoding import CrfParams, best_tags


@dataclass
class Entity:
    text: str
    type: str
    start: int  # character offsets into the input text: text[start:end]
    end: int
    score: float


class TorchTagScorer:
    """A tagger run's model as a backend: ids ``(batch, seq, width)`` and lengths (numpy) → its
    emission scores ``(batch, seq, tags)`` (numpy), like an exported tagger's ONNX session."""

    def __init__(self, model, *, device):
        self.model, self.device = model, device

    def __call__(self, input_ids: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode():
            logits = self.model(torch.from_numpy(input_ids).to(self.device), torch.from_numpy(lengths))
        return logits.float().cpu().numpy()


class TagPredictor:
    """``TagPredictor.load(run or export).entities(["..."])``: the entities of each text."""

    reads_pairs = False  # what serving asks every model it serves

    def __init__(
        self,
        scorer,
        units,
        tag_names: list[str],
        *,
        crf: CrfParams | None,
        source: str = "",
        format: str = "torch",
        batch_size: int = 256,
    ):
        self.scorer, self.units, self.tag_names, self.crf = scorer, units, tag_names, crf
        self.source, self.format, self.batch_size = source, format, batch_size

    @property
    def types(self) -> list[str]:
        return sorted({tag[2:] for tag in self.tag_names if tag != "O"})

    def describe(self) -> dict:
        return {"source": self.source, "format": self.format, "task": "entities", "types": self.types, "pairs": False}

    @classmethod
    def load(
        cls, path: str | Path, *, device: str = "auto", batch_size: int = 256, threads: int | None = None
    ) -> "TagPredictor":
        """A tagger run folder (torch on ``device``) or its export (ONNX on the CPU, ``threads``)."""
        export = ExportDir(path)
        if export.is_export():
            return cls._from_export(export, batch_size=batch_size, threads=threads)
        return cls._from_run(RunDir(path), device=device, batch_size=batch_size)

    @classmethod
    def _from_export(cls, export: ExportDir, *, batch_size: int, threads: int | None) -> "TagPredictor":
        from ..data.tag_units import TagUnits

        info = export.read_info()
        if info.get("task") != "entities":
            raise ValueError(
                f"{export.path}: an export of a {info.get('student', {}).get('architecture')} student, not a tagger"
            )
        units = _matching_units(TagUnits.load(export.vocab_dir), info["student"], recorded_in=export.info_file)
        return cls(
            OnnxBackend(export.model_file(info), threads=threads),
            units,
            info["label_names"],
            crf=CrfParams.from_dict(read_json(export.crf_file)) if info.get("crf") else None,
            source=str(export.path),
            format=info["format"],
            batch_size=batch_size,
        )

    @classmethod
    def _from_run(cls, run: RunDir, *, device: str, batch_size: int) -> "TagPredictor":
        from ..data.tag_units import TagUnits
        from ..students.tagger import BiLSTMTagger, TaggerConfig
        from ..utils import read_safetensors, resolve_device

        run.require_model()
        architecture, values, tag_names = split_student_json(run.read_student())
        if architecture != TAGGER_ARCHITECTURE:
            raise ValueError(f"{run.path}: a {architecture} run, not a tagger")
        device = resolve_device(device)
        units = _matching_units(TagUnits.load(run.vocab_dir), values, recorded_in=run.student_file)
        model = BiLSTMTagger(TaggerConfig.from_dict(values))
        model.load_state_dict(read_safetensors(run.weights_file, device=str(device)))
        model = model.to(device).eval()
        return cls(
            TorchTagScorer(model, device=device),
            units,
            tag_names,
            crf=crf_params(model),
            source=str(run.path),
            batch_size=batch_size,
        )

    def tag_ids(self, sentences: Sequence[Sequence[str]]) -> tuple[list[list[int]], list[list[float]]]:
        """Each sentence's (tag ids, the probability of each) — an empty sentence has none."""
        import torch

        tags: list[list[int]] = [[] for _ in sentences]
        probs: list[list[float]] = [[] for _ in sentences]
        present = np.array([i for i, s in enumerate(sentences) if len(s)], dtype=np.int64)
        for batch in length_sorted_batches([len(sentences[i]) for i in present], self.batch_size):
            chunk = present[batch].tolist()  # sentences of similar length: little padding
            encoded = self.units.encode([sentences[i] for i in chunk])
            ids, lengths = (t.numpy() for t in encoded.batch(torch.arange(len(chunk))))
            emissions = self.scorer(ids, lengths)  # (batch, seq, tags)
            best = best_tags(emissions, lengths, self.crf)  # (batch, seq)
            p = np.take_along_axis(softmax(emissions), best[..., None], axis=2)[..., 0]  # (batch, seq)
            for row, i in enumerate(chunk):
                n = int(lengths[row])
                tags[i], probs[i] = best[row, :n].tolist(), p[row, :n].tolist()
        return tags, probs

    def entities(self, texts: Sequence[str]) -> list[list[Entity]]:
        for i, text in enumerate(texts):
            if not isinstance(text, str):
                raise ValueError(f"text {i} is a {type(text).__name__}, not a string")
        tokens = [split_tokens(text, unit=self.units.tokens) for text in texts]
        tags, probs = self.tag_ids([[t for t, _, _ in row] for row in tokens])
        found = []
        for text, row, ids, p in zip(texts, tokens, tags, probs):
            spans = entity_spans([self.tag_names[i] for i in ids])
            found.append(
                [
                    Entity(text[row[a][1] : row[b - 1][2]], kind, row[a][1], row[b - 1][2], float(np.mean(p[a:b])))
                    for kind, a, b in spans
                ]
            )
        return found

    def evaluate(self, sentences) -> dict:
        """Entity scores on tagged sentences (their own tokens), as the tagger run reports them."""
        tags, _ = self.tag_ids([s.tokens for s in sentences])
        return entity_scores([list(s.tags) for s in sentences], [[self.tag_names[i] for i in row] for row in tags])


def crf_params(model) -> CrfParams | None:
    """A torch tagger's CRF as numpy parameters (None without one): what the decoding here and an export's crf.json take."""
    if model.crf is None:
        return None
    return CrfParams(
        **{name: getattr(model.crf, name).detach().float().cpu().numpy() for name in ("start", "end", "transitions")}
    )


def _matching_units(units, student: dict, *, recorded_in: Path):
    if len(units.words) != student["vocab_size"]:
        raise ValueError(
            f"{recorded_in} says the tagger was trained with {student['vocab_size']} words, but its units hold "
            f"{len(units.words)}: these units do not belong to the model"
        )
    return units


def dumps_entities(text: str, entities: list[Entity]) -> str:
    rounded = [{**asdict(e), "score": round(e.score, 4)} for e in entities]
    return json.dumps({"text": text, "entities": rounded}, ensure_ascii=False)


def predict_entities_file(
    predictor: TagPredictor, path: str | Path, *, out: str | Path | None = None, text_column: str | None = None
) -> dict:
    """The entities of every text of ``path`` (a TSV with a text column, or one text per line) as JSON
    Lines in ``out`` (default ``<path>.entities.jsonl``), one line a row in input order (an empty row:
    no entities), written in windows and in place only when complete."""
    import itertools
    import time

    from tqdm.auto import tqdm

    from ..data.files import iter_texts  # reads TSV/JSONL/Parquet: pandas, for a file only
    from ..utils import atomic_path, count_lines

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file to tag")
    out = Path(out) if out else path.with_name(path.name + ".entities.jsonl")
    texts = iter_texts(path, text_column=text_column, keep_empty=True)
    rows, entities, start = 0, 0, time.perf_counter()
    with (
        atomic_path(out) as tmp,
        open(tmp, "w", encoding="utf-8") as fh,
        tqdm(total=count_lines(path), desc="entities", unit="text") as bar,
    ):
        while window := list(itertools.islice(texts, 16 * predictor.batch_size)):
            for text, found in zip(window, predictor.entities(window)):
                fh.write(dumps_entities(text, found) + "\n")
                entities += len(found)
            rows += len(window)
            bar.update(len(window))
    seconds = time.perf_counter() - start
    return {"rows": rows, "entities": entities, "out": str(out), "seconds": seconds}
