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


def test_host_index_select_takes_a_vector_as_pytorch_and_the_cuda_path():
    import numpy as np

    import tinymm

    x = tinymm.tensor(np.arange(12.0).reshape(3, 4))
    with pytest.raises(ValueError, match=r"index_select: index must be 1-d .*\(2, 1\)"):
        x.index_select(1, tinymm.tensor([[0], [2]]))
    np.testing.assert_array_equal(x.index_select(0, tinymm.tensor(2)).numpy(), [[8, 9, 10, 11]])
