"""Device-resident training of the seed VQA model without a GPU: tests/cuda_training_check.py
in a subprocess under NUMBA_ENABLE_CUDASIM=1 (it must be set before numba is imported).

Three Adam steps of the tiny model on the simulated device, matching the reference backend,
with the host<->device transfers of every step asserted exactly; checkpoints from the device
load on the CPU and back. ``TINYMM_CUDA_ALL_FUSIONS=1`` adds one step of every other fusion
(about a minute more under the simulator).
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("numba_cuda", reason="numba-cuda not installed (pip install 'tinymm[cuda]')")

ROOT = Path(__file__).resolve().parent.parent


def test_vqa_model_trains_on_the_simulated_device_with_counted_transfers():
    env = {**os.environ, "NUMBA_ENABLE_CUDASIM": "1",
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    args = ["--all-fusions"] if os.environ.get("TINYMM_CUDA_ALL_FUSIONS") == "1" else []
    proc = subprocess.run([sys.executable, "-m", "tests.cuda_training_check", *args], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    assert "trained multiply" in proc.stdout and "checkpoints round-trip" in proc.stdout
