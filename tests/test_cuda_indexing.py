"""The indexing family (gather/scatter/index/where/masks/one_hot/argmax/max(dim)/scans) on cuda
tensors without a GPU: tests/cuda_indexing_check.py in a subprocess under
NUMBA_ENABLE_CUDASIM=1, forward and backward against the host, and the tie, NaN, count and
deferred index-check rules."""

import pytest

pytest.importorskip("numba_cuda", reason="numba-cuda not installed (pip install 'tinymm[cuda]')")

from tests.simulated import run_simulated  # noqa: E402


def test_indexing_ops_forward_and_backward_on_the_simulated_device():
    proc = run_simulated("tests.cuda_indexing_check", timeout=900)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    assert "indexing ops match the host forward and backward" in proc.stdout
