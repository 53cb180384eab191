"""Retrieval and captioning evaluation on the simulated cuda device, without a GPU:
tests/cuda_task_check.py in a subprocess under NUMBA_ENABLE_CUDASIM=1 (it must be set before
numba is imported).

Greedy decoding and beam search on a cuda captioner match the host's tokens with the
transfers of every step asserted; ``tinymm evaluate RUN --device cuda`` of retrieval and
captioning checkpoints reproduces their recorded test records with the model on the device.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("numba_cuda", reason="numba-cuda not installed (pip install 'tinymm[cuda]')")

ROOT = Path(__file__).resolve().parent.parent


def test_task_evaluation_and_decoding_run_on_the_simulated_device():
    env = {**os.environ, "NUMBA_ENABLE_CUDASIM": "1",
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-m", "tests.cuda_task_check"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    assert "decoded on the simulated cuda device with 2 captioners" in proc.stdout
    assert "evaluated 3 task checkpoints with --device cuda" in proc.stdout
