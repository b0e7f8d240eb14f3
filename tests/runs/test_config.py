from __future__ import annotations

import pytest

from distil_bilstm.runs.config import DistilConfig, apply_overrides, parse_override
from distil_bilstm.students.registry import make_student

from ..conftest import REPO


def test_yaml_with_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("dataset: sst2\nloss: ce\nvocab_size: 5000\n")
    config = DistilConfig.from_file(path, ["loss_rate=0.3", "preset=small", "scheduler=step"])
    assert (config.dataset, config.vocab_size, config.loss_rate, config.preset) == ("sst2", 5000, 0.3, "small")
    assert DistilConfig.from_dict(config.to_dict()) == config


def test_unknown_keys_fail():
    with pytest.raises(ValueError, match=r"unknown config key\(s\) \['learning_rate'\]"):
        DistilConfig.from_dict(apply_overrides({"loss": "ce"}, ["learning_rate=0.1"]))
    with pytest.raises(ValueError, match="--set expects key=value"):
        parse_override("lr")


def test_validation_names_the_field():
    with pytest.raises(ValueError, match="DistilConfig.loss_rate must be in"):
        DistilConfig(loss="ce", loss_rate=1.5)
    with pytest.raises(ValueError, match="DistilConfig.teacher_path is required for loss='kl'"):
        DistilConfig(loss="kl")
    with pytest.raises(ValueError, match="DistilConfig.scheduler must be one of"):
        DistilConfig(loss="ce", scheduler="cosine")
    # trainer and student settings too, when the config is made (log_every=0 once divided by zero)
    with pytest.raises(ValueError, match=r"DistilConfig.log_every must be >= 1 .*got 0"):
        DistilConfig(loss="ce", log_every=0)
    with pytest.raises(ValueError, match=r"DistilConfig.dropout must be in \[0, 1\), got 1.5"):
        DistilConfig(loss="ce", dropout=1.5)
    with pytest.raises(ValueError, match="DistilConfig.num_layers must be >= 1"):
        DistilConfig(loss="ce", num_layers=0)
    with pytest.raises(ValueError, match="DistilConfig.pooling must be one of"):
        DistilConfig(loss="ce", pooling="sum")


def test_a_grid_validates_student_settings_of_every_combination_before_any_work(tmp_path):
    from distil_bilstm.runs.grid import load_grid

    path = tmp_path / "grid.yaml"
    path.write_text("loss: ce\ndataset: missing_file.csv\ndropout: [0.2, 1.5]\nlog_every: [10, 0]\n")
    with pytest.raises(
        ValueError, match=r"3 combination\(s\) are invalid:\n  dropout=0.2, log_every=0: DistilConfig.log_every"
    ):
        load_grid(path)  # the dataset file does not even exist: nothing was loaded


def test_run_name_comes_from_hyperparameters():
    config = DistilConfig(loss="kl", teacher_path="t", loss_rate=0.1, temperature=2, preset="base", vocab_size=3000)
    name = config.default_run_name()
    assert name.startswith("nsmc/base-v3000-kl-a0.1-T2-lr0.002-bs64-s42-")
    assert config.identity() == DistilConfig(loss="kl", teacher_path="t", device="cpu", run_root="elsewhere").identity()
    assert config.identity() != DistilConfig(loss="kl", teacher_path="t", temperature=3).identity()
    assert make_student(config.student_settings(), vocab_size=3000, num_labels=2).values["hidden_dim"] == 128


def test_shipped_configs_are_valid():
    from distil_bilstm.runs.grid import load_grid

    configs = sorted((REPO / "configs").glob("*.yaml"))
    assert len(configs) >= 4
    for path in configs:
        if "grid" in path.stem:  # list values are grid axes; every combination must be valid
            assert len(load_grid(path)) > 1, path
        else:
            assert DistilConfig.from_file(path).loss in ("kl", "mse", "ce"), path


@pytest.mark.parametrize("text, expected", [("lr=2e-3", 2e-3), ("lr=5E-4", 5e-4), ("lr=1", 1.0)])
def test_scientific_notation_is_a_number(text, expected):
    config = DistilConfig.from_dict(apply_overrides({"loss": "ce"}, [text]))
    assert config.lr == expected and isinstance(config.lr, float)
    assert config.training_config().lr == expected


def test_yaml_scientific_notation_is_a_number(tmp_path):
    # PyYAML (YAML 1.1) reads 5e-4 without a dot as the string "5e-4"
    path = tmp_path / "c.yaml"
    path.write_text("loss: ce\nlr: 5e-4\ntraining:\n  weight_decay: 1e-5\n")
    config = DistilConfig.from_file(path)
    assert (config.lr, config.weight_decay) == (5e-4, 1e-5)
    assert config.identity() == DistilConfig(loss="ce", lr=5e-4, weight_decay=1e-5).identity()


@pytest.mark.parametrize(
    "text, message",
    [
        ("lr=.inf", r"DistilConfig.lr must be a finite number, got inf"),
        ("lr=nan", r"DistilConfig.lr must be a finite number, got nan"),
        ("lr=fast", r"DistilConfig.lr must be a number, got 'fast'"),
        ("lr=[1, 2]", r"DistilConfig.lr must be a number, got \[1, 2\]"),
        ("lr=true", r"DistilConfig.lr must be a number, got True"),
        ("lr=null", r"DistilConfig.lr must be a number, got None"),
        ("train_epoch=1.5", r"DistilConfig.train_epoch must be a whole number, got 1.5"),
        ("epoch_lrs=[1e-3, x]", r"DistilConfig.epoch_lrs must be a number, got 'x'"),
    ],
)
def test_bad_numbers_are_refused_naming_the_key(text, message):
    with pytest.raises(ValueError, match=message):
        DistilConfig.from_dict(apply_overrides({"loss": "ce"}, [text]))


def test_whole_float_is_an_int_and_null_stays_null_where_allowed():
    config = DistilConfig.from_dict(apply_overrides({"loss": "ce"}, ["train_epoch=3.0", "embedding_dim=null"]))
    assert config.train_epoch == 3 and isinstance(config.train_epoch, int)
    assert config.embedding_dim is None


def test_the_reference_key_table_documents_every_key_with_its_default():
    """docs/reference.md's key table against DistilConfig's fields: every key has a row, and a default
    written as a literal (a number or a `name`) is the dataclass's; words ("the preset's", "—") only
    stand for an unset default."""
    import re
    from dataclasses import MISSING, fields

    documented = {}
    for line in (REPO / "docs" / "reference.md").read_text(encoding="utf-8").splitlines():
        if line.startswith("| `"):
            cells = [c.strip() for c in line.split("|")[1:-1]]
            names = re.findall(r"`([a-z_]+)`", cells[0])
            defaults = [d.strip() for d in cells[1].split(",")]
            if len(defaults) == len(names):
                documented.update(zip(names, defaults))
    for f in fields(DistilConfig):
        assert f.name in documented, f"docs/reference.md's key table has no row for {f.name}"
        default = f.default if f.default is not MISSING else f.default_factory()
        written = documented[f.name]
        literal = re.fullmatch(r"`([^`$]+)`|(-?[0-9.e-]+)", written)
        if literal is None:
            assert default in (None, [], ()), f"{f.name}: default {default!r} documented as {written!r}"
        elif literal[2] is not None:
            assert float(literal[2]) == default, f"{f.name}: default {default!r} documented as {written}"
        else:  # a bool as YAML writes it
            shown = str(default).lower() if isinstance(default, bool) else default
            assert literal[1] == shown, f"{f.name}: default {default!r} documented as {written}"
