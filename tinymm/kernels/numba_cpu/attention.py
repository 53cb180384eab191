"""Numba scaled dot-product attention (derivation: kernels/reference/attention.py).

Dimension letters: N batch, h heads, Lq queries, Lk keys/values, d query/key features,
e value features.

What is fused, and what is not. The two products, ``S = q @ k^T`` and ``out = P @ v`` (and
the four of the backward), go to NumPy's batched matmul, i.e. one BLAS GEMM per (batch item,
head); everything between them is one Numba pass with ``prange`` over the N * h (batch item,
head) pairs, each walking its Lq rows:

* forward: scale, mask (additive, broadcast only along the axes the caller gave), causality,
  the row maximum, a vectorised exp (in float32 arithmetic for float32 inputs), the
  normalisation, and zero rows where everything is masked, written in place over S, which
  becomes the weights P (saved for the backward: reused, not recomputed, see the derivation);
* backward: ``dS = P * (dP - rowsum(dP * P))`` (plus the weights' own upstream gradient when
  the caller used them) times the scale, in place over dP.

An earlier version fused all of it per (batch, head) in plain loops (scores, softmax and the
weighted sum in a row buffer, P reused by a fused backward). At this model's shapes (Lq=16,
Lk=64, d=32) the inner loops are 32 to 64 long, too short for LLVM's vectoriser to amortise
its loop overhead, and that kernel was slower than BLAS GEMMs + this pass
(benchmarks/RESULTS.md, "Design measurements"), so the products went back to BLAS. The softmax pass
is what a GEMM library does not do, and where the masking, the fully-masked-row rule and the
exponentials live.

Buffers (S/P, out and the gradients) come from the workspace cache
(``_workspace.empty``), so a training loop does not fault fresh pages for them every call.

Layout. q, k, v may be views (for example the (N, h, L, d) transpose of a multi-head layer's
(N, L, h, d) projection): NumPy's matmul hands strided 2-D blocks straight to BLAS, so no copy
is made. ``fastmath`` enables only reassociation and contraction (not 'no infinities': the -inf
of masked scores must survive).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from tinymm.kernels._shapes import sum_to_shape
from tinymm.kernels.numba_cpu._util import contiguous
from tinymm.kernels.numba_cpu._workspace import empty

_FAST = {"reassoc", "contract", "nsz", "arcp"}
_LOG2E = 1.4426950408889634
_LN2_HI = 0.693145751953125  # ln 2 split in two so k * _LN2_HI is exact
_LN2_LO = 1.42860682030941723212e-6


# Constants of the single-precision exp, handed to the kernel as a float32 array so that its
# arithmetic stays in float32 (a Python float literal would promote every line to float64):
# log2(e), ln 2 split in a high part exact in float32 and a low part (Cephes' values), the
# clamp (exp(-87) ~ 1.6e-38, the float32 normal range), 1/7! ... 1/0!, 0.5 and 0.
_EXP32 = np.array([1.4426950408889634, 0.693359375, -2.12194440e-4, -87.0, 1 / 5040, 1 / 720,
                   1 / 120, 1 / 24, 1 / 6, 0.5, 1.0, 1.0, 0.5, 0.0], dtype=np.float32)
_EXP64 = np.zeros(14, dtype=np.float64)  # unused placeholder: float64 uses literal constants


@njit(cache=True, fastmath=_FAST)
def _exp_shifted(z, bits, powers, Lk, C, single):
    """z[:Lk] = exp(z[:Lk] - z[Lk]) for z <= z[Lk] (softmax's s - max), -inf giving exactly 0;
    returns the sum of the results.

    libm's exp is a scalar call (Numba has no SVML here), so this is written to vectorise:
    exp(y) = 2^k * exp(r) with k = round(y / ln 2), |r| <= ln(2) / 2, exp(r) its Taylor
    polynomial and 2^k built from its IEEE-754 bits in ``bits`` (``powers`` is the same memory
    seen as floats). float32 (``single``): degree 7 in float32 arithmetic with the constants C,
    relative error ~1e-8, 16 lanes per AVX-512 vector. float64: degree 13 (~1e-16); arguments
    below -700 are clamped (exp(-700) ~ 1e-304: nothing a softmax keeps). The shift sits in
    z[Lk] so that it has z's dtype.
    """
    shift = z[Lk]
    if single:
        log2e, hi, lo, clamp, half, zero = C[0], C[1], C[2], C[3], C[12], C[13]
        c7, c6, c5, c4, c3, c2, c1, c0 = C[4], C[5], C[6], C[7], C[8], C[9], C[10], C[11]
        for m in range(Lk):
            x = z[m] - shift
            y = max(x, clamp)
            k = np.floor(y * log2e + half)
            r = y - k * hi - k * lo
            p = c7
            p = p * r + c6
            p = p * r + c5
            p = p * r + c4
            p = p * r + c3
            p = p * r + c2
            p = p * r + c1
            p = p * r + c0
            z[m] = p if x > -np.inf else zero
            bits[m] = (np.int32(k) + 127) << 23  # the bits of the float32 2^k
    else:
        for m in range(Lk):
            x = z[m] - shift
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
    total = 0.0
    for m in range(Lk):
        z[m] = z[m] * powers[m]
        total += z[m]
    return total


@njit(cache=True, parallel=True, fastmath=_FAST)
def _masked_softmax_rows(S, bias, causal, scale, work, bits, powers, C, single):
    """S (N, h, Lq, Lk) -> P in place: softmax_j(scale * S + bias), zero rows when all -inf.

    work (N * h, Lk + 1), bits (N * h, Lk) and powers (bits seen as floats): per-(batch, head)
    scratch rows in S's dtype, so the exp runs in float32 for float32 inputs.
    """
    N, h, Lq, Lk = S.shape
    Mn, Mh, Mq, Mk = bias.shape
    for unit in prange(N * h):  # one (batch item, head): Lq rows
        n = unit // h
        head = unit % h
        bn = n if Mn > 1 else 0
        bh = head if Mh > 1 else 0
        z = work[unit]
        for i in range(Lq):
            bi = i if Mq > 1 else 0
            row_max = -np.inf
            for j in range(Lk):
                value = S[n, head, i, j] * scale + bias[bn, bh, bi, j if Mk > 1 else 0]
                if causal and j > i:
                    value = -np.inf
                z[j] = value
                row_max = max(row_max, value)
            if row_max == -np.inf:  # fully masked row: zeros, documented
                for j in range(Lk):
                    S[n, head, i, j] = 0.0
                continue
            z[Lk] = row_max
            inv = 1.0 / _exp_shifted(z, bits[unit], powers[unit], Lk, C, single)
            for j in range(Lk):
                S[n, head, i, j] = z[j] * inv


@njit(cache=True, parallel=True, fastmath=_FAST)
def _softmax_backward_rows(dP, P, dP_ext, has_dP_ext, scale):
    """dP (N, h, Lq, Lk) -> scale * dS in place, dS = P * (dP + dP_ext - rowsum(...) )."""
    N, h, Lq, Lk = P.shape
    for row in prange(N * h * Lq):
        n = row // (h * Lq)
        head = (row // Lq) % h
        i = row % Lq
        if has_dP_ext:
            for j in range(Lk):
                dP[n, head, i, j] += dP_ext[n, head, i, j]
        row_dot = 0.0  # rowsum(dP * P)
        for j in range(Lk):
            row_dot += dP[n, head, i, j] * P[n, head, i, j]
        for j in range(Lk):
            dP[n, head, i, j] = P[n, head, i, j] * (dP[n, head, i, j] - row_dot) * scale


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


def scaled_dot_product_attention_forward(q, k, v, mask=None, is_causal=False, scale=None):
    N, h, Lq, d = q.shape
    Lk, e = k.shape[2], v.shape[3]
    scale = 1.0 / math.sqrt(d) if scale is None else float(scale)
    P = np.matmul(q, k.swapaxes(-1, -2), out=empty((N, h, Lq, Lk), q.dtype))  # scores, BLAS
    single = q.dtype == np.float32
    work = np.empty((N * h, Lk + 1), dtype=q.dtype)  # exp scratch rows
    bits = np.empty((N * h, Lk), dtype=np.int32 if single else np.int64)
    _masked_softmax_rows(P, _bias4(mask, q.dtype), bool(is_causal), scale, work, bits,
                         bits.view(q.dtype), _EXP32 if single else _EXP64, single)  # weights
    out = np.matmul(P, v, out=empty((N, h, Lq, e), q.dtype))  # (N, h, Lq, e), BLAS
    mask_shape = mask.shape if mask is not None and mask.dtype != np.bool_ else None
    cache = (q, k, v, P, scale, mask_shape)
    return (out, P), cache


def scaled_dot_product_attention_backward(grads, cache):
    q, k, v, P, scale, mask_shape = cache
    dout, dP_ext = grads if isinstance(grads, tuple) else (grads, None)
    dout = dout.astype(q.dtype, copy=False)
    dv = np.matmul(P.swapaxes(-1, -2), dout, out=empty(v.shape, q.dtype))  # (N, h, Lk, e)
    dS = np.matmul(dout, v.swapaxes(-1, -2), out=empty(P.shape, q.dtype))  # dP, then scale*dS
    has_dP_ext = dP_ext is not None
    dP_ext = contiguous(dP_ext.astype(q.dtype, copy=False)) if has_dP_ext else P
    _softmax_backward_rows(dS, P, dP_ext, has_dP_ext, scale)
    dq = np.matmul(dS, k, out=empty(q.shape, q.dtype))  # (N, h, Lq, d), BLAS
    dk = np.matmul(dS.swapaxes(-1, -2), q, out=empty(k.shape, q.dtype))  # (N, h, Lk, d), BLAS
    dmask = sum_to_shape(dS, mask_shape) / scale if mask_shape is not None else None
    return dq, dk, dv, dmask
