"""Build the executed notebooks: ``tutorials/NN_*.ipynb`` from the paired ``.py`` sources.

    python -m tutorials.build_notebooks            # every tutorial
    python -m tutorials.build_notebooks 02 10      # the ones whose names start so

Each notebook is jupytext's conversion of the percent-format source (the .py file is the
one to edit; the pairing is declared in its header), with every code cell's printed output
stored as it ran here, in order, in one namespace (``tinymm.exercises.literate``). No
Jupyter kernel is needed. ``tests/test_tutorials.py`` checks that the checked-in notebooks
are current: same cells as the conversion of the source, every code cell executed.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import jupytext
import nbformat

from tinymm import current_backend, use_backend
from tinymm.exercises.literate import execute_cells

HERE = Path(__file__).resolve().parent


def build(path: Path) -> Path:
    notebook = jupytext.read(str(path))
    code_cells = [c for c in notebook.cells if c.cell_type == "code"]
    with tempfile.TemporaryDirectory() as out, use_backend(current_backend().name):
        os.environ["TINYMM_TUTORIAL_OUT"] = out  # figures go to a scratch folder
        outputs = [text for cell, text in execute_cells(path) if cell.kind == "code"]
    if len(outputs) != len(code_cells):
        raise RuntimeError(f"{path.name}: jupytext sees {len(code_cells)} code cells, the "
                           f"executor {len(outputs)}; keep every code cell non-empty")
    for count, (cell, text) in enumerate(zip(code_cells, outputs), start=1):
        cell.execution_count = count
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=text)] if text else []
    for index, cell in enumerate(notebook.cells):
        cell.id = f"cell-{index:03d}"  # stable ids: a rebuild changes only what changed
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                       "language": "python"}
    target = path.with_suffix(".ipynb")
    nbformat.write(notebook, str(target))
    return target


def main(prefixes: list[str]) -> int:
    sys.path.insert(0, str(HERE.parent))
    paths = sorted(p for p in HERE.glob("[0-9]*.py")
                   if not prefixes or any(p.name.startswith(x) for x in prefixes))
    for path in paths:
        print("built", build(path).relative_to(HERE.parent), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
