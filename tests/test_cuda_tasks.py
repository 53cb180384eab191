"""Retrieval and captioning evaluation on the simulated cuda device, without a GPU:
tests/cuda_task_check.py in a subprocess under NUMBA_ENABLE_CUDASIM=1 (it must be set before
numba is imported).

Greedy decoding and beam search on a cuda captioner match the host's tokens with the
transfers of every step asserted; ``tinymm evaluate RUN --device cuda`` of retrieval and
captioning checkpoints reproduces their recorded test records with the model on the device.
"""

import pytest

pytest.importorskip("numba_cuda", reason="numba-cuda not installed (pip install 'tinymm[cuda]')")

from tests.simulated import run_simulated  # noqa: E402


def test_task_evaluation_and_decoding_run_on_the_simulated_device():
    proc = run_simulated("tests.cuda_task_check", timeout=1800)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    assert "decoded on the simulated cuda device with 2 captioners" in proc.stdout
    assert "evaluated 3 task checkpoints with --device cuda" in proc.stdout
