"""Numba batch normalization (derivation and dimension letters: kernels/reference/batch_norm.py).

How it computes:

* The input is viewed as (N, C, S) and every channel is independent, so the kernels walk a
  range of channels; ``prange`` hands blocks of channels to the threads when the work is
  large enough (``parallel_worth_it``), else one thread walks them all. Inside a block the
  loops run n, then c, then s, so memory is read in order: for (N, C) input (S = 1) the
  inner loop runs along a row's contiguous channels instead of striding down a column.
* Per channel, the forward makes two reading passes (the mean, then the sum of squared
  deviations: no cancellation, unlike E[x^2] - mean^2) and one writing pass
  ``out = x * scale + shift`` with ``scale = weight * inv_std`` and ``shift = bias - mean *
  scale`` folded per channel. Sums are accumulated in float64 whatever the input dtype.
* Nothing of the input's size is saved beyond x itself: the backward recomputes
  ``x_hat = (x - mean) * inv_std`` from the saved per-channel mean and inv_std. It makes one
  reading pass for the two sums (dout and dout * x_hat) and one writing pass for dx, with
  ``dx_hat = dout * weight`` folded into per-channel constants.
* The running statistics ((C,) arrays) are updated in place by the host wrapper.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from tinymm.kernels.numba_cpu._util import contiguous, parallel_worth_it

_CHANNEL_BLOCKS = 64  # at most this many parallel blocks of channels


@njit(cache=True)
def _forward_channels(x, weight, bias, training, run_mean, run_var, eps, mean, var_out,
                      inv_std, scale, out, c_start, c_stop):
    """Channels [c_start, c_stop): mean, var_out, inv_std (C,) float64 and out (N, C, S).

    scale: (2, C) float64 work space for the folded per-channel scale and shift.
    """
    N, _, S = x.shape
    M = N * S
    if training:
        for c in range(c_start, c_stop):
            mean[c] = 0.0
            var_out[c] = 0.0
        for n in range(N):  # n outside c: rows of the channel block are read in memory order
            for c in range(c_start, c_stop):
                total = 0.0
                for s in range(S):
                    total += x[n, c, s]
                mean[c] += total
        for c in range(c_start, c_stop):
            mean[c] /= M
        for n in range(N):  # second pass: squared deviations from the mean, no cancellation
            for c in range(c_start, c_stop):
                mu = mean[c]
                squares = 0.0
                for s in range(S):
                    d = x[n, c, s] - mu
                    squares += d * d
                var_out[c] += squares
        for c in range(c_start, c_stop):
            var_out[c] /= M
    else:
        for c in range(c_start, c_stop):
            mean[c] = run_mean[c]
            var_out[c] = run_var[c]
    for c in range(c_start, c_stop):
        inv_std[c] = 1.0 / np.sqrt(var_out[c] + eps)
        scale[0, c] = weight[c] * inv_std[c]  # out = x * scale + shift
        scale[1, c] = bias[c] - mean[c] * scale[0, c]
    for n in range(N):
        for c in range(c_start, c_stop):
            k, shift = scale[0, c], scale[1, c]
            for s in range(S):
                out[n, c, s] = x[n, c, s] * k + shift


@njit(cache=True)
def _backward_channels(dout, x, mean, inv_std, weight, training, dx, dweight, dbias, c_start,
                       c_stop):
    """Channels [c_start, c_stop): dx (N, C, S), dweight and dbias (C,) float64."""
    N, _, S = x.shape
    M = N * S
    for c in range(c_start, c_stop):
        dbias[c] = 0.0
        dweight[c] = 0.0
    for n in range(N):  # the sums of dout and dout * x_hat per channel
        for c in range(c_start, c_stop):
            mu, istd = mean[c], inv_std[c]
            sum_dy = 0.0
            sum_dy_xhat = 0.0
            for s in range(S):
                dy = dout[n, c, s]
                sum_dy += dy
                sum_dy_xhat += dy * (x[n, c, s] - mu) * istd
            dbias[c] += sum_dy
            dweight[c] += sum_dy_xhat
    for n in range(N):
        for c in range(c_start, c_stop):
            mu, istd = mean[c], inv_std[c]
            k = weight[c] * istd
            if training:
                # dx = inv_std/M (M dx_hat - sum dx_hat - x_hat sum dx_hat x_hat), dx_hat = w dout
                mean_dy = dbias[c] / M
                mean_dy_xhat = dweight[c] / M
                for s in range(S):
                    x_hat = (x[n, c, s] - mu) * istd
                    dx[n, c, s] = k * (dout[n, c, s] - mean_dy - x_hat * mean_dy_xhat)
            else:
                for s in range(S):
                    dx[n, c, s] = k * dout[n, c, s]


@njit(cache=True, parallel=True)
def _forward_parallel(x, weight, bias, training, run_mean, run_var, eps, mean, var_out,
                      inv_std, scale, out):
    C = x.shape[1]
    blocks = min(C, _CHANNEL_BLOCKS)
    for b in prange(blocks):
        _forward_channels(x, weight, bias, training, run_mean, run_var, eps, mean, var_out,
                          inv_std, scale, out, b * C // blocks, (b + 1) * C // blocks)


@njit(cache=True, parallel=True)
def _backward_parallel(dout, x, mean, inv_std, weight, training, dx, dweight, dbias):
    C = x.shape[1]
    blocks = min(C, _CHANNEL_BLOCKS)
    for b in prange(blocks):
        _backward_channels(dout, x, mean, inv_std, weight, training, dx, dweight, dbias,
                           b * C // blocks, (b + 1) * C // blocks)


def _channels(x: np.ndarray) -> np.ndarray:
    return contiguous(x).reshape(x.shape[0], x.shape[1], -1)  # (N, C, S)


def batch_norm_forward(x, weight, bias, running_mean, running_var, training=True,
                       momentum=0.1, eps=1e-5):
    x3 = _channels(x)  # (N, C, S)
    N, C, S = x3.shape
    M = N * S
    dtype = x.dtype
    w = np.ones(C, dtype) if weight is None else contiguous(weight)  # (C,)
    b = np.zeros(C, dtype) if bias is None else contiguous(bias)  # (C,)
    stats = (running_mean, running_var) if not training else (w, w)  # unread when training
    mean = np.empty(C, np.float64)
    var = np.empty(C, np.float64)  # the biased batch variance (training) or running_var
    inv_std = np.empty(C, np.float64)
    scale = np.empty((2, C), np.float64)  # the folded scale and shift of each channel
    out = np.empty_like(x3)
    args = (x3, w, b, bool(training), contiguous(stats[0]), contiguous(stats[1]), float(eps),
            mean, var, inv_std, scale, out)
    if parallel_worth_it(x3.size) and C > 1:
        _forward_parallel(*args)
    else:
        _forward_channels(*args, 0, C)
    if training:
        if running_mean is not None:
            running_mean[...] = (1 - momentum) * running_mean + momentum * mean
        if running_var is not None:
            running_var[...] = (1 - momentum) * running_var + momentum * var * (M / (M - 1))
    cache = (x3, mean, inv_std, weight, bool(training), bias is not None, x.shape)
    return out.reshape(x.shape), cache


def batch_norm_backward(dout, cache):
    x3, mean, inv_std, weight, training, has_bias, shape = cache
    N, C, S = x3.shape
    dtype = x3.dtype
    d3 = _channels(dout.astype(dtype, copy=False))  # (N, C, S)
    w = np.ones(C, dtype) if weight is None else contiguous(weight)
    dx = np.empty_like(x3)
    dweight = np.empty(C, np.float64)
    dbias = np.empty(C, np.float64)
    args = (d3, x3, mean, inv_std, w, training, dx, dweight, dbias)
    if parallel_worth_it(x3.size) and C > 1:
        _backward_parallel(*args)
    else:
        _backward_channels(*args, 0, C)
    return (dx.reshape(shape), dweight.astype(dtype) if weight is not None else None,
            dbias.astype(dtype) if has_bias else None, None, None)
