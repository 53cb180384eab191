"""Numba softmax and log-softmax (derivation: kernels/reference/softmax.py).

The softmax axis is moved last so each row is contiguous; ``prange`` runs rows in parallel and
each row takes three sweeps (max, exponentials + sum, scale). Row sums accumulate in float64
whatever the input dtype, so long rows in float32 lose no accuracy to summation order.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from tinymm.kernels.numba_cpu._util import rows_back, rows_last


@njit(cache=True, parallel=True)
def _softmax_rows(x, p):
    R, C = x.shape
    for r in prange(R):
        m = x[r, 0]
        for c in range(1, C):
            m = max(m, x[r, c])
        total = 0.0
        for c in range(C):
            e = np.exp(x[r, c] - m)
            p[r, c] = e
            total += e
        inv = 1.0 / total
        for c in range(C):
            p[r, c] = p[r, c] * inv


@njit(cache=True, parallel=True)
def _log_softmax_rows(x, logp, p):
    R, C = x.shape
    for r in prange(R):
        m = x[r, 0]
        for c in range(1, C):
            m = max(m, x[r, c])
        total = 0.0
        for c in range(C):
            total += np.exp(x[r, c] - m)
        log_total = np.log(total)
        for c in range(C):
            v = x[r, c] - m - log_total
            logp[r, c] = v
            p[r, c] = np.exp(v)


@njit(cache=True, parallel=True)
def _softmax_grad_rows(dp, p, dx):
    R, C = p.shape
    for r in prange(R):
        dot = 0.0
        for c in range(C):
            dot += dp[r, c] * p[r, c]
        for c in range(C):
            dx[r, c] = p[r, c] * (dp[r, c] - dot)


@njit(cache=True, parallel=True)
def _log_softmax_grad_rows(dout, p, dx):
    R, C = p.shape
    for r in prange(R):
        total = 0.0
        for c in range(C):
            total += dout[r, c]
        for c in range(C):
            dx[r, c] = dout[r, c] - p[r, c] * total


def softmax_forward(x, axis=-1):
    rows, axis = rows_last(x, axis)  # (R, C)
    p = np.empty_like(rows)
    _softmax_rows(rows, p)
    return rows_back(p, x.shape, axis), (p, x.shape, axis)


def softmax_backward(dp, cache):
    p, shape, axis = cache
    drows, _ = rows_last(dp.astype(p.dtype, copy=False), axis)
    dx = np.empty_like(p)
    _softmax_grad_rows(drows, p, dx)
    return (rows_back(dx, shape, axis),)


def log_softmax_forward(x, axis=-1):
    rows, axis = rows_last(x, axis)
    logp = np.empty_like(rows)
    p = np.empty_like(rows)
    _log_softmax_rows(rows, logp, p)
    return rows_back(logp, x.shape, axis), (p, x.shape, axis)


def log_softmax_backward(dout, cache):
    p, shape, axis = cache
    drows, _ = rows_last(dout.astype(p.dtype, copy=False), axis)
    dx = np.empty_like(p)
    _log_softmax_grad_rows(drows, p, dx)
    return (rows_back(dx, shape, axis),)
