"""The cuda topk's thread-per-row and block-per-row paths in the simulator against the
reference (tests/cuda_topk_check.py in a subprocess under NUMBA_ENABLE_CUDASIM=1)."""

import pytest

pytest.importorskip("numba_cuda", reason="numba-cuda not installed (pip install 'tinymm[cuda]')")

from tests.simulated import run_simulated  # noqa: E402


def test_cuda_topk_paths_match_the_reference():
    proc = run_simulated("tests.cuda_topk_check", timeout=900)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    assert "match the reference" in proc.stdout
