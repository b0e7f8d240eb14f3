from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModelForSequenceClassification

from distil_bilstm.cli import main
from distil_bilstm.teachers.running.reference import load_teacher
from distil_bilstm.teachers.tuning.soup import SoupConfig, average_state_dicts, average_teachers
from distil_bilstm.utils import read_json, write_json


def continued(teacher_dir, out, *, seed: int, trained_on=("train",)):
    """A second fine-tuning of the same checkpoint: every float tensor moved a little."""
    model = AutoModelForSequenceClassification.from_pretrained(teacher_dir)
    torch.manual_seed(seed)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.05 * torch.randn_like(parameter))
    model.save_pretrained(out)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(teacher_dir / name, out / name)
    if trained_on is not None:
        write_json(
            out / "eval.json",
            {"label_names": ["negative", "positive"], "trained_on": list(trained_on), "test_accuracy": 0.5},
        )
    return out


@pytest.fixture
def two_members(tmp_path, tiny_teacher_dir):
    return (
        continued(tiny_teacher_dir, tmp_path / "a", seed=1),
        continued(tiny_teacher_dir, tmp_path / "b", seed=2, trained_on=("train", "transfer")),
    )


def test_soup_is_the_weighted_mean_of_the_members_weights(tmp_path, two_members):
    a, b = two_members
    report = average_teachers(SoupConfig(members=[a, b], out=str(tmp_path / "soup"), weights=[1, 3]))
    wa, wb, soup = (load_file(str(p / "model.safetensors")) for p in (a, b, tmp_path / "soup"))
    assert set(soup) == set(wa)
    for key, tensor in soup.items():
        expected = 0.25 * wa[key].float() + 0.75 * wb[key].float() if tensor.is_floating_point() else wa[key]
        torch.testing.assert_close(tensor.float(), expected.float(), rtol=0, atol=1e-6)
    assert [m["weight"] for m in report["soup"]] == [0.25, 0.75]
    # an ensemble's `auto` weights must keep refusing a split any member trained on
    assert read_json(tmp_path / "soup" / "eval.json")["trained_on"] == ["train", "transfer"]


def test_soup_loads_as_a_teacher_and_a_soup_of_copies_changes_nothing(tmp_path, two_members):
    a, _ = two_members
    copy = tmp_path / "a_copy"
    shutil.copytree(a, copy)
    average_teachers(SoupConfig(members=[a, copy], out=str(tmp_path / "soup")))
    texts = ["정말 재미있는 영화", "시간 낭비 최악", "배우 연기가 최고"]
    member, soup = load_teacher(a, device="cpu"), load_teacher(tmp_path / "soup", device="cpu")
    assert len(soup.tokenizer) == len(member.tokenizer)
    np.testing.assert_allclose(soup.logits(texts, progress=False), member.logits(texts, progress=False), atol=1e-6)
    assert soup.trained_on == ["train"]


def test_a_member_without_recorded_splits_leaves_the_soups_unrecorded(tmp_path, tiny_teacher_dir, two_members):
    a, _ = two_members
    bare = continued(tiny_teacher_dir, tmp_path / "bare", seed=3, trained_on=None)
    report = average_teachers(SoupConfig(members=[a, bare], out=str(tmp_path / "soup")))
    assert report["trained_on"] is None


def test_cli_average_writes_a_teacher_and_prints_the_members(tmp_path, two_members, capsys):
    a, b = two_members
    assert (
        main(
            [
                "teacher",
                "average",
                "--teacher",
                str(a),
                "--teacher",
                str(b),
                "--weights",
                "0.5,0.5",
                "--out",
                str(tmp_path / "soup"),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert str(a) in out and "teacher logits --teacher" in out
    assert (tmp_path / "soup" / "model.safetensors").is_file()


def test_cli_refuses_weights_that_are_not_numbers(tmp_path, two_members, capsys):
    a, b = two_members
    with pytest.raises(SystemExit):
        main(
            [
                "teacher",
                "average",
                "--teacher",
                str(a),
                "--teacher",
                str(b),
                "--weights",
                "half,half",
                "--out",
                str(tmp_path / "soup"),
            ]
        )
    assert "expected comma-separated numbers" in capsys.readouterr().err


def test_members_of_other_architectures_are_refused_before_anything_is_written(tmp_path, two_members):
    a, b = two_members
    config = read_json(b / "config.json")
    write_json(b / "config.json", {**config, "intermediate_size": 64})
    with pytest.raises(ValueError, match="config.json differs .* in intermediate_size"):
        average_teachers(SoupConfig(members=[a, b], out=str(tmp_path / "soup")))
    assert not (tmp_path / "soup").exists()


def test_members_with_other_tokenizers_are_refused(tmp_path, two_members):
    a, b = two_members
    (b / "tokenizer.json").write_text((b / "tokenizer.json").read_text().replace("[UNK]", "[UNKNOWN]"))
    with pytest.raises(ValueError, match="tokenizer.json differs"):
        average_teachers(SoupConfig(members=[a, b], out=str(tmp_path / "soup")))


def test_a_folder_that_is_not_a_checkpoint_is_named(tmp_path, two_members):
    a, _ = two_members
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="empty: no config.json"):
        average_teachers(SoupConfig(members=[a, tmp_path / "empty"], out=str(tmp_path / "soup")))


def test_tensors_of_other_shapes_are_named():
    a = {"w": torch.zeros(2, 3), "ids": torch.arange(3)}
    with pytest.raises(ValueError, match="b: tensor w has shape \\(3, 3\\)"):
        average_state_dicts([("a", a), ("b", {"w": torch.zeros(3, 3), "ids": torch.arange(3)})], [0.5, 0.5])
    with pytest.raises(ValueError, match="b: integer tensor ids differs"):
        average_state_dicts([("a", a), ("b", {"w": torch.zeros(2, 3), "ids": torch.arange(1, 4)})], [0.5, 0.5])
    with pytest.raises(ValueError, match="b: its tensors differ from a's \\(e.g. v\\)"):
        average_state_dicts([("a", a), ("b", {**a, "v": torch.zeros(1)})], [0.5, 0.5])


def test_a_float16_member_is_averaged_in_float32_and_kept_in_float16():
    a, b = {"w": torch.tensor([1.0], dtype=torch.float16)}, {"w": torch.tensor([1.0009765625], dtype=torch.float16)}
    out = average_state_dicts([("a", a), ("b", b)], [0.5, 0.5])
    assert out["w"].dtype == torch.float16 and out["w"].item() == pytest.approx(1.0004882, abs=1e-3)


@pytest.mark.parametrize(
    "values, match",
    [
        ({"members": ["a"]}, "SoupConfig.members needs at least two"),
        ({"members": ["a", "a"]}, "SoupConfig.members names a checkpoint twice"),
        ({"members": ["a", "b"], "weights": [1.0]}, "SoupConfig.weights has 1 values for 2 members"),
        ({"members": ["a", "b"], "weights": [1.0, -1.0]}, "SoupConfig.weights must be non-negative"),
        ({"members": ["a", "b"], "out": ""}, "SoupConfig.out must name"),
        ({"members": ["a", "b"], "out": "b"}, "SoupConfig.out is one of the members"),
    ],
)
def test_config_errors_name_the_field(values, match):
    with pytest.raises(ValueError, match=match):
        SoupConfig(**{"out": "soup", **values})


def test_config_round_trips():
    config = SoupConfig(members=["a", "b"], out="soup", weights=[0.2, 0.8])
    assert SoupConfig.from_dict(config.to_dict()) == config
