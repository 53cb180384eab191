"""Matrix product: derivation of the backward pass.

Dimension letters: M, K, P matrix sizes; ``...`` leading batch dimensions (broadcast).

Forward::

    out[..., m, p] = sum_k a[..., m, k] * b[..., k, p]          out: (..., M, P)

Backward. Each ``a[m, k]`` meets every ``b[k, p]`` of row k, so by the chain rule::

    da[..., m, k] = sum_p dout[..., m, p] * b[..., k, p]   ->  da = dout @ b^T   (..., M, K)
    db[..., k, p] = sum_m a[..., m, k] * dout[..., m, p]   ->  db = a^T @ dout   (..., K, P)

When a leading dimension was broadcast (``a`` is (M, K) but ``b`` is (B, K, P)), the same
``a`` was used B times, so its gradient sums over that dimension (``sum_to_shape``).
1-D operands follow NumPy: a vector ``a`` (K,) acts as (1, K) and the added axis is removed.
"""

from __future__ import annotations

import numpy as np

from tinymm.kernels._shapes import sum_to_shape


def matmul_forward(a: np.ndarray, b: np.ndarray):
    out = np.matmul(a, b)  # (..., M, P)
    cache = (a, b)
    return out, cache


def matmul_backward(dout: np.ndarray, cache):
    a, b = cache
    a2 = a[None, :] if a.ndim == 1 else a  # (1, K) for a vector
    b2 = b[:, None] if b.ndim == 1 else b  # (K, 1) for a vector
    d2 = dout
    if b.ndim == 1:
        d2 = np.expand_dims(d2, -1)  # put back the P = 1 axis NumPy removed
    if a.ndim == 1:
        d2 = np.expand_dims(d2, -2)  # put back the M = 1 axis (vector @ vector: dout was 0-d)
    da = np.matmul(d2, np.swapaxes(b2, -1, -2))  # dout @ b^T: (..., M, K)
    db = np.matmul(np.swapaxes(a2, -1, -2), d2)  # a^T @ dout: (..., K, P)
    da = sum_to_shape(da, a2.shape).reshape(a.shape)
    db = sum_to_shape(db, b2.shape).reshape(b.shape)
    return da, db
