"""Softmax and log-softmax along one axis: derivation.

Dimension letters: C the size of the softmax axis; all other axes are independent rows.

Forward (per row; subtracting the row maximum m changes nothing mathematically but keeps every
exponent <= 0, so ``exp`` cannot overflow even for logits of magnitude 1e4)::

    m         = max_c x[c]
    p[c]      = exp(x[c] - m) / sum_j exp(x[j] - m)
    logp[c]   = x[c] - m - log(sum_j exp(x[j] - m))

Backward of softmax. The Jacobian is dp[i]/dx[j] = p[i] * (delta_ij - p[j]); multiplying the
upstream gradient dp by it (a Jacobian-vector product, never forming the C x C matrix)::

    dx[j] = sum_i dp[i] * p[i] * (delta_ij - p[j]) = p[j] * (dp[j] - sum_i dp[i] * p[i])

Backward of log-softmax. dlogp[i]/dx[j] = delta_ij - p[j], hence::

    dx[j] = dout[j] - p[j] * sum_i dout[i]

The log-softmax forward saves ``p = exp(logp)`` for that.
"""

from __future__ import annotations

import numpy as np


def softmax_forward(x: np.ndarray, axis: int = -1):
    shifted = x - x.max(axis=axis, keepdims=True)  # every entry <= 0
    e = np.exp(shifted)
    p = e / e.sum(axis=axis, keepdims=True)
    return p, (p, axis)


def softmax_backward(dp: np.ndarray, cache):
    p, axis = cache
    dx = p * (dp - (dp * p).sum(axis=axis, keepdims=True))
    return (dx,)


def log_softmax_forward(x: np.ndarray, axis: int = -1):
    shifted = x - x.max(axis=axis, keepdims=True)
    logp = shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))
    return logp, (np.exp(logp), axis)


def log_softmax_backward(dout: np.ndarray, cache):
    p, axis = cache
    dx = dout - p * dout.sum(axis=axis, keepdims=True)
    return (dx,)
