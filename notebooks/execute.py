"""Run a notebook top to bottom with nbclient and fail on the first cell error (CI runs main.ipynb).

    python notebooks/execute.py [notebooks/main.ipynb] [--workdir DIR] [--set NAME=VALUE ...] [--save]

The kernel starts in ``--workdir`` (default: a new temporary folder), so a run writes nothing
into the checkout; ``--set`` overrides a value of the cell tagged ``parameters`` (papermill's
convention: a cell that assigns the new values is inserted right after it); ``--save`` writes the executed notebook, outputs included, back in place.
TensorBoard servers that ``%tensorboard`` started are stopped at the end.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError


def stop_tensorboards(workdir: Path) -> int:
    """Stop the TensorBoard servers whose logdir lies under ``workdir``; returns how many."""
    from tensorboard import manager

    stopped = 0
    for info in manager.get_all():
        if str(workdir) in (info.logdir or ""):
            try:
                os.kill(info.pid, signal.SIGTERM)
                stopped += 1
            except ProcessLookupError:
                pass
    return stopped


def terminal_text(text: str) -> str:
    """What a terminal (and Jupyter) shows for ``text``: each line ends as its last ``\\r`` left it."""
    return "\n".join(line.rsplit("\r", 1)[-1] for line in text.split("\n"))


def squash_streams(notebook) -> None:
    """Merge each cell's consecutive stdout/stderr outputs and resolve progress bars' carriage
    returns, so that the saved notebook holds what a reader would have seen, not every redraw."""
    for cell in notebook.cells:
        merged = []
        for output in cell.get("outputs", []):
            if (
                output.output_type == "stream"
                and merged
                and merged[-1].output_type == "stream"
                and merged[-1].name == output.name
            ):
                merged[-1].text += output.text
            else:
                merged.append(output)
        for output in merged:
            if output.output_type == "stream":
                output.text = terminal_text(output.text)
        if "outputs" in cell:
            cell.outputs = merged


def inject_parameters(notebook, assignments: list[str]) -> None:
    """Insert ``NAME = VALUE`` lines after the cell tagged ``parameters``."""
    tagged = [i for i, cell in enumerate(notebook.cells) if "parameters" in cell.get("metadata", {}).get("tags", [])]
    if not tagged:
        raise SystemExit("the notebook has no cell tagged 'parameters'")
    lines = []
    for item in assignments:
        name, sep, value = item.partition("=")
        if not sep or not name.strip().isidentifier():
            raise SystemExit(f"--set expects NAME=VALUE, got {item!r}")
        lines.append(f"{name.strip()} = {value}")
    cell = nbformat.v4.new_code_cell(
        "# injected by notebooks/execute.py --set\n" + "\n".join(lines), metadata={"tags": ["injected-parameters"]}
    )
    notebook.cells.insert(tagged[0] + 1, cell)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebook", nargs="?", default=str(Path(__file__).with_name("main.ipynb")))
    parser.add_argument("--workdir", default=None)
    parser.add_argument("--timeout", type=int, default=900, help="seconds one cell may take")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override a parameter (VALUE is a Python literal, e.g. TEACHER='dir')",
    )
    parser.add_argument("--save", action="store_true", help="write the outputs back into the notebook")
    args = parser.parse_args(argv)

    path = Path(args.notebook)
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="notebook-")).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    notebook = nbformat.read(path, as_version=4)
    if args.set:
        inject_parameters(notebook, args.set)
    client = NotebookClient(
        notebook, timeout=args.timeout, kernel_name="python3", resources={"metadata": {"path": str(workdir)}}
    )
    start = time.perf_counter()
    try:
        client.execute()
    except CellExecutionError as err:
        print(f"{path}: a cell failed (workdir {workdir}):\n{err}", file=sys.stderr)
        return 1
    finally:
        stop_tensorboards(workdir)
    seconds = time.perf_counter() - start
    if args.save:
        squash_streams(notebook)
        nbformat.write(notebook, path)
    print(f"{path}: {len(notebook.cells)} cells ran without error in {seconds:.0f} s (workdir {workdir})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
