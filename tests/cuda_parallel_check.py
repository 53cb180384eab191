"""The parallel layouts of the cuda kernels in the simulator (run by
tests/test_cuda_parallel.py in a subprocess with NUMBA_ENABLE_CUDASIM=1).

1. The bitonic sort (``_sort``) on odd row lengths with ties and NaNs, against NumPy's
   stable argsort, and the lexicographic row order against np.lexsort.
2. prod's block per line (rows of LINE_BLOCK elements or more, and the full product): forward
   and backward against the reference kernels on odd lengths, with no zero, one zero and two
   zeros in a line (the gradient's exact cases), in float32, float64 and int64.
3. The scans along a dim with inner size >= COLUMN_MIN (the column layout, chunked and not)
   against the reference kernels, forward and backward; and their access pattern, measured:
   every read of x inside the kernels is recorded with the reading thread, and for each warp
   (32 threads of a block) and step (a thread's k-th read) the number of 128-byte segments
   the warp's loads touch is counted: at most 2 (coalesced) for the column layout, where the
   line layout it replaces touched one per thread. max/min(dim) over long contiguous lines
   (a block per line) against the reference, with ties and NaNs.
Prints one line with the counts; any failure raises.
"""

from __future__ import annotations

import threading
from collections import defaultdict

import numpy as np
from numba.cuda.simulator.cudadrv import devicearray as _simulated

import tests.cuda_simulator_check  # noqa: F401  (patches the simulator first)
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
            np.testing.assert_array_equal(_device.to_host(down), np.take_along_axis(keys, want, 1))
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
    for shape, k in (((3, 11), index.SORT_K), ((2, 6), 6), ((1, 17), index.SORT_K + 3)):
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


def _segments_per_warp_step(run, source) -> int:
    """The most 128-byte segments of ``source`` one warp's k-th reads touch, over warps and
    k, while ``run()`` launches kernels (the simulator runs one Python thread per CUDA
    thread, so each read is recorded with its thread)."""
    reads = defaultdict(list)  # (block, thread) -> flat indices read from source, in order
    base = source._ary.__array_interface__["data"][0]
    original = _simulated.FakeWithinKernelCUDAArray.__getitem__

    def recording(self, idx):
        if self._item._ary.__array_interface__["data"][0] == base and isinstance(idx, int):
            me = threading.current_thread()
            reads[(me.blockIdx.x, me.threadIdx.x)].append(idx)
        return original(self, idx)

    _simulated.FakeWithinKernelCUDAArray.__getitem__ = recording
    try:
        run()
    finally:
        _simulated.FakeWithinKernelCUDAArray.__getitem__ = original
    steps = defaultdict(set)  # (block, warp, k) -> segments touched
    for (block, thread), indices in reads.items():
        for k, i in enumerate(indices):
            steps[(block, thread // 32, k)].add(i * source.dtype.itemsize // 128)
    return max(len(v) for v in steps.values())


def check_access_pattern() -> tuple[int, int]:
    """(segments per warp step of the column layout, of the line layout) for a cumsum along
    dim 0 of a (16, 32) float32 array (inner = 32: one warp's columns)."""
    x = _device.to_device(RNG.standard_normal((16, 32)).astype(np.float32))
    columns = _segments_per_warp_step(lambda: scan.cumsum_forward(x, 0), x)
    kept = scan.COLUMN_MIN
    scan.COLUMN_MIN = 10**9  # the line layout, for the comparison
    try:
        lines = _segments_per_warp_step(lambda: scan.cumsum_forward(x, 0), x)
    finally:
        scan.COLUMN_MIN = kept
    assert columns <= 2 < lines, (columns, lines)
    return columns, lines


if __name__ == "__main__":
    sorts = check_sort()
    prods = check_prod()
    scans = check_scans() + check_extremes()
    columns, lines = check_access_pattern()
    print(f"{sorts} bitonic sorts match NumPy's stable order on the simulated device; "
          f"{prods} block-per-line products match the reference forward and backward; "
          f"{scans} column scans and line extremes match the reference; a warp's loads of a "
          f"dim-0 scan touch {columns} segment(s) per step by columns, {lines} by lines")
