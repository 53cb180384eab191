"""Connectionist temporal classification (CTC) loss: derivation.

Dimension letters: T time steps, N samples, C classes (one of them the blank), S the longest
target. ``log_probs[t, n, c]`` are log-probabilities (log_softmax over C). Sample n reads its
first T_n = input_lengths[n] steps and has the target l = (l_0 .. l_{L-1}), L =
target_lengths[n], at ``targets[n * stride + i]`` (stride = S for padded (N, S) targets,
stride = 0 for targets concatenated along one dim: sample n starts after the L_m of m < n).

An alignment is a path pi of T_n symbols over the C classes that collapses to l when repeats
are merged and blanks dropped; p(l | x) = sum over alignments of prod_t y[t, pi_t], with
y = exp(log_probs). The extended label l' puts a blank around every symbol:
l'_s = blank for even s, l'_s = l_{(s - 1) / 2} for odd s, s = 0 .. 2L (so 2L + 1 positions).
A path may move from s - 1 or stay at s at every step, and may skip s - 1 (a blank) from
s - 2 when l'_s is not a blank and differs from l'_{s - 2} (a repeated symbol needs the blank
between its copies).

Forward (all in log space: lse is log-sum-exp, lse of nothing is -inf)::

    alpha[0, 0] = log_probs[0, n, blank]
    alpha[0, 1] = log_probs[0, n, l'_1]                       (when L > 0)
    alpha[0, s] = -inf                                        (s >= 2)
    alpha[t, s] = log_probs[t, n, l'_s]
                  + lse(alpha[t-1, s], alpha[t-1, s-1], alpha[t-1, s-2] if the skip is allowed)
    loss[n]     = -lse(alpha[T_n - 1, 2L], alpha[T_n - 1, 2L - 1])   (-log p(l | x))

alpha[t, s] is the log-probability of every path prefix of steps 0..t that ends at l'_s and
has emitted l'_0..l'_s. T_n = 0 gives loss 0 when L = 0 (the empty path) and inf otherwise;
a target that no alignment can reach (T_n too short for L and its repeats) gives inf.

Backward. beta is the same recursion run from the end::

    beta[T_n - 1, 2L]     = log_probs[T_n - 1, n, blank]
    beta[T_n - 1, 2L - 1] = log_probs[T_n - 1, n, l'_{2L-1}]
    beta[t, s] = log_probs[t, n, l'_s]
                 + lse(beta[t+1, s], beta[t+1, s+1], beta[t+1, s+2] if l'_{s+2} may be skipped to)

so alpha[t, s] + beta[t, s] - log_probs[t, n, l'_s] is the log-probability of the paths that
are at s at step t (y[t, l'_s] appears in both halves). For the loss -log p::

    dloss[n] / dlog_probs[t, n, c] = -exp(lse_{s: l'_s = c}(alpha[t, s] + beta[t, s])
                                          + loss[n] - log_probs[t, n, c])      (t < T_n)

and 0 for t >= T_n and wherever no path is at class c at step t (no s with l'_s = c, or all
such alpha + beta = -inf). This is the derivative with
respect to log_probs as free inputs, which finite differences check. PyTorch's kernel returns
it plus exp(log_probs) (the gradient it would have through a log_softmax over C): the two
agree after the log_softmax's backward, whose input gradient drops any term that sums to the
same value over C at every t. With ``zero_infinity`` an infinite loss becomes 0 and its
gradient 0 (without it the gradient is NaN at every t < T_n and c, as PyTorch's).

A label outside [0, C) (possible only in device arrays, which the op cannot read) reads as
log-probability -inf: the sample's loss is inf.
"""

from __future__ import annotations

import numpy as np


def _extended(targets: np.ndarray, start: int, L: int, blank: int) -> np.ndarray:
    """l' (2L + 1,) int64: blanks around the symbols of targets[start:start + L]."""
    ext = np.full(2 * L + 1, blank, dtype=np.int64)
    ext[1::2] = targets[start:start + L]
    return ext


def _skip_allowed(ext: np.ndarray, blank: int) -> np.ndarray:
    """(2L + 1,) bool: position s may be reached from s - 2."""
    allowed = np.zeros(ext.shape[0], dtype=bool)
    allowed[2:] = (ext[2:] != blank) & (ext[2:] != ext[:-2])
    return allowed


def _emissions(log_probs: np.ndarray, n: int, Tn: int, ext: np.ndarray) -> np.ndarray:
    """log_probs[t, n, l'_s] (Tn, 2L + 1), -inf for labels outside [0, C)."""
    C = log_probs.shape[2]
    valid = (ext >= 0) & (ext < C)
    out = np.full((Tn, ext.shape[0]), -np.inf, dtype=log_probs.dtype)
    out[:, valid] = log_probs[:Tn, n, ext[valid]]
    return out


def _lse3(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    top = np.maximum(np.maximum(a, b), c)
    safe = np.where(np.isfinite(top), top, 0)
    with np.errstate(divide="ignore"):
        return np.where(np.isneginf(top), -np.inf,
                        safe + np.log(np.exp(a - safe) + np.exp(b - safe) + np.exp(c - safe)))


def _offsets(target_lengths: np.ndarray, stride: int) -> np.ndarray:
    """Where each sample's target starts in the flat targets."""
    if stride:
        return np.arange(target_lengths.shape[0]) * stride
    return np.concatenate([[0], np.cumsum(target_lengths)[:-1]]).astype(np.int64)


def _alpha(em: np.ndarray, skip: np.ndarray) -> np.ndarray:
    """alpha (Tn, 2L + 1) from the emissions em (Tn, 2L + 1)."""
    Tn, P = em.shape
    alpha = np.full((Tn, P), -np.inf, dtype=em.dtype)
    alpha[0, :min(2, P)] = em[0, :min(2, P)]
    none = np.full(P, -np.inf, dtype=em.dtype)
    for t in range(1, Tn):
        prev = alpha[t - 1]
        one = np.concatenate([none[:1], prev[:-1]])  # alpha[t-1, s-1]
        two = np.where(skip, np.concatenate([none[:2], prev[:-2]])[:P], -np.inf)
        alpha[t] = em[t] + _lse3(prev, one, two)
    return alpha


def _beta(em: np.ndarray, skip: np.ndarray) -> np.ndarray:
    """beta (Tn, 2L + 1): the recursion of _alpha on the time- and position-reversed path."""
    return _alpha(em[::-1, ::-1], np.concatenate([skip[2:], [False, False]])[:skip.shape[0]]
                  [::-1])[::-1, ::-1]


def ctc_loss_forward(log_probs: np.ndarray, targets: np.ndarray, input_lengths: np.ndarray,
                     target_lengths: np.ndarray, max_target: int, blank: int = 0,
                     zero_infinity: bool = False):
    T, N, C = log_probs.shape
    stride = targets.shape[1] if targets.ndim == 2 else 0
    flat = targets.reshape(-1).astype(np.int64)
    starts = _offsets(target_lengths, stride)
    loss = np.zeros(N, dtype=log_probs.dtype)  # (N,)
    alphas = []
    for n in range(N):
        Tn, L = int(input_lengths[n]), int(target_lengths[n])
        ext = _extended(flat, int(starts[n]), L, blank)
        if Tn == 0:
            loss[n] = 0.0 if L == 0 else np.inf
            alphas.append(None)
            continue
        alpha = _alpha(_emissions(log_probs, n, Tn, ext), _skip_allowed(ext, blank))
        loss[n] = -np.logaddexp(alpha[-1, -1], alpha[-1, -2] if L else -np.inf)
        alphas.append(alpha)
    zeroed = np.isinf(loss) & zero_infinity  # (N,) samples whose loss and gradient are 0
    cache = (log_probs, flat, starts, input_lengths, target_lengths, blank, zeroed, loss, alphas)
    return np.where(zeroed, 0, loss).astype(log_probs.dtype), cache


def ctc_loss_backward(dloss: np.ndarray, cache):
    log_probs, flat, starts, input_lengths, target_lengths, blank, zeroed, loss, alphas = cache
    T, N, C = log_probs.shape
    dlog_probs = np.zeros_like(log_probs)  # (T, N, C)
    for n in range(N):
        Tn, L = int(input_lengths[n]), int(target_lengths[n])
        if Tn == 0 or zeroed[n]:
            continue
        if np.isinf(loss[n]):  # no alignment: NaN, as PyTorch's
            dlog_probs[:Tn, n, :] = np.nan
            continue
        ext = _extended(flat, int(starts[n]), L, blank)
        em = _emissions(log_probs, n, Tn, ext)
        ab = alphas[n] + _beta(em, _skip_allowed(ext, blank))  # (Tn, 2L + 1)
        for c in np.unique(ext[(ext >= 0) & (ext < C)]):
            at_c = ab[:, ext == c]  # (Tn, positions with l'_s = c)
            top = at_c.max(axis=1, keepdims=True)
            safe = np.where(np.isfinite(top), top, 0)
            with np.errstate(divide="ignore"):
                lcab = (safe + np.log(np.exp(at_c - safe).sum(axis=1, keepdims=True)))[:, 0]
            reached = ~np.isneginf(lcab)  # (Tn,) steps where some path is at class c
            with np.errstate(invalid="ignore"):  # -inf - -inf at unreached steps, masked
                log_gamma = np.where(reached, lcab + loss[n] - log_probs[:Tn, n, c], -np.inf)
            dlog_probs[:Tn, n, c] = -np.exp(log_gamma) * dloss[n]  # 0 where unreached
    return dlog_probs, None, None, None
