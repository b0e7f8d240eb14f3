from __future__ import annotations

import subprocess
import sys

from distil_bilstm.cli import build_parser, main


def test_help_lists_commands():
    out = subprocess.run(
        [sys.executable, "-m", "distil_bilstm.cli", "--help"], capture_output=True, text=True, check=True
    ).stdout
    assert "vocab" in out


def test_vocab_command(tmp_path, small_nsmc, capsys):
    code = main(
        [
            "vocab",
            "--dataset",
            "nsmc",
            "--data-dir",
            str(small_nsmc),
            "--no-download",
            "--sizes",
            "150,200",
            "--min-frequency",
            "1",
            "--limit-alphabet",
            "50",
            "--out",
            str(tmp_path / "tok"),
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "| requested | vocab size |" in out and "| 150 | 150 |" in out
    assert (tmp_path / "tok" / "nsmc" / "vocab_size_200" / "vocab.txt").is_file()


def test_cli_error_is_one_clear_line(tmp_path, caplog):
    code = main(["vocab", "--dataset", "nsmc", "--data-dir", str(tmp_path), "--no-download"])
    assert code == 1
    assert "ratings_train.txt is missing" in caplog.text


def test_a_half_copied_teacher_is_one_clear_line(tmp_path, small_nsmc, tiny_teacher_dir, caplog):
    half = tmp_path / "half"
    half.mkdir()
    (half / "config.json").write_bytes((tiny_teacher_dir / "config.json").read_bytes())
    code = main(
        [
            "teacher",
            "logits",
            "--dataset",
            "nsmc",
            "--data-dir",
            str(small_nsmc),
            "--no-download",
            "--teacher",
            str(half),
            "--store",
            str(tmp_path / "store"),
        ]
    )
    assert code == 1  # transformers' OSError, caught and named, not a traceback
    assert f"{half}: Error no file named model.safetensors" in caplog.text


def test_teacher_logits_then_import(tmp_path, small_nsmc, tiny_teacher_dir, capsys):
    args = [
        "teacher",
        "logits",
        "--dataset",
        "nsmc",
        "--data-dir",
        str(small_nsmc),
        "--no-download",
        "--teacher",
        str(tiny_teacher_dir),
        "--cache-dir",
        str(tmp_path / "logits"),
        "--device",
        "cpu",
    ]
    assert main(args) == 0
    first = capsys.readouterr().out
    assert "| nsmc | 160 | 160 |" in first  # 160 examples, 160 teacher forward passes
    assert main(args) == 0
    assert "| nsmc | 160 | 0 |" in capsys.readouterr().out  # second run: zero forward passes

    import numpy as np

    store = np.load(tmp_path / "logits" / "tiny_teacher" / "nsmc" / "logits.npy")
    csv = tmp_path / "external.csv"
    csv.write_text("idx,logit_0,logit_1\n" + "".join(f"{i},{a},{b}\n" for i, (a, b) in enumerate(store)))
    assert (
        main(
            [
                "teacher",
                "import",
                str(csv),
                "--dataset",
                "nsmc",
                "--data-dir",
                str(small_nsmc),
                "--no-download",
                "--cache-dir",
                str(tmp_path / "logits"),
            ]
        )
        == 0
    )
    imported = np.load(tmp_path / "logits" / "external" / "nsmc" / "logits.npy")
    np.testing.assert_allclose(imported, store, rtol=1e-6)


def _subcommand(*names):
    parser = build_parser()
    for name in names:
        action = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
        parser = action.choices[name]
    return parser


def test_command_defaults_are_the_configs_defaults():
    """A flag's default lives in its config dataclass: the flag defers to it (None) or equals it."""
    from dataclasses import MISSING, fields

    from distil_bilstm.baselines.tfidf import BaselineConfig
    from distil_bilstm.runs.quickstart import QuickstartConfig
    from distil_bilstm.teachers.tuning.finetune import FinetuneConfig

    checked = 0
    for names, config in [
        (("teacher", "finetune"), FinetuneConfig),
        (("quickstart",), QuickstartConfig),
        (("baseline",), BaselineConfig),
    ]:
        flags = {a.dest: a.default for a in _subcommand(*names)._actions}
        for f in fields(config):
            if f.name not in flags or flags[f.name] is None:
                continue
            default = f.default if f.default is not MISSING else f.default_factory()
            default = (
                list(default) if isinstance(default, tuple) else default
            )  # a frozen config holds a list as a tuple
            assert flags[f.name] == default, (
                f"{' '.join(names)} --{f.name.replace('_', '-')}: {flags[f.name]!r} != {default!r}"
            )
            checked += 1
    assert checked >= 23  # baseline --kind defers: crf for a tagged dataset, else BaselineConfig's
