"""The device API on a machine without a GPU (the simulated device is exercised by
tests/cuda_simulator_check.py, run from tests/test_cuda_kernels.py)."""

import numpy as np
import pytest

import tinymm
from tinymm import cuda, nn


def test_unknown_device_is_a_value_error():
    with pytest.raises(ValueError, match="unknown device type 'tpu'"):
        tinymm.tensor([1.0], device="tpu")


@pytest.mark.skipif(cuda.is_available(), reason="a cuda device (or the simulator) is present")
def test_cuda_without_a_gpu_says_what_to_do():
    reason = cuda.unavailable_reason()
    assert "NUMBA_ENABLE_CUDASIM=1" in reason or "pip install" in reason
    with pytest.raises(ValueError, match="NUMBA_ENABLE_CUDASIM|pip install"):
        tinymm.tensor([1.0], device="cuda")
    with pytest.raises(RuntimeError, match="not available"):
        cuda.transfer_stats()
    assert not cuda.is_available()


def test_cpu_moves_are_no_ops_and_dtype_moves_cast():
    x = tinymm.tensor(np.arange(3.0), dtype=np.float32)
    assert x.to("cpu") is x and x.cpu() is x and x.device == "cpu" and not x.is_cuda
    y = x.to(np.float64)
    assert y.dtype == np.float64 and y.device == "cpu"
    np.testing.assert_array_equal(y.numpy(), [0.0, 1.0, 2.0])


def test_module_to_keeps_the_parameter_objects():
    layer = nn.Linear(3, 2)
    params = list(layer.parameters())
    layer.to("cpu").to(np.float64)
    assert [id(p) for p in layer.parameters()] == [id(p) for p in params]
    assert all(p.dtype == np.float64 and p.device == "cpu" for p in params)
