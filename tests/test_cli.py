from __future__ import annotations

import subprocess
import sys

from distil_bilstm.cli import main


def test_help_lists_commands():
    out = subprocess.run([sys.executable, "-m", "distil_bilstm.cli", "--help"], capture_output=True, text=True, check=True).stdout
    assert "vocab" in out


def test_vocab_command(tmp_path, small_nsmc, capsys):
    code = main(["vocab", "--dataset", "nsmc", "--data-dir", str(small_nsmc), "--no-download", "--sizes", "150,200",
                 "--min-frequency", "1", "--limit-alphabet", "50", "--out", str(tmp_path / "tok")])
    assert code == 0
    out = capsys.readouterr().out
    assert "| requested | vocab size |" in out and "| 150 | 150 |" in out
    assert (tmp_path / "tok" / "nsmc" / "vocab_size_200" / "vocab.txt").is_file()


def test_cli_error_is_one_clear_line(tmp_path, caplog):
    code = main(["vocab", "--dataset", "nsmc", "--data-dir", str(tmp_path), "--no-download"])
    assert code == 1
    assert "ratings_train.txt is missing" in caplog.text
