"""``distil-bilstm compare``: one table and one plot of every finished run under a folder.

The table extends DistilKoBiLSTM's README table (Model | Total Parameters | Model Size | Acc)
with the hyperparameters that differ between runs, and puts each teacher in a row of its own so
that retention (student accuracy / teacher accuracy) is visible.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Sequence

import pandas as pd

from ..rundir import TAGGER_ARCHITECTURE, RunDir
from ..students.registry import family_label
from ..utils import read_json
from .plot import plot_accuracy_vs_params

logger = logging.getLogger(__name__)

LOSS_NAMES = {"kl": "KD (KL)", "mse": "KD (MSE)", "ce": "CE"}
INIT_NAMES = {"random": "", "teacher": " + teacher emb", "skipgram": " + skip-gram emb"}
COLUMNS = [  # (key, Markdown header); Acc is the test accuracy of the best-on-valid checkpoint
    ("model", "Model"),
    ("params", "Total Parameters"),
    ("size", "Model Size"),
    ("acc", "Acc"),
    ("entity_f1", "Entity F1"),
    ("retention", "Retention"),
    ("family", "Family"),
    ("dataset", "Dataset"),
    ("vocab", "Vocab"),
    ("embedding", "Embedding"),
    ("hidden", "Hidden"),
    ("init", "Emb init"),
    ("loss", "Loss"),
    ("alpha", "α"),
    ("T", "T"),
    ("epochs", "Epochs"),
    ("best_epoch", "Best epoch"),
    ("valid_acc", "Valid acc"),
    ("valid_f1", "Valid entity F1"),
    ("macro_f1", "Macro-F1"),
    ("spearman", "Spearman"),
    ("transfer", "Transfer rows"),
    ("train_s", "Train time (s)"),
]


def collect_runs(runs_dir: str | Path) -> tuple[list[dict], list[dict]]:
    """(finished runs, unfinished or failed runs) under ``runs_dir``, one dict per run folder."""
    finished, other = [], []
    for config_file in sorted(Path(runs_dir).rglob(RunDir.CONFIG)):
        run = RunDir(config_file.parent)
        if not run.is_run():
            continue  # not a run folder (e.g. a teacher checkpoint)
        if run.is_finished():
            finished.append(
                {
                    "run_dir": str(run.path),
                    "config": run.read_config(),
                    "metrics": run.read_metrics(),
                    "student": run.read_student(),
                }
            )
        else:
            status = run.read_status()
            other.append(
                {"run_dir": str(run.path), "status": status.get("status", "unfinished"), "error": status.get("error")}
            )
    return finished, other


def teacher_summary(path: str | Path) -> dict:
    """Parameters and size of a checkpoint folder, read from safetensors headers (no weights loaded)."""
    from safetensors import safe_open

    files = sorted(Path(path).glob("*.safetensors"))
    if not files:
        raise FileNotFoundError(f"{path}: no *.safetensors weights to count")
    params = 0
    for file in files:
        with safe_open(str(file), framework="pt") as handle:
            params += sum(math.prod(handle.get_slice(k).get_shape()) for k in handle.keys())
    summary = {"params": params, "size_bytes": sum(f.stat().st_size for f in files)}
    config = Path(path) / "config.json"
    if config.is_file():  # a Hugging Face config: its vocabulary and widths
        values = read_json(config)
        summary.update(
            vocab=values.get("vocab_size"), embedding=values.get("hidden_size"), hidden=values.get("hidden_size")
        )
    return summary


def student_size(architecture: str, config: dict, student: dict) -> tuple[str, int | None, int | None]:
    """(size tag, embedding width, hidden width) of a run's student, by family."""
    if architecture == "transformer":
        layers = student.get("teacher_layers")
        tag = f"{student['num_layers']}L" + (
            f" ({', '.join(map(str, layers))})" if layers else f" h{student['hidden_size']} random"
        )
        return tag, student["hidden_size"], student["hidden_size"]
    return (config.get("preset") or "custom"), student.get("embedding_dim"), student.get("hidden_dim")


def student_label(architecture: str, config: dict, student: dict) -> str:
    """``BiLSTM Base``, ``Transformer 3L (0, 2, 4)``: family and size, as tables name a student."""
    tag, _, _ = student_size(architecture, config, student)
    return f"{family_label(architecture)} {tag.title() if architecture == 'bilstm' else tag}"


def student_row(run: dict) -> dict:
    c, m, s = run["config"], run["metrics"], run["student"]
    kd = c["loss"] != "ce"
    architecture = s.get("architecture", "bilstm")
    preset, embedding, hidden = student_size(architecture, c, s)
    init_kind = c.get("embedding_init", "random") if architecture == "bilstm" else "teacher layers"
    # runs from before the key existed trained fastText vectors
    init = f"skipgram ({c.get('skipgram_library', 'fasttext')})" if init_kind == "skipgram" else init_kind
    hidden_loss = " + cos" if c.get("hidden_loss", "none") != "none" else ""
    hidden_loss += " + sim" if c.get("similarity_loss_weight") else ""
    model = f"{student_label(architecture, c, s)} · {LOSS_NAMES.get(c['loss'], c['loss'])}{hidden_loss}{INIT_NAMES.get(init_kind, '')}"
    teacher_acc = m.get("teacher_test_accuracy")
    transfer = m.get("transfer_sets") or []
    if transfer:  # which sets and how many rows: "+ aug-n4, unlabeled (1,055,000 rows)"
        model += f" + {', '.join(Path(t['path']).stem for t in transfer)}"
    return {
        "kind": "student",
        "model": model,
        "family": family_label(architecture),
        "init": init,
        "preset": preset,
        "params": m["params"],
        "size_bytes": m["size_bytes"],
        "test_acc": m.get("test_accuracy"),
        "valid_acc": m.get("valid_accuracy"),
        "dataset": m.get("dataset", c["dataset"]),
        "vocab": c["vocab_size"],
        "embedding": embedding,
        "hidden": hidden,
        "loss": c["loss"],
        "alpha": c["loss_rate"] if kd else None,
        "T": c["temperature"] if c["loss"] == "kl" else None,
        "epochs": m.get("epochs_trained"),
        "best_epoch": m.get("best_epoch"),
        "train_s": m.get("train_seconds"),
        "teacher": m.get("teacher_path") if kd else None,
        "teacher_test_acc": teacher_acc,
        "run_dir": run["run_dir"],
        "transfer": m.get("transfer_rows") or None,
        "macro_f1": m.get("test_macro_f1"),
        "spearman": m.get("test_spearman"),
    }


def tagger_row(run: dict) -> dict:
    """A BiLSTM tagger's run (``distil-bilstm tagger``): scored by entity F1, not accuracy."""
    c, m, s = run["config"], run["metrics"], run["student"]
    kd = c["loss"] != "ce"
    chars = "-CNN" if s.get("char_vocab_size") and s.get("char_dim") and s.get("char_filters") else ""
    model = f"BiLSTM{chars}{'-CRF' if s.get('crf') else ''} tagger · {LOSS_NAMES.get(c['loss'], c['loss'])}"
    if c.get("transfer_sets"):
        model += f" + {', '.join(Path(t).stem for t in c['transfer_sets'])}"
    return {
        "kind": "student",
        "model": model,
        "family": "BiLSTM tagger",
        "preset": "crf" if s.get("crf") else "softmax",
        "init": "random",
        "params": m["params"],
        "size_bytes": m["size_bytes"],
        "entity_f1": m.get("test_entity_f1"),
        "valid_f1": m.get("valid_entity_f1"),
        "dataset": m.get("dataset", c["dataset"]),
        "vocab": s.get("vocab_size"),
        "embedding": s.get("embedding_dim"),
        "hidden": s.get("hidden_dim"),
        "loss": c["loss"],
        "alpha": c["loss_rate"] if kd else None,
        "T": c["temperature"] if kd else None,
        "epochs": m.get("epochs_trained"),
        "best_epoch": m.get("best_epoch"),
        "train_s": m.get("train_seconds"),
        "teacher": m.get("teacher_path") if kd else None,
        "teacher_entity_f1": _teacher_entity_f1(m.get("teacher_path")) if kd else None,
        "run_dir": run["run_dir"],
    }


def _teacher_entity_f1(path: str | None) -> float | None:
    """A token teacher's test entity F1 on its dataset's own tokens (its eval.json), if it says."""
    report = Path(path or "") / "eval.json"
    return read_json(report).get("test_entity_f1") if path and report.is_file() else None


def baseline_row(run: dict) -> dict:
    """An n-gram baseline run (``distil-bilstm baseline``): the reference every student must beat."""
    m = run["metrics"]
    scores = {"test_acc": m.get("test_accuracy"), "valid_acc": m.get("valid_accuracy"), "teacher_test_acc": None}
    return _baseline(run, model=f"Baseline: TF-IDF + LR (C={m['C']:g})", family="TF-IDF", scores=scores)


def crf_baseline_row(run: dict) -> dict:
    """The CRF on hand features (``distil-bilstm baseline`` of a tagged dataset): the taggers' reference."""
    m = run["metrics"]
    scores = {"entity_f1": m.get("test_entity_f1"), "valid_f1": m.get("valid_entity_f1")}
    return _baseline(run, model=f"Baseline: CRF on hand features (c1={m['c1']:g})", family="CRF", scores=scores)


def _baseline(run: dict, *, model: str, family: str, scores: dict) -> dict:
    c, m = run["config"], run["metrics"]
    return {
        "kind": "baseline",
        "model": model,
        "family": family,
        "preset": "baseline",
        "params": m["params"],
        "size_bytes": m["size_bytes"],
        **scores,
        "dataset": m.get("dataset", c["dataset"]),
        "vocab": m.get("features"),
        "train_s": m.get("train_seconds"),
        "loss": None,
        "init": None,
        "teacher": None,
        "run_dir": run["run_dir"],
    }


BASELINES = {"tfidf-lr": baseline_row, "crf": crf_baseline_row}  # student.json's architecture → its row


def is_baseline(run: dict) -> bool:
    return run["student"].get("architecture") in BASELINES


def table_row(run: dict) -> dict:
    architecture = run["student"].get("architecture", "bilstm")
    if architecture in BASELINES:
        return BASELINES[architecture](run)
    return tagger_row(run) if architecture == TAGGER_ARCHITECTURE else student_row(run)


ORDER = {"teacher": 0, "baseline": 1, "student": 2}


def results_table(runs: list[dict]) -> pd.DataFrame:
    """Students and baselines plus one row per teacher behind them, sorted by dataset, then kind and size."""
    students = [table_row(r) for r in runs]
    teachers = {}
    for row in students:
        path = row["teacher"]
        if path and path not in teachers and Path(path).is_dir():
            teachers[path] = {
                "kind": "teacher",
                "model": f"Teacher: {Path(path).name}",
                "family": "Teacher",
                "dataset": row["dataset"],
                "test_acc": row.get("teacher_test_acc"),
                "entity_f1": row.get("teacher_entity_f1"),
                "retention": 1.0,
                **teacher_summary(path),
            }
    # CE runs have no teacher of their own: give them the retention against their dataset's teacher;
    # a tagger's retention is of entity F1, a sentence student's of accuracy
    for score, teacher_score in (("test_acc", "teacher_test_acc"), ("entity_f1", "teacher_entity_f1")):
        by_dataset = {t["dataset"]: t[score] for t in teachers.values() if t.get(score)}
        for row in students:
            if row.get(score) is None:
                continue
            reference = row.get(teacher_score) or by_dataset.get(row["dataset"])
            row["retention"] = row[score] / reference if reference else None
    frame = pd.DataFrame([*teachers.values(), *students])
    if frame.empty:
        return frame
    frame["order"] = frame["kind"].map(ORDER)
    frame = frame.sort_values(
        ["dataset", "order", "params", "loss", "init"], ascending=[True, True, False, False, True], na_position="first"
    )
    return frame.drop(columns="order").reset_index(drop=True)


def to_markdown(frame: pd.DataFrame) -> str:
    def cell(key: str, row) -> str:
        value = row.get(key)
        if key == "size":
            value = row.get("size_bytes")
            return f"{value / 2**20:.2f} MB" if pd.notna(value) else ""
        if key == "acc":
            value = row.get("test_acc")
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return ""
        if key in ("acc", "valid_acc", "test_acc", "macro_f1", "entity_f1", "valid_f1"):
            return f"{100 * value:.2f}"
        if key == "retention":
            return f"{100 * value:.1f}%"
        if key in ("params", "transfer"):
            return f"{int(value):,}"
        if key in ("vocab", "embedding", "hidden", "epochs", "best_epoch"):
            return f"{int(value)}"
        if key == "train_s":
            return f"{value:,.0f}"
        return f"{value:g}" if isinstance(value, float) else str(value)

    records = frame.to_dict("records")
    # a column no row fills is left out (a sentence table has no entity F1, a tagger's no accuracy)
    columns = [(k, h) for k, h in COLUMNS if k == "model" or any(cell(k, row) for row in records)]
    header = "| " + " | ".join(h for _, h in columns) + " |"
    rule = (
        "|"
        + "|".join("---" if k in ("model", "family", "dataset", "init", "loss") else "---:" for k, _ in columns)
        + "|"
    )
    rows = ["| " + " | ".join(cell(k, row) for k, _ in columns) + " |" for row in records]
    return "\n".join([header, rule, *rows]) + "\n"


def add_baselines(finished: list[dict], baseline_roots: Sequence[str | Path]) -> list[str]:
    """Every dataset in the table gets its baseline row: one under ``runs_dir`` already, else the
    newest baseline run of the same data (same fingerprint) under ``baseline_roots`` is added to
    ``finished``. Returns the datasets that have none anywhere."""
    have = {r["metrics"].get("dataset_fingerprint") for r in finished if is_baseline(r)}
    wanted = {
        r["metrics"].get("dataset_fingerprint"): r["metrics"].get("dataset", r["config"].get("dataset"))
        for r in finished
        if not is_baseline(r)
    }
    missing = []
    for fingerprint, dataset in wanted.items():
        if fingerprint in have or dataset is None:
            continue
        found = []
        for root in baseline_roots:
            for metrics in Path(root).glob(f"{str(dataset).replace('/', '_')}/baseline-*/{RunDir.METRICS}"):
                run = RunDir(metrics.parent)
                if run.is_finished() and run.read_metrics().get("dataset_fingerprint") == fingerprint:
                    found.append(run)
        if found:
            run = max(found, key=lambda r: (r.path / RunDir.METRICS).stat().st_mtime)
            finished.append(
                {
                    "run_dir": str(run.path),
                    "config": run.read_config(),
                    "metrics": run.read_metrics(),
                    "student": run.read_student(),
                }
            )
            have.add(fingerprint)
        else:
            missing.append(str(dataset))
    return missing


def compare(runs_dir: str | Path, out_dir: str | Path, *, baseline_roots: Sequence[str | Path] = ("runs",)) -> dict:
    """Write ``results.csv``, ``results.md`` and ``accuracy_vs_params.png`` for ``runs_dir``,
    with each dataset's baseline row (see :func:`add_baselines`)."""
    finished, other = collect_runs(runs_dir)
    if not finished:
        raise FileNotFoundError(f"{runs_dir}: no finished runs (folders with metrics.json) to compare")
    missing = add_baselines(finished, baseline_roots)
    frame = results_table(finished)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    frame.to_csv(out / "results.csv", index=False)
    markdown = to_markdown(frame)
    if other:
        markdown += (
            f"\n{len(other)} run(s) not finished: "
            + "; ".join(
                f"{Path(o['run_dir']).name} ({o['status']}{': ' + o['error'] if o.get('error') else ''})" for o in other
            )
            + "\n"
        )
    for dataset in missing:
        markdown += (
            f"\nNo baseline for {dataset}: `distil-bilstm baseline --dataset {dataset} --run-root {runs_dir}` "
            "adds the TF-IDF row a student has to beat.\n"
        )
    (out / "results.md").write_text(markdown, encoding="utf-8")
    plot_accuracy_vs_params(frame, out / "accuracy_vs_params.png")
    logger.info("compared %d finished runs (%d not finished) into %s", len(finished), len(other), out)
    return {"finished": len(finished), "other": len(other), "table": frame, "markdown": markdown}
