"""``FinetuneConfig``: how ``teacher finetune`` trains, composed of the settings the students' runs use.

    TrainingConfig        optimiser, schedule, epochs, rates, device   (training/config.py), with BERT's
                          fine-tuning defaults: AdamW, linear warmup and decay in every epoch, clipping at 1.0
    DistillationSettings  learning from another teacher's logit store as well (loss, α, T, teacher_path,
                          transfer sets: training/distillation.py)
    FinetuneSettings      what only a teacher has: its base, its output folder, its pieces, the vocabulary
                          adaptation and masked-LM domain adaptation, frozen layers, the pair encoder

Every key is declared once, in its settings class, and checked there; ``FinetuneConfig`` only adds the
rules that span two of them. The keys of older versions (``epochs``, ``lr`` as a list, ``distill_from``,
``distill_alpha``, ``distill_temperature``) are still read by :meth:`FinetuneConfig.from_dict`, each with
one deprecation line, and a resumable fine-tuning started under them still resumes (:func:`recipe_identity`).
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict, dataclass

from ...data.vocab import SPECIAL_TOKENS
from ...training.config import TrainingConfig
from ...training.distillation import DistillationSettings
from ...training.metrics import REGRESSION_METRICS
from ...utils import compose_settings, dataclass_from_dict, field_checker

logger = logging.getLogger(__name__)

PAIR_ENCODERS = ("cross", "bi")
# older key → the shared settings' key (read with a deprecation line; resumable states keep the old names)
RENAMED = {
    "epochs": "train_epoch",
    "distill_from": "teacher_path",
    "distill_alpha": "loss_rate",
    "distill_temperature": "temperature",
}
# keys that say where or how fast, not what: never part of a resumable state's identity
NOT_IDENTITY = {"out", "device", "eval_batch_size", "checkpoint_every", "log_every", "cache_dir"}
# keys added after fine-tunings were already under way (the old names of renamed ones): at these
# values they stay out of the resumable state's identity, so an interrupted fine-tuning still resumes
ADDED_LATER = {
    "freeze_layers": 0,
    "pair_encoder": "cross",
    "distill_from": None,
    "distill_alpha": 0.1,
    "distill_temperature": 2.0,
    "transfer_sets": [],
    "transfer_per_epoch": None,
    "optimizer": "adamw",
    "scheduler": "linear_epochs",
    "patience": 0,
    "clip_grad": 1.0,
    "step_size": 1,
    "gamma": 0.5,
    "teacher_max_length": None,
    "hidden_loss": "none",
    "hidden_loss_weight": 1.0,
    "similarity_loss_weight": 0.0,
}
FILE_LISTS = ("adapt_texts", "mlm_texts", "transfer_sets")


@dataclass(kw_only=True, frozen=True)
class FinetuneSettings:
    base: str  # pretrained model folder or hub id
    out: str  # where the teacher is written (its resumable state beside it, in <out>.finetune/)
    max_length: int = 64  # pieces the teacher reads of each text, special tokens included
    max_train_examples: int | None = None  # train on a random sample of this many (quick runs)
    adapt_vocab: int | None = None  # Fast Vocabulary Transfer to an in-domain vocabulary of this many pieces
    adapt_texts: tuple[str, ...] = ()  # extra unlabelled in-domain files for that vocabulary
    # Characters the adapted vocabulary keeps as pieces. WordPiece turns a whole word into [UNK]
    # when one of its characters is missing, and Korean has thousands of syllables: at 1,000
    # (the student vocabularies' setting) 1.1% of NSMC's tokens are [UNK], at 2,000 0.05%.
    adapt_alphabet: int = 2000
    # Train on train + valid, i.e. the whole official training file (the shared teachers' recipe);
    # valid accuracy is then not reported, since it would be measured on training data.
    include_valid: bool = False
    # domain-adaptive pretraining before fine-tuning: masked LM on these unlabelled in-domain files
    mlm_texts: tuple[str, ...] = ()
    mlm_epochs: int = 1
    mlm_lr: float = 1e-4
    mlm_max_texts: int | None = None  # the first N texts of mlm_texts (after the leakage guard)
    # Freeze the embeddings and the first N encoder layers: backward then stops at layer N, which
    # buys time on a CPU (the quickstart's 12-layer teacher) at little cost in accuracy.
    freeze_layers: int = 0
    # How a sentence-pair teacher reads a pair: "cross" (one sequence <s> A </s></s> B </s>, a head
    # on it) or "bi" (each side alone, the score the cosine of the two mean-pooled states:
    # teachers/running/biencoder.py; regression pairs only).
    pair_encoder: str = "cross"

    def __post_init__(self) -> None:
        check = field_checker(self)
        check(self.max_length >= 2, "max_length", "must be >= 2")
        check(
            self.max_train_examples is None or self.max_train_examples >= 1,
            "max_train_examples",
            "must be >= 1 or null",
        )
        check(
            self.adapt_vocab is None or self.adapt_vocab > len(SPECIAL_TOKENS),
            "adapt_vocab",
            f"must be > {len(SPECIAL_TOKENS)}",
        )
        check(self.adapt_alphabet >= 1, "adapt_alphabet", "must be >= 1")
        check(self.mlm_epochs >= 1, "mlm_epochs", "must be >= 1")
        check(self.mlm_lr > 0, "mlm_lr", "must be > 0")
        check(self.mlm_max_texts is None or self.mlm_max_texts >= 1, "mlm_max_texts", "must be >= 1")
        check(self.freeze_layers >= 0, "freeze_layers", "must be >= 0")
        check(self.pair_encoder in PAIR_ENCODERS, "pair_encoder", f"must be one of {PAIR_ENCODERS}")


SECTIONS: dict[str, type] = {
    "finetune": FinetuneSettings,
    "distillation": DistillationSettings,
    "training": TrainingConfig,
}


class _FinetuneRecipe:
    """``FinetuneConfig``'s behaviour (first in its bases, so these methods win over the settings')."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "_sections", compose_settings(self, SECTIONS, file_lists=FILE_LISTS))
        check = field_checker(self)
        # rules that span two settings, and what a teacher's fine-tuning cannot learn from
        check(
            self.loss == "ce" or not self.teacher_path or self.pair_encoder == "cross",
            "teacher_path",
            "a bi-encoder learns its cosine from gold scores only; use pair_encoder 'cross'",
        )
        check(
            not self.teacher_path or self.loss != "ce",
            "loss",
            "'ce' learns from gold labels only: a teacher_path (logit store) needs loss 'kl' (a score: 'mse')",
        )
        check(self.hidden_loss == "none", "hidden_loss", "must be 'none': a fine-tuned teacher learns from logits only")
        check(
            self.teacher_max_length is None,
            "teacher_max_length",
            "must be null: a logit store holds the logits of the length it was made at",
        )

    def training_config(self, *, has_valid: bool = True, regression: bool = False) -> TrainingConfig:
        """The Trainer's config; without a valid split the last epoch is kept (accuracy is then a
        placeholder), and a regression task selects on valid Spearman unless ``select_metric`` names
        a correlation."""
        training = self._sections["training"]
        select = training.select_metric if has_valid else "accuracy"
        if regression:
            select = training.select_metric if training.select_metric in REGRESSION_METRICS else "spearman"
        return TrainingConfig.from_dict({**training.to_dict(), "select_metric": select})

    def distillation_settings(self) -> DistillationSettings:
        return self._sections["distillation"]

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "FinetuneConfig":
        return dataclass_from_dict(cls, upgrade_keys(values), what="FinetuneConfig")


@dataclass(kw_only=True, frozen=True)
class FinetuneConfig(_FinetuneRecipe, TrainingConfig, DistillationSettings, FinetuneSettings):
    """How ``teacher finetune`` trains: the flat keys of its settings, with a fine-tuning's defaults
    (BERT's recipe; ``epoch_lrs`` gives each epoch its own peak rate, as the shared NSMC teacher's
    ``[2e-4, 5e-5]``; every epoch runs and the best on valid is kept)."""

    batch_size: int = 32
    optimizer: str = "adamw"
    lr: float = 1e-4
    weight_decay: float = 0.01
    scheduler: str = "linear_epochs"
    train_epoch: int = 2
    patience: int = 0
    clip_grad: float = 1.0
    eval_batch_size: int = 128
    log_every: int = 1
    checkpoint_every: int = 500
    loss: str = "ce"  # 'kl' (a score: 'mse') with teacher_path: learn from that logit store too


def upgrade_keys(values: dict) -> dict:
    """An older fine-tuning's keys under today's names, one deprecation line per renamed key: ``epochs`` →
    ``train_epoch``, ``lr`` as a list of per-epoch rates → ``lr`` and ``epoch_lrs``, ``distill_from``
    → ``teacher_path`` (with loss ``kl`` unless a loss is given), ``distill_alpha`` → ``loss_rate``,
    ``distill_temperature`` → ``temperature``."""
    values = dict(values)
    for old, new in RENAMED.items():
        if old in values:
            if new in values:
                raise ValueError(
                    f"FinetuneConfig: both {old!r} and {new!r} are given; {old!r} is the older name of {new!r}"
                )
            logger.warning("FinetuneConfig key %r is deprecated: it is now %r", old, new)
            values[new] = values.pop(old)
            if old == "distill_from" and values[new] and "loss" not in values:
                values["loss"] = "kl"
    rates = values.get("lr")
    if isinstance(rates, (list, tuple)):
        logger.warning("FinetuneConfig key 'lr' as a list of per-epoch rates is deprecated: it is now 'epoch_lrs'")
        rates = list(rates)
        values["lr"] = rates[0] if rates else None
        if len(rates) > 1:
            values["epoch_lrs"] = rates
    return values


def recipe_identity(config: FinetuneConfig, *, regression: bool, **facts) -> str:
    """What a fine-tuning's saved state must match to be resumed: the recipe (less what only says
    where or how fast), with ``facts`` (data, vocabulary, store). The recipe is written under the names
    states were keyed by before the settings were shared (renamed keys under their old names, ``lr``
    as the list of rates, keys added since left out at their defaults), so that a fine-tuning
    interrupted under an older version resumes (``regression``: the task, which chose its loss)."""
    recipe = {k: v for k, v in config.to_dict().items() if k not in NOT_IDENTITY}
    recipe["lr"] = list(recipe.pop("epoch_lrs") or [recipe["lr"]])
    for old, new in RENAMED.items():
        recipe[old] = recipe.pop(new)
    # older versions had no loss key: they chose ce without a store, else mse for a score and kl for classes
    if recipe["loss"] == ("ce" if recipe["distill_from"] is None else "mse" if regression else "kl"):
        del recipe["loss"]
    recipe = {
        k: list(v) if isinstance(v, tuple) else v
        for k, v in recipe.items()
        if not (k in ADDED_LATER and v == ADDED_LATER[k])
    }
    return hashlib.sha256(json.dumps({"config": recipe, **facts}, sort_keys=True).encode()).hexdigest()
