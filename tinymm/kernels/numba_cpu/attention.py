"""Numba scaled dot-product attention (derivation: kernels/reference/attention.py).

Dimension letters: N batch, h heads, Lq queries, Lk keys/values, d query/key features,
e value features.

What is fused, and what is not. The two products, ``S = q @ k^T`` and ``out = P @ v`` (and
the four of the backward), go to NumPy's batched matmul, i.e. one BLAS GEMM per (batch item,
head); everything between them is one serial Numba pass over the N * h (batch item, head)
pairs, each walking its Lq rows (serial: the pass is small, a parallel region on a busy
machine waits for a descheduled peer thread, and ``parallel=True`` adds compile time to a
cold start; measured in benchmarks/RESULTS.md):

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
is made. The output and dq, dk, dv are laid out in memory like q, k and v
(``_empty_in_layout_of``), so the layer's transpose back to (N, L, h, d) and merge of the
heads is a view, not a copy. ``fastmath`` enables only reassociation and contraction (not 'no
infinities': the -inf of masked scores must survive).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from tinymm.kernels._shapes import sum_to_shape
from tinymm.kernels.numba_cpu._util import contiguous
from tinymm.kernels.numba_cpu._vexp import constants, exp_split
from tinymm.kernels.numba_cpu._workspace import empty

_FAST = {"reassoc", "contract", "nsz", "arcp"}


@njit(cache=True, fastmath=_FAST)
def _exp_shifted(z, bits, powers, Lk):
    """z[:Lk] = exp(z[:Lk] - z[Lk]) for z <= z[Lk] (softmax's s - max), -inf giving exactly 0;
    returns the sum of the results.

    The vectorised exp of ``_vexp`` (``exp_split``) in z's precision, so float32 rows stay in
    float32 arithmetic: arguments below the floor where 2^k stops being a normal float are
    clamped (nothing a softmax keeps), and ``powers`` is ``bits`` seen as floats. The shift
    sits in z[Lk] so that it has z's dtype.
    """
    c = constants(z)
    floor, zero = c[8], c[9]
    shift = z[Lk]
    for m in range(Lk):
        x = z[m] - shift
        p, b = exp_split(max(x, floor), c)
        z[m] = p if x > -np.inf else zero
        bits[m] = b
    total = 0.0
    for m in range(Lk):
        z[m] = z[m] * powers[m]
        total += z[m]
    return total


@njit(cache=True, nogil=True, fastmath=_FAST)
def _masked_softmax_rows(S, bias, causal, scale, work, bits, powers):
    """S (N, h, Lq, Lk) -> P in place: softmax_j(scale * S + bias), zero rows when all -inf.

    work (N * h, Lk + 1), bits (N * h, Lk) and powers (bits seen as floats): per-(batch, head)
    scratch rows in S's dtype, so the exp runs in float32 for float32 inputs.
    """
    N, h, Lq, Lk = S.shape
    Mn, Mh, Mq, Mk = bias.shape
    for unit in range(N * h):  # one (batch item, head): Lq rows
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
            inv = 1.0 / _exp_shifted(z, bits[unit], powers[unit], Lk)
            for j in range(Lk):
                S[n, head, i, j] = z[j] * inv


@njit(cache=True, nogil=True, fastmath=_FAST)
def _softmax_backward_rows(dP, P, dP_ext, has_dP_ext, scale):
    """dP (N, h, Lq, Lk) -> scale * dS in place, dS = P * (dP + dP_ext - rowsum(...) )."""
    N, h, Lq, Lk = P.shape
    for row in range(N * h * Lq):
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


def _empty_in_layout_of(x, shape, dtype) -> np.ndarray:
    """An uninitialised array of ``shape`` (x's rank) whose axes lie in memory in the order of
    x's strides (workspace memory). For q, k, v that are the (N, h, L, d) transposes of a
    multi-head layer's (N, L, h, d) projections, the outputs and gradients are then the same
    transposes, and the layer's transpose back and merge of the heads is a view, not a copy."""
    order = sorted(range(x.ndim), key=lambda axis: -abs(x.strides[axis]))  # outermost first
    buffer = empty(tuple(shape[axis] for axis in order), dtype)
    return buffer.transpose(np.argsort(order))


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
                         bits.view(q.dtype))  # weights
    out = np.matmul(P, v, out=_empty_in_layout_of(q, (N, h, Lq, e), q.dtype))  # BLAS
    mask_shape = mask.shape if mask is not None and mask.dtype != np.bool_ else None
    cache = (q, k, v, P, scale, mask_shape)
    return (out, P), cache


def scaled_dot_product_attention_backward(grads, cache):
    q, k, v, P, scale, mask_shape = cache
    dout, dP_ext = grads if isinstance(grads, tuple) else (grads, None)
    dout = dout.astype(q.dtype, copy=False)
    dv = np.matmul(P.swapaxes(-1, -2), dout, out=_empty_in_layout_of(v, v.shape, q.dtype))
    dS = np.matmul(dout, v.swapaxes(-1, -2), out=empty(P.shape, q.dtype))  # dP, then scale*dS
    has_dP_ext = dP_ext is not None
    dP_ext = contiguous(dP_ext.astype(q.dtype, copy=False)) if has_dP_ext else P
    _softmax_backward_rows(dS, P, dP_ext, has_dP_ext, scale)
    dq = np.matmul(dS, k, out=_empty_in_layout_of(q, q.shape, q.dtype))  # (N, h, Lq, d)
    dk = np.matmul(dS.swapaxes(-1, -2), q, out=_empty_in_layout_of(k, k.shape, q.dtype))
    dmask = sum_to_shape(dS, mask_shape) / scale if mask_shape is not None else None
    return dq, dk, dv, dmask
