"""Numba softmax and log-softmax (derivation: kernels/reference/softmax.py).

The softmax axis is moved last so each row is contiguous; each row takes three sweeps (max,
exponentials + sum, scale). Row sums accumulate in float64 whatever the input dtype, so long
rows in float32 lose no accuracy to summation order. Every kernel is written over a range of
rows; a ``prange`` driver splits the rows between threads when the array is large enough to
pay for waking them (``parallel_worth_it``), otherwise the calling thread does all rows.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from tinymm.kernels.numba_cpu._rows import block, n_blocks, row_max, run_rows
from tinymm.kernels.numba_cpu._util import rows_back, rows_last


@njit(cache=True)
def _softmax_rows_range(x, p, r0, r1):
    C = x.shape[1]
    for r in range(r0, r1):
        m = row_max(x, r)
        total = 0.0
        for c in range(C):
            e = np.exp(x[r, c] - m)
            p[r, c] = e
            total += e
        inv = 1.0 / total
        for c in range(C):
            p[r, c] = p[r, c] * inv


@njit(cache=True, parallel=True)
def _softmax_rows_all(x, p):
    R = x.shape[0]
    for b in prange(n_blocks(R)):
        _softmax_rows_range(x, p, *block(b, R))


@njit(cache=True)
def _log_softmax_rows_range(x, logp, p, r0, r1):
    C = x.shape[1]
    for r in range(r0, r1):
        m = row_max(x, r)
        total = 0.0
        for c in range(C):
            total += np.exp(x[r, c] - m)
        log_total = np.log(total)
        for c in range(C):
            v = x[r, c] - m - log_total
            logp[r, c] = v
            p[r, c] = np.exp(v)


@njit(cache=True, parallel=True)
def _log_softmax_rows_all(x, logp, p):
    R = x.shape[0]
    for b in prange(n_blocks(R)):
        _log_softmax_rows_range(x, logp, p, *block(b, R))


@njit(cache=True)
def _softmax_grad_rows_range(dp, p, dx, r0, r1):
    C = p.shape[1]
    for r in range(r0, r1):
        dot = 0.0
        for c in range(C):
            dot += dp[r, c] * p[r, c]
        for c in range(C):
            dx[r, c] = p[r, c] * (dp[r, c] - dot)


@njit(cache=True, parallel=True)
def _softmax_grad_rows_all(dp, p, dx):
    R = p.shape[0]
    for b in prange(n_blocks(R)):
        _softmax_grad_rows_range(dp, p, dx, *block(b, R))


@njit(cache=True)
def _log_softmax_grad_rows_range(dout, p, dx, r0, r1):
    C = p.shape[1]
    for r in range(r0, r1):
        total = 0.0
        for c in range(C):
            total += dout[r, c]
        for c in range(C):
            dx[r, c] = dout[r, c] - p[r, c] * total


@njit(cache=True, parallel=True)
def _log_softmax_grad_rows_all(dout, p, dx):
    R = p.shape[0]
    for b in prange(n_blocks(R)):
        _log_softmax_grad_rows_range(dout, p, dx, *block(b, R))


def softmax_forward(x, axis=-1):
    rows, axis = rows_last(x, axis)  # (R, C)
    p = np.empty_like(rows)
    run_rows(_softmax_rows_range, _softmax_rows_all, rows, p)
    return rows_back(p, x.shape, axis), (p, x.shape, axis)


def softmax_backward(dp, cache):
    p, shape, axis = cache
    drows, _ = rows_last(dp.astype(p.dtype, copy=False), axis)
    dx = np.empty_like(p)
    run_rows(_softmax_grad_rows_range, _softmax_grad_rows_all, drows, p, dx)
    return (rows_back(dx, shape, axis),)


def log_softmax_forward(x, axis=-1):
    rows, axis = rows_last(x, axis)
    logp = np.empty_like(rows)
    p = np.empty_like(rows)
    run_rows(_log_softmax_rows_range, _log_softmax_rows_all, rows, logp, p)
    return rows_back(logp, x.shape, axis), (p, x.shape, axis)


def log_softmax_backward(dout, cache):
    p, shape, axis = cache
    drows, _ = rows_last(dout.astype(p.dtype, copy=False), axis)
    dx = np.empty_like(p)
    run_rows(_log_softmax_grad_rows_range, _log_softmax_grad_rows_all, drows, p, dx)
    return (rows_back(dx, shape, axis),)
