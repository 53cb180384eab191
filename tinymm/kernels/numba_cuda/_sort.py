"""Bitonic sorting on the device: rows of keys (randperm's random keys, mode's rows) and the
rows of a matrix in lexicographic order (unique with ``dim``).

A bitonic network sorts P = 2^p elements in p (p + 1) / 2 compare-exchange stages (k = 2, 4,
.., P; for each k, j = k / 2, k / 4, .., 1): at stage (k, j) element i is paired with
l = i + j for every i whose bit j is clear, and the pair is put in ascending order when
i & k == 0, descending otherwise; after the last stage the P elements are ascending. Each
stage is one launch of P / 2 threads per row, one pair each (pair q of a row: i =
2 j (q // j) + q % j), so every thread works and the launch boundary is the barrier between
stages (no shared memory, no atomics; the simulator runs the same code). A row of L elements
is padded to the next power of two P with positions L .. P - 1, which sort after every
element, so they end up in the last P - L places.

The order is total on (key, index): the smaller key first (the larger for ``descending``),
NaN after every number, equal keys (and NaNs) by index. So the result is the stable sort
(torch.sort(stable=True)) and the same on every run. Keys never move: the network permutes
an int64 array of indices (``order``) and compares the keys it points to, so one stage
kernel serves every dtype; for matrix rows the comparison walks the columns until the first
that differs (lexicographic order). The first k places of a row are its top k (the
top-k kernel's path for many picks, index.py).
"""

from __future__ import annotations

import numpy as np
from numba import cuda

from tinymm.kernels.numba_cuda._device import empty, grid_1d, require_device


@cuda.jit(device=True, inline="always")
def _value_after(va, vb, descending):
    """1 when value va sorts after vb, -1 when before, 0 when equal (NaN after numbers in
    either direction)."""
    if va != va or vb != vb:
        return (1 if vb == vb else 0) if va != va else -1
    if descending:
        return 1 if va < vb else (-1 if va > vb else 0)
    return 1 if va > vb else (-1 if va < vb else 0)


@cuda.jit(device=True, inline="always")
def _pair(q, half, j):
    """(row, i, l) of pair q: i has bit j clear, l = i + j."""
    r = q // half
    p = q - r * half
    i = 2 * j * (p // j) + p % j
    return r, i, i + j


def _stage_keys(keys, order, j, k, descending):
    # keys (R, L); order (R, P) int64 indices, P = 2^p >= L; one thread per pair
    q = cuda.grid(1)
    R, P = order.shape
    half = P // 2
    if q < R * half:
        r, i, l = _pair(q, half, j)
        a = order[r, i]
        b = order[r, l]
        L = keys.shape[1]
        if a >= L or b >= L:  # padding after every element, in index order
            after = a > b if (a >= L and b >= L) else a >= L
        else:
            c = _value_after(keys[r, a], keys[r, b], descending)
            after = c > 0 or (c == 0 and a > b)
        if after == ((i & k) == 0):
            order[r, i] = b
            order[r, l] = a


def _stage_rows(x, order, j, k, descending):
    # x (n, m): its rows are the keys; order (1, P) int64, P = 2^p >= n
    q = cuda.grid(1)
    P = order.shape[1]
    half = P // 2
    if q < half:
        _, i, l = _pair(q, half, j)
        a = order[0, i]
        b = order[0, l]
        n = x.shape[0]
        if a >= n or b >= n:
            after = a > b if (a >= n and b >= n) else a >= n
        else:
            c = 0
            for col in range(x.shape[1]):  # the first differing column decides
                c = _value_after(x[a, col], x[b, col], descending)
                if c != 0:
                    break
            after = c > 0 or (c == 0 and a > b)
        if after == ((i & k) == 0):
            order[0, i] = b
            order[0, l] = a


def _iota(order):
    # order (R, P): order[r, i] = i
    e = cuda.grid(1)
    if e < order.size:
        order[e // order.shape[1], e % order.shape[1]] = e % order.shape[1]


def _first_columns(order, perm):
    # perm (R, L) <- order[:, :L] (the real indices come first)
    e = cuda.grid(1)
    if e < perm.size:
        L = perm.shape[1]
        perm[e // L, e % L] = order[e // L, e % L]


def _compact(keys, order, perm, ordered):
    # perm (R, K) <- order[:, :K] (K <= L: the real indices come first); ordered = keys[perm]
    e = cuda.grid(1)
    if e < perm.size:
        L = perm.shape[1]
        r = e // L
        i = e - r * L
        s = order[r, i]
        perm[r, i] = s
        ordered[r, i] = keys[r, s]


_TYPES = ("float32", "float64", "int64")
PTX_TARGETS = [
    (_stage_keys, tuple(f"void({t}[:, ::1], int64[:, ::1], int64, int64, boolean)"
                        for t in _TYPES)),
    (_stage_rows, tuple(f"void({t}[:, ::1], int64[:, ::1], int64, int64, boolean)"
                        for t in _TYPES)),
    (_iota, ("void(int64[:, ::1])",)),
    (_first_columns, ("void(int64[:, ::1], int64[:, ::1])",)),
    (_compact, tuple(f"void({t}[:, ::1], int64[:, ::1], int64[:, ::1], {t}[:, ::1])"
                     for t in _TYPES)),
]
stage_keys_kernel = cuda.jit(_stage_keys)
stage_rows_kernel = cuda.jit(_stage_rows)
iota_kernel = cuda.jit(_iota)
first_columns_kernel = cuda.jit(_first_columns)
compact_kernel = cuda.jit(_compact)


def _network(stage, keys, rows: int, length: int, descending: bool = False):
    """The (rows, P) int64 order after every stage of the network over ``length`` elements."""
    P = 1 << max(length - 1, 0).bit_length()
    order = empty((rows, P), np.int64)
    blocks, threads = grid_1d(order.size)
    iota_kernel[blocks, threads](order)
    blocks, threads = grid_1d(rows * (P // 2))
    k = 2
    while k <= P:
        j = k // 2
        while j >= 1:
            stage[blocks, threads](keys, order, j, k, bool(descending))
            j //= 2
        k *= 2
    return order


def sort_rows(keys, descending: bool = False, k: int | None = None):
    """(sorted, perm) of the C-contiguous (R, L) device array ``keys``: each row sorted
    stably (ascending, or ``descending``; NaN last either way), perm the int64 source index
    of each place; only the first ``k`` places (R, k) when k is given (top-k)."""
    require_device("sort_rows", keys=keys)
    R, L = keys.shape
    k = L if k is None else int(k)
    perm = empty((R, k), np.int64)
    ordered = empty((R, k), keys.dtype)
    if perm.size:
        order = _network(stage_keys_kernel, keys, R, L, descending)
        blocks, threads = grid_1d(perm.size)
        compact_kernel[blocks, threads](keys, order, perm, ordered)
    return ordered, perm


def sort_matrix_rows(x):
    """The int64 (n,) order of the rows of the C-contiguous (n, m) device array ``x`` in
    lexicographic order (stable, NaN after numbers in each column)."""
    require_device("sort_matrix_rows", x=x)
    n = x.shape[0]
    perm = empty((1, n), np.int64)
    if n:
        order = _network(stage_rows_kernel, x, 1, n)
        blocks, threads = grid_1d(n)
        first_columns_kernel[blocks, threads](order, perm)
    return perm.reshape(n)
