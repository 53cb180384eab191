"""Random sampling and dropout masks drawn on the cuda device without a GPU:
tests/cuda_random_check.py in a subprocess under NUMBA_ENABLE_CUDASIM=1 (shapes, dtypes,
ranges, moments, seeding, no host copy)."""

import pytest

pytest.importorskip("numba_cuda", reason="numba-cuda not installed (pip install 'tinymm[cuda]')")

from tests.simulated import run_simulated  # noqa: E402


def test_random_draws_stay_on_the_simulated_device():
    proc = run_simulated("tests.cuda_random_check", timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    assert "random draws stay on the simulated device with no host copy" in proc.stdout
