from __future__ import annotations

import json

import pytest

from distil_bilstm.cli import main
from distil_bilstm.data.datasets import hangul_share
from distil_bilstm.runs.quickstart import (
    QuickstartConfig,
    QuickstartLayout,
    run_quickstart,
    vocab_transfer_size,
)


def reduced(tmp_path, data_dir, base, **overrides) -> QuickstartConfig:
    """The quickstart's flow at test size: a 1-layer BERT as the base, 1 teacher and 1 student epoch."""
    values = dict(
        dataset="nsmc",
        data_dir=str(data_dir),
        base=str(base),
        out=str(tmp_path / "qs"),
        teacher_epochs=1,
        adapt_vocab=0,
        preset="tiny",
        vocab_size=1200,
        train_epoch=1,
        device="cpu",
    )
    return QuickstartConfig(**{**values, **overrides})


def test_quickstart_runs_every_stage_and_a_rerun_reuses_them(tmp_path, small_nsmc, tiny_teacher_dir):
    stages = []
    result = run_quickstart(reduced(tmp_path, small_nsmc, tiny_teacher_dir), on_stage=stages.append)
    assert stages == ["data", "teacher", "students", "baseline", "compare", "predict"]
    assert list(result["seconds"]) == stages and result["total_seconds"] >= sum(result["seconds"].values()) - 0.5
    layout: QuickstartLayout = result["layout"]
    teacher = layout.teacher("nsmc")
    assert json.loads((teacher / "eval.json").read_text())["trained_on"] == ["train"]
    assert [r["status"] for r in result["runs"]] == ["finished", "finished"]
    assert (
        list(layout.logits.rglob("header.json"))
        and (layout.vocab_root / "nsmc" / "vocab_size_1200" / "vocab.txt").is_file()
    )
    markdown = result["report"]["markdown"]
    for row in ("Teacher: teacher-nsmc", "Baseline: TF-IDF + LR", "BiLSTM Tiny · KD (KL)", "BiLSTM Tiny · CE"):
        assert row in markdown
    assert (layout.results / "accuracy_vs_params.png").stat().st_size > 0
    assert len(result["predictions"]) == 4
    assert {p.label for _, p in result["predictions"]} <= {"negative", "positive"}

    eval_mtime = (teacher / "eval.json").stat().st_mtime_ns
    again = run_quickstart(reduced(tmp_path, small_nsmc, tiny_teacher_dir))
    assert (teacher / "eval.json").stat().st_mtime_ns == eval_mtime  # the teacher is not fine-tuned again
    assert [r.get("skipped") for r in again["runs"]] == [True, True]  # nor the students trained again


def test_quickstart_cli_prints_table_predictions_and_next_steps(tmp_path, small_nsmc, tiny_teacher_dir, capsys):
    code = main(
        [
            "quickstart",
            "--dataset",
            "nsmc",
            "--data-dir",
            str(small_nsmc),
            "--base",
            str(tiny_teacher_dir),
            "--out",
            str(tmp_path / "qs"),
            "--teacher-epochs",
            "1",
            "--adapt-vocab",
            "0",
            "--preset",
            "tiny",
            "--train-epoch",
            "1",
            "--device",
            "cpu",
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "| Model |" in out and "predictions of" in out and "next:" in out
    assert f"distil-bilstm predict --model {tmp_path / 'qs' / 'runs' / 'nsmc'}" in out
    assert "done in" in out and "students" in out


def test_quickstart_with_a_given_teacher_skips_fine_tuning(tmp_path, small_nsmc, tiny_teacher_dir):
    result = run_quickstart(reduced(tmp_path, small_nsmc, "unused-base", teacher=str(tiny_teacher_dir), baseline=False))
    assert result["teacher"] == str(tiny_teacher_dir) and not result["layout"].teacher("nsmc").exists()
    assert "baseline" not in result["seconds"]


def test_a_missing_teacher_or_base_is_refused_before_any_run(tmp_path, small_nsmc):
    with pytest.raises(FileNotFoundError, match="nowhere: not a checkpoint folder"):
        run_quickstart(reduced(tmp_path, small_nsmc, "unused-base", teacher=str(tmp_path / "nowhere")))
    with pytest.raises(FileNotFoundError, match="no-base: not a checkpoint folder"):
        run_quickstart(reduced(tmp_path, small_nsmc, tmp_path / "no-base"))
    assert not (tmp_path / "qs" / "runs").exists()  # no student was trained without its teacher


def test_a_failed_student_run_stops_the_quickstart_with_one_line(tmp_path, small_nsmc, tiny_teacher_dir, caplog):
    half = tmp_path / "half-copied"  # a config.json and no weights: it looks like a teacher until it is loaded
    half.mkdir()
    (half / "config.json").write_bytes((tiny_teacher_dir / "config.json").read_bytes())
    code = main(
        [
            "quickstart",
            "--dataset",
            "nsmc",
            "--data-dir",
            str(small_nsmc),
            "--teacher",
            str(half),
            "--out",
            str(tmp_path / "qs"),
            "--preset",
            "tiny",
            "--train-epoch",
            "1",
            "--device",
            "cpu",
        ]
    )
    assert code == 1
    assert "student run" in caplog.text and "half-copied: Error no file named model.safetensors" in caplog.text
    runs = tmp_path / "qs" / "runs"
    assert len(list(runs.rglob("status.json"))) == 1  # the failed KD run's
    assert not list(runs.rglob("*-ce-*"))  # the CE student was not trained after it


def test_vocabulary_transfer_only_for_korean_text_and_a_base_that_cannot_read_it(
    small_nsmc, tiny_teacher_dir, tmp_path
):
    from distil_bilstm.data.datasets import load_dataset

    assert hangul_share(["정말 좋다", "great"]) == pytest.approx(4 / 9)
    nsmc = load_dataset("nsmc", data_dir=small_nsmc, download=False)
    wordpiece_base = str(tiny_teacher_dir)
    assert vocab_transfer_size(QuickstartConfig(), nsmc, wordpiece_base) == 4000
    assert vocab_transfer_size(QuickstartConfig(adapt_vocab=0), nsmc, wordpiece_base) is None
    assert vocab_transfer_size(QuickstartConfig(adapt_vocab=3000), nsmc, wordpiece_base) == 3000
    unigram_base = tmp_path / "unigram"
    unigram_base.mkdir()
    (unigram_base / "tokenizer.json").write_text(json.dumps({"model": {"type": "Unigram", "vocab": []}}))
    assert vocab_transfer_size(QuickstartConfig(), nsmc, str(unigram_base)) is None  # e5 / XLM-R read Korean


def test_quickstart_config_is_validated():
    with pytest.raises(ValueError, match="QuickstartConfig.train_epoch must be >= 1"):
        QuickstartConfig(train_epoch=0)
    with pytest.raises(ValueError, match="QuickstartConfig.adapt_vocab must be >= 0"):
        QuickstartConfig(adapt_vocab=-1)
    with pytest.raises(ValueError, match="QuickstartConfig.teacher_freeze_layers must be >= 0"):
        QuickstartConfig(teacher_freeze_layers=-1)
