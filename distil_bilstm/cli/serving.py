"""Serving commands: ``predict``, ``evaluate``, ``export``, ``serve`` — a trained student put to use."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..rundir import holds_tagger
from .common import data_config, table


def cmd_predict(args: argparse.Namespace) -> int:
    from ..data.pairs import make_pair, read_as
    from ..serving.inference import Predictor, dumps_prediction

    if args.texts and args.file:
        raise ValueError("give texts on the command line or --file, not both")
    if args.text_b and (args.file or len(args.text_b) != len(args.texts)):
        raise ValueError(
            f"--text-b gives the second text of each pair on the command line: {len(args.texts)} text(s), "
            f"{len(args.text_b)} --text-b"
        )
    if holds_tagger(args.model):
        return _predict_entities(args)
    predictor = Predictor.load(args.model, device=args.device, batch_size=args.batch_size)
    if not args.file:
        if args.text_b:
            texts = [make_pair(a, b, where=f"pair {i + 1}") for i, (a, b) in enumerate(zip(args.texts, args.text_b))]
        elif args.texts:
            texts = args.texts
        else:  # stdin: a pair model's lines are "A<TAB>B"
            lines = [(n, line.rstrip("\n")) for n, line in enumerate(sys.stdin, start=1) if line.strip()]
            texts = [read_as(line, pairs=predictor.reads_pairs, where=f"stdin, line {n}") for n, line in lines]
        for text, pred in zip(texts, predictor.predict(texts)):
            print(dumps_prediction(text, pred))
        return 0
    from ..serving.batch_predict import predict_file

    summary = predict_file(predictor, args.file, out=args.out, text_column=args.text_column)
    print(
        f"{summary['rows']:,} rows in {summary['seconds']:.1f} s ({summary['examples_per_second']:,.0f}/s) -> {summary['out']}"
    )
    return 0


def add_predict_parser(sub: argparse._SubParsersAction) -> None:
    pr = sub.add_parser("predict", help="classify texts (arguments, stdin or a file) with a trained student or export")
    pr.add_argument("--model", required=True, help="a run folder (distil/grid) or an export folder (export)")
    pr.add_argument(
        "texts", nargs="*", help="texts to classify (default: one per line on stdin; a pair model's lines: A<TAB>B)"
    )
    pr.add_argument(
        "--text-b",
        nargs="+",
        default=None,
        metavar="TEXT",
        help="a pair model: the second text of each pair, in the order of the texts: predict --model M "
        "'a1' 'a2' --text-b 'b1' 'b2'",
    )
    pr.add_argument(
        "--file", default=None, help="a file of texts (TSV with a header naming --text-column, or one text per line)"
    )
    pr.add_argument(
        "--text-column",
        default=None,
        help="text column of --file (default: document, text, sentence, review or comments)",
    )
    pr.add_argument("--out", default=None, help="CSV of predictions for --file (default: FILE.predictions.csv)")
    pr.add_argument("--batch-size", type=int, default=256)
    pr.add_argument("--device", default="auto")
    pr.set_defaults(func=cmd_predict)


def _scores_table(per_name: dict, *, name: str) -> str:
    """Precision, recall and F1 (in %) and support of each label or entity type."""
    rows = [
        {name: key, **{k: (round(100 * v, 2) if k != "support" else v) for k, v in scores.items()}}
        for key, scores in per_name.items()
    ]
    columns = [(name, name), ("precision", "precision"), ("recall", "recall"), ("f1", "F1"), ("support", "support")]
    return table(rows, columns)


def _predict_entities(args: argparse.Namespace) -> int:
    """A tagger's entities of each text, one JSON line a text."""
    from ..serving.entities import TagPredictor, dumps_entities, predict_entities_file

    if args.text_b:
        raise ValueError(f"{args.model} is a tagger: it reads one text at a time, not pairs (--text-b)")
    predictor = TagPredictor.load(args.model, device=args.device)
    if args.file:
        summary = predict_entities_file(predictor, args.file, out=args.out, text_column=args.text_column)
        print(
            f"{summary['rows']:,} rows, {summary['entities']:,} entities in {summary['seconds']:.1f} s -> {summary['out']}"
        )
        return 0
    texts = args.texts or [line.rstrip("\n") for line in sys.stdin if line.strip()]
    for text, entities in zip(texts, predictor.entities(texts)):
        print(dumps_entities(text, entities))
    return 0


def _evaluate_tagger(args: argparse.Namespace) -> int:
    """A tagger's entity scores on a tagged dataset's split."""
    import json

    from ..data.tagging import load_tagged_dataset
    from ..serving.entities import TagPredictor

    if args.file or not args.dataset:
        raise ValueError(f"{args.model} is a tagger: evaluate it on --dataset conll2003|klue_ner|FILE.jsonl [--split]")
    predictor = TagPredictor.load(args.model, device=args.device)
    dataset = load_tagged_dataset(
        args.dataset, data_dir=args.data_dir, valid_size=args.valid_size, seed=args.split_seed
    )
    if list(dataset.tag_names) != predictor.tag_names:
        raise ValueError(f"{args.dataset} has tags {dataset.tag_names} but the tagger predicts {predictor.tag_names}")
    scores = predictor.evaluate(dataset.split(args.split))
    report = {"data": f"{dataset.name}:{args.split}", **scores}
    if args.json:
        print(json.dumps(report, indent=2, ensure_ascii=False))
        return 0
    print(
        f"{report['data']}: entity F1 {100 * scores['f1']:.2f} (precision {100 * scores['precision']:.2f}, recall "
        f"{100 * scores['recall']:.2f}), token accuracy {100 * scores['token_accuracy']:.2f}\n"
    )
    print(_scores_table(scores["per_type"], name="type"))
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    import json

    from ..serving.evaluation import evaluate_texts, read_evaluation_file
    from ..serving.inference import Predictor

    if holds_tagger(args.model):
        return _evaluate_tagger(args)
    if bool(args.file) == bool(args.dataset):
        raise ValueError("evaluate needs either --dataset NAME [--split test] or --file F")
    predictor = Predictor.load(args.model, device=args.device, batch_size=args.batch_size)
    if args.file:
        pairs = predictor.reads_pairs  # a pair model's file: sentence1, sentence2 and a score (or label) column
        texts, gold = read_evaluation_file(
            args.file,
            label_names=predictor.label_names,
            text_column=args.text_column or ("sentence1" if pairs else "text"),
            label_column=args.label_column or ("score" if predictor.is_regression else "label"),
            text_b_column=(args.text_b_column or "sentence2") if pairs else None,
        )
        source = args.file
    else:
        from ..data.datasets import load_dataset

        dataset = load_dataset(data_config(args))
        if list(dataset.label_names) != predictor.label_names:
            raise ValueError(
                f"{args.dataset} has labels {dataset.label_names} but the model predicts {predictor.label_names}"
            )
        frame = dataset.split(args.split)
        texts, gold, source = frame["text"].tolist(), frame["label"].tolist(), f"{dataset.name}:{args.split}"
    report = {"data": source, **evaluate_texts(predictor, texts, gold)}
    if args.json:
        print(json.dumps(report, indent=2, ensure_ascii=False))
        return 0
    if predictor.is_regression:
        print(
            f"{source}: {report['examples']:,} examples, Spearman {100 * report['spearman']:.2f}, Pearson "
            f"{100 * report['pearson']:.2f}, MSE {report['mse']:.4f}, {report['examples_per_second']:,.0f} examples/s"
        )
        return 0
    print(
        f"{source}: {report['examples']:,} examples, accuracy {100 * report['accuracy']:.2f}, macro-F1 "
        f"{100 * report['macro_f1']:.2f}, {report['examples_per_second']:,.0f} examples/s\n"
    )
    print(_scores_table(report["per_class"], name="label"))
    names = report["labels"]
    print("\nconfusion matrix (rows: gold, columns: predicted)\n")
    print(
        table(
            [
                {"gold": g, **{p: report["confusion_matrix"][i][j] for j, p in enumerate(names)}}
                for i, g in enumerate(names)
            ],
            [("gold", "gold \\ predicted")] + [(p, p) for p in names],
        )
    )
    return 0


def add_evaluate_parser(sub: argparse._SubParsersAction) -> None:
    ev = sub.add_parser(
        "evaluate", help="accuracy, macro-F1, per-class scores and confusion matrix of a trained student"
    )
    ev.add_argument("--model", required=True, help="a run folder or an export folder")
    ev.add_argument("--dataset", default=None, help="a dataset name (its --split is scored)")
    ev.add_argument("--split", default="test", choices=["train", "valid", "test"])
    ev.add_argument("--data-dir", default=None)
    ev.add_argument("--valid-size", type=float, default=0.05)
    ev.add_argument("--split-seed", type=int, default=1)
    ev.add_argument("--file", default=None, help="a labelled CSV/TSV instead of --dataset")
    ev.add_argument("--text-column", default=None, help="text column of --file (default: text)")
    ev.add_argument(
        "--label-column",
        default=None,
        help="label column of --file (default: label, or score for a regression "
        "model); values: label names or ids, or numbers",
    )
    ev.add_argument(
        "--text-b-column",
        default=None,
        help="a pair model's second text column of --file (default: sentence2; "
        "the first is then --text-column, default sentence1)",
    )
    ev.add_argument("--json", action="store_true", help="print the report as JSON")
    ev.add_argument("--batch-size", type=int, default=256)
    ev.add_argument("--device", default="auto")
    ev.set_defaults(func=cmd_evaluate, strict=False, no_download=False, labels=None, task=None)


def cmd_export(args: argparse.Namespace) -> int:
    from ..serving.export import ExportConfig, export_student

    config = ExportConfig(format=args.format, exporter=args.exporter, opset=args.opset, overwrite=args.overwrite)
    out = args.out or str(Path(args.model).with_name(Path(args.model).name + f"-{args.format}"))
    info = export_student(args.model, out, config)
    check = info["check"]
    agreement = ("tag", check["tag_agreement"]) if "tag_agreement" in check else ("argmax", check["argmax_agreement"])
    print(
        f"{info['format']} -> {out}/{info['model_file']} ({info['size_bytes']:,} bytes"
        + (f", {100 * info['size_bytes'] / info['fp32_size_bytes']:.0f}% of fp32" if "fp32_size_bytes" in info else "")
        + f"); vs PyTorch: max |Δlogit| {check['max_abs_diff']:.2e}, {agreement[0]} agreement {100 * agreement[1]:.1f}%"
        + f" over {len(check['cases'])} batch shapes"
    )
    print(f"serve it: distil-bilstm serve --model {out}")
    return 0


def add_export_parser(sub: argparse._SubParsersAction) -> None:
    ex = sub.add_parser("export", help="export a trained student to ONNX, ONNX int8 or TorchScript")
    ex.add_argument("--model", required=True, help="a run folder (a tagger: ONNX or ONNX int8, its CRF in crf.json)")
    ex.add_argument("--format", choices=["onnx", "onnx-int8", "torchscript"], default="onnx")
    ex.add_argument("--out", default=None, help="export folder (default: the run folder's name + -FORMAT beside it)")
    ex.add_argument(
        "--exporter", choices=["legacy", "dynamo"], default="legacy", help="torch's ONNX exporter (see README)"
    )
    ex.add_argument("--opset", type=int, default=17)
    ex.add_argument("--overwrite", action="store_true", help="replace an existing export folder")
    ex.set_defaults(func=cmd_export)


def cmd_serve(args: argparse.Namespace) -> int:
    from ..serving.http import ServeConfig, run_server

    config = ServeConfig(max_texts=args.max_texts, max_chars=args.max_chars, max_body_bytes=args.max_body_bytes)
    run_server(args.model, host=args.host, port=args.port, config=config)
    return 0


def add_serve_parser(sub: argparse._SubParsersAction) -> None:
    sv = sub.add_parser(
        "serve", help="serve a trained student or export over HTTP (POST /predict, GET /health, a web page at /)"
    )
    sv.add_argument("--model", required=True, help="a run folder or an export folder")
    sv.add_argument("--host", default="127.0.0.1")
    sv.add_argument("--port", type=int, default=8000)
    sv.add_argument("--max-texts", type=int, default=64, help="texts per request")
    sv.add_argument("--max-chars", type=int, default=2000, help="characters per text (longer ones are cut and flagged)")
    sv.add_argument("--max-body-bytes", type=int, default=1 << 20)
    sv.set_defaults(func=cmd_serve)


def register(sub: argparse._SubParsersAction) -> None:
    add_predict_parser(sub)
    add_evaluate_parser(sub)
    add_export_parser(sub)
    add_serve_parser(sub)
