"""A tagger's tags from its emission scores, in numpy: what serving runs after any backend.

An exported tagger's graph ends at its emission scores (ONNX has no Viterbi that fits a CRF's
transitions), so the CRF's decoding runs here for every backend — torch, ONNX fp32 and int8 —
and a test checks it against students/crf.CRF.decode. With the CRF's parameters (start, end,
transitions ``A[from, to]``), Viterbi finds

    argmax_y  start[y_1] + Σ_i e_i[y_i] + Σ_{i>1} A[y_{i-1}, y_i] + end[y_n]

for each sentence to its own length; without them each token takes its best tag.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class CrfParams:
    start: np.ndarray  # (tags,)
    end: np.ndarray  # (tags,)
    transitions: np.ndarray  # (tags, tags): from a row's tag to a column's

    def __post_init__(self) -> None:
        tags = self.start.shape[0]
        if self.start.shape != (tags,) or self.end.shape != (tags,) or self.transitions.shape != (tags, tags):
            raise ValueError(
                f"CrfParams: start {self.start.shape}, end {self.end.shape} and transitions "
                f"{self.transitions.shape} do not describe one tag set"
            )

    def to_dict(self) -> dict:
        return {name: getattr(self, name).tolist() for name in ("start", "end", "transitions")}

    @classmethod
    def from_dict(cls, values: dict) -> "CrfParams":
        missing = {"start", "end", "transitions"} - set(values)
        if missing:
            raise ValueError(f"CRF parameters lack {sorted(missing)}")
        return cls(**{name: np.asarray(values[name], dtype=np.float32) for name in ("start", "end", "transitions")})


def viterbi(emissions: np.ndarray, lengths: np.ndarray, crf: CrfParams) -> np.ndarray:
    """``emissions (batch, seq, tags)``, ``lengths (batch,)`` → the best tags ``(batch, seq)``
    int64 (0 past each length)."""
    batch, seq, tags = emissions.shape
    lengths = np.asarray(lengths)
    best = crf.start + emissions[:, 0]  # (batch, tags)
    pointers = np.zeros((batch, seq, tags), dtype=np.int64)
    for i in range(1, seq):
        scores = best[:, :, None] + crf.transitions  # (batch, from, to)
        came_from = scores.argmax(axis=1)  # (batch, to)
        top = np.take_along_axis(scores, came_from[:, None, :], axis=1)[:, 0]  # (batch, to)
        live = (i < lengths)[:, None]  # (batch, 1)
        best = np.where(live, top + emissions[:, i], best)
        # past a sentence's end each tag points to itself, so the walk back passes through unchanged
        pointers[:, i] = np.where(live, came_from, np.arange(tags))
    path = np.zeros((batch, seq), dtype=np.int64)
    tag = (best + crf.end).argmax(axis=1)  # (batch,) each sentence's last tag
    path[:, seq - 1] = tag
    for i in range(seq - 1, 0, -1):
        tag = np.take_along_axis(pointers[:, i], tag[:, None], axis=1)[:, 0]
        path[:, i - 1] = tag
    return np.where(np.arange(seq)[None, :] < lengths[:, None], path, 0)


def best_tags(emissions: np.ndarray, lengths: np.ndarray, crf: CrfParams | None) -> np.ndarray:
    """The tags ``(batch, seq)`` of ``emissions``: Viterbi through ``crf``, or each token's best."""
    if crf is not None:
        return viterbi(emissions, lengths, crf)
    return np.where(np.arange(emissions.shape[1])[None, :] < np.asarray(lengths)[:, None], emissions.argmax(-1), 0)
