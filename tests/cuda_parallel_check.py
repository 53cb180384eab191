"""The parallel layouts of the cuda kernels in the simulator (run by
tests/test_cuda_parallel.py in a subprocess with NUMBA_ENABLE_CUDASIM=1).

1. The bitonic sort (``_sort``) on odd row lengths with ties and NaNs, against NumPy's
   stable argsort, and the lexicographic row order against np.lexsort.
Prints one line with the counts; any failure raises.
"""

from __future__ import annotations

import numpy as np

import tests.cuda_simulator_check  # noqa: F401  (patches the simulator first)
from tinymm.kernels.numba_cuda import _device, _sort

RNG = np.random.default_rng(0)


def check_sort() -> int:
    checked = 0
    for length in (1, 2, 3, 5, 8, 13):
        for dtype in (np.float32, np.float64, np.int64):
            keys = RNG.integers(-2, 3, (3, length)).astype(dtype)
            if dtype != np.int64 and length > 2:
                keys[0, 1] = keys[1, 0] = keys[1, 2] = np.nan
            ordered, perm = _sort.sort_rows(_device.to_device(keys))
            want = np.argsort(keys, axis=1, kind="stable")  # NaN last, ties by index
            assert np.array_equal(_device.to_host(perm), want), (keys, _device.to_host(perm))
            np.testing.assert_array_equal(_device.to_host(ordered),
                                          np.take_along_axis(keys, want, 1))
            rows = RNG.integers(0, 2, (length, 3)).astype(dtype)
            order = _device.to_host(_sort.sort_matrix_rows(_device.to_device(rows)))
            assert np.array_equal(order, np.lexsort(rows.T[::-1])), (rows, order)
            checked += 2
    return checked


if __name__ == "__main__":
    sorts = check_sort()
    print(f"{sorts} bitonic sorts match NumPy's stable order on the simulated device")
