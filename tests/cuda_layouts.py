"""Numerical checks of the cuda kernels' parallel layouts against the reference, at the
sizes each layout starts at (its module's constants: small in the simulator, a GPU's block
widths on a GPU), so the same checks run in the simulator (tests/cuda_parallel_check.py) and
on a real GPU (benchmarks/gpu_check.py's parity stage).

* ``check_sort``: the bitonic sort (``_sort``) on odd row lengths with ties and NaNs, both
  directions and the first k places, against NumPy's stable argsort; the lexicographic row
  order against np.lexsort; top-k from SORT_K picks on against the reference kernel.
* ``check_prod``: prod's block per line (rows of LINE_BLOCK elements or more, and the full
  product), forward and backward against the reference, with no zero, one zero and two
  zeros in a line (the gradient's exact cases), in float32, float64 and int64.
* ``check_scans``: the column-layout scans (inner >= COLUMN_MIN, chunked and not) and
  cumsum's backward against the reference; ``check_extremes``: max/min(dim) over long
  contiguous lines (a block per line), with ties and NaNs.
Each returns how many cases it checked; a mismatch raises AssertionError.
"""

from __future__ import annotations

import numpy as np

from tinymm.kernels.numba_cuda import _device, _sort, prod, scan
from tinymm.kernels.reference import prod as reference_prod
from tinymm.kernels.reference import scan as reference_scan

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
            down, down_perm = _sort.sort_rows(_device.to_device(keys), descending=True,
                                              k=max(1, length - 2))
            want = np.argsort(-keys, axis=1, kind="stable")[:, :max(1, length - 2)]
            assert np.array_equal(_device.to_host(down_perm), want), (keys, want)
            np.testing.assert_array_equal(_device.to_host(down),
                                          np.take_along_axis(keys, want, 1))
            rows = RNG.integers(0, 2, (length, 3)).astype(dtype)
            order = _device.to_host(_sort.sort_matrix_rows(_device.to_device(rows)))
            assert np.array_equal(order, np.lexsort(rows.T[::-1])), (rows, order)
            checked += 3
    return checked + _check_topk()


def _check_topk() -> int:
    """top-k with k >= SORT_K (the bitonic path) against the reference kernel, both ways."""
    from tinymm.kernels.numba_cuda import index
    from tinymm.kernels.reference import index as reference_index

    checked = 0
    m = index.SORT_K
    for shape, k in (((3, m + 7), m), ((2, m + 2), m + 2), ((1, 4 * m + 1), m + 3)):
        x = RNG.integers(-3, 4, shape).astype(np.float32)
        x[0, 2] = np.nan
        for largest in (True, False):
            (want, want_idx), _ = reference_index.topk_forward(x, k, largest=largest)
            (got, idx), cache = index.topk_forward(_device.to_device(x), k, largest=largest)
            assert np.array_equal(_device.to_host(idx), want_idx), (x, largest, want_idx)
            np.testing.assert_array_equal(_device.to_host(got), want)
            (dx,) = index.topk_backward((_device.to_device(np.ones_like(want)), None), cache)
            assert _device.to_host(dx).sum() == want.size
            checked += 1
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


SCANS = ("cumsum", "cumprod", "cummax", "cummin")


def _scan_pair(module, name, x, dim):
    if name in ("cummax", "cummin"):
        (values, index), _ = module.cummax_forward(x, dim, largest=name == "cummax")
        return values, index
    out, cache = getattr(module, f"{name}_forward")(x, dim)
    return out, cache


def check_scans() -> int:
    """Column-layout scans (inner >= COLUMN_MIN) against the reference; cumsum's backward is
    the reverse column scan."""
    checked = 0
    m = scan.COLUMN_MIN
    for shape, dim in (((9, m), 0), ((3, 7, m + 1), 1), ((40, 2 * m), 0), ((2, 33, m), 1)):
        for dtype in (np.float64, np.float32, np.int64):
            x = RNG.integers(-3, 4, shape).astype(dtype) if dtype == np.int64 else \
                RNG.uniform(0.8, 1.2, shape).astype(dtype) * RNG.choice([-1, 1], shape)
            for name in SCANS if dtype != np.int64 else ("cumsum", "cummax"):
                want, want_extra = _scan_pair(reference_scan, name, x, dim)
                got, extra = _scan_pair(scan, name, _device.to_device(x), dim)
                tol = 1e-5 if dtype == np.float32 else 1e-12
                np.testing.assert_allclose(_device.to_host(got), want, rtol=tol, atol=tol,
                                           err_msg=f"{name} {shape} {dim}")
                if name in ("cummax", "cummin"):
                    assert np.array_equal(_device.to_host(extra), want_extra), (name, shape)
                checked += 1
            dout = x[::-1].copy()
            (want_dx,) = reference_scan.cumsum_backward(dout, (dim,))
            (dx,) = scan.cumsum_backward(_device.to_device(dout), (dim,))
            np.testing.assert_allclose(_device.to_host(dx), want_dx, rtol=1e-5, atol=1e-5)
    assert scan.column_layout(1, 40, 2 * m)[0] > 1  # the chunked pass ran
    return checked


def check_extremes() -> int:
    """max/min with dim over contiguous long lines (a block per line) against the reference:
    the first extreme, the first NaN, forward and backward."""
    checked = 0
    n = scan.SCAN_THREADS
    for shape, dim in (((3, n + 3), 1), ((2 * n + 5,), 0), ((2, 2, 3 * n), 2)):
        for dtype in (np.float32, np.float64, np.int64):
            x = RNG.integers(-2, 3, shape).astype(dtype)  # many ties
            if dtype != np.int64:
                x.reshape(-1)[[5, n + 1]] = np.nan
            for largest in (True, False):
                (want, want_idx), _ = reference_scan.max_dim_forward(x, dim, largest=largest)
                (got, idx), cache = scan.max_dim_forward(_device.to_device(x), dim,
                                                         largest=largest)
                assert np.array_equal(_device.to_host(idx), want_idx), (x, largest)
                np.testing.assert_array_equal(_device.to_host(got), want)
                if dtype != np.int64:
                    (dx,) = scan.max_dim_backward(_device.to_device(np.ones_like(want)), cache)
                    assert _device.to_host(dx).sum() == want.size
                checked += 1
    return checked


LAYOUT_CHECKS = {"bitonic sort and top-k": check_sort, "prod, a block per line": check_prod,
                 "scans by columns": check_scans, "max/min, a block per line": check_extremes}
