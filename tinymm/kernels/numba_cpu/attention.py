"""Numba scaled dot-product attention (derivation: kernels/reference/attention.py).

Dimension letters: N batch, h heads, Lq queries, Lk keys/values, d query/key features,
e value features.

One fused kernel per direction. ``prange`` runs the N * h (batch item, head) pairs in
parallel; each pair walks its query rows once: scores S[i, :] (dot products over d), the
stable softmax of that row, and the weighted sum of the value rows, all in a row buffer of
Lk floats that stays in L1 cache; nothing of size (Lq, Lk) is written except the weights
``P`` that the backward reuses (see the derivation for why reusing beats recomputing here).

Layout. The kernels read q, k, v as (N, L, h, features): the layout a multi-head layer
produces when it splits (N, L, E) into heads by a reshape, so
``q.transpose(0, 2, 1, 3)`` of its (N, h, L, d) view is already contiguous and costs no copy;
a caller that passes contiguous (N, h, L, d) arrays pays one copy. Every innermost loop runs
over the contiguous feature axis (d or e), so it vectorises. The outputs are written in the
same (N, L, h, features) layout and handed back as (N, h, L, features) views.

Masks arrive in additive form (0 = attend, -inf = forbidden), broadcast only along the
dimensions the caller gave: a (Mn, Mh, Mq, Mk) array whose sizes are 1 or full, indexed with
0 where they are 1, so a key-padding mask (N, 1, 1, Lk) is never expanded to (N, h, Lq, Lk).
Causality is a test in the loop, not a mask array. The score row is computed as d passes of
a contiguous multiply-add over a transposed copy of the head's keys (and dP likewise over the
transposed values), so no inner loop is a horizontal reduction. Rows are held in the input
dtype, as NumPy's float32 GEMM does; the softmax's max and sum use float64 scalars.
``fastmath`` enables only reassociation and contraction (not 'no infinities': the -inf of
masked scores must survive).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from tinymm.kernels.numba_cpu._util import contiguous
from tinymm.kernels.reference.attention import _sum_to_shape

_FAST = {"reassoc", "contract", "nsz", "arcp"}
_LOG2E = 1.4426950408889634
_LN2_HI = 0.693145751953125  # ln 2 split in two so k * _LN2_HI is exact
_LN2_LO = 1.42860682030941723212e-6


@njit(cache=True, fastmath=_FAST)
def _exp_nonpositive(z, bits, M):
    """z[:M] = exp(z[:M]) for arguments <= 0 (softmax's s - max), -inf giving exactly 0.

    libm's exp is a scalar call (Numba has no SVML here), so this is written to vectorise:
    exp(y) = 2^k * exp(r) with k = round(y / ln 2), |r| <= ln(2) / 2, exp(r) its Taylor
    polynomial to degree 13 (relative error ~1e-16), 2^k built from its IEEE-754 bits in
    ``bits``. Arguments below -700 are clamped (exp(-700) ~ 1e-304: nothing a softmax keeps).
    """
    for m in range(M):
        x = z[m]
        y = max(x, -700.0)
        k = np.floor(y * _LOG2E + 0.5)
        r = y - k * _LN2_HI - k * _LN2_LO
        p = 1.0 / 6227020800.0
        p = p * r + 1.0 / 479001600.0
        p = p * r + 1.0 / 39916800.0
        p = p * r + 1.0 / 3628800.0
        p = p * r + 1.0 / 362880.0
        p = p * r + 1.0 / 40320.0
        p = p * r + 1.0 / 5040.0
        p = p * r + 1.0 / 720.0
        p = p * r + 1.0 / 120.0
        p = p * r + 1.0 / 24.0
        p = p * r + 1.0 / 6.0
        p = p * r + 0.5
        p = p * r + 1.0
        p = p * r + 1.0
        z[m] = p if x > -np.inf else 0.0
        bits[m] = (np.int64(k) + 1023) << 52  # the bits of the float64 2^k
    scale = bits.view(np.float64)
    for m in range(M):
        z[m] = z[m] * scale[m]


@njit(cache=True, parallel=True, fastmath=_FAST)
def _attention_forward(q, k, v, bias, causal, scale, out, P):
    N, Lq, h, d = q.shape
    Lk = k.shape[1]
    e = v.shape[3]
    Mn, Mh, Mq, Mk = bias.shape
    for unit in prange(N * h):
        n = unit // h
        head = unit % h
        bn = n if Mn > 1 else 0
        bh = head if Mh > 1 else 0
        kT = np.empty((d, Lk), dtype=q.dtype)  # this head's keys, transposed
        for j in range(Lk):
            for c in range(d):
                kT[c, j] = k[n, j, head, c]
        s = np.empty(Lk, dtype=q.dtype)  # one row of scores
        z = np.empty(Lk, dtype=np.float64)  # the same row, masked, then its exponentials
        bits = np.empty(Lk, dtype=np.int64)
        acc = np.empty(e, dtype=q.dtype)  # one row of the output
        for i in range(Lq):
            bi = i if Mq > 1 else 0
            # S[i, :] = q[i, :] @ kT: d passes of a contiguous multiply-add over j
            for j in range(Lk):
                s[j] = 0.0
            for c in range(d):
                qc = q[n, i, head, c]
                for j in range(Lk):
                    s[j] += qc * kT[c, j]
            row_max = -np.inf
            for j in range(Lk):
                value = s[j] * scale + bias[bn, bh, bi, j if Mk > 1 else 0]
                if causal and j > i:
                    value = -np.inf
                z[j] = value
                row_max = max(row_max, value)
            if row_max == -np.inf:  # fully masked row: zeros, documented
                for j in range(Lk):
                    P[n, head, i, j] = 0.0
                for c in range(e):
                    out[n, i, head, c] = 0.0
                continue
            for j in range(Lk):
                z[j] = z[j] - row_max
            _exp_nonpositive(z, bits, Lk)
            total = 0.0
            for j in range(Lk):
                total += z[j]
            inv = 1.0 / total
            for c in range(e):
                acc[c] = 0.0
            for j in range(Lk):
                p = z[j] * inv
                P[n, head, i, j] = p
                if p != 0.0:
                    for c in range(e):
                        acc[c] += p * v[n, j, head, c]
            for c in range(e):
                out[n, i, head, c] = acc[c]


@njit(cache=True, parallel=True, fastmath=_FAST)
def _attention_backward(dout, dP_ext, has_dP_ext, q, k, v, P, scale, dq, dk, dv, dS_all,
                        store_dS):
    N, Lq, h, d = q.shape
    Lk = k.shape[1]
    e = v.shape[3]
    for unit in prange(N * h):
        n = unit // h
        head = unit % h
        vT = np.empty((e, Lk), dtype=q.dtype)  # this head's values, transposed
        for j in range(Lk):
            for c in range(e):
                vT[c, j] = v[n, j, head, c]
        row = np.empty(Lk, dtype=q.dtype)  # dP[i, :], then dS[i, :]
        dq_row = np.empty(d, dtype=q.dtype)
        dk_acc = np.zeros((Lk, d), dtype=q.dtype)
        dv_acc = np.zeros((Lk, e), dtype=q.dtype)
        for i in range(Lq):
            # dP[i, :] = dout[i, :] @ vT + dP_ext[i, :]
            for j in range(Lk):
                row[j] = 0.0
            for c in range(e):
                g = dout[n, i, head, c]
                for j in range(Lk):
                    row[j] += g * vT[c, j]
            row_dot = 0.0  # rowsum(dP * P)
            for j in range(Lk):
                if has_dP_ext:
                    row[j] += dP_ext[n, head, i, j]
                row_dot += row[j] * P[n, head, i, j]
            # dS = P * (dP - rowsum(dP * P)); dv += P^T dout; dq = dS k; dk += dS^T q
            for c in range(d):
                dq_row[c] = 0.0
            for j in range(Lk):
                p = P[n, head, i, j]
                ds = p * (row[j] - row_dot)
                if store_dS:
                    dS_all[n, head, i, j] = ds
                if p == 0.0:  # masked key: contributes nothing to any gradient
                    continue
                for c in range(e):
                    dv_acc[j, c] += p * dout[n, i, head, c]
                for c in range(d):
                    dq_row[c] += ds * k[n, j, head, c]
                for c in range(d):
                    dk_acc[j, c] += ds * q[n, i, head, c]
            for c in range(d):
                dq[n, i, head, c] = dq_row[c] * scale
        for j in range(Lk):
            for c in range(d):
                dk[n, j, head, c] = dk_acc[j, c] * scale
            for c in range(e):
                dv[n, j, head, c] = dv_acc[j, c]


def _bias4(mask, dtype) -> np.ndarray:
    """The mask in additive form as a contiguous 4-d array (sizes 1 or full)."""
    if mask is None:
        return np.zeros((1, 1, 1, 1), dtype=dtype)
    if mask.dtype == np.bool_:
        bias = np.where(mask, 0.0, -np.inf).astype(dtype)
    else:
        bias = mask.astype(dtype, copy=False)
    bias = bias.reshape((1,) * (4 - bias.ndim) + bias.shape)  # (Mn, Mh, Mq, Mk)
    return contiguous(bias)


def _heads_inner(x: np.ndarray) -> np.ndarray:
    """(N, h, L, f) -> contiguous (N, L, h, f); free when x is a view of such an array."""
    return contiguous(x.transpose(0, 2, 1, 3))


def scaled_dot_product_attention_forward(q, k, v, mask=None, is_causal=False, scale=None):
    N, h, Lq, d = q.shape
    e = v.shape[3]
    scale = 1.0 / math.sqrt(d) if scale is None else float(scale)
    qt, kt, vt = _heads_inner(q), _heads_inner(k), _heads_inner(v)  # (N, L, h, f)
    bias = _bias4(mask, q.dtype)  # (Mn, Mh, Mq, Mk)
    out_t = np.empty((N, Lq, h, e), dtype=q.dtype)
    P = np.empty((N, h, Lq, k.shape[2]), dtype=q.dtype)
    _attention_forward(qt, kt, vt, bias, bool(is_causal), scale, out_t, P)
    mask_shape = mask.shape if mask is not None and mask.dtype != np.bool_ else None
    cache = (qt, kt, vt, P, scale, mask_shape)
    return (out_t.transpose(0, 2, 1, 3), P), cache  # out (N, h, Lq, e)


def scaled_dot_product_attention_backward(grads, cache):
    qt, kt, vt, P, scale, mask_shape = cache
    dout, dP_ext = grads if isinstance(grads, tuple) else (grads, None)
    dout_t = _heads_inner(dout.astype(qt.dtype, copy=False))  # (N, Lq, h, e)
    has_dP_ext = dP_ext is not None
    dP_ext = contiguous(dP_ext.astype(qt.dtype, copy=False)) if has_dP_ext else P
    store_dS = mask_shape is not None
    dS_all = np.empty_like(P) if store_dS else np.empty((1, 1, 1, 1), dtype=qt.dtype)
    dq_t, dk_t, dv_t = np.empty_like(qt), np.empty_like(kt), np.empty_like(vt)
    _attention_backward(dout_t, dP_ext, has_dP_ext, qt, kt, vt, P, scale, dq_t, dk_t, dv_t,
                        dS_all, store_dS)
    dmask = _sum_to_shape(dS_all, mask_shape) if store_dS else None
    swap = (0, 2, 1, 3)
    return dq_t.transpose(swap), dk_t.transpose(swap), dv_t.transpose(swap), dmask
