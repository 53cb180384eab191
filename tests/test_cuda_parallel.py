"""The parallel cuda layouts (bitonic sort, the block product, the column scans) without a
GPU: tests/cuda_parallel_check.py in a subprocess under NUMBA_ENABLE_CUDASIM=1."""

import pytest

pytest.importorskip("numba_cuda", reason="numba-cuda not installed (pip install 'tinymm[cuda]')")

from tests.simulated import run_simulated  # noqa: E402


def test_parallel_kernels_on_the_simulated_device():
    proc = run_simulated("tests.cuda_parallel_check", timeout=900)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    assert "bitonic sorts match NumPy's stable order" in proc.stdout
    assert "column scans match the reference" in proc.stdout
