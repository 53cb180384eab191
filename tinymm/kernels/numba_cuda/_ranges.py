"""Ranges made on the device (no transfer): linspace and the triangle indices.

linspace: one thread per element i, PyTorch's formula in float64 (tinymm/factories.py):
start + i * step for the first half and end - (steps - 1 - i) * step for the second, with
the step the caller rounded in the output dtype; the caller casts to the output dtype.

tril_indices / triu_indices: one thread per row r of the (row, col) matrix. Row r keeps the
columns [0, min(col, r + offset + 1)) (lower) or [max(0, r + offset), col) (upper); the
thread counts the kept elements of the rows before its own (O(row)) to find where its
(r, c) pairs start in the (2, count) output, then writes them in column order.
"""

from __future__ import annotations

import numpy as np
from numba import boolean, cuda, float64, int64, void

from tinymm.kernels.numba_cuda._device import empty, grid_1d


@cuda.jit(device=True, inline="always")
def _span(r, col, offset, lower):
    """(first, end) of the kept columns of row r."""
    if lower:
        return 0, max(0, min(col, r + offset + 1))
    return min(col, max(0, r + offset)), col


def _linspace(out, start, end, step):
    i = cuda.grid(1)
    n = out.size
    if i < n:
        if i < n // 2:
            out[i] = start + step * i
        else:
            out[i] = end - step * (n - 1 - i)


def _triangle(out, rows, col, offset, lower):
    # out (2, count) int64; one thread per row
    r = cuda.grid(1)
    if r < rows:
        at = 0
        for q in range(r):
            first, stop = _span(q, col, offset, lower)
            at += stop - first
        first, stop = _span(r, col, offset, lower)
        for c in range(first, stop):
            out[0, at] = r
            out[1, at] = c
            at += 1


linspace_kernel = cuda.jit(_linspace)
triangle_kernel = cuda.jit(_triangle)
PTX_TARGETS = [(_linspace, (void(float64[::1], float64, float64, float64),)),
               (_triangle, (void(int64[:, ::1], int64, int64, int64, boolean),))]


def linspace(start: float, end: float, step: float, steps: int):
    """A float64 device array of ``steps`` values from start to end inclusive, ``step`` apart
    (as the caller rounded it)."""
    out = empty((int(steps),), np.float64)
    blocks, threads = grid_1d(out.size)
    linspace_kernel[blocks, threads](out, float(start), float(end), float(step))
    return out


def triangle_indices(row: int, col: int, offset: int, lower: bool):
    """The (2, count) int64 device array of tril_indices (lower) or triu_indices."""
    spans = [(0, max(0, min(col, r + offset + 1))) if lower
             else (min(col, max(0, r + offset)), col) for r in range(row)]
    out = empty((2, sum(stop - first for first, stop in spans)), np.int64)
    if out.size:
        blocks, threads = grid_1d(row)
        triangle_kernel[blocks, threads](out, int(row), int(col), int(offset), bool(lower))
    return out
