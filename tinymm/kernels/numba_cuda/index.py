"""CUDA top-k along the last axis (derivation: kernels/reference/index.py).

Dimension letters: N rows, M elements per row, K picks.

Forward: K selection passes over each row. Pass j keeps the best element that comes after
pick j-1 in the row's order (``_before``: value descending for the largest, ascending for the
smallest; ties to the lower index; NaN after every number), so the picks come out best first
with no sort buffer. Rows shorter than LONG_ROW run one thread per row (K * M reads by one
thread: the decoders' rows, K = the beam width). Longer rows run one block per row: in each
pass every thread scans a strided share of the row for its best eligible element, and a
shared-memory tournament (a tree of ROW_THREADS / 2, / 4 ... comparisons, the lower index
winning ties) gives the block's pick, which thread 0 writes; the next pass reads it back
after the barrier. Only indices live in shared memory (the values are re-read from x), so one
kernel serves both dtypes. The simulator runs the same code (no warp primitives).

From SORT_K picks on (a full sort is top-k with K = M) the K selection passes cost K * M
reads per row, so the row is sorted instead by the bitonic network of ``_sort`` (the same
order: best first, ties to the lower index, NaN last; O(M log^2 M) work in parallel) and its
first K places are kept.

Backward: one thread per pick, ``dx[n, indices[n, j]] = dvalues[n, j]`` into zeros (a row's
picks are distinct, so no atomics).
"""

from __future__ import annotations

import numpy as np
from numba import cuda

from tinymm.kernels.numba_cuda._device import SIMULATOR, empty, grid_1d, require_device, zeros
from tinymm.kernels.numba_cuda._sort import sort_rows

LONG_ROW = 1024  # rows of at least this many elements get a block each
SORT_K = 4 if SIMULATOR else 32  # from this many picks on (a sort: k = M), the bitonic sort
ROW_THREADS = 32 if SIMULATOR else 256  # a block's threads (a power of two)


@cuda.jit(device=True, inline=True)
def _before(a, ia, b, ib):
    """True when value a at index ia comes before b at ib (both keyed for descending)."""
    if a != a:  # NaN: after every number; NaNs keep index order
        return b != b and ia < ib
    if b != b:
        return True
    return a > b or (a == b and ia < ib)


def _topk_rows(x, k, largest, values, indices):
    n = cuda.grid(1)
    if n < x.shape[0]:
        M = x.shape[1]
        last, last_key = -1, x[n, 0]
        for j in range(k):
            best, best_key = -1, x[n, 0]
            for c in range(M):
                key = x[n, c] if largest else -x[n, c]
                if last >= 0 and not _before(last_key, last, key, c):
                    continue  # already picked, or ahead of the last pick
                if best < 0 or _before(key, c, best_key, best):
                    best, best_key = c, key
            indices[n, j] = best
            values[n, j] = x[n, best]
            last, last_key = best, best_key


def _topk_block(x, k, largest, values, indices):
    n = cuda.blockIdx.x  # one block per row
    t = cuda.threadIdx.x
    M = x.shape[1]
    picks = cuda.shared.array(ROW_THREADS, np.int64)  # each thread's candidate index
    for j in range(k):
        last = indices[n, j - 1] if j > 0 else -1  # pick j-1 (written before the barrier)
        last_key = x[n, 0]
        if last >= 0:
            last_key = x[n, last] if largest else -x[n, last]
        best, best_key = -1, x[n, 0]
        for c in range(t, M, ROW_THREADS):
            key = x[n, c] if largest else -x[n, c]
            if last >= 0 and not _before(last_key, last, key, c):
                continue
            if best < 0 or _before(key, c, best_key, best):
                best, best_key = c, key
        picks[t] = best
        cuda.syncthreads()
        half = ROW_THREADS // 2
        while half > 0:  # the tournament: picks[t] = the better of picks[t], picks[t + half]
            if t < half:
                a, b = picks[t], picks[t + half]
                if b >= 0:
                    key_a = x[n, a] if largest else -x[n, a]
                    key_b = x[n, b] if largest else -x[n, b]
                    if a < 0 or _before(key_b, b, key_a, a):
                        picks[t] = b
            cuda.syncthreads()
            half //= 2
        if t == 0:
            indices[n, j] = picks[0]
            values[n, j] = x[n, picks[0]]
        cuda.syncthreads()


def _put_picks(dvalues, indices, dx):
    t = cuda.grid(1)
    if t < dvalues.size:
        n, j = t // dvalues.shape[1], t % dvalues.shape[1]
        c = indices[n, j]
        if 0 <= c < dx.shape[1]:
            dx[n, c] = dvalues[n, j]


def _sigs(body: str) -> tuple:
    return tuple(body.format(t=t) for t in ("float32", "float64"))


PTX_TARGETS = [
    (_topk_rows, _sigs("void({t}[:, ::1], int64, boolean, {t}[:, ::1], int64[:, ::1])")),
    (_topk_block, _sigs("void({t}[:, ::1], int64, boolean, {t}[:, ::1], int64[:, ::1])")),
    (_put_picks, _sigs("void({t}[:, ::1], int64[:, ::1], {t}[:, ::1])")),
]
topk_rows_kernel = cuda.jit(_topk_rows)
topk_block_kernel = cuda.jit(_topk_block)
put_picks_kernel = cuda.jit(_put_picks)


def topk_forward(x, k, largest=True):
    require_device("topk_forward", x=x)
    if x.ndim != 2 or not 0 <= k <= x.shape[1]:
        raise ValueError(f"cuda topk_forward: expected x (N, M) and 0 <= k <= M, got shape "
                         f"{x.shape} and k={k}")
    N = x.shape[0]
    values = empty((N, k), x.dtype)  # (N, K)
    indices = empty((N, k), np.int64)  # (N, K)
    if N and k >= SORT_K:  # many picks: the bitonic network, then the first k places
        ordered, perm = sort_rows(x, descending=largest, k=k)
        return (ordered, perm), (x.shape, perm)
    if N and k and x.shape[1] >= LONG_ROW:  # a block per row
        topk_block_kernel[N, ROW_THREADS](x, np.int64(k), bool(largest), values, indices)
    elif N and k:  # a thread per row
        blocks, threads = grid_1d(N)
        topk_rows_kernel[blocks, threads](x, np.int64(k), bool(largest), values, indices)
    return (values, indices), (x.shape, indices)


def topk_backward(dout, cache):
    dvalues = dout[0] if isinstance(dout, tuple) else dout  # (N, K)
    shape, indices = cache
    require_device("topk_backward", dvalues=dvalues)
    dx = zeros(shape, dvalues.dtype)  # (N, M)
    if dvalues.size:
        blocks, threads = grid_1d(dvalues.size)
        put_picks_kernel[blocks, threads](dvalues, indices, dx)
    return (dx,)
