"""Data commands: ``vocab`` (student vocabularies), ``embeddings`` (skip-gram vectors), ``augment`` (a transfer set),
``pair-texts`` (a sentence-pair transfer set from unlabelled sentences)."""

from __future__ import annotations

import argparse
import time

from .common import add_data_args, data_config, int_list, table


def cmd_vocab(args: argparse.Namespace) -> int:
    from ..data.datasets import load_dataset
    from ..data.vocab import VocabConfig, build_vocabularies

    dataset = load_dataset(data_config(args))
    base = VocabConfig(
        vocab_size=args.sizes[0],
        lowercase=args.lowercase,
        strip_accents=args.strip_accents,
        limit_alphabet=args.limit_alphabet,
        min_frequency=args.min_frequency,
    )
    start = time.perf_counter()
    reports = build_vocabularies(
        dataset.split("train")["text"].tolist(),
        dataset.split("valid")["text"].tolist(),
        sizes=args.sizes,
        out_root=args.out,
        dataset=dataset.name,
        base=base,
    )
    rows = [
        {
            "requested": r.requested_size,
            "size": r.vocab_size,
            "unk": f"{100 * r.unk_rate:.2f}%",
            "tokens": round(r.mean_tokens, 2),
            "seconds": round(r.seconds, 1),
        }
        for r in reports
    ]
    print(
        table(
            rows,
            [
                ("requested", "requested"),
                ("size", "vocab size"),
                ("unk", "UNK rate (valid)"),
                ("tokens", "tokens/example (valid)"),
                ("seconds", "build s"),
            ],
        )
    )
    print(f"\n{len(reports)} vocabularies in {time.perf_counter() - start:.1f} s under {args.out}/{dataset.name}/")
    return 0


def add_vocab_parser(sub: argparse._SubParsersAction) -> None:
    vocab = sub.add_parser("vocab", help="train WordPiece vocabularies of several sizes on a training split")
    add_data_args(vocab)
    vocab.add_argument(
        "--sizes",
        type=int_list,
        default=list(range(2000, 9001, 1000)),
        help="comma-separated sizes (default 2000..9000 step 1000)",
    )
    vocab.add_argument("--out", default="tokenizer", help="root folder; writes OUT/<dataset>/vocab_size_N/vocab.txt")
    vocab.add_argument("--limit-alphabet", type=int, default=1000)
    vocab.add_argument("--min-frequency", type=int, default=2)
    vocab.add_argument("--lowercase", action="store_true", help="lowercase (English only: off by default)")
    vocab.add_argument(
        "--strip-accents", action="store_true", help="strip accents (never for Korean: it splits Hangul into jamo)"
    )
    vocab.set_defaults(func=cmd_vocab)


def cmd_embeddings(args: argparse.Namespace) -> int:
    from ..data.datasets import load_dataset
    from ..data.vocab import load_vocab
    from ..runs.pipeline import ensure_vocab
    from ..students.bilstm import PRESETS
    from ..students.embeddings import SkipgramConfig, ensure_skipgram

    config = SkipgramConfig(
        dim=args.dim or PRESETS[args.preset][0],
        window=args.window,
        epochs=args.epochs,
        min_count=args.min_count,
        negative=args.negative,
        library=args.library,
        threads=args.threads,
        seed=args.seed,
    )
    dataset = load_dataset(data_config(args))
    folder = ensure_vocab(dataset, vocab_root=args.vocab_root, vocab_size=args.vocab_size)
    vectors = ensure_skipgram(
        dataset,
        vocab_folder=folder,
        tokenizer=load_vocab(folder),
        text_files=args.texts,
        config=config,
        data_dir=args.data_dir,
        rebuild=args.rebuild,
    )
    stats = vectors.header["stats"]
    print(
        table(
            [{**stats, "coverage": f"{100 * stats['coverage']:.1f}%"}],
            [
                ("train_texts", "train texts"),
                ("extra_texts", "unlabelled texts"),
                ("leaked_dropped", "dropped (valid/test)"),
                ("tokens", "tokens"),
                ("known_tokens", "vectors"),
                ("coverage", "vocab coverage"),
                ("tokenise_seconds", "tokenise s"),
                ("train_seconds", "train s"),
            ],
        )
    )
    print(
        f"\nvectors in {vectors.folder}; use them with --set embedding_init=skipgram"
        + (f" --set embedding_texts={','.join(args.texts)}" if args.texts else "")
        + (f" --set skipgram_library={args.library}" if args.library != "gensim" else "")
    )
    return 0


def add_embeddings_parser(sub: argparse._SubParsersAction) -> None:
    emb = sub.add_parser(
        "embeddings", help="train skip-gram vectors over a student vocabulary's tokens (embedding_init: skipgram)"
    )
    add_data_args(emb)
    emb.add_argument("--vocab-size", type=int, default=3000, help="the student vocabulary (built when missing)")
    emb.add_argument("--vocab-root", default="tokenizer")
    emb.add_argument(
        "--texts",
        nargs="*",
        default=[],
        metavar="FILE",
        help="unlabelled in-domain texts (paths or names under the data folder, e.g. nsmc/unlabeled.txt)",
    )
    emb.add_argument(
        "--preset",
        default="base",
        choices=["large", "base", "small", "mini", "tiny"],
        help="the student whose embedding width the vectors get (default base: 64)",
    )
    emb.add_argument("--dim", type=int, default=None, help="vector width (overrides --preset)")
    emb.add_argument("--library", choices=["gensim", "fasttext"], default="gensim")
    emb.add_argument("--window", type=int, default=5)
    emb.add_argument("--epochs", type=int, default=5)
    emb.add_argument("--min-count", type=int, default=1)
    emb.add_argument("--negative", type=int, default=5)
    emb.add_argument(
        "--threads", type=int, default=1, help="1: reproducible vectors for a seed; more: faster, not repeatable"
    )
    emb.add_argument("--seed", type=int, default=0, help="gensim only (fastText's binding always uses 0)")
    emb.add_argument("--rebuild", action="store_true", help="rebuild vectors that are cached already")
    emb.set_defaults(func=cmd_embeddings)


def cmd_augment(args: argparse.Namespace) -> int:
    from ..data.augment import AugmentConfig, augment_dataset
    from ..data.datasets import load_dataset

    mask_token = args.mask_token
    if args.teacher:  # the mask token the teacher was pretrained with
        from transformers import AutoTokenizer

        mask_token = AutoTokenizer.from_pretrained(args.teacher).mask_token or mask_token
    config = AugmentConfig(
        n_iter=args.n_iter,
        p_mask=args.p_mask,
        p_pos=args.p_pos,
        p_ng=args.p_ng,
        max_ngram=args.max_ngram,
        mask_token=mask_token,
        language=args.language,
        pos=not args.no_pos,
        seed=args.seed,
    )
    dataset = load_dataset(data_config(args))
    start = time.perf_counter()
    meta = augment_dataset(dataset, out=args.out, config=config)
    print(
        table(
            [{**meta, "seconds": round(time.perf_counter() - start, 1), "pos": "on" if meta["pos"] else "off"}],
            [
                ("sources", "training sentences"),
                ("rows", "rows written"),
                ("leaked_dropped", "dropped (valid/test)"),
                ("language", "language"),
                ("pos", "POS rule"),
                ("seconds", "seconds"),
            ],
        )
    )
    if meta.get("pos_note"):
        print(f"\n{meta['pos_note']}")
    print(f"\n{args.out}: {labelling_hint(args)}")
    return 0


def labelling_hint(args: argparse.Namespace, *, states: bool = False) -> str:
    """What to do with a transfer set just written: label it with the teacher, then train on it."""
    data_dir = f" --data-dir {args.data_dir}" if args.data_dir else ""
    return (
        f"label it with `distil-bilstm teacher logits --dataset {args.dataset}{data_dir} --teacher TEACHER "
        f"--transfer-set {args.out}{' --states per_side' if states else ''}`, then train with "
        f"--set transfer_sets={args.out}" + (" (hidden_loss: cos)" if states else "")
    )


def add_augment_parser(sub: argparse._SubParsersAction) -> None:
    au = sub.add_parser(
        "augment",
        help="a transfer set from the training split by Tang et al.'s rules (mask, same part-of-speech word, n-gram)",
    )
    add_data_args(au)
    au.add_argument("--out", required=True, help="TSV to write (text, source_idx); an interrupted run resumes")
    au.add_argument("--n-iter", type=int, default=20, help="samples drawn per training sentence (duplicates dropped)")
    au.add_argument("--p-mask", type=float, default=0.1, help="probability that a word becomes the mask token")
    au.add_argument(
        "--p-pos", type=float, default=0.1, help="probability that a word becomes another word of its part of speech"
    )
    au.add_argument("--p-ng", type=float, default=0.25, help="probability that a sample is cut to a random n-gram")
    au.add_argument("--max-ngram", type=int, default=5, help="n of the n-gram rule is uniform in 1..N")
    au.add_argument("--mask-token", default="[MASK]")
    au.add_argument("--teacher", default=None, help="take the mask token from this teacher's tokenizer")
    au.add_argument(
        "--language",
        choices=("auto", "ko", "en"),
        default="auto",
        help="part-of-speech tagger: kiwipiepy (ko) or TextBlob's PatternTagger (en); auto: by Hangul share",
    )
    au.add_argument("--no-pos", action="store_true", help="no part-of-speech rule (mask and n-gram only)")
    au.add_argument("--seed", type=int, default=42)
    au.set_defaults(func=cmd_augment)


def cmd_pair_texts(args: argparse.Namespace) -> int:
    from ..data.datasets import load_dataset
    from ..data.sentence_pairs import PairTextsConfig, pair_texts
    from ..data.sources import resolve_text_file

    config = PairTextsConfig(per_file=args.per_file, min_chars=args.min_chars, max_chars=args.max_chars, seed=args.seed)
    files = [resolve_text_file(name, args.data_dir) for name in args.texts]
    dataset = load_dataset(data_config(args))
    start = time.perf_counter()
    meta = pair_texts(files, dataset=dataset, out=args.out, config=config)
    print(
        table(
            meta["files"],
            [
                ("file", "file"),
                ("read", "sentences read"),
                ("length", "out of length"),
                ("duplicate", "repeats"),
                ("valid/test", "dropped (valid/test)"),
                ("kept", "kept"),
            ],
        )
    )
    print(
        f"\n{meta['rows']:,} pairs of {meta['sentences']:,} sentences in {time.perf_counter() - start:.1f} s -> {args.out}\n"
        f"{labelling_hint(args, states=True)}"
    )
    return 0


def add_pair_texts_parser(sub: argparse._SubParsersAction) -> None:
    pt = sub.add_parser(
        "pair-texts",
        help="a sentence-pair transfer set from unlabelled sentences paired at random "
        "(embedding distillation of a siamese student)",
    )
    add_data_args(pt)
    pt.add_argument(
        "--texts",
        nargs="+",
        required=True,
        metavar="FILE",
        help="unlabelled texts (paths or names under the data folder, e.g. nsmc/unlabeled.txt); "
        "a pair file's two sides count as sentences",
    )
    pt.add_argument("--out", required=True, help="TSV to write (sentence1, sentence2)")
    pt.add_argument("--per-file", type=int, default=20_000, help="sentences drawn from each file at most")
    pt.add_argument("--min-chars", type=int, default=5)
    pt.add_argument("--max-chars", type=int, default=200)
    pt.add_argument("--seed", type=int, default=42)
    pt.set_defaults(func=cmd_pair_texts)


def register(sub: argparse._SubParsersAction) -> None:
    add_vocab_parser(sub)
    add_embeddings_parser(sub)
    add_augment_parser(sub)
    add_pair_texts_parser(sub)
