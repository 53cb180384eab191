"""Tensor ops, functional ops and layers on cuda tensors without a GPU: tests/cuda_ops_check.py
in a subprocess under NUMBA_ENABLE_CUDASIM=1 (it must be set before numba is imported).

Each op of its table either stays on the device and matches the host, or refuses cuda
tensors with an error naming the device; none returns a host array for a cuda input.
"""

import pytest

pytest.importorskip("numba_cuda", reason="numba-cuda not installed (pip install 'tinymm[cuda]')")

from tests.simulated import run_simulated  # noqa: E402


def test_ops_on_cuda_tensors_stay_on_the_device_or_refuse():
    proc = run_simulated("tests.cuda_ops_check", timeout=900)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    assert "ops on the simulated device match the host" in proc.stdout
