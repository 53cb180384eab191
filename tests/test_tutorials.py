"""Every tutorial runs as a plain script (they are jupytext percent-format .py files), prints
its prose rather than its source, and has a checked-in notebook that is current."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tinymm.exercises.literate import parse_cells, prose

ROOT = Path(__file__).resolve().parent.parent
TUTORIALS = sorted((ROOT / "tutorials").glob("[0-9]*.py"))
# Tutorials that need an optional extra: skipped (not failed) when it is not installed.
NEEDS = {"08_first_cuda_kernels.py": ("numba_cuda", "pip install 'tinymm[cuda]'")}


def test_there_are_tutorials():
    assert TUTORIALS, "tutorials/ has no NN_*.py files"
    names = [p.name[:2] for p in TUTORIALS]
    assert {"01", "02", "03", "04", "05", "06", "07", "10"} <= set(names)


@pytest.mark.parametrize("path", TUTORIALS, ids=[p.name for p in TUTORIALS])
def test_tutorial_runs_and_prints_its_prose_not_its_source(path, tmp_path):
    if path.name in NEEDS:
        module, how = NEEDS[path.name]
        pytest.importorskip(module, reason=f"{path.name} needs {module} ({how})")
    env = {**os.environ, "TINYMM_TUTORIAL_OUT": str(tmp_path), "MPLBACKEND": "Agg",
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, str(path)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, (
        f"{path.name} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")
    cells = parse_cells(path.read_text())
    first_prose = prose(next(c for c in cells if c.kind == "markdown")).splitlines()[0]
    assert first_prose in proc.stdout  # the title and the explanations are printed ...
    text = "\n".join(prose(c) for c in cells if c.kind == "markdown")
    code_lines = [line for c in cells if c.kind == "code" for line in c.source.splitlines()
                  if line.startswith(("def ", "class ", "import ")) and line not in text]
    assert code_lines and not any(line in proc.stdout for line in code_lines)  # ... not code


@pytest.mark.parametrize("path", TUTORIALS, ids=[p.name for p in TUTORIALS])
def test_tutorial_is_jupytext_percent_format(path):
    text = path.read_text()
    assert "# %% [markdown]" in text and "format_name: percent" in text


@pytest.mark.parametrize("path", TUTORIALS, ids=[p.name for p in TUTORIALS])
def test_checked_in_notebook_is_current(path):
    """The notebook's cells are the jupytext conversion of the .py source (types and sources,
    compared without executing anything), and every code cell carries outputs from a run.
    Rebuild with `python -m tutorials.build_notebooks`."""
    jupytext = pytest.importorskip("jupytext")
    notebook = path.with_suffix(".ipynb")
    assert notebook.is_file(), f"{notebook.name} missing: run python -m tutorials.build_notebooks"
    expected = jupytext.read(str(path))
    stored = json.loads(notebook.read_text())
    want = [(c.cell_type, c.source) for c in expected.cells]
    got = [(c["cell_type"], "".join(c["source"])) for c in stored["cells"]]
    assert got == want, f"{notebook.name} is stale: run python -m tutorials.build_notebooks"
    code = [c for c in stored["cells"] if c["cell_type"] == "code"]
    assert all(c.get("execution_count") for c in code), f"{notebook.name} was not executed"
