from __future__ import annotations

import pandas as pd

from distil_bilstm.cli import main
from distil_bilstm.runs.compare import teacher_summary
from distil_bilstm.runs.config import DistilConfig
from distil_bilstm.runs.pipeline import RunResources, run_distillation


def test_compare_two_tiny_runs_writes_csv_markdown_and_png(tmp_path, small_nsmc, tiny_teacher_dir, capsys):
    resources = RunResources()
    common = dict(
        dataset="nsmc",
        data_dir=str(small_nsmc),
        vocab_size=300,
        vocab_root=str(tmp_path / "tok"),
        teacher_path=str(tiny_teacher_dir),
        cache_dir=str(tmp_path / "logits"),
        batch_size=32,
        train_epoch=1,
        run_root=str(tmp_path / "runs"),
        device="cpu",
    )
    kd = run_distillation(DistilConfig(preset="mini", loss="kl", **common), resources=resources)
    ce = run_distillation(DistilConfig(preset="tiny", loss="ce", **common), resources=resources)
    # an unfinished run folder is listed, not tabulated
    broken = tmp_path / "runs" / "nsmc" / "broken"
    broken.mkdir(parents=True)
    (broken / "config.json").write_text("{}")
    (broken / "student.json").write_text("{}")

    out = tmp_path / "results"
    elsewhere = tmp_path / "elsewhere"
    assert main(["compare", str(tmp_path / "runs"), "--out", str(out), "--baselines", str(elsewhere)]) == 0
    table = pd.read_csv(out / "results.csv")
    assert list(table["kind"]) == ["teacher", "student", "student"]
    teacher = table.iloc[0]
    assert teacher["params"] == teacher_summary(tiny_teacher_dir)["params"] > 0
    assert teacher["test_acc"] == kd["teacher_test_accuracy"]
    students = table.iloc[1:].set_index("loss")
    assert students.loc["kl", "params"] == kd["params"] and students.loc["ce", "params"] == ce["params"]
    assert students.loc["kl", "retention"] == kd["test_accuracy"] / kd["teacher_test_accuracy"]

    markdown = (out / "results.md").read_text()
    lines = markdown.splitlines()
    assert lines[0].startswith("| Model | Total Parameters | Model Size | Acc | Retention |")
    assert lines[2].startswith("| Teacher: tiny_teacher |")
    assert "BiLSTM Mini · KD (KL)" in markdown and "BiLSTM Tiny · CE" in markdown
    assert f"{100 * kd['test_accuracy']:.2f}" in markdown
    assert "1 run(s) not finished: broken (unfinished)" in markdown
    png = out / "accuracy_vs_params.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
    assert "| Model |" in capsys.readouterr().out
    assert "No baseline for nsmc: `distil-bilstm baseline --dataset nsmc" in markdown

    # a baseline of the same data anywhere under --baselines joins the table; one of other data does not
    from distil_bilstm.baselines.tfidf import BaselineConfig, train_baseline

    train_baseline(BaselineConfig(dataset="nsmc", data_dir=str(small_nsmc), c_values=[1.0], run_root=str(elsewhere)))
    train_baseline(BaselineConfig(dataset="nsmc_sample", c_values=[1.0], run_root=str(elsewhere / "other")))
    assert main(["compare", str(tmp_path / "runs"), "--out", str(out), "--baselines", str(elsewhere)]) == 0
    assert list(pd.read_csv(out / "results.csv")["kind"]) == ["teacher", "baseline", "student", "student"]
    assert "No baseline" not in (out / "results.md").read_text()


def test_compare_without_finished_runs_fails_clearly(tmp_path, caplog):
    (tmp_path / "runs").mkdir()
    assert main(["compare", str(tmp_path / "runs")]) == 1
    assert "no finished runs (folders with metrics.json) to compare" in caplog.text


def test_compare_tabulates_taggers_by_entity_f1_beside_the_crf_baseline(tmp_path):
    from distil_bilstm.baselines.crf import CrfConfig, train_crf_baseline
    from distil_bilstm.runs.tagging import TagRunConfig, train_tagger
    from tests.conftest import write_tagged

    data = write_tagged(tmp_path / "people.jsonl", n=120)
    common = dict(dataset=str(data), run_root=str(tmp_path / "runs"), device="cpu", train_epoch=2)
    small = dict(embedding_dim=8, hidden_dim=8, char_dim=4, char_filters=4)
    crf = train_tagger(TagRunConfig(crf=True, **small, **common))
    baseline = train_crf_baseline(CrfConfig(dataset=str(data), c1_values=[0.1], run_root=str(tmp_path / "runs")))
    out = tmp_path / "results"
    assert main(["compare", str(tmp_path / "runs"), "--out", str(out)]) == 0
    table = pd.read_csv(out / "results.csv")
    assert list(table["kind"]) == ["baseline", "student"]
    assert table.iloc[1]["entity_f1"] == crf["test_entity_f1"] and table.iloc[1]["params"] == crf["params"]
    assert table.iloc[0]["entity_f1"] == baseline["test_entity_f1"] and table.iloc[0]["params"] > 0
    markdown = (out / "results.md").read_text()
    assert markdown.startswith("| Model | Total Parameters | Model Size | Entity F1 |")
    assert "| Acc |" not in markdown and "BiLSTM-CNN-CRF tagger · CE" in markdown
    assert "Baseline: CRF on hand features (c1=0.1)" in markdown and "No baseline" not in markdown
    assert (out / "accuracy_vs_params.png").stat().st_size > 5000
