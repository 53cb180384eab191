"""Top-k along the last axis of a matrix (what beam search and greedy decoding pick).

Shapes: x (N, M), 0 <= k <= M; values (N, K) and indices (N, K) int64, K = k.

Forward. Each row is ordered best first: with ``largest`` by value descending, otherwise
ascending; equal values keep their index order (a stable sort), and NaN comes after every
number (NumPy's sort order for ``-x`` and ``x``). The first K positions of that order are the
indices, and ``values[n, j] = x[n, indices[n, j]]``. With K = 1 and no NaN, ``indices`` is
``argmax`` (``argmin``): the first extreme.

Backward. Only the picked elements reach the values, each once (a row's K positions are
distinct), so ``dx = 0`` (N, M) and ``dx[n, indices[n, j]] = dvalues[n, j]``.
"""

from __future__ import annotations

import numpy as np


def topk_forward(x: np.ndarray, k: int, largest: bool = True):
    order = np.argsort(-x if largest else x, axis=1, kind="stable")[:, :k]  # (N, K)
    values = np.take_along_axis(x, order, axis=1)  # (N, K)
    indices = order.astype(np.int64)
    return (values, indices), (x.shape, indices)


def topk_backward(dout, cache):
    dvalues = dout[0] if isinstance(dout, tuple) else dout  # (N, K); indices get none
    shape, indices = cache
    dx = np.zeros(shape, dtype=dvalues.dtype)  # (N, M)
    np.put_along_axis(dx, indices, dvalues, axis=1)
    return (dx,)
