"""ctc_loss, nn.LSTM(proj_size=), searchsorted and histc on cuda tensors, in the numba-cuda
simulator against the cpu (tests/torch_api_ops_cuda_check.py, one subprocess: the simulator
must be switched on before numba is imported)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_ops_on_cuda_in_simulator():
    pytest.importorskip("numba_cuda",
                        reason="numba-cuda not installed (pip install 'tinymm[cuda]')")
    env = {**os.environ, "NUMBA_ENABLE_CUDASIM": "1",
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-m", "tests.torch_api_ops_cuda_check"], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    assert "checked tapi9 ops on cuda" in proc.stdout
