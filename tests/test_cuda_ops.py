"""Tensor ops, functional ops and layers on cuda tensors without a GPU: tests/cuda_ops_check.py
in a subprocess under NUMBA_ENABLE_CUDASIM=1 (it must be set before numba is imported).

Each op of its table either stays on the device and matches the host, or refuses cuda
tensors with an error naming the device; none returns a host array for a cuda input.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("numba_cuda", reason="numba-cuda not installed (pip install 'tinymm[cuda]')")

ROOT = Path(__file__).resolve().parent.parent


def test_ops_on_cuda_tensors_stay_on_the_device_or_refuse():
    env = {**os.environ, "NUMBA_ENABLE_CUDASIM": "1",
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-m", "tests.cuda_ops_check"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    assert "ops on the simulated device match the host" in proc.stdout
