"""Numba layer normalization (derivation and dimension letters: kernels/reference/layer_norm.py).

How it computes:

* The input is viewed as (B, D) rows; every row is independent in the forward and in dx, so
  the kernels walk a range of rows, and ``prange`` hands blocks of rows to the threads when
  the work is large enough (``parallel_worth_it``), else one thread walks them all. The inner
  loops run over a row's D contiguous features.
* Per row the forward makes two reading passes (the mean, then the squared deviations) and
  one writing pass ``out = (x - mean) * inv_std * weight + bias``; it saves only the per-row
  mean and inv_std (B,), and the backward recomputes x_hat from x. Row sums are accumulated
  in float64 whatever the input dtype.
* dweight and dbias are sums over rows (column sums): each block of rows adds into its own
  float64 row of a (blocks, D) partial array, and the partial rows are summed at the end, so
  no two threads ever write the same element.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from tinymm.kernels.numba_cpu._util import BLOCK, contiguous, parallel_worth_it


@njit(cache=True)
def _forward_rows(x, weight, bias, eps, mean, inv_std, out, r_start, r_stop):
    """Rows [r_start, r_stop): mean, inv_std (B,) float64 and out (B, D)."""
    D = x.shape[1]
    for b in range(r_start, r_stop):
        total = 0.0
        for d in range(D):
            total += x[b, d]
        mu = total / D
        squares = 0.0
        for d in range(D):
            dev = x[b, d] - mu
            squares += dev * dev
        istd = 1.0 / np.sqrt(squares / D + eps)
        mean[b] = mu
        inv_std[b] = istd
        for d in range(D):
            out[b, d] = (x[b, d] - mu) * istd * weight[d] + bias[d]


@njit(cache=True)
def _backward_rows(dout, x, mean, inv_std, weight, dx, dweight_part, dbias_part, r_start,
                   r_stop):
    """Rows [r_start, r_stop): dx (B, D); adds their dweight and dbias into the (D,) parts."""
    D = x.shape[1]
    for b in range(r_start, r_stop):
        mu, istd = mean[b], inv_std[b]
        sum_dxhat = 0.0
        sum_dxhat_xhat = 0.0
        for d in range(D):
            x_hat = (x[b, d] - mu) * istd
            dy = dout[b, d]
            dxhat = dy * weight[d]
            sum_dxhat += dxhat
            sum_dxhat_xhat += dxhat * x_hat
            dweight_part[d] += dy * x_hat
            dbias_part[d] += dy
        mean_dxhat = sum_dxhat / D
        mean_dxhat_xhat = sum_dxhat_xhat / D
        for d in range(D):
            x_hat = (x[b, d] - mu) * istd
            dx[b, d] = istd * (dout[b, d] * weight[d] - mean_dxhat - x_hat * mean_dxhat_xhat)


@njit(cache=True, parallel=True)
def _forward_parallel(x, weight, bias, eps, mean, inv_std, out, rows_per_block):
    B = x.shape[0]
    for k in prange((B + rows_per_block - 1) // rows_per_block):
        _forward_rows(x, weight, bias, eps, mean, inv_std, out, k * rows_per_block,
                      min((k + 1) * rows_per_block, B))


@njit(cache=True, parallel=True)
def _backward_parallel(dout, x, mean, inv_std, weight, dx, dweight_parts, dbias_parts,
                       rows_per_block):
    B = x.shape[0]
    for k in prange(dweight_parts.shape[0]):
        _backward_rows(dout, x, mean, inv_std, weight, dx, dweight_parts[k], dbias_parts[k],
                       k * rows_per_block, min((k + 1) * rows_per_block, B))


def _rows_per_block(D: int) -> int:
    return max(1, BLOCK // max(D, 1))


def layer_norm_forward(x, normalized_shape, weight, bias, eps=1e-5):
    D = int(np.prod(normalized_shape, dtype=np.int64))
    x2 = contiguous(x).reshape(-1, D)  # (B, D)
    B = x2.shape[0]
    dtype = x.dtype
    w = np.ones(D, dtype) if weight is None else contiguous(weight).reshape(D)  # (D,)
    b = np.zeros(D, dtype) if bias is None else contiguous(bias).reshape(D)  # (D,)
    mean = np.empty(B, np.float64)
    inv_std = np.empty(B, np.float64)
    out = np.empty_like(x2)
    if parallel_worth_it(x2.size):
        _forward_parallel(x2, w, b, float(eps), mean, inv_std, out, _rows_per_block(D))
    else:
        _forward_rows(x2, w, b, float(eps), mean, inv_std, out, 0, B)
    cache = (x2, mean, inv_std, weight is not None, bias is not None, x.shape,
             tuple(normalized_shape), w)
    return out.reshape(x.shape), cache


def layer_norm_backward(dout, cache):
    x2, mean, inv_std, has_weight, has_bias, shape, normalized_shape, w = cache
    B, D = x2.shape
    dtype = x2.dtype
    d2 = contiguous(dout.astype(dtype, copy=False)).reshape(B, D)  # (B, D)
    dx = np.empty_like(x2)
    if parallel_worth_it(x2.size):
        rows = _rows_per_block(D)
        blocks = (B + rows - 1) // rows
        dweight_parts = np.zeros((blocks, D), np.float64)
        dbias_parts = np.zeros((blocks, D), np.float64)
        _backward_parallel(d2, x2, mean, inv_std, w, dx, dweight_parts, dbias_parts, rows)
    else:
        dweight_parts = np.zeros((1, D), np.float64)
        dbias_parts = np.zeros((1, D), np.float64)
        _backward_rows(d2, x2, mean, inv_std, w, dx, dweight_parts[0], dbias_parts[0], 0, B)
    dweight = dweight_parts.sum(axis=0).astype(dtype).reshape(normalized_shape)
    dbias = dbias_parts.sum(axis=0).astype(dtype).reshape(normalized_shape)
    return (dx.reshape(shape), dweight if has_weight else None, dbias if has_bias else None)
