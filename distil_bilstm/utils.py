"""Small helpers shared by every pipeline stage: device resolution, hashing, atomic writes."""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import re
import signal
import tempfile
import threading
from contextlib import contextmanager
from dataclasses import fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Sequence

import numpy as np

if TYPE_CHECKING:
    import torch


def resolve_device(device: "str | torch.device" = "auto") -> "torch.device":
    """Resolve ``auto`` once (cuda if available, else cpu); anything else is checked, not trusted."""
    import torch  # here, not at the top: inference of an ONNX export runs without torch

    if isinstance(device, torch.device):
        return device
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"device {device!r} is not a device: use auto, cpu, cuda or cuda:N") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} was asked for but CUDA is not available on this machine")
    return resolved


def field_checker(owner: object) -> Callable[[bool, str, str], None]:
    """``check(ok, name, message)`` for a config's ``__post_init__``: unless ``ok``, raises
    ``ValueError("<Class>.<name> <message>, got <value>")``, so that a bad value is reported
    naming its field the moment the config is made.

    First the owner's numeric fields are made numbers (:func:`normalise_numbers`), so every check
    after it compares numbers: ``2e-3`` from ``--set`` or YAML is a float, never a string."""
    normalise_numbers(owner)

    def check(ok: bool, name: str, message: str) -> None:
        if not ok:
            raise ValueError(f"{type(owner).__name__}.{name} {message}, got {getattr(owner, name)!r}")

    return check


# A field's annotation (a string under ``from __future__ import annotations``) → what its values are:
# "int" / "float", or a sequence of them ("list[float]", "tuple[int, ...]"); "| None" allows null.
_NUMBER_TYPE = re.compile(r"^(?:(?P<seq>list|tuple)\[)?(?P<kind>int|float)(?:, \.\.\.)?\]?$")


def normalise_numbers(owner: object) -> None:
    """Make the values of ``owner``'s ``int`` and ``float`` fields (and lists of them) numbers, in
    place, or raise ``ValueError`` naming the field. YAML 1.1 reads ``2e-3`` (no dot) as a string and
    ``--set`` passes what it reads: such a string is parsed here. A bool, a word, a list where one
    number is meant, a non-finite value and a fractional value of an integer field are refused."""
    for f in fields(owner):
        annotation = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
        parts = [part.strip() for part in annotation.split("|")]
        optional = "None" in parts
        kinds = [part for part in parts if part != "None"]
        match = _NUMBER_TYPE.match(kinds[0]) if len(kinds) == 1 else None
        if match is None:
            continue
        value = getattr(owner, f.name)
        if value is None and optional:
            continue
        where = f"{type(owner).__name__}.{f.name}"
        if match["seq"]:
            if not isinstance(value, (list, tuple)):
                raise ValueError(f"{where} must be a list of numbers, got {value!r}")
            value = type(value)(_number(item, match["kind"], where) for item in value)
        else:
            value = _number(value, match["kind"], where)
        object.__setattr__(owner, f.name, value)  # frozen configs too: this runs inside __post_init__


def _number(value: Any, kind: str, where: str) -> int | float:
    """``value`` as a finite ``float`` (``kind`` "float") or a whole ``int``, or ``ValueError`` naming ``where``."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"{where} must be a number, got {value!r}")
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            raise ValueError(f"{where} must be a number, got {value!r}") from None
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{where} must be a finite number, got {value!r}")
    if kind == "float":
        return float(value)
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError(f"{where} must be a whole number, got {value!r}")
        return int(value)
    return value


def dataclass_from_dict(cls: type, values: dict, *, what: str | None = None) -> Any:
    """``cls(**values)`` for a config dataclass, except that a key it does not know raises
    ``ValueError`` naming the unknown keys and the known ones (a typo is never a TypeError);
    ``what`` names the keys in that message (default: the class name)."""
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"unknown {what or cls.__name__} key(s) {unknown}; known: {sorted(known)}")
    return cls(**values)


def compose_settings(owner: object, sections: dict[str, type], *, file_lists: Sequence[str] = ()) -> dict[str, Any]:
    """Each settings class of ``sections`` made from ``owner``'s fields of the same names, so that it
    checks its own values (a flat config composed of several settings declares each field once, in
    its settings class, and is checked by it). Lists become tuples (frozen settings hold tuples); an
    error names the owner's class rather than the section's.

    First, in place (frozen owners too: this runs inside their ``__post_init__``), the owner's numbers
    are made numbers (:func:`normalise_numbers`; YAML's 2 for a float key becomes 2.0, so identical
    configs hash identically) and each field of ``file_lists`` a list of strings (one file may be given
    as a string; in a grid a list is an axis, so a scalar is common)."""
    normalise_numbers(owner)
    for name in file_lists:
        value = getattr(owner, name)
        object.__setattr__(owner, name, [str(v) for v in ([value] if isinstance(value, str) else value or [])])
    made = {}
    for name, cls in sections.items():
        values = {f.name: getattr(owner, f.name) for f in fields(cls)}
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
        try:
            made[name] = cls(**values)
        except ValueError as err:
            raise ValueError(str(err).replace(f"{cls.__name__}.", f"{type(owner).__name__}.")) from None
    return made


def shown(values: Any, limit: int = 200) -> str:
    """``values`` as an error message shows them: at most ``limit`` characters (a 1 MB header line is
    not echoed whole)."""
    text = values if isinstance(values, str) else repr(values)
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text):,} characters)"


def path_safe(name: str) -> str:
    """A dataset name (which may be a file path) as one folder name: ``/`` becomes ``_``."""
    return name.replace("/", "_")


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it over ``path`` only if the block succeeds.

    A reader therefore sees either the old file or the complete new one, never half a file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        apply_umask(tmp_path)
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


@contextmanager
def atomic_dir(folder: str | Path) -> Iterator[Path]:
    """Yield an empty staging folder beside ``folder``; when the block succeeds it replaces
    ``folder`` whole, so a reader never sees a half-built cache."""
    import shutil

    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        yield staging
        if folder.exists():
            shutil.rmtree(folder)
        apply_umask(staging)
        os.replace(staging, folder)
    finally:
        if staging.exists():
            shutil.rmtree(staging)


def apply_umask(path: str | Path) -> None:
    """Give ``path`` (and, for a folder, everything under it) the modes a plain ``open``/``mkdir``
    would have: ``tempfile`` makes files 0600 and folders 0700, which would leave artefacts
    written through a temporary name unreadable to the rest of a team."""
    umask = os.umask(0)
    os.umask(umask)
    path = Path(path)
    paths = [path, *path.rglob("*")] if path.is_dir() else [path]
    for item in paths:
        if item.exists() and not item.is_symlink():
            item.chmod((0o777 if item.is_dir() else 0o666) & ~umask)


def write_json(path: str | Path, obj: Any) -> None:
    """Write ``obj`` as pretty JSON atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, ensure_ascii=False, sort_keys=False) + "\n", encoding="utf-8")


def read_json(path: str | Path) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def read_safetensors(path: str | Path, *, device: str = "cpu") -> "dict[str, torch.Tensor]":
    """The tensors of a safetensors file; a truncated or foreign file is a ``ValueError`` naming it
    (safetensors' own error is neither an ``OSError`` nor a ``ValueError``)."""
    from safetensors.torch import load_file

    if not Path(path).is_file():
        raise FileNotFoundError(f"{path}: no such weights file")
    try:
        return load_file(str(path), device=device)
    except Exception as err:  # SafetensorError: a header or tensor that does not parse
        raise ValueError(f"{path}: not a readable safetensors file ({err}); it may be truncated") from None


def sha256_file(path: str | Path, chunk_size: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk_size):
            digest.update(block)
    return digest.hexdigest()


def count_lines(path: str | Path) -> int:
    """Newlines in a file, read in 1 MiB blocks (for progress bars' totals)."""
    with open(path, "rb") as fh:
        return sum(block.count(b"\n") for block in iter(lambda: fh.read(1 << 20), b""))


def length_sorted_batches(lengths: Sequence[int], batch_size: int) -> list[np.ndarray]:
    """Positions grouped into batches of similar length (longest first), for inference (numpy only:
    a serving process imports no torch for it)."""
    order = np.argsort(-np.asarray(lengths), kind="stable")
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax of ``(N, C)`` logits, shifted by each row's max for stability."""
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


@contextmanager
def signal_handler(signum: int, handler: Callable) -> Iterator[bool]:
    """While inside, ``handler`` answers ``signum``; the previous handler comes back on the way out.
    Only the main thread may install signal handlers: elsewhere (a grid worker thread) nothing is
    installed and this yields False."""
    if threading.current_thread() is not threading.main_thread():
        yield False
        return
    previous = signal.signal(signum, handler)
    try:
        yield True
    finally:
        signal.signal(signum, previous)


@contextmanager
def quiet_onnx_quantizer() -> Iterator[None]:
    """While inside, the root logger passes errors only. onnxruntime's quantizer logs through the
    root logger itself (several lines per layer of a teacher, and a "consider pre-processing"
    notice), which the CLI's INFO handler would print; the previous level comes back on the way
    out. Loggers that inherit the root's level (``distil_bilstm.*``) are quiet meanwhile too."""
    root = logging.getLogger()
    previous = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(previous)
