"""Numba fused softmax cross-entropy (derivation: kernels/reference/cross_entropy.py).

Forward: one parallel pass over rows computes the row max, log-sum-exp and the (smoothed)
negative log-likelihood without materialising log-probabilities. Only the logits and the
per-row log-sum-exp are saved; the backward recomputes ``p = exp(x - lse)`` on the fly and
writes ``(p - q) * scale`` in the same sweep, so no (N, C) temporary is ever stored.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from tinymm.kernels.numba_cpu._rows import block, n_blocks, row_max, run_rows
from tinymm.kernels.numba_cpu._util import contiguous


@njit(cache=True)
def _ce_rows(x, target, ignore_index, smoothing, lse, loss, n0, n1):
    C = x.shape[1]
    for n in range(n0, n1):
        m = row_max(x, n)
        total = 0.0
        row_sum = 0.0
        for c in range(C):
            total += np.exp(x[n, c] - m)
            row_sum += x[n, c]
        lse[n] = m + np.log(total)  # log sum_c exp(x[n, c])
        t = target[n]
        if t == ignore_index:
            loss[n] = 0
        else:
            nll = lse[n] - x[n, t]  # -logp[n, t]
            smooth = lse[n] - row_sum / C  # mean_c -logp[n, c]
            loss[n] = (1 - smoothing) * nll + smoothing * smooth


@njit(cache=True)
def _ce_grad_rows(x, target, ignore_index, smoothing, lse, scale, dx, n0, n1):
    C = x.shape[1]
    for n in range(n0, n1):
        t = target[n]
        if t == ignore_index:
            for c in range(C):
                dx[n, c] = 0
            continue
        s = scale[n]
        off = smoothing / C
        for c in range(C):
            p = np.exp(x[n, c] - lse[n])
            q = off + (1 - smoothing) if c == t else off
            dx[n, c] = (p - q) * s


@njit(cache=True, parallel=True)
def _ce_rows_all(x, target, ignore_index, smoothing, lse, loss):
    N = x.shape[0]
    for b in prange(n_blocks(N)):
        _ce_rows(x, target, ignore_index, smoothing, lse, loss, *block(b, N))


@njit(cache=True, parallel=True)
def _ce_grad_rows_all(x, target, ignore_index, smoothing, lse, scale, dx):
    N = x.shape[0]
    for b in prange(n_blocks(N)):
        _ce_grad_rows(x, target, ignore_index, smoothing, lse, scale, dx, *block(b, N))


def cross_entropy_forward(logits, target, ignore_index=-100, reduction="mean", label_smoothing=0.0):
    x = contiguous(logits)  # (N, C)
    target = contiguous(target.astype(np.int64, copy=False))  # (N,)
    N = x.shape[0]
    lse = np.empty(N, dtype=np.float64)  # (N,) log-sum-exp per row, kept in float64
    loss = np.empty(N, dtype=x.dtype)  # (N,)
    args = (x, target, ignore_index, float(label_smoothing), lse, loss)
    run_rows(_ce_rows, _ce_rows_all, *args)
    count = float(np.count_nonzero(target != ignore_index))
    if reduction == "none":
        out = loss
    elif reduction == "sum":
        out = np.asarray(loss.sum(dtype=np.float64), dtype=x.dtype)
    else:
        with np.errstate(invalid="ignore", divide="ignore"):
            out = np.asarray(loss.sum(dtype=np.float64) / count, dtype=x.dtype)
    cache = (x, target, ignore_index, float(label_smoothing), lse, count, reduction)
    return out, cache


def cross_entropy_backward(dloss, cache):
    x, target, ignore_index, smoothing, lse, count, reduction = cache
    N = x.shape[0]
    if reduction == "none":
        scale = np.asarray(dloss, dtype=np.float64).reshape(N)
    elif reduction == "sum":
        scale = np.full(N, float(dloss), dtype=np.float64)
    else:  # "mean"; with every row ignored the loss is nan and its gradient zero (PyTorch's)
        scale = np.full(N, float(dloss) / count if count > 0 else 0.0, dtype=np.float64)
    dx = np.empty_like(x)
    args = (x, target, ignore_index, smoothing, lse, scale, dx)
    run_rows(_ce_grad_rows, _ce_grad_rows_all, *args)
    return dx, None
