"""teachers/bases/vocab_transfer.py: a base's vocabulary moved to the task's texts, embeddings carried over."""

from __future__ import annotations

import torch

from distil_bilstm.teachers.bases.vocab_transfer import adapt_vocabulary
from distil_bilstm.teachers.running.reference import load_teacher


def test_adapt_vocabulary_means_old_embeddings(tiny_teacher_dir, tmp_path):
    teacher = load_teacher(tiny_teacher_dir, device="cpu")
    old_weight = teacher.model.get_input_embeddings().weight.detach().clone()
    old_tok = teacher.tokenizer
    texts = ["새로운 단어 새로운 문장", "단어 문장 새로운"] * 10
    new_tok = adapt_vocabulary(teacher.model, old_tok, texts, vocab_size=60, out_dir=tmp_path / "adapted")
    new_weight = teacher.model.get_input_embeddings().weight.detach()
    assert new_weight.shape == (len(new_tok), old_weight.shape[1])
    assert teacher.model.config.vocab_size == len(new_tok)
    for token in ("[PAD]", "[CLS]", "새로운"):
        new_id = new_tok.convert_tokens_to_ids(token)
        old_ids = (
            [old_tok.convert_tokens_to_ids(token)]
            if token.startswith("[")
            else old_tok(token, add_special_tokens=False)["input_ids"]
        )
        torch.testing.assert_close(new_weight[new_id], old_weight[old_ids].mean(0))
    # the adapted model still runs end to end
    enc = new_tok(["새로운 문장"], return_tensors="pt")
    assert teacher.model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]).logits.shape == (1, 2)
