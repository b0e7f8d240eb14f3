"""Skip-gram vectors for a student vocabulary: ``distil-bilstm embeddings`` and ``embedding_init: skipgram``.

Tang et al. 2019 owe part of their BiLSTM's accuracy to pretrained word2vec embeddings; our
students use WordPiece vocabularies no public vectors cover, so we train skip-gram (Mikolov et
al. 2013) over the student vocabulary's own tokens: the training split plus any unlabelled
in-domain texts, with every text equal to a validation or test text left out (``LeakageGuard``).

    texts → WordPiece tokens (one line per text, a temporary file) → fastText or gensim skip-gram
          → one vector per vocabulary token seen in the corpus → cache beside the vocabulary

The cache is ``<vocab folder>/skipgram/<library>-d<dim>-<key>/`` holding ``vectors.safetensors``
(``vectors (V, dim)`` float32, ``known (V,)`` bool: which rows have a vector) and ``header.json``.
``key`` hashes everything the vectors depend on (vocabulary file, dataset fingerprint — it covers
the held-out texts too — each texts file's sha256, the settings); the header repeats those inputs
and the vectors' sha256, and a cache whose header disagrees with what is asked for is refused,
never silently reused.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from tqdm.auto import tqdm

from ..data.datasets import Dataset, LeakageGuard
from ..data.files import iter_texts
from ..data.pairs import each_side
from ..data.sources import resolve_text_file
from ..data.vocab import vocab_hash, vocab_tokens
from ..utils import atomic_dir, count_lines, dataclass_from_dict, read_json, sha256_file, write_json

logger = logging.getLogger(__name__)

LIBRARIES = ("fasttext", "gensim")
FORMAT = "distil-bilstm skipgram v1"


class StaleEmbeddingsError(ValueError):
    """A cached set of vectors does not match what was asked for (or was changed on disk)."""


@dataclass(kw_only=True)
class SkipgramConfig:
    """Skip-gram settings. Defaults: the recipe measured in README (dim from the student preset)."""

    dim: int = 64
    window: int = 5
    epochs: int = 5
    min_count: int = 1
    negative: int = 5
    library: str = "gensim"  # gensim (Word2Vec) | fasttext: as accurate here, 1.8× slower, no seed (README)
    threads: int = 1  # 1 makes the vectors reproducible for a seed; more is faster but not repeatable
    seed: int = 0  # gensim takes any; fastText's Python binding always trains with seed 0

    def __post_init__(self) -> None:
        for name in ("dim", "window", "epochs", "min_count", "negative", "threads"):
            if getattr(self, name) < 1:
                raise ValueError(f"SkipgramConfig.{name} must be >= 1, got {getattr(self, name)!r}")
        if self.library not in LIBRARIES:
            raise ValueError(f"SkipgramConfig.library must be one of {LIBRARIES}, got {self.library!r}")
        if self.library == "fasttext" and self.seed != 0:
            raise ValueError(
                f"SkipgramConfig.seed must be 0 with library 'fasttext' (its Python binding has no seed "
                f"option and always uses 0); use library 'gensim' for another seed, got {self.seed!r}"
            )

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "SkipgramConfig":
        return dataclass_from_dict(cls, values)


@dataclass
class SkipgramVectors:
    vectors: torch.Tensor  # (V, dim) float32; rows of unknown tokens are 0
    known: torch.Tensor  # (V,) bool: the token occurred in the corpus and has a vector
    header: dict
    folder: Path

    @property
    def coverage(self) -> float:
        return float(self.known.float().mean())


@dataclass
class SkipgramInputs:
    """What the vectors depend on; its hash names the cache folder."""

    vocab_sha256: str
    dataset: str
    dataset_fingerprint: str
    texts: list[dict] = field(default_factory=list)  # [{"path", "sha256"}], in the order given
    settings: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)

    def key(self) -> str:
        payload = {k: v for k, v in self.to_dict().items() if k != "texts"}
        payload["texts"] = [t["sha256"] for t in self.texts]  # content, not where the file lies
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def skipgram_inputs(
    *, dataset: Dataset, vocab_folder: Path, text_files: Sequence[Path], config: SkipgramConfig
) -> SkipgramInputs:
    return SkipgramInputs(
        vocab_sha256=vocab_hash(vocab_folder),
        dataset=dataset.name,
        dataset_fingerprint=dataset.fingerprint,
        texts=[{"path": str(p), "sha256": sha256_file(p)} for p in text_files],
        settings=config.to_dict(),
    )


def cache_folder(vocab_folder: Path, inputs: SkipgramInputs) -> Path:
    settings = inputs.settings
    return Path(vocab_folder) / "skipgram" / f"{settings['library']}-d{settings['dim']}-{inputs.key()[:12]}"


# --------------------------------------------------------------------------------------------
# corpus


def write_token_corpus(
    path: Path, texts: Iterable[str], tokenizer, *, total: int | None = None, batch_size: int = 8192
) -> int:
    """Write one line of space-separated WordPiece tokens per text (the libraries' input format);
    returns the number of tokens written. Texts are tokenised in batches, never all at once."""
    id_to_token = vocab_tokens(tokenizer)
    written = 0
    with open(path, "w", encoding="utf-8") as out, tqdm(total=total, desc="tokenise", unit="text") as bar:
        batch: list[str] = []

        def flush() -> int:
            ids = tokenizer(batch, add_special_tokens=False)["input_ids"]
            lines = [" ".join(id_to_token[i] for i in row) for row in ids if row]
            out.write("".join(line + "\n" for line in lines))
            bar.update(len(batch))
            count = sum(len(row) for row in ids)
            batch.clear()
            return count

        for text in texts:
            batch.append(text)
            if len(batch) == batch_size:
                written += flush()
        if batch:
            written += flush()
    return written


# --------------------------------------------------------------------------------------------
# training, one function per library; each returns {token: vector} for the corpus' words


def _fasttext_vectors(corpus: str, config: "SkipgramConfig") -> tuple[list[str], np.ndarray]:
    import fasttext

    # minCount and the defaults minn 3 / maxn 6 (character n-grams of each token) are fastText's
    # own recipe; verbose 2 draws fastText's progress line (words/s, loss, ETA) on stderr
    model = fasttext.train_unsupervised(
        corpus,
        model="skipgram",
        dim=config.dim,
        ws=config.window,
        epoch=config.epochs,
        minCount=config.min_count,
        neg=config.negative,
        thread=config.threads,
        verbose=2,
    )
    words = [w for w in model.words if w != "</s>"]
    return words, np.stack([model.get_word_vector(w) for w in words]) if words else np.zeros(
        (0, config.dim), np.float32
    )


def _train_fasttext(corpus: Path, config: SkipgramConfig) -> tuple[list[str], Callable]:
    # fastText trains in a fresh process: in a process whose heap already held large models (a
    # teacher converted or fine-tuned in the same notebook), it returned vectors with garbage
    # components (1e26), i.e. it reads memory it never initialised; a new process starts clean.
    import multiprocessing

    import fasttext  # noqa: F401  (fail here, in this process, when the package is missing)

    with multiprocessing.get_context("spawn").Pool(1) as pool:
        words, matrix = pool.apply(_fasttext_vectors, (str(corpus), config))
    rows = {w: i for i, w in enumerate(words)}
    return words, lambda word: matrix[rows[word]]


def _train_gensim(corpus: Path, config: SkipgramConfig) -> tuple[list[str], Callable]:
    from gensim.models import Word2Vec
    from gensim.models.callbacks import CallbackAny2Vec

    class EpochBar(CallbackAny2Vec):
        def __init__(self) -> None:
            self.bar = tqdm(total=config.epochs, desc="skip-gram (gensim)", unit="epoch")

        def on_epoch_end(self, model) -> None:
            self.bar.update(1)

        def on_train_end(self, model) -> None:
            self.bar.close()

    model = Word2Vec(
        corpus_file=str(corpus),
        vector_size=config.dim,
        window=config.window,
        epochs=config.epochs,
        min_count=config.min_count,
        sg=1,
        negative=config.negative,
        workers=config.threads,
        seed=config.seed,
        callbacks=[EpochBar()],
    )
    return list(model.wv.key_to_index), model.wv.get_vector


TRAINERS = {"fasttext": _train_fasttext, "gensim": _train_gensim}


def train_skipgram(corpus: Path, tokens: Sequence[str], config: SkipgramConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """Skip-gram over ``corpus``; returns ``vectors (len(tokens), dim)`` and ``known (len(tokens),)``
    for the vocabulary ``tokens`` (in id order). Tokens the corpus never shows get no vector."""
    try:
        words, vector_of = TRAINERS[config.library](corpus, config)
    except ImportError as err:
        package = {"fasttext": "fasttext-numpy2", "gensim": "gensim"}[config.library]
        raise ImportError(
            f"skip-gram with library {config.library!r} needs {package}: pip install 'distil-bilstm[embeddings]'"
        ) from err
    index = {token: i for i, token in enumerate(tokens)}
    vectors = torch.zeros(len(tokens), config.dim)
    known = torch.zeros(len(tokens), dtype=torch.bool)
    for word in words:
        row = index.get(word)
        if row is not None:
            vectors[row] = torch.from_numpy(vector_of(word).copy())
            known[row] = True
    return vectors, known


# --------------------------------------------------------------------------------------------
# cache


def open_vectors(folder: Path, inputs: SkipgramInputs) -> SkipgramVectors:
    """Load cached vectors, refusing them when they were built from other inputs or changed since."""
    folder = Path(folder)
    header = read_json(folder / "header.json")
    stored = header.get("inputs", {})
    expected = inputs.to_dict()
    differs = [k for k in expected if k != "texts" and stored.get(k) != expected[k]]
    if [t.get("sha256") for t in stored.get("texts", [])] != [t["sha256"] for t in inputs.texts]:
        differs.append("texts")
    if differs:
        raise StaleEmbeddingsError(
            f"{folder}: these vectors were built from another {', '.join(differs)}; "
            "delete the folder or rebuild (`distil-bilstm embeddings ... --rebuild`)"
        )
    if sha256_file(folder / "vectors.safetensors") != header.get("vectors_sha256"):
        raise StaleEmbeddingsError(
            f"{folder}/vectors.safetensors changed since it was written (sha256 differs from "
            "header.json); delete the folder or rebuild with --rebuild"
        )
    tensors = load_file(folder / "vectors.safetensors")
    return SkipgramVectors(vectors=tensors["vectors"], known=tensors["known"].bool(), header=header, folder=folder)


def ensure_skipgram(
    dataset: Dataset,
    *,
    vocab_folder: str | os.PathLike,
    tokenizer,
    text_files: Sequence[str | os.PathLike] = (),
    config: SkipgramConfig,
    data_dir: str | os.PathLike | None = None,
    rebuild: bool = False,
) -> SkipgramVectors:
    """The skip-gram vectors of ``vocab_folder``'s tokens, built (and cached) when missing.

    Corpus: the training split of ``dataset`` plus every text of ``text_files`` (paths, or names
    under the data folder such as ``nsmc/unlabeled.txt``) that is not a validation or test text.
    """
    vocab_folder = Path(vocab_folder)
    files = [resolve_text_file(f, data_dir) for f in text_files]
    inputs = skipgram_inputs(dataset=dataset, vocab_folder=vocab_folder, text_files=files, config=config)
    folder = cache_folder(vocab_folder, inputs)
    if folder.exists() and not rebuild:
        cached = open_vectors(folder, inputs)
        logger.info("skip-gram vectors from %s (%.1f%% of the vocabulary)", folder, 100 * cached.coverage)
        return cached
    with atomic_dir(folder) as staging:  # whole folder appears at once: a half-built cache is never read
        header = _build(dataset, staging=staging, tokenizer=tokenizer, files=files, inputs=inputs, config=config)
    logger.info(
        "skip-gram vectors for %d of %d tokens (%.1f%%) in %.0f s -> %s",
        header["stats"]["known_tokens"],
        header["stats"]["vocab_size"],
        100 * header["stats"]["coverage"],
        header["stats"]["tokenise_seconds"] + header["stats"]["train_seconds"],
        folder,
    )
    return open_vectors(folder, inputs)


def write_skipgram_corpus(path: Path, dataset: Dataset, tokenizer, files: Sequence[Path]) -> dict:
    """The skip-gram corpus: the training split, then every text of ``files`` that is not a
    validation or test text. Returns its counts (``train_texts``, ``extra_texts``,
    ``leaked_dropped``, ``tokens``)."""
    train_texts = list(each_side(dataset.split("train")["text"]))  # a pair's sides: two sentences
    guard = LeakageGuard(dataset, sides=dataset.pairs)
    extra = guard(each_side(text for f in files for text in iter_texts(f)))
    approx_total = len(train_texts) + sum(count_lines(f) for f in files)  # for the progress bar's ETA only
    n_tokens = write_token_corpus(path, itertools.chain(train_texts, extra), tokenizer, total=approx_total)
    if guard.dropped:
        logger.info(
            "leakage guard: %d of %d unlabelled texts equal a validation or test text and were left out",
            guard.dropped,
            guard.seen,
        )
    return {
        "train_texts": len(train_texts),
        "extra_texts": guard.seen - guard.dropped,
        "leaked_dropped": guard.dropped,
        "tokens": n_tokens,
    }


def _build(
    dataset: Dataset, *, staging: Path, tokenizer, files: list[Path], inputs: SkipgramInputs, config: SkipgramConfig
) -> dict:
    tokens = vocab_tokens(tokenizer)
    start = time.perf_counter()
    corpus = staging / "corpus.txt"
    stats = write_skipgram_corpus(corpus, dataset, tokenizer, files)
    tokenise_seconds = time.perf_counter() - start
    start = time.perf_counter()
    vectors, known = train_skipgram(corpus, tokens, config)
    train_seconds = time.perf_counter() - start
    corpus.unlink()
    save_file({"vectors": vectors.contiguous(), "known": known.to(torch.uint8)}, str(staging / "vectors.safetensors"))
    header = {
        "format": FORMAT,
        "key": inputs.key(),
        "inputs": inputs.to_dict(),
        "stats": {
            **stats,
            "vocab_size": len(tokens),
            "known_tokens": int(known.sum()),
            "coverage": float(known.float().mean()),
            "tokenise_seconds": round(tokenise_seconds, 1),
            "train_seconds": round(train_seconds, 1),
        },
        "vectors_sha256": sha256_file(staging / "vectors.safetensors"),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    write_json(staging / "header.json", header)
    return header


# --------------------------------------------------------------------------------------------
# student initialisation


def init_embedding_from_vectors(weight: torch.Tensor, vectors: SkipgramVectors, *, padding_idx: int | None = 0) -> int:
    """Copy the skip-gram vectors into the rows of ``weight (V, dim)`` whose token has one; returns
    how many rows were set. Vectors are scaled by one factor so that their standard deviation
    equals that of the rows they replace (``nn.Embedding``'s default N(0, 1) init), keeping the
    scale the LSTM was tuned for; rows without a vector, and the padding row, keep their init."""
    if tuple(weight.shape) != tuple(vectors.vectors.shape):
        raise ValueError(
            f"{vectors.folder}: vectors are {tuple(vectors.vectors.shape)} but the student embedding is "
            f"{tuple(weight.shape)}; build them for this vocabulary and embedding_dim"
        )
    rows = vectors.known.clone()
    if padding_idx is not None:
        rows[padding_idx] = False
    if not rows.any():
        return 0
    with torch.no_grad():
        source = vectors.vectors[rows]  # (known, dim)
        target_std = weight[rows].std() if rows.sum() > 1 else torch.tensor(1.0)
        weight[rows] = source * (target_std / source.std().clamp_min(1e-12))
    return int(rows.sum())
