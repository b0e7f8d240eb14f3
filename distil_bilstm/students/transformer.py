"""Transformer students made from the teacher's own layers (DistilBERT, Sanh et al. 2019;
DistilKoBERT keeps KoBERT's layers 1, 5 and 9 of 12).

    student ids (batch, seq), no special tokens
      → BERT embeddings (word rows mapped from the teacher's vocabulary by Fast Vocabulary Transfer;
        position, token-type and LayerNorm copied)
      → the kept teacher layers, in order (attention masked by length)
      → mean over the sentence's own tokens (batch, hidden)
      → teacher's pooler dense + tanh → dropout → classifier   (both copied when the label counts match)

The student reads the same WordPiece ids as a BiLSTM student, so it shares their vocabularies,
encoded splits, logit stores and transfer sets. It has no [CLS] token, which is why it pools by the
mean of its token states; the teacher's pooler and classifier are a warm start that training adapts.
A sentence gets the same logits alone and inside a padded batch (padding is masked from attention
and from the mean). ``hidden_size`` other than the teacher's builds the same architecture at that
width from random weights, the comparison DistilBERT's ablation makes.
"""

from __future__ import annotations

import logging
import os
from dataclasses import asdict, dataclass
from typing import Sequence

import torch
from torch import nn

from ..training.masks import length_mask, masked_mean
from ..utils import dataclass_from_dict, field_checker

logger = logging.getLogger(__name__)

# teachers whose layers load into the student's BertModel layer for layer (multilingual-e5-small and
# MiniLM are BERT models)
LAYER_COMPATIBLE = ("bert",)
TEACHER_CONFIG_KEYS = (
    "hidden_size",
    "num_attention_heads",
    "intermediate_size",
    "max_position_embeddings",
    "hidden_act",
    "layer_norm_eps",
    "hidden_dropout_prob",
    "attention_probs_dropout_prob",
    "type_vocab_size",
)


@dataclass
class TransformerStudentConfig:
    vocab_size: int
    num_labels: int = 2
    hidden_size: int = 384
    num_layers: int = 3
    num_attention_heads: int = 12
    intermediate_size: int = 1536
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    hidden_act: str = "gelu"
    layer_norm_eps: float = 1e-12
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1
    # where the layers came from: the teacher's layer index of each student layer (None: random init)
    teacher_layers: list[int] | None = None

    def __post_init__(self) -> None:
        check = field_checker(self)
        for name in (
            "vocab_size",
            "hidden_size",
            "num_layers",
            "num_attention_heads",
            "intermediate_size",
            "max_position_embeddings",
        ):
            check(getattr(self, name) >= 1, name, "must be >= 1")
        check(self.num_labels >= 2, "num_labels", "must be >= 2")
        check(
            self.hidden_size % self.num_attention_heads == 0,
            "hidden_size",
            f"must be a multiple of num_attention_heads ({self.num_attention_heads})",
        )
        check(
            self.teacher_layers is None or len(self.teacher_layers) == self.num_layers,
            "teacher_layers",
            f"must name num_layers ({self.num_layers}) layers",
        )

    def bert_config(self):
        from transformers import BertConfig

        return BertConfig(
            vocab_size=self.vocab_size,
            hidden_size=self.hidden_size,
            num_hidden_layers=self.num_layers,
            num_attention_heads=self.num_attention_heads,
            intermediate_size=self.intermediate_size,
            max_position_embeddings=self.max_position_embeddings,
            type_vocab_size=self.type_vocab_size,
            hidden_act=self.hidden_act,
            layer_norm_eps=self.layer_norm_eps,
            pad_token_id=0,
            hidden_dropout_prob=self.hidden_dropout_prob,
            attention_probs_dropout_prob=self.attention_probs_dropout_prob,
        )

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "TransformerStudentConfig":
        return dataclass_from_dict(cls, values)


class TransformerStudent(nn.Module):
    def __init__(self, config: TransformerStudentConfig):
        super().__init__()
        from transformers import BertModel

        self.config = config
        self.encoder = BertModel(config.bert_config(), add_pooling_layer=False)
        self.pooler = nn.Linear(config.hidden_size, config.hidden_size)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)

    @property
    def embedding(self) -> nn.Embedding:
        return self.encoder.embeddings.word_embeddings

    def forward(self, input_ids: torch.Tensor, lengths: torch.Tensor, return_features: bool = False):
        """``input_ids (batch, seq)`` right-padded, ``lengths (batch,)`` ≥ 1 → logits ``(batch, labels)``
        (and, with ``return_features``, the mean token state ``(batch, hidden)`` the cosine loss uses)."""
        mask = length_mask(lengths.to(input_ids.device), input_ids.shape[1])  # (batch, seq)
        states = self.encoder(input_ids=input_ids, attention_mask=mask.long()).last_hidden_state  # (batch, seq, hidden)
        pooled = masked_mean(states, mask)  # (batch, hidden)
        logits = self.classifier(self.dropout(torch.tanh(self.pooler(pooled))))
        return (logits, pooled) if return_features else logits


def default_layers(teacher_layers: int) -> list[int]:
    """Every other layer from the first (6 → [0, 2, 4]; DistilBERT's 12 → 6)."""
    return list(range(0, teacher_layers, 2))


def student_config_from_teacher(
    teacher_dir: str | os.PathLike,
    *,
    vocab_size: int,
    num_labels: int,
    layers: Sequence[int] | None,
    hidden_size: int | None = None,
) -> TransformerStudentConfig:
    """The student's architecture: the teacher's, with ``layers`` of its layers (default every other).
    ``hidden_size`` other than the teacher's: that width, heads of 64, FFN 4× wide, random weights."""
    from transformers import AutoConfig

    teacher = AutoConfig.from_pretrained(str(teacher_dir))
    if teacher.model_type not in LAYER_COMPATIBLE:
        # MPNet's layers (attn.q/k/v, a shared relative position bias, positions counted from its pad id)
        # do not load into the student's BERT layers: refused in one line
        raise ValueError(
            f"student 'transformer' is made of the teacher's BERT layers; {teacher_dir} is a {teacher.model_type!r} "
            f"model ({type(teacher).__name__}), whose layers it cannot take yet: distil a BiLSTM student from it"
        )
    depth = teacher.num_hidden_layers
    layers = list(layers) if layers is not None else default_layers(depth)
    bad = [i for i in layers if not 0 <= i < depth]
    if bad or len(set(layers)) != len(layers) or layers != sorted(layers):
        raise ValueError(
            f"layers {layers} must be distinct, increasing indices of the teacher's {depth} layers (0..{depth - 1})"
        )
    values = {k: getattr(teacher, k) for k in TEACHER_CONFIG_KEYS}
    copied = hidden_size is None or hidden_size == teacher.hidden_size
    if not copied:
        values.update(
            hidden_size=hidden_size, num_attention_heads=max(1, hidden_size // 64), intermediate_size=4 * hidden_size
        )
    return TransformerStudentConfig(
        vocab_size=vocab_size,
        num_labels=num_labels,
        num_layers=len(layers),
        teacher_layers=layers if copied else None,
        **values,
    )


def copy_teacher_weights(
    student: TransformerStudent, teacher_dir: str | os.PathLike, student_tokens: Sequence[str]
) -> dict:
    """Initialise ``student`` from the teacher at ``teacher_dir``: its layers ``config.teacher_layers``,
    its position/type embeddings and embedding LayerNorm, its word embeddings mapped onto the
    student's tokens (Fast Vocabulary Transfer), and its pooler and classifier when the label
    counts match. Returns what was copied."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from ..teachers.bases.vocab_transfer import transfer_embeddings

    config = student.config
    if config.teacher_layers is None:
        raise ValueError("this student was built at another width than its teacher: it has no teacher layers to copy")
    teacher = AutoModelForSequenceClassification.from_pretrained(str(teacher_dir))
    tokenizer = AutoTokenizer.from_pretrained(str(teacher_dir))
    body = teacher.base_model
    copied = []
    with torch.no_grad():
        emb, t_emb = student.encoder.embeddings, body.embeddings
        emb.word_embeddings.weight.copy_(
            transfer_embeddings(t_emb.word_embeddings.weight.detach().float(), tokenizer, student_tokens)
        )
        emb.word_embeddings.weight[0].zero_()  # [PAD]
        for name in ("position_embeddings", "token_type_embeddings", "LayerNorm"):
            getattr(emb, name).load_state_dict(getattr(t_emb, name).state_dict())
        for mine, theirs in enumerate(config.teacher_layers):
            student.encoder.encoder.layer[mine].load_state_dict(body.encoder.layer[theirs].state_dict())
        copied += ["embeddings", *(f"layer {t} → {s}" for s, t in enumerate(config.teacher_layers))]
        pooler = getattr(body, "pooler", None)
        if pooler is not None:
            student.pooler.load_state_dict(pooler.dense.state_dict())
            copied.append("pooler")
        head = getattr(teacher, "classifier", None)
        if isinstance(head, nn.Linear) and head.out_features == config.num_labels:
            student.classifier.load_state_dict(head.state_dict())
            copied.append("classifier")
    logger.info("transformer student from %s: %s", teacher_dir, ", ".join(copied))
    return {"copied": copied, "teacher_layers": list(config.teacher_layers)}
