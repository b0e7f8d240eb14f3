"""The notebook's runner (notebooks/execute.py) and the notebook's Colab-ready shape. CI executes
the notebook itself (`python notebooks/execute.py`); here nothing runs a kernel."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


@pytest.fixture(scope="module")
def runner():
    spec = importlib.util.spec_from_file_location("notebook_execute", NOTEBOOKS / "execute.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_main_notebook_is_colab_ready():
    notebook = nbformat.read(NOTEBOOKS / "main.ipynb", as_version=4)
    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert "pip" in code[0].source and "google.colab" in code[0].source  # the install cell comes first
    mount = next(c for c in code if "drive.mount" in c.source)
    assert "if IN_COLAB:" in mount.source.split("drive.mount")[0]  # Drive only inside Colab
    params = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1 and "HPARAMS" in params[0].source
    sources = "\n".join(c.source for c in code)
    for step in ("plan_grid", "run_grid", "%tensorboard", "compare(", "Predictor.load"):
        assert step in sources
    assert "os.chdir" not in sources and "../shared" not in sources
    # committed with the outputs of a run (only the parameters cell prints nothing)
    assert all(c.outputs for c in code if c not in params)


def test_parameters_are_injected_after_the_tagged_cell(runner):
    notebook = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_code_cell("A = 1", metadata={"tags": ["parameters"]}),
            nbformat.v4.new_code_cell("print(A)"),
        ]
    )
    runner.inject_parameters(notebook, ["A=2", "B = 'x'"])
    assert [c.source.splitlines()[-1] for c in notebook.cells] == ["A = 1", "B =  'x'", "print(A)"]
    with pytest.raises(SystemExit, match="NAME=VALUE"):
        runner.inject_parameters(notebook, ["not an assignment"])
    with pytest.raises(SystemExit, match="no cell tagged 'parameters'"):
        runner.inject_parameters(nbformat.v4.new_notebook(), ["A=1"])


def test_progress_bars_are_saved_as_a_reader_saw_them(runner):
    cell = nbformat.v4.new_code_cell("x")
    cell.outputs = [
        nbformat.v4.new_output("stream", name="stderr", text="bar  10%\rbar  50%"),
        nbformat.v4.new_output("stream", name="stderr", text="\rbar 100%\nnext line\n"),
        nbformat.v4.new_output("stream", name="stdout", text="result\n"),
    ]
    notebook = nbformat.v4.new_notebook(cells=[cell])
    runner.squash_streams(notebook)
    assert [(o.name, o.text) for o in notebook.cells[0].outputs] == [
        ("stderr", "bar 100%\nnext line\n"),
        ("stdout", "result\n"),
    ]
