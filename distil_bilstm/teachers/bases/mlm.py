"""Domain-adaptive pretraining: continued masked-LM training of a teacher's encoder on in-domain
unlabelled text before it is fine-tuned (Gururangan et al. 2020, "Don't Stop Pretraining").

The NSMC teacher is an English MiniLM whose vocabulary was transferred to Korean: its layers never
read Korean before fine-tuning. A masked-LM pass over NSMC's unlabelled reviews lets them.

    classifier's encoder ──shared──▶ masked-LM model (its decoder tied to the input embeddings)
    texts → length-bucketed batches → 15% of tokens masked (80% [MASK], 10% random, 10% kept) → CE

The masked-LM model is built from the classifier's config and *shares* its encoder module, so
training it updates the classifier in place; the classification head is untouched. Resumable: a
checkpoint (model, optimizer, schedule, RNG, step) is written every ``checkpoint_every`` steps and
on Ctrl-C, and the batch order is a pure function of (seed, epoch), so a resumed run reaches the
same weights as an uninterrupted one.
"""

from __future__ import annotations

import itertools
import logging
import math
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Sequence

import torch
from tqdm.auto import tqdm

from ...training.batching import bucketed_batches
from ...training.optim import adamw, load_state, optimizer_step, save_state

logger = logging.getLogger(__name__)

CHECKPOINT = "mlm_checkpoint.pt"


@dataclass(kw_only=True)
class MlmConfig:
    epochs: int = 1
    lr: float = 1e-4
    batch_size: int = 32
    max_length: int = 64
    mask_prob: float = 0.15
    warmup_ratio: float = 0.06
    weight_decay: float = 0.01
    checkpoint_every: int = 500  # steps
    seed: int = 42

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "max_length", "checkpoint_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"MlmConfig.{name} must be >= 1, got {getattr(self, name)!r}")
        if not 0.0 < self.mask_prob < 1.0:
            raise ValueError(f"MlmConfig.mask_prob must be in (0, 1), got {self.mask_prob!r}")
        if self.lr <= 0:
            raise ValueError(f"MlmConfig.lr must be > 0, got {self.lr!r}")
        if not 0.0 <= self.warmup_ratio < 1.0:
            raise ValueError(f"MlmConfig.warmup_ratio must be in [0, 1), got {self.warmup_ratio!r}")

    def to_dict(self) -> dict:
        return asdict(self)


def masked_lm_for(classifier):
    """A masked-LM model whose encoder *is* ``classifier``'s (shared module, tied decoder)."""
    from transformers import AutoModelForMaskedLM

    mlm = AutoModelForMaskedLM.from_config(classifier.config)
    if mlm.base_model_prefix != classifier.base_model_prefix:
        raise ValueError(f"cannot share the encoder of {type(classifier).__name__} with {type(mlm).__name__}")
    setattr(mlm, mlm.base_model_prefix, getattr(classifier, classifier.base_model_prefix))
    mlm.tie_weights()  # the output embeddings are the (possibly transferred) input embeddings
    return mlm


def mask_tokens(
    input_ids: torch.Tensor, special: torch.Tensor, *, tokenizer, mask_prob: float, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT's masking of ``input_ids (batch, seq)``: ``mask_prob`` of the non-special positions
    become targets; of those 80% [MASK], 10% a random token, 10% unchanged. Returns (inputs,
    labels) with -100 where no prediction is asked."""
    labels = input_ids.clone()
    chosen = torch.bernoulli(torch.full(input_ids.shape, mask_prob), generator=generator).bool() & ~special
    labels[~chosen] = -100
    inputs = input_ids.clone()
    to_mask = torch.bernoulli(torch.full(input_ids.shape, 0.8), generator=generator).bool() & chosen
    inputs[to_mask] = tokenizer.mask_token_id
    to_random = torch.bernoulli(torch.full(input_ids.shape, 0.5), generator=generator).bool() & chosen & ~to_mask
    inputs[to_random] = torch.randint(len(tokenizer), input_ids.shape, generator=generator)[to_random]
    return inputs, labels


def _batch(encoded: list[list[int]], rows, pad_id: int, special_ids: set[int]):
    longest = max(len(encoded[r]) for r in rows)
    ids = torch.full((len(rows), longest), pad_id, dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, : len(encoded[r])] = torch.tensor(encoded[r])
    attention = (ids != pad_id).long()
    special = torch.zeros_like(ids, dtype=torch.bool)
    for token in special_ids:
        special |= ids == token
    return ids, attention, special


def continue_pretraining(
    classifier,
    tokenizer,
    texts: Sequence[str],
    config: MlmConfig,
    *,
    state_dir: str | Path,
    device: torch.device,
    on_step: Callable[[int, float], None] | None = None,
) -> dict:
    """Masked-LM training of ``classifier``'s encoder on ``texts`` (in place); resumes from
    ``state_dir`` when a checkpoint of the same setup is there. Returns a report (steps, losses,
    seconds). ``on_step(step, loss)`` is called after every step."""
    state_dir = Path(state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    encoded = tokenizer(list(texts), truncation=True, max_length=config.max_length)["input_ids"]
    lengths = [len(e) for e in encoded]
    special_ids = set(tokenizer.all_special_ids)
    mlm = masked_lm_for(classifier).to(device)
    steps_per_epoch = math.ceil(len(encoded) / config.batch_size)
    total_steps = steps_per_epoch * config.epochs
    optimizer = adamw(mlm, lr=config.lr, weight_decay=config.weight_decay)
    from transformers import get_linear_schedule_with_warmup

    scheduler = get_linear_schedule_with_warmup(optimizer, math.ceil(config.warmup_ratio * total_steps), total_steps)
    generator = torch.Generator().manual_seed(config.seed)
    identity = {"config": config.to_dict(), "texts": len(encoded), "tokens": sum(lengths), "vocab": len(tokenizer)}
    step, losses, seconds = 0, [], 0.0
    checkpoint = state_dir / CHECKPOINT
    state = load_state(checkpoint, identity=identity, model=mlm, optimizer=optimizer, device=device, what="masked-LM")
    if state is not None:
        scheduler.load_state_dict(state["scheduler"])
        generator.set_state(state["generator"].cpu())
        step, losses, seconds = state["step"], list(state["losses"]), state["seconds"]
        logger.info("masked LM: resumed from %s at step %d of %d", checkpoint, step, total_steps)

    def save() -> None:
        save_state(
            checkpoint,
            identity=identity,
            model=mlm,
            optimizer=optimizer,
            scheduler=scheduler.state_dict(),
            generator=generator.get_state(),
            step=step,
            losses=losses,
            seconds=seconds,
        )

    pad_id = tokenizer.pad_token_id or 0
    bar = tqdm(
        total=total_steps * config.batch_size,
        initial=min(step * config.batch_size, total_steps * config.batch_size),
        desc="masked LM",
        unit="ex",
        unit_scale=True,
    )
    mlm.train()
    started = time.perf_counter()
    try:
        for epoch in range(step // steps_per_epoch, config.epochs):
            batches = bucketed_batches(lengths, config.batch_size, random.Random(config.seed * 1_000_003 + epoch))
            for rows in batches[step - epoch * steps_per_epoch :]:
                ids, attention, special = _batch(encoded, rows, pad_id, special_ids)
                inputs, labels = mask_tokens(
                    ids, special, tokenizer=tokenizer, mask_prob=config.mask_prob, generator=generator
                )
                loss = mlm(
                    input_ids=inputs.to(device), attention_mask=attention.to(device), labels=labels.to(device)
                ).loss
                optimizer_step(loss, model=mlm, optimizer=optimizer, scheduler=scheduler)
                step += 1
                value = loss.item()
                losses.append(round(value, 4))
                bar.update(len(rows))
                bar.set_postfix(loss=f"{sum(losses[-50:]) / len(losses[-50:]):.3f}")
                if on_step:
                    on_step(step, value)
                if step % config.checkpoint_every == 0:
                    save()
    except KeyboardInterrupt:
        seconds += time.perf_counter() - started
        save()
        bar.close()
        raise KeyboardInterrupt(
            f"masked LM stopped at step {step}; rerun the same command to resume from {checkpoint}"
        ) from None
    bar.close()
    seconds += time.perf_counter() - started
    save()
    mlm.eval()
    first, last = losses[: min(50, len(losses))], losses[-min(50, len(losses)) :]
    return {
        "texts": len(encoded),
        "steps": step,
        "loss_first_50": sum(first) / max(1, len(first)),
        "loss_last_50": sum(last) / max(1, len(last)),
        "seconds": round(seconds, 1),
        "config": config.to_dict(),
    }


def adapt_to_domain(
    classifier,
    tokenizer,
    dataset,
    *,
    files: Sequence[str | Path],
    max_texts: int | None,
    config: MlmConfig,
    state_dir: Path,
    device: torch.device,
) -> dict:
    """Masked-LM training of ``classifier``'s encoder on the first ``max_texts`` texts of ``files``
    (any that are ``dataset``'s validation or test texts left out), resumable from ``state_dir``;
    the adapted encoder is saved to ``state_dir/encoder`` so that other fine-tunings can start from
    it (``--base``). Returns :func:`continue_pretraining`'s report with where the encoder went."""
    from ...data.datasets import LeakageGuard
    from ...data.files import iter_texts
    from ...data.pairs import each_side

    guard = LeakageGuard(dataset)
    texts = list(itertools.islice(each_side(guard(t for f in files for t in iter_texts(f))), max_texts))
    report = continue_pretraining(classifier, tokenizer, texts, config, state_dir=state_dir, device=device)
    classifier.save_pretrained(state_dir / "encoder")
    tokenizer.save_pretrained(state_dir / "encoder")
    logger.info(
        "masked LM: loss %.3f -> %.3f over %d steps; encoder saved to %s",
        report["loss_first_50"],
        report["loss_last_50"],
        report["steps"],
        state_dir / "encoder",
    )
    return {**report, "held_out_dropped": guard.dropped, "encoder": str(state_dir / "encoder")}
