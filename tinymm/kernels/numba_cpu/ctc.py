"""Numba CTC loss (derivation: kernels/reference/ctc.py), parallel over the batch.

Each sample runs its alpha recursion (forward) and its beta recursion and gradient (backward)
in one prange iteration; alpha (N, T, 2S + 1) is the forward's cache, beta a per-sample
buffer of the backward. The extended label l'_s is read from the flat targets on the fly
(blank at even s), and a label outside [0, C) reads as log-probability -inf, as the
reference's.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from tinymm.kernels.numba_cpu._util import contiguous


@njit(cache=True)
def _lse(a, b):
    """log(exp(a) + exp(b)), -inf when both are -inf."""
    top = max(a, b)
    if top == -np.inf:
        return top
    return top + np.log(np.exp(a - top) + np.exp(b - top))


@njit(cache=True)
def _label(flat, start, blank, s):
    """l'_s: the blank at even s, else target symbol (s - 1) / 2 (-1 past the flat end)."""
    if s % 2 == 0:
        return blank
    i = start + (s - 1) // 2
    return flat[i] if 0 <= i < flat.shape[0] else -1


@njit(cache=True)
def _emit(log_probs, t, n, c):
    return log_probs[t, n, c] if 0 <= c < log_probs.shape[2] else -np.inf


@njit(cache=True)
def _skip(flat, start, blank, s):
    """Position s may be reached from s - 2 (a symbol unequal to the one two back)."""
    if s < 2 or s % 2 == 0:
        return False
    return _label(flat, start, blank, s) != _label(flat, start, blank, s - 2)


@njit(cache=True)
def _recursion(log_probs, flat, start, blank, n, Tn, P, table, forward):
    """alpha (forward) or beta into table[:Tn, :P]: step tt, position s of the walk's own
    direction (beta walks time and positions backward)."""
    for s in range(P):
        table[0 if forward else Tn - 1, s] = -np.inf
    for k in range(min(2, P)):
        s = k if forward else P - 1 - k
        t = 0 if forward else Tn - 1
        table[t, s] = _emit(log_probs, t, n, _label(flat, start, blank, s))
    for step in range(1, Tn):
        t = step if forward else Tn - 1 - step
        before = t - 1 if forward else t + 1
        for s in range(P):
            acc = table[before, s]
            if forward and s >= 1:
                acc = _lse(acc, table[before, s - 1])
            if forward and _skip(flat, start, blank, s):
                acc = _lse(acc, table[before, s - 2])
            if not forward and s + 1 < P:
                acc = _lse(acc, table[before, s + 1])
            if not forward and s + 2 < P and _skip(flat, start, blank, s + 2):
                acc = _lse(acc, table[before, s + 2])
            table[t, s] = _emit(log_probs, t, n, _label(flat, start, blank, s)) + acc


@njit(cache=True, parallel=True)
def _forward(log_probs, flat, starts, input_lengths, target_lengths, blank, alpha, loss):
    N = log_probs.shape[1]
    for n in prange(N):
        Tn, L = input_lengths[n], target_lengths[n]
        if Tn == 0:
            loss[n] = 0.0 if L == 0 else np.inf
            continue
        P = 2 * L + 1
        _recursion(log_probs, flat, starts[n], blank, n, Tn, P, alpha[n], True)
        last = alpha[n, Tn - 1, P - 2] if L > 0 else -np.inf
        loss[n] = -_lse(alpha[n, Tn - 1, P - 1], last)


@njit(cache=True)
def _sample_grad(log_probs, flat, start, blank, n, Tn, P, alpha, beta, loss, g, dlog_probs):
    """dlog_probs[:Tn, n, :] = -exp(lse_{s: l'_s = c}(alpha + beta) + loss - log_probs) g."""
    C = log_probs.shape[2]
    lcab = np.empty(C, dtype=np.float64)
    for t in range(Tn):
        lcab[:] = -np.inf
        for s in range(P):
            c = _label(flat, start, blank, s)
            if 0 <= c < C:
                lcab[c] = _lse(lcab[c], alpha[t, s] + beta[t, s])
        for c in range(C):
            if lcab[c] != -np.inf:
                dlog_probs[t, n, c] = -np.exp(lcab[c] + loss - log_probs[t, n, c]) * g


@njit(cache=True, parallel=True)
def _backward(dloss, log_probs, flat, starts, input_lengths, target_lengths, blank, zeroed,
              loss, alpha, dlog_probs):
    N = log_probs.shape[1]
    for n in prange(N):
        Tn, L = input_lengths[n], target_lengths[n]
        if Tn == 0 or zeroed[n]:
            continue
        if loss[n] == np.inf:  # no alignment: NaN, as PyTorch's
            dlog_probs[:Tn, n, :] = np.nan
            continue
        P = 2 * L + 1
        beta = np.empty((Tn, P), dtype=log_probs.dtype)
        _recursion(log_probs, flat, starts[n], blank, n, Tn, P, beta, False)
        _sample_grad(log_probs, flat, starts[n], blank, n, Tn, P, alpha[n], beta, loss[n],
                     dloss[n], dlog_probs)


def _starts(target_lengths: np.ndarray, stride: int) -> np.ndarray:
    if stride:
        return np.arange(target_lengths.shape[0], dtype=np.int64) * stride
    return np.concatenate([[0], np.cumsum(target_lengths)[:-1]]).astype(np.int64)


def ctc_loss_forward(log_probs, targets, input_lengths, target_lengths, max_target: int,
                     blank: int = 0, zero_infinity: bool = False):
    log_probs = contiguous(log_probs)
    T, N, C = log_probs.shape
    stride = targets.shape[1] if targets.ndim == 2 else 0
    flat = np.ascontiguousarray(targets.reshape(-1), dtype=np.int64)
    ilens = np.ascontiguousarray(input_lengths, dtype=np.int64)
    tlens = np.ascontiguousarray(target_lengths, dtype=np.int64)
    starts = _starts(tlens, stride)
    alpha = np.empty((N, max(T, 1), 2 * max_target + 1), dtype=log_probs.dtype)  # (N, T, 2S+1)
    loss = np.empty(N, dtype=log_probs.dtype)  # (N,)
    _forward(log_probs, flat, starts, ilens, tlens, blank, alpha, loss)
    zeroed = np.isinf(loss) & bool(zero_infinity)  # (N,)
    cache = (log_probs, flat, starts, ilens, tlens, blank, zeroed, loss, alpha)
    return np.where(zeroed, 0, loss).astype(log_probs.dtype), cache


def ctc_loss_backward(dloss, cache):
    log_probs, flat, starts, ilens, tlens, blank, zeroed, loss, alpha = cache
    dlog_probs = np.zeros_like(log_probs)  # (T, N, C)
    g = np.ascontiguousarray(dloss, dtype=log_probs.dtype)
    _backward(g, log_probs, flat, starts, ilens, tlens, blank, zeroed, loss, alpha, dlog_probs)
    return dlog_probs, None, None, None
