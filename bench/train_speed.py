"""Student training throughput: our Trainer versus a DistilKoBiLSTM-style loop, same run.

Ours: length-bucketed batches, teacher logits gathered from the store with one indexing op,
exact BiLSTM (padding never reaches a state), TensorBoard every ``log_every`` steps.
Seed-style: the whole split padded to its longest sentence, a per-item dict lookup of teacher
logits, a bidirectional LSTM that reads the padding, a TensorBoard scalar every step.

Both train the Base student (embedding 64, hidden 128) at vocab 3000 with the KD loss on the same
NSMC training examples and batch size; each is timed over ``--runs`` short runs of ``--examples``
examples and the median examples/s is reported.

    python bench/train_speed.py --data-dir ../shared/data

Prints a Markdown table and writes bench/results/train_speed.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from distil_bilstm.runs.config import DistilConfig  # noqa: E402
from distil_bilstm.runs.pipeline import RunResources, split_tensors  # noqa: E402
from distil_bilstm.students.registry import make_student  # noqa: E402
from distil_bilstm.training.batching import SplitTensors  # noqa: E402
from distil_bilstm.training.callbacks import TensorBoardCallback  # noqa: E402
from distil_bilstm.training.losses import kd_kl_loss  # noqa: E402
from distil_bilstm.training.trainer import Trainer  # noqa: E402


class SeedBiLSTM(nn.Module):
    """DistilKoBiLSTM's student: the LSTM runs over the padded batch, padding included."""

    def __init__(self, vocab_size: int, embedding_dim: int, hidden_dim: int, num_labels: int):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=0)
        self.lstm = nn.LSTM(embedding_dim, hidden_dim, bidirectional=True, batch_first=True)
        self.dropout = nn.Dropout(0.3)
        self.fc = nn.Linear(2 * hidden_dim, num_labels)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        _, (h_n, _) = self.lstm(self.embedding(input_ids))
        return self.fc(self.dropout(torch.cat([h_n[-2], h_n[-1]], dim=1)))


def seed_style_run(train: SplitTensors, *, vocab_size: int, batch_size: int, seed: int, log_dir: str) -> float:
    from torch.utils.tensorboard import SummaryWriter

    torch.manual_seed(seed)
    model = SeedBiLSTM(vocab_size, 64, 128, 2)
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    writer = SummaryWriter(log_dir)
    # the whole split padded to its longest sentence, once, as the seed did
    all_ids, _ = train.encoded.batch(torch.arange(len(train)))
    teacher_dict = {i: row for i, row in enumerate(train.teacher.tolist())}  # pickled {idx: [l0, l1]}
    order = torch.randperm(len(train), generator=torch.Generator().manual_seed(seed))
    model.train()
    start = time.perf_counter()
    for step, begin in enumerate(range(0, len(order), batch_size)):
        idx = order[begin : begin + batch_size]
        teacher = torch.tensor([teacher_dict[i.item()] for i in idx])
        logits = model(all_ids[idx])
        loss = kd_kl_loss(logits, teacher, train.labels[idx], alpha=0.1, temperature=2.0)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        writer.add_scalar("train/loss", loss.item(), step)
    seconds = time.perf_counter() - start
    writer.close()
    return len(order) / seconds


def our_run(
    train: SplitTensors, valid: SplitTensors, *, vocab_size: int, batch_size: int, seed: int, run_dir: str
) -> float:
    config = DistilConfig(
        loss="kl",
        teacher_path="bench",
        preset="base",
        batch_size=batch_size,
        seed=seed,
        train_epoch=1,
        patience=0,
        device="cpu",
    )
    torch.manual_seed(seed)
    model = make_student(config.student_settings(), vocab_size=vocab_size, num_labels=2).model
    trainer = Trainer(
        model,
        config=config.training_config(),
        loss=config.loss_function(),
        identity=config.identity(),
        train=train,
        valid=valid,
        test=None,
        run_dir=run_dir,
        device=torch.device("cpu"),
        callbacks=[TensorBoardCallback(run_dir, {"bench": 1})],
    )
    trainer.train_epoch()
    return trainer.train_examples_seen / trainer.train_seconds


def subset(split: SplitTensors, n: int) -> SplitTensors:
    rows = torch.arange(min(n, len(split)))
    return SplitTensors(split.encoded.select(rows), split.labels[rows], split.teacher[rows])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", default="../shared/data")
    parser.add_argument(
        "--teacher-store",
        default="teacher_model/logits/minilm-l6-nsmc/nsmc",
        help="NSMC logit store; random logits are used when it does not exist (speed is the same)",
    )
    parser.add_argument("--examples", type=int, default=20_000)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out", default="bench/results/train_speed.json")
    args = parser.parse_args()

    torch.set_num_threads(torch.get_num_threads())
    config = DistilConfig(dataset="nsmc", data_dir=args.data_dir, vocab_size=3000, loss="ce")
    resources = RunResources()
    dataset = resources.dataset(config)
    folder, tokenizer = resources.vocabulary(config, dataset)
    from distil_bilstm.teachers.stores.store import LogitStore

    store = None
    if (Path(args.teacher_store) / "header.json").is_file():
        store = LogitStore.open(args.teacher_store, fingerprint=dataset.fingerprint)
    splits = split_tensors(resources.encoded_splits(dataset, folder, tokenizer, max_length=128), store)
    train = splits["train"]
    if train.teacher is None:
        train = SplitTensors(train.encoded, train.labels, torch.randn(len(train), 2))
    train = subset(train, args.examples)
    valid = splits["valid"]

    ours, seed_style = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for run in range(args.runs):
            ours.append(
                our_run(
                    train,
                    valid,
                    vocab_size=len(tokenizer),
                    batch_size=args.batch_size,
                    seed=run,
                    run_dir=f"{tmp}/ours{run}",
                )
            )
            seed_style.append(
                seed_style_run(
                    train, vocab_size=len(tokenizer), batch_size=args.batch_size, seed=run, log_dir=f"{tmp}/seed{run}"
                )
            )
            print(f"run {run + 1}: ours {ours[-1]:.0f} ex/s, seed-style {seed_style[-1]:.0f} ex/s", flush=True)
    result = {
        "examples": len(train),
        "batch_size": args.batch_size,
        "runs": args.runs,
        "longest_sentence": int(train.encoded.lengths.max()),
        "mean_length": float(train.encoded.lengths.float().mean()),
        "ours_examples_per_second": round(statistics.median(ours), 1),
        "seed_style_examples_per_second": round(statistics.median(seed_style), 1),
        "speedup": round(statistics.median(ours) / statistics.median(seed_style), 2),
        "nsmc_epoch_seconds_estimate": round(142_500 / statistics.median(ours), 1),
        "all_runs": {"ours": ours, "seed_style": seed_style},
        "machine": {"threads": torch.get_num_threads(), "platform": platform.platform(), "torch": torch.__version__},
        "teacher_logits": "store" if store is not None else "random",
    }
    print("\n| loop | examples/s (median of %d) |\n|---|---:|" % args.runs)
    print(f"| distil-bilstm Trainer | {result['ours_examples_per_second']:,.0f} |")
    print(f"| DistilKoBiLSTM-style | {result['seed_style_examples_per_second']:,.0f} |")
    print(
        f"\nspeed-up {result['speedup']}×; an NSMC epoch (142,500 examples) ≈ {result['nsmc_epoch_seconds_estimate']} s"
    )
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
