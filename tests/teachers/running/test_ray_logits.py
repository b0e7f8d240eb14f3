from __future__ import annotations

import json

import pytest
import torch

from distil_bilstm.data.datasets import load_dataset
from distil_bilstm.teachers.running.labelling import cache_dataset_logits
from distil_bilstm.teachers.running.reference import load_teacher


def test_ray_chunks_equal_local_chunks(tmp_path, small_nsmc, tiny_teacher_dir):
    ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'distil-bilstm[ray]'; CI installs it)")
    from distil_bilstm.teachers.running.ray_logits import ray_chunk_runner

    dataset = load_dataset("nsmc", data_dir=small_nsmc, download=False)
    teacher = load_teacher(tiny_teacher_dir, device="cpu", num_labels=2)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as each actor runs: another thread count may change the last bits of a matmul
    try:
        local = cache_dataset_logits(
            teacher, dataset, store_dir=tmp_path / "local", chunk_size=32, batch_size=8, max_length=32, progress=False
        )
    finally:
        torch.set_num_threads(threads)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        runner = ray_chunk_runner(
            teacher_path=str(tiny_teacher_dir), num_labels=2, batch_size=8, max_length=32, workers=2, threads=1
        )
        remote = cache_dataset_logits(
            teacher,
            dataset,
            store_dir=tmp_path / "ray",
            chunk_size=32,
            batch_size=8,
            max_length=32,
            progress=False,
            chunk_runner=runner,
        )
    finally:
        ray.shutdown()
    assert remote.computed_examples == local.computed_examples == len(dataset) > 4 * 32  # several chunks, two actors
    assert (tmp_path / "ray" / "logits.npy").read_bytes() == (tmp_path / "local" / "logits.npy").read_bytes()
    local_header, ray_header = (json.loads((tmp_path / d / "header.json").read_text()) for d in ("local", "ray"))
    assert ray_header["logits_sha256"] == local_header["logits_sha256"]


def test_ray_backend_without_ray_says_how_to_install(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_ray(name, *args, **kwargs):
        if name == "ray" or name.startswith("ray."):
            raise ImportError("No module named 'ray'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_ray)
    from distil_bilstm.teachers.running.ray_logits import ray_chunk_runner

    with pytest.raises(RuntimeError, match=r"--backend ray needs Ray: pip install 'distil-bilstm\[ray\]'"):
        ray_chunk_runner(teacher_path="t", num_labels=2)
