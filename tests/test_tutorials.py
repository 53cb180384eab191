"""Every tutorial runs as a plain script (they are jupytext percent-format .py files)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

TUTORIALS = sorted((Path(__file__).resolve().parent.parent / "tutorials").glob("[0-9]*.py"))
# Tutorials that need an optional extra: skipped (not failed) when it is not installed.
NEEDS = {"08_first_cuda_kernels.py": ("numba_cuda", "pip install 'tinymm[cuda]'")}


def test_there_are_tutorials():
    assert TUTORIALS, "tutorials/ has no NN_*.py files"


@pytest.mark.parametrize("path", TUTORIALS, ids=[p.name for p in TUTORIALS])
def test_tutorial_runs(path, tmp_path):
    if path.name in NEEDS:
        module, how = NEEDS[path.name]
        pytest.importorskip(module, reason=f"{path.name} needs {module} ({how})")
    env = {**os.environ, "TINYMM_TUTORIAL_OUT": str(tmp_path), "MPLBACKEND": "Agg"}
    proc = subprocess.run([sys.executable, str(path)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, (
        f"{path.name} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")


@pytest.mark.parametrize("path", TUTORIALS, ids=[p.name for p in TUTORIALS])
def test_tutorial_is_jupytext_percent_format(path):
    text = path.read_text()
    assert "# %% [markdown]" in text and "format_name: percent" in text
