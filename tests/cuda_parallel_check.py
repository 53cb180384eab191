"""The parallel layouts of the cuda kernels in the simulator (run by
tests/test_cuda_parallel.py in a subprocess with NUMBA_ENABLE_CUDASIM=1).

1. The bitonic sort (``_sort``) on odd row lengths with ties and NaNs, against NumPy's
   stable argsort, and the lexicographic row order against np.lexsort.
2. prod's block per line (rows of LINE_BLOCK elements or more, and the full product): forward
   and backward against the reference kernels on odd lengths, with no zero, one zero and two
   zeros in a line (the gradient's exact cases), in float32, float64 and int64.
Prints one line with the counts; any failure raises.
"""

from __future__ import annotations

import numpy as np

import tests.cuda_simulator_check  # noqa: F401  (patches the simulator first)
from tinymm.kernels.numba_cuda import _device, _sort, prod
from tinymm.kernels.reference import prod as reference_prod

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


def _line_cases():
    """(x, axis) with lines of at least LINE_BLOCK elements: no zero, one zero, two zeros."""
    n = prod.LINE_BLOCK
    for shape, axis in (((2, n + 1), 1), ((3, 2 * n + 3), -1), ((n + 5,), None),
                        ((3, n), None), ((2, 1, 3 * n - 1), 2)):
        x = RNG.uniform(0.5, 1.5, shape) * RNG.choice([-1, 1], shape)
        yield x, axis
        one = x.copy()
        one.reshape(-1)[3] = 0.0
        yield one, axis
        two = one.copy()
        two.reshape(-1)[-2] = 0.0
        yield two, axis


def check_prod() -> int:
    checked = 0
    for x, axis in _line_cases():
        ax = None if axis is None else axis % x.ndim
        for dtype in (np.float32, np.float64, np.int64):
            host = (x * 2).round().astype(dtype) if dtype == np.int64 else x.astype(dtype)
            want, cache = reference_prod.prod_forward(host, ax)
            got, dcache = prod.prod_forward(_device.to_device(host), ax)
            tol = 1e-5 if dtype == np.float32 else 1e-12
            np.testing.assert_allclose(_device.to_host(got), want, rtol=tol, atol=0)
            if dtype != np.int64:
                dout = RNG.standard_normal(np.shape(want)).astype(dtype)
                (dx_want,) = reference_prod.prod_backward(dout, cache)
                (dx,) = prod.prod_backward(_device.to_device(dout), dcache)
                np.testing.assert_allclose(_device.to_host(dx), dx_want, rtol=tol, atol=tol)
                assert ((_device.to_host(dx) == 0) == (dx_want == 0)).all()  # zeros exact
            checked += 1
    return checked


if __name__ == "__main__":
    sorts = check_sort()
    prods = check_prod()
    print(f"{sorts} bitonic sorts match NumPy's stable order on the simulated device; "
          f"{prods} block-per-line products match the reference forward and backward")
