"""Numba symmetric InfoNCE (derivation: kernels/reference/info_nce.py).

The two GEMMs (G = a b^T forward; da = dG b, db = dG^T a backward) go to NumPy's BLAS. The
softmax part is fused: the forward sweeps S once for the row and column log-sum-exps and the
diagonal, saving only S and the two (N,) log-sum-exp vectors (not P and Q); the backward
recomputes P and Q from them while it writes dG and accumulates dt, in one pass over S.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from tinymm.kernels.numba_cpu._util import contiguous


@njit(cache=True)
def _lse_rows_cols(S, row_lse, col_lse):
    """row_lse[i] = log sum_j exp(S[i, j]); col_lse[j] = log sum_i exp(S[i, j]); stable."""
    N = S.shape[0]
    col_max = np.empty(N, dtype=np.float64)
    for j in range(N):
        col_max[j] = S[0, j]
    for i in range(N):
        m = S[i, 0]
        for j in range(N):
            m = max(m, S[i, j])
            col_max[j] = max(col_max[j], S[i, j])
        row_lse[i] = m
    col_sum = np.zeros(N, dtype=np.float64)
    for i in range(N):
        total = 0.0
        for j in range(N):
            total += np.exp(S[i, j] - row_lse[i])
            col_sum[j] += np.exp(S[i, j] - col_max[j])
        row_lse[i] += np.log(total)
    for j in range(N):
        col_lse[j] = col_max[j] + np.log(col_sum[j])


@njit(cache=True)
def _grad_logits(S, row_lse, col_lse, coef, s, dG):
    """dG = s * coef * ((P - I) + (Q - I)); returns dt = sum(coef * ((P-I)+(Q-I)) * S)."""
    N = S.shape[0]
    dt = 0.0
    for i in range(N):
        for j in range(N):
            d = np.exp(S[i, j] - row_lse[i]) + np.exp(S[i, j] - col_lse[j])
            if i == j:
                d -= 2.0
            d *= coef
            dt += d * S[i, j]
            dG[i, j] = s * d
    return dt


def info_nce_forward(a, b, logit_scale):
    a, b = contiguous(a), contiguous(b)  # (N, D) each
    N = a.shape[0]
    s = np.exp(np.asarray(logit_scale, dtype=a.dtype))  # ()
    S = contiguous(s * (a @ b.T))  # (N, N)
    row_lse = np.empty(N, dtype=np.float64)  # (N,)
    col_lse = np.empty(N, dtype=np.float64)  # (N,)
    _lse_rows_cols(S, row_lse, col_lse)
    diag = np.diagonal(S).astype(np.float64)  # (N,) S[n, n]
    loss = ((row_lse - diag).sum() + (col_lse - diag).sum()) / (2 * N)
    cache = (a, b, s, S, row_lse, col_lse)
    return np.asarray(loss, dtype=a.dtype), cache


def info_nce_backward(dloss, cache):
    a, b, s, S, row_lse, col_lse = cache
    N = a.shape[0]
    dG = np.empty_like(S)  # (N, N)
    dt = _grad_logits(S, row_lse, col_lse, float(dloss) / (2 * N), float(s), dG)
    da = dG @ b  # (N, D)
    db = dG.T @ a  # (N, D)
    return da, db, np.asarray(dt, dtype=a.dtype)
