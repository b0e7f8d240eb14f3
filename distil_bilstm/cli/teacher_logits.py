"""``distil-bilstm teacher logits``: a teacher run once over a dataset or a transfer set into a logit store (torch, ONNX int8 or Ray)."""

from __future__ import annotations

import argparse
import time

from .common import add_data_args, data_config, table


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
    store_dirs = [args.store or source.store_dir(dataset.name)] + [
        source.transfer_store_dir(dataset.name, path) for path in transfer_paths
    ]
    if args.states and (args.runtime != "torch" or args.backend != "local" or not isinstance(teacher, Teacher)):
        raise ValueError(
            "--states reads a transformer teacher's hidden states in PyTorch here: a checkpoint teacher, "
            "with --runtime torch --backend local"
        )
    if args.runtime != "torch":
        teacher = _onnx_teacher(args, teacher, targets, max_length=max_length)
    chunk_runner = None
    if args.backend == "ray":
        from ..teachers.running.ray_logits import ray_chunk_runner

        chunk_runner = ray_chunk_runner(
            teacher_path=args.teacher,
            num_labels=teacher.num_labels,
            runtime=args.runtime,
            cache_dir=args.cache_dir,
            batch_size=args.batch_size,
            max_length=max_length,
            workers=args.ray_workers,
            address=args.ray_address,
            device=args.device,
        )
    rows, score = [], "spearman" if dataset.is_regression else "accuracy"
    for target, store_dir in zip(targets, store_dirs):
        start = time.perf_counter()
        if args.states:
            _cache_states(args, teacher, target, store_dir, max_length=max_length)
        result = cache_dataset_logits(
            teacher,
            target,
            batch_size=args.batch_size,
            store_dir=store_dir,
            max_length=max_length,
            chunk_size=args.chunk_size,
            recompute=args.recompute,
            chunk_runner=chunk_runner,
        )
        if args.states:
            teacher.state_memo = None  # the next set's sentences are others: free the memory
        header = result.store.header
        seconds = time.perf_counter() - start
        rows.append(
            {
                "set": target.name,
                "examples": len(target),
                "computed": result.computed_examples,
                "seconds": round(seconds, 1),
                "rate": round(result.computed_examples / seconds) if result.computed_examples else None,
                "valid": header.get(f"teacher_valid_{score}"),
                "test": header.get(f"teacher_test_{score}"),
                "store": str(result.store.path),
            }
        )
    shown = "Spearman" if score == "spearman" else "acc"
    print(
        table(
            rows,
            [
                ("set", "set"),
                ("examples", "examples"),
                ("computed", "teacher forward"),
                ("seconds", "seconds"),
                ("rate", "examples/s"),
                ("valid", f"teacher valid {shown}"),
                ("test", f"teacher test {shown}"),
                ("store", "store"),
            ],
        )
    )
    return 0


def _cache_states(args: argparse.Namespace, teacher, target, store_dir, *, max_length: int) -> None:
    """The teacher's sentence states of the rows a run's cosine loss reads (teachers/running/states.py), beside
    the store; the teacher remembers them, so a bi-encoder's scores that follow encode no sentence twice."""
    from ..teachers.running.states import cache_teacher_states, state_rows, states_dir

    texts, fingerprint = state_rows(target)
    teacher.state_memo = {}
    cache_teacher_states(
        teacher,
        texts,
        store_dir=states_dir(store_dir),
        rows_fingerprint=fingerprint,
        shape=args.states,
        max_length=max_length,
        batch_size=args.batch_size,
    )


def add_teacher_logits_parser(teacher_sub: argparse._SubParsersAction) -> None:
    lg = teacher_sub.add_parser("logits", help="run a teacher once over every example and cache its logits")
    add_data_args(lg)
    lg.add_argument("--teacher", required=True, help="teacher checkpoint folder, hub id, or a baseline run folder")
    lg.add_argument(
        "--transfer-set",
        nargs="*",
        metavar="FILE",
        help="unlabelled or augmented texts to cache too, one store each (paths, or names under the data folder "
        "such as nsmc/unlabeled.txt); texts equal to a validation or test text are dropped and counted",
    )
    lg.add_argument("--cache-dir", default="teacher_model/logits", help="stores go to CACHE_DIR/<teacher>/<dataset>/")
    lg.add_argument("--store", default=None, help="explicit store folder (overrides --cache-dir)")
    lg.add_argument("--batch-size", type=int, default=128)
    lg.add_argument(
        "--max-length",
        type=int,
        default=None,
        help="teacher pieces per text (default: the length the teacher was fine-tuned with, else 128); a store "
        "made at another length is refused, not reused",
    )
    lg.add_argument("--chunk-size", type=int, default=8192, help="examples per resumable chunk")
    lg.add_argument(
        "--recompute", action="store_true", help="recompute a store that exists (e.g. after the data changed)"
    )
    lg.add_argument(
        "--runtime",
        choices=("torch", "onnx", "onnx-int8"),
        default="torch",
        help="run the teacher in PyTorch, or exported to ONNX (fp32, or int8 weights) in onnxruntime; "
        "a non-torch runtime is first compared with torch on --check-size texts",
    )
    lg.add_argument("--check-size", type=int, default=1000, help="texts the runtime comparison uses")
    lg.add_argument(
        "--backend",
        choices=("local", "ray"),
        default="local",
        help="ray: chunks labelled by Ray actors (GPUs when the cluster has them), same store bytes",
    )
    lg.add_argument(
        "--ray-address", default=None, help="Ray cluster to join (default: the running one, or a local one)"
    )
    lg.add_argument("--ray-workers", type=int, default=0, help="actors (0: one per GPU, else one per 2 CPUs)")
    lg.add_argument(
        "--states",
        choices=("whole", "per_side"),
        default=None,
        help="also the teacher's sentence states of the training rows (train split, transfer sets) for "
        "hidden_loss: whole (a transformer student) or per_side (a siamese student's two sentences)",
    )
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
    agreement = (
        f"argmax agreement {100 * check['argmax_agreement']:.2f}%"
        if "argmax_agreement" in check
        else f"Spearman with torch {100 * check['spearman_with_torch']:.2f}, mean |Δscore| {check['mean_abs_diff']:.4f}"
    )
    print(
        f"{args.runtime} vs torch on {len(sample)} texts: {agreement}, max |Δlogit| {check['max_abs_logit_diff']:.4f} "
        "(recorded in each store's header)"
    )
    return runner
