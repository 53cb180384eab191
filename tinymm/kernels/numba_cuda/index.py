"""CUDA top-k along the last axis (derivation: kernels/reference/index.py).

Dimension letters: N rows, M elements per row, K picks.

Forward: one thread per row, K selection passes over the row. Pass j keeps the best element
that comes after pick j-1 in the row's order (``_before``: value descending for the largest,
ascending for the smallest; ties to the lower index; NaN after every number), so the picks
come out best first with no sort buffer and no shared memory. That costs K * M reads per
row, which suits the decoders' rows (K = the beam width, M = beam x vocabulary) and keeps
one code path for the simulator and the GPU; a block per row with a shared-memory tournament
is the variant for long rows.

Backward: one thread per pick, ``dx[n, indices[n, j]] = dvalues[n, j]`` into zeros (a row's
picks are distinct, so no atomics).
"""

from __future__ import annotations

import numpy as np
from numba import cuda

from tinymm.kernels.numba_cuda._device import empty, grid_1d, require_device, zeros


@cuda.jit(device=True)
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
    (_put_picks, _sigs("void({t}[:, ::1], int64[:, ::1], {t}[:, ::1])")),
]
topk_rows_kernel = cuda.jit(_topk_rows)
put_picks_kernel = cuda.jit(_put_picks)


def topk_forward(x, k, largest=True):
    require_device("topk_forward", x=x)
    if x.ndim != 2 or not 0 <= k <= x.shape[1]:
        raise ValueError(f"cuda topk_forward: expected x (N, M) and 0 <= k <= M, got shape "
                         f"{x.shape} and k={k}")
    N = x.shape[0]
    values = empty((N, k), x.dtype)  # (N, K)
    indices = empty((N, k), np.int64)  # (N, K)
    if N and k:
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
