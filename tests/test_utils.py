from __future__ import annotations

import logging
import os
import stat
from dataclasses import fields

import pytest

from distil_bilstm.data.augment import AugmentConfig
from distil_bilstm.data.datasets import DataConfig
from distil_bilstm.data.sentence_pairs import PairTextsConfig
from distil_bilstm.data.vocab import VocabConfig
from distil_bilstm.students.bilstm import StudentConfig
from distil_bilstm.students.embeddings import SkipgramConfig
from distil_bilstm.students.transformer import TransformerStudentConfig
from distil_bilstm.teachers.tuning.config import FinetuneConfig
from distil_bilstm.training.config import TrainingConfig
from distil_bilstm.utils import apply_umask, atomic_path, quiet_onnx_quantizer, write_json

# every config dataclass with from_dict, and the values its required fields need
CONFIGS = {
    AugmentConfig: {},
    DataConfig: {"name": "nsmc"},
    PairTextsConfig: {},
    VocabConfig: {},
    StudentConfig: {"vocab_size": 100},
    SkipgramConfig: {},
    TransformerStudentConfig: {"vocab_size": 100},
    FinetuneConfig: {"base": "base", "out": "out"},
    TrainingConfig: {},
}


def test_atomic_writes_get_the_modes_of_a_plain_write(tmp_path):
    umask = os.umask(0o022)
    try:
        write_json(tmp_path / "a.json", {"x": 1})
        assert stat.S_IMODE((tmp_path / "a.json").stat().st_mode) == 0o644  # not tempfile's 0600
        folder = tmp_path / "staging"
        (folder / "sub").mkdir(parents=True)
        (folder / "sub" / "w.bin").write_bytes(b"1")
        folder.chmod(0o700)
        (folder / "sub" / "w.bin").chmod(0o600)
        apply_umask(folder)
        assert stat.S_IMODE(folder.stat().st_mode) == 0o755
        assert stat.S_IMODE((folder / "sub" / "w.bin").stat().st_mode) == 0o644
        with atomic_path(tmp_path / "b.bin") as tmp:
            tmp.write_bytes(b"2")
        assert stat.S_IMODE((tmp_path / "b.bin").stat().st_mode) == 0o644
    finally:
        os.umask(umask)


@pytest.mark.parametrize("cls", list(CONFIGS), ids=lambda cls: cls.__name__)
def test_config_from_dict_round_trips_and_names_an_unknown_key(cls):
    config = cls(**CONFIGS[cls])
    assert cls.from_dict(config.to_dict()) == config
    with pytest.raises(
        ValueError, match=rf"unknown {cls.__name__} key\(s\) \['colour'\]; known: \[.*'{fields(cls)[0].name}'"
    ):
        cls.from_dict({**config.to_dict(), "colour": 1})


def test_quiet_onnx_quantizer_silences_the_root_logger_and_restores_it():
    root = logging.getLogger()
    before = root.level
    root.setLevel(logging.INFO)
    try:
        with quiet_onnx_quantizer():
            assert not root.isEnabledFor(logging.WARNING) and root.isEnabledFor(logging.ERROR)
        assert root.level == logging.INFO
        with pytest.raises(RuntimeError, match="boom"), quiet_onnx_quantizer():
            raise RuntimeError("boom")
        assert root.level == logging.INFO  # restored on an error too
    finally:
        root.setLevel(before)
