from __future__ import annotations

import json

import pytest

from distil_bilstm.teachers.running.source import TeacherSource
from tests.conftest import write_lines


def test_a_store_teacher_keeps_its_transfer_sets_beside_it(tmp_path):
    ensemble = tmp_path / "logits" / "ensemble-a-b"
    write_lines(ensemble / "header.json", [json.dumps({"teacher_path": str(tmp_path / "nowhere")})])
    source = TeacherSource.resolve(ensemble, cache_dir="c")
    assert source.is_store and source.store_dir("nsmc") == ensemble
    assert source.transfer_store_dir("nsmc", "x/aug.tsv") == tmp_path / "logits" / "ensemble-a-b.transfer.aug"
    with pytest.raises(FileNotFoundError, match="need the teacher checkpoint; .* are not one"):
        source.checkpoint_dir(json.loads((ensemble / "header.json").read_text()))


def test_an_ensemble_store_leads_to_its_one_checkpoint_member(tmp_path, tiny_teacher_dir):
    ensemble = tmp_path / "ensemble-e5-tfidf"
    # a TF-IDF baseline member is a run folder: it has a config.json too, but no layers to give
    baseline = tmp_path / "baseline-run"
    write_lines(baseline / "config.json", ["{}"])
    write_lines(baseline / "student.json", [json.dumps({"architecture": "tfidf_lr"})])
    members = [{"teacher_path": str(tiny_teacher_dir)}, {"teacher_path": str(baseline)}]
    header = {"teacher_path": "ensemble:...", "members": members}
    write_lines(ensemble / "header.json", [json.dumps(header)])
    assert TeacherSource.resolve(ensemble, cache_dir="c").checkpoint_dir(header) == tiny_teacher_dir
    two = {"teacher_path": "ensemble:...", "members": [members[0], members[0]]}
    with pytest.raises(FileNotFoundError, match="ambiguous"):
        TeacherSource.resolve(ensemble, cache_dir="c").checkpoint_dir(two)


def test_a_checkpoint_teacher_files_its_stores_under_the_cache(tmp_path, tiny_teacher_dir):
    source = TeacherSource.resolve(tiny_teacher_dir, cache_dir=tmp_path / "c")
    assert not source.is_store and source.checkpoint_dir() == tiny_teacher_dir
    assert source.store_dir("nsmc") == tmp_path / "c" / "tiny_teacher" / "nsmc"
    # the folder `teacher logits --transfer-set` fills, beside the teacher's own store of the dataset
    assert source.transfer_store_dir("nsmc", "data/u.txt") == tmp_path / "c" / "tiny_teacher" / "nsmc.transfer.u"
    # a store made from that checkpoint leads back to it
    store = source.store_dir("nsmc")
    write_lines(store / "header.json", [json.dumps({"teacher_path": str(tiny_teacher_dir)})])
    assert (
        TeacherSource.resolve(store, cache_dir="c").checkpoint_dir({"teacher_path": str(tiny_teacher_dir)})
        == tiny_teacher_dir
    )
    assert TeacherSource.resolve(store, cache_dir="c").transfer_store_dir("nsmc", "u.txt") == source.transfer_store_dir(
        "nsmc", "u.txt"
    )


def test_teacher_init_through_a_store_finds_the_checkpoint_behind_it(tmp_path, small_nsmc, tiny_teacher_dir):
    from distil_bilstm.runs.config import DistilConfig
    from distil_bilstm.runs.pipeline import run_distillation

    common = dict(
        dataset="nsmc",
        data_dir=str(small_nsmc),
        vocab_size=300,
        vocab_root=str(tmp_path / "tok"),
        preset="tiny",
        loss="kl",
        cache_dir=str(tmp_path / "logits"),
        batch_size=16,
        train_epoch=1,
        patience=0,
        run_root=str(tmp_path / "runs"),
        device="cpu",
    )
    run_distillation(DistilConfig(**common, teacher_path=str(tiny_teacher_dir)))  # labels the store
    store = tmp_path / "logits" / "tiny_teacher" / "nsmc"
    metrics = run_distillation(DistilConfig(**common, teacher_path=str(store), embedding_init="teacher"))
    assert metrics["embedding_source"] == str(tiny_teacher_dir)


def test_a_missing_transfer_store_names_the_command_that_makes_it(tmp_path):
    ensemble = tmp_path / "logits" / "ensemble-a-b"
    write_lines(ensemble / "header.json", [json.dumps({"teacher_path": "ensemble:..."})])
    source = TeacherSource.resolve(ensemble, cache_dir="c")

    class Dataset:  # what the method reads of a dataset: its name and label count
        name, num_labels = "nsmc", 2

    with pytest.raises(
        FileNotFoundError,
        match=r"transfer set x/aug.tsv: no logits at .*ensemble-a-b.transfer.aug; label "
        r"it with the teacher behind .*ensemble-a-b: distil-bilstm teacher logits "
        r"--dataset nsmc --teacher TEACHER --transfer-set x/aug.tsv",
    ):
        source.open_transfer_store(Dataset(), "x/aug.tsv", fingerprint="f")


def test_check_refuses_what_is_no_teacher_before_any_work(tmp_path, tiny_teacher_dir):
    store = tmp_path / "logits" / "some-store"
    write_lines(store / "header.json", ["{}"])
    for teacher in (store, tiny_teacher_dir, "some-org/some-model"):  # a hub id is left to transformers
        assert (
            TeacherSource.resolve(teacher, cache_dir="c").check().path
            == TeacherSource.resolve(teacher, cache_dir="c").path
        )
    with pytest.raises(FileNotFoundError, match="nowhere: not a checkpoint folder"):
        TeacherSource.resolve(tmp_path / "nowhere", cache_dir="c").check()
    with pytest.raises(FileNotFoundError, match="logits: no config.json"):
        TeacherSource.resolve(tmp_path / "logits", cache_dir="c").check()  # a folder of stores, not a store
