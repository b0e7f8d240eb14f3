from __future__ import annotations

import os
import stat

from distil_bilstm.utils import apply_umask, atomic_path, write_json


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
