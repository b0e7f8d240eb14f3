"""The package's layout: one subpackage per stage, imports flowing one way, modules of one job."""

from __future__ import annotations

import ast

import pytest

from .conftest import REPO

PACKAGE = REPO / "distil_bilstm"
# foundations first, then the stages in the order they may import each other
ORDER = ("utils", "rundir", "data", "training", "baselines", "teachers", "students", "serving", "runs", "cli")


def stage_of(parts: list[str]) -> str:
    return parts[0] if len(parts) > 1 else parts[0].removesuffix(".py")


def relative_imports(path):
    """(line, stage imported) of every ``from .x import`` anywhere in the module (lazy ones too)."""
    rel = path.relative_to(PACKAGE)
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level:
            here = list(rel.parts[:-1])
            base = here[: len(here) - (node.level - 1)]
            target = [p for p in base + (node.module or "").split(".") if p]
            if target:
                yield node.lineno, target[0]


def test_the_folder_list_is_the_pipeline():
    found = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").is_file()}
    assert found == {"data", "teachers", "students", "baselines", "training", "runs", "serving", "cli"}
    assert {p.name for p in PACKAGE.glob("*.py")} == {"__init__.py", "utils.py", "rundir.py"}


def test_no_stage_imports_a_later_one():
    later = []
    for path in PACKAGE.rglob("*.py"):
        stage = stage_of(list(path.relative_to(PACKAGE).parts))
        if stage == "__init__":
            continue
        for line, target in relative_imports(path):
            if target in ORDER and ORDER.index(target) > ORDER.index(stage):
                later.append(f"{path.relative_to(REPO)}:{line} imports {target}")
    assert later == []


@pytest.mark.parametrize("package", ["data", "teachers", "students", "baselines", "training", "runs", "serving"])
def test_a_stage_package_imports_nothing_when_imported(package):
    init = ast.parse((PACKAGE / package / "__init__.py").read_text(encoding="utf-8"))
    assert [type(n).__name__ for n in init.body] == ["Expr"], f"{package}/__init__.py should hold only its docstring"


def test_every_module_says_its_job_and_stays_small():
    for path in PACKAGE.rglob("*.py"):
        source = path.read_text(encoding="utf-8")
        assert ast.get_docstring(ast.parse(source)), f"{path.relative_to(REPO)} has no docstring saying its job"
        assert source.count("\n") <= 400, f"{path.relative_to(REPO)} has {source.count(chr(10))} lines"


def test_public_names_resolve():
    import distil_bilstm

    for name in distil_bilstm.__all__:
        assert getattr(distil_bilstm, name) is not None, name
    with pytest.raises(AttributeError, match="no attribute 'nonexistent'"):
        distil_bilstm.nonexistent  # noqa: B018


# teachers/ in rooms by stage; a room imports only rooms before it
TEACHER_ROOMS = ("bases", "stores", "running", "tuning")


def test_teachers_rooms_import_one_way():
    rooms = {p.name for p in (PACKAGE / "teachers").iterdir() if p.is_dir() and (p / "__init__.py").is_file()}
    assert rooms == set(TEACHER_ROOMS)
    assert {p.name for p in (PACKAGE / "teachers").glob("*.py")} == {"__init__.py"}
    later = []
    for room in TEACHER_ROOMS:
        for path in (PACKAGE / "teachers" / room).glob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.ImportFrom) and node.level == 2 and node.module:
                    target = node.module.split(".")[0]  # from ..<room>.module import
                    if target in TEACHER_ROOMS and TEACHER_ROOMS.index(target) > TEACHER_ROOMS.index(room):
                        later.append(f"{path.relative_to(REPO)}:{node.lineno} imports {target}")
    assert later == []


def test_tests_mirror_the_teachers_rooms():
    for path in (PACKAGE / "teachers").glob("*/*.py"):
        if path.name != "__init__.py":
            assert (REPO / "tests" / "teachers" / path.parent.name / f"test_{path.name}").is_file(), path
