"""Numba top-k along the last axis (derivation: kernels/reference/index.py).

Each row is ordered best first, ties in index order, NaN after every number, as the
reference's stable argsort of -x (largest) or x (smallest). For k up to SELECT_K a row is
one pass that keeps its k best so far in a sorted buffer (insertion: an element enters only
when strictly better than the buffer's last, so of equal values the lower index stays ahead);
a larger k sorts the row with NumPy's stable merge sort. Rows run in parallel (prange). The
backward puts dvalues back at the picked positions.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

SELECT_K = 16  # up to this k a row is one insertion pass; beyond it, a stable sort


@njit(cache=True, inline="always")
def _better(a, b, largest):
    """a is ahead of b in the order (a NaN is behind every number; two NaN tie)."""
    if a != a:
        return False
    if b != b:
        return True
    return a > b if largest else a < b


@njit(cache=True, parallel=True)
def _select(x, k, largest, values, indices):
    for n in prange(x.shape[0]):
        count = 0
        for j in range(x.shape[1]):
            v = x[n, j]
            if count == k and not _better(v, values[n, k - 1], largest):
                continue
            pos = count if count < k else k - 1  # where v goes before shifting
            while pos > 0 and _better(v, values[n, pos - 1], largest):
                pos -= 1
            last = count if count < k else k - 1
            for s in range(last, pos, -1):  # shift the worse ones back by one
                values[n, s] = values[n, s - 1]
                indices[n, s] = indices[n, s - 1]
            values[n, pos] = v
            indices[n, pos] = j
            if count < k:
                count += 1


@njit(cache=True, parallel=True)
def _sorted(x, k, largest, values, indices):
    for n in prange(x.shape[0]):
        key = -x[n] if largest else x[n].copy()
        order = np.argsort(key, kind="mergesort")
        for j in range(k):
            indices[n, j] = order[j]
            values[n, j] = x[n, order[j]]


@njit(cache=True, parallel=True)
def _put(dvalues, indices, dx):
    for n in prange(indices.shape[0]):
        for j in range(indices.shape[1]):
            dx[n, indices[n, j]] = dvalues[n, j]


def topk_forward(x, k: int, largest: bool = True):
    x = np.ascontiguousarray(x)
    values = np.empty((x.shape[0], k), dtype=x.dtype)  # (N, K)
    indices = np.empty((x.shape[0], k), dtype=np.int64)  # (N, K)
    if k:
        (_select if k <= SELECT_K else _sorted)(x, k, bool(largest), values, indices)
    return (values, indices), (x.shape, indices)


def topk_backward(dout, cache):
    dvalues = dout[0] if isinstance(dout, tuple) else dout  # (N, K); indices get none
    shape, indices = cache
    dx = np.zeros(shape, dtype=dvalues.dtype)  # (N, M)
    _put(np.ascontiguousarray(dvalues), indices, dx)
    return (dx,)
