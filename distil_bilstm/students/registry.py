"""Student families, by the name a run config gives (``student: bilstm | transformer``) and
``student.json`` records.

``StudentSettings`` holds the run config's student keys (the seed's flat names) and checks them;
each family builds its model from them: ``bilstm`` from a preset or explicit sizes (Tang et al.;
DistilKoBiLSTM), ``transformer`` from the teacher checkpoint's own layers (DistilBERT). A finished
run is rebuilt from ``student.json`` alone (:func:`build_student`), without the teacher.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from typing import Callable, Sequence

from torch import nn

from ..utils import field_checker
from .bilstm import POOLINGS, PRESETS, BiLSTMClassifier, StudentConfig
from .siamese import HEADS as SIAMESE_HEADS
from .siamese import SiameseBiLSTM, SiameseConfig
from .transformer import (
    TransformerStudent,
    TransformerStudentConfig,
    copy_teacher_weights,
    student_config_from_teacher,
)

EMBEDDING_INITS = ("random", "teacher", "skipgram")


@dataclass(kw_only=True, frozen=True)
class StudentSettings:
    student: str = "bilstm"  # the family
    # bilstm: preset sets embedding/hidden; explicit embedding_dim/hidden_dim win
    preset: str | None = "base"
    embedding_dim: int | None = None
    hidden_dim: int | None = None  # bilstm: LSTM width; transformer: a width other than the teacher's (random init)
    num_layers: int = 1
    dropout: float = 0.3
    pooling: str = "last"
    relu_dim: int = 0
    pair_head: str = "features"  # siamese_bilstm: features (Tang's MLP) | cosine (Sentence-BERT's)
    # random | teacher: PCA of the teacher's embeddings mapped to our vocabulary | skipgram: vectors
    # trained on the vocabulary's tokens of the train split + embedding_texts (distil-bilstm embeddings)
    embedding_init: str = "random"
    embedding_texts: tuple[str, ...] = field(default_factory=tuple)
    skipgram_library: str = "gensim"
    # transformer: the teacher's layers the student keeps (None: every other one)
    layers: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        check = field_checker(self)

        check(self.student in STUDENTS, "student", f"must be one of {list(STUDENTS)}")
        check(self.embedding_dim is None or self.embedding_dim >= 1, "embedding_dim", "must be >= 1 or null")
        check(self.hidden_dim is None or self.hidden_dim >= 1, "hidden_dim", "must be >= 1 or null")
        from .embeddings import (
            LIBRARIES as SKIPGRAM_LIBRARIES,  # local: inference rebuilds students without it
        )

        check(self.skipgram_library in SKIPGRAM_LIBRARIES, "skipgram_library", f"must be one of {SKIPGRAM_LIBRARIES}")
        check(self.embedding_init in EMBEDDING_INITS, "embedding_init", f"must be one of {EMBEDDING_INITS}")
        STUDENTS[self.student].check(self, check)

    def to_dict(self) -> dict:
        return asdict(self)

    def inert_keys(self) -> set[str]:
        """Student keys that cannot change this student (another family's, unused skip-gram keys)."""
        inert = set() if self.embedding_init == "skipgram" else {"embedding_texts", "skipgram_library"}
        return inert | STUDENTS[self.student].inert

    def run_name(self) -> str:
        return STUDENTS[self.student].run_name(self)


@dataclass(frozen=True)
class StudentBuild:
    model: nn.Module
    architecture: str  # student.json's name
    values: dict  # the model config, enough to rebuild it without the teacher
    info: dict  # what the run's metrics record about the initialisation


@dataclass(frozen=True)
class StudentFamily:
    name: str
    label: str  # for tables and plots
    config_class: type
    model_class: type
    inert: frozenset  # StudentSettings keys this family does not read
    check: Callable  # (settings, check) -> None: the family's own rules
    run_name: Callable[[StudentSettings], str]
    make: Callable  # (settings, *, vocab_size, num_labels, teacher_dir, tokens) -> StudentBuild
    takes_embedding_init: bool  # random/teacher/skip-gram embedding rows apply
    needs_teacher_checkpoint: bool  # ``make`` reads the teacher's weights or config
    reads_pairs: bool = False  # only for sentence-pair datasets (every family reads a pair as A [SEP] B)


# ---------------------------------------------------------------------------- bilstm


def _bilstm_config(settings: StudentSettings, *, vocab_size: int, num_labels: int) -> StudentConfig:
    sizes = {k: v for k, v in (("embedding_dim", settings.embedding_dim), ("hidden_dim", settings.hidden_dim)) if v}
    common = dict(
        vocab_size=vocab_size,
        num_labels=num_labels,
        num_layers=settings.num_layers,
        dropout=settings.dropout,
        pooling=settings.pooling,
        relu_dim=settings.relu_dim,
        **sizes,
    )
    if settings.student == "siamese_bilstm":
        common["head"] = settings.pair_head
    config_class = STUDENTS[settings.student].config_class
    return config_class.from_preset(settings.preset, **common) if settings.preset else config_class(**common)


def _bilstm_check(settings: StudentSettings, check) -> None:
    check(settings.preset is None or settings.preset in PRESETS, "preset", f"must be one of {list(PRESETS)} or null")
    check(
        settings.preset is not None or (settings.embedding_dim and settings.hidden_dim),
        "preset",
        "may be null only when embedding_dim and hidden_dim are given",
    )
    check(settings.pooling in POOLINGS, "pooling", f"must be one of {POOLINGS}")
    check(settings.layers is None, "layers", "applies to student: transformer only")
    check(
        settings.student == "siamese_bilstm" or settings.pair_head == "features",
        "pair_head",
        "applies to student: siamese_bilstm only",
    )
    check(settings.pair_head in SIAMESE_HEADS, "pair_head", f"must be one of {SIAMESE_HEADS}")
    try:
        # a trial build checks the sizes; the task's own label count is checked when the run builds its student
        _bilstm_config(settings, vocab_size=10, num_labels=1 if settings.pair_head == "cosine" else 2)
    except ValueError as err:
        raise ValueError(str(err).replace("StudentConfig.", "StudentSettings.")) from None


def _bilstm_make(settings: StudentSettings, *, vocab_size: int, num_labels: int, teacher_dir, tokens) -> StudentBuild:
    config = _bilstm_config(settings, vocab_size=vocab_size, num_labels=num_labels)
    family = STUDENTS[settings.student]
    return StudentBuild(family.model_class(config), family.name, config.to_dict(), {})


def _bilstm_name(settings: StudentSettings) -> str:
    size = settings.preset or f"e{settings.embedding_dim}h{settings.hidden_dim}"
    if settings.student == "siamese_bilstm":
        size = (
            f"siamese-{size}"
            + ("-cos" if settings.pair_head == "cosine" else "")
            + (f"-r{settings.relu_dim}" if settings.relu_dim else "")
        )
    if settings.pooling != "last":  # runs that differ only in pooling must not share a name in the compare table
        size += "-" + {"attention": "attn"}.get(settings.pooling, settings.pooling)
    init = {"random": "", "teacher": "-tinit", "skipgram": "-sg"}[settings.embedding_init]
    if settings.embedding_init == "skipgram" and settings.skipgram_library != "gensim":
        init += f"-{settings.skipgram_library}"
    return size + init


# ---------------------------------------------------------------------------- transformer

TRANSFORMER_DEFAULTS = {
    "embedding_init": "random",
    "pooling": "last",
    "relu_dim": 0,
    "num_layers": 1,
    "embedding_dim": None,
    "pair_head": "features",
}


def _transformer_check(settings: StudentSettings, check) -> None:
    for key, default in TRANSFORMER_DEFAULTS.items():  # BiLSTM keys: refused rather than silently ignored
        check(
            getattr(settings, key) == default,
            key,
            f"is a BiLSTM key; a transformer student leaves it at {default!r}"
            + (" (its embeddings always come from the teacher)" if key == "embedding_init" else ""),
        )
    check(
        settings.layers is None
        or (len(settings.layers) >= 1 and all(isinstance(i, int) and i >= 0 for i in settings.layers)),
        "layers",
        "must be a non-empty list of teacher layer indices (0-based) or null",
    )


def _transformer_make(
    settings: StudentSettings, *, vocab_size: int, num_labels: int, teacher_dir, tokens
) -> StudentBuild:
    config = student_config_from_teacher(
        teacher_dir,
        vocab_size=vocab_size,
        num_labels=num_labels,
        layers=settings.layers,
        hidden_size=settings.hidden_dim,
    )
    model = TransformerStudent(config)
    info = {"student_init": "random"}
    if config.teacher_layers is not None:
        info = {
            "student_init": "teacher",
            "teacher_checkpoint": str(teacher_dir),
            **copy_teacher_weights(model, teacher_dir, tokens),
        }
    return StudentBuild(model, "transformer", config.to_dict(), info)


def _transformer_name(settings: StudentSettings) -> str:
    layers = "" if settings.layers is None else "-l" + "-".join(str(i) for i in settings.layers)
    width = f"-h{settings.hidden_dim}" if settings.hidden_dim else ""
    return f"tf{layers}{width}"


STUDENTS: dict[str, StudentFamily] = {
    "bilstm": StudentFamily(
        name="bilstm",
        label="BiLSTM",
        config_class=StudentConfig,
        model_class=BiLSTMClassifier,
        inert=frozenset({"layers", "pair_head"}),
        check=_bilstm_check,
        run_name=_bilstm_name,
        make=_bilstm_make,
        takes_embedding_init=True,
        needs_teacher_checkpoint=False,
    ),
    # sentence pairs: one BiLSTM encoder for both sides, Tang's [u, v, |u - v|, u * v] head
    "siamese_bilstm": StudentFamily(
        name="siamese_bilstm",
        label="Siamese BiLSTM",
        config_class=SiameseConfig,
        model_class=SiameseBiLSTM,
        inert=frozenset({"layers"}),
        check=_bilstm_check,
        run_name=_bilstm_name,
        make=_bilstm_make,
        takes_embedding_init=True,
        needs_teacher_checkpoint=False,
        reads_pairs=True,
    ),
    "transformer": StudentFamily(
        name="transformer",
        label="Transformer",
        config_class=TransformerStudentConfig,
        model_class=TransformerStudent,
        inert=frozenset(
            {"preset", "dropout", "pooling", "relu_dim", "num_layers", "embedding_dim", "embedding_init", "pair_head"}
        ),
        check=_transformer_check,
        run_name=_transformer_name,
        make=_transformer_make,
        takes_embedding_init=False,
        needs_teacher_checkpoint=True,
    ),
}


def make_student(
    settings: StudentSettings,
    *,
    vocab_size: int,
    num_labels: int,
    teacher_dir: str | os.PathLike | None = None,
    tokens: Sequence[str] = (),
) -> StudentBuild:
    """A new student of ``settings.student``'s family (``teacher_dir``/``tokens``: the teacher
    checkpoint and the student vocabulary's tokens, which a transformer student is made from)."""
    return STUDENTS[settings.student].make(
        settings, vocab_size=vocab_size, num_labels=num_labels, teacher_dir=teacher_dir, tokens=tokens
    )


def build_student(architecture: str, values: dict) -> nn.Module:
    """Rebuild a student from ``student.json``'s architecture name and constructor arguments."""
    if architecture not in STUDENTS:
        raise ValueError(f"unknown student architecture {architecture!r}; known: {sorted(STUDENTS)}")
    family = STUDENTS[architecture]
    return family.model_class(family.config_class.from_dict(values))


def family_label(architecture: str) -> str:
    family = STUDENTS.get(architecture)
    return family.label if family else architecture
