"""``accuracy_vs_params.png`` of ``distil-bilstm compare``: each dataset's score against student size.

A sentence dataset is scored by test accuracy, a tagged one by test entity F1; KD and CE students in two
colours, one marker per student family, teachers and baselines as reference lines.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pandas as pd

FAMILY_MARKERS = {"BiLSTM": "o", "Transformer": "^", "BiLSTM tagger": "s"}


def plot_accuracy_vs_params(frame: pd.DataFrame, path: str | Path) -> None:
    """Test accuracy (a tagger's dataset: entity F1) against parameters (log x): KD and CE students in two colours, one marker per
    student family, teachers and baselines as reference lines."""
    import matplotlib

    matplotlib.use("Agg")  # files only; never needs a display
    import matplotlib.pyplot as plt

    datasets = sorted(frame["dataset"].dropna().unique())
    fig, axes = plt.subplots(1, len(datasets), figsize=(6.5 * len(datasets), 4.5), squeeze=False)
    for ax, dataset in zip(axes[0], datasets):
        part = frame[frame["dataset"] == dataset]
        # a tagger's dataset is scored by entity F1, a sentence dataset by accuracy
        tagged = "entity_f1" in part and part["entity_f1"].notna().any()
        score, score_name = ("entity_f1", "entity F1") if tagged else ("test_acc", "accuracy")
        students = part[part["kind"] == "student"]
        for (kd, colour, label), (family, marker) in itertools.product(
            ((True, "tab:blue", "KD"), (False, "tab:orange", "CE")), FAMILY_MARKERS.items()
        ):
            group = students[((students["loss"] != "ce") == kd) & (students["family"] == family)]
            if len(group):
                ax.scatter(
                    group["params"],
                    100 * group[score],
                    color=colour,
                    marker=marker,
                    label=f"{family} {label}",
                    zorder=3,
                )
                for row in group.to_dict("records"):
                    tag = row["preset"] + ("" if row.get("init") in (None, "random") else f" · {row['init']}")
                    ax.annotate(
                        tag,
                        (row["params"], 100 * row[score]),
                        textcoords="offset points",
                        xytext=(4, -10 if not kd else 4),
                        fontsize=8,
                        color=colour,
                    )
        for kind, style in (("teacher", "--"), ("baseline", ":")):
            for row in part[part["kind"] == kind].to_dict("records"):
                if pd.notna(row[score]):
                    ax.axhline(
                        100 * row[score],
                        color="black" if kind == "teacher" else "tab:green",
                        linestyle=style,
                        linewidth=1,
                        label=f"{row['model']} ({row['params'] / 1e6:.2f}M params): {100 * row[score]:.2f}",
                    )
        ax.set_xscale("log")
        ax.set_xlabel("student parameters (log scale)")
        ax.set_ylabel(f"test {score_name} (%)")
        ax.set_title(f"{dataset}: {score_name} vs size")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
