"""Numba scaled dot-product attention (derivation: kernels/reference/attention.py).

Dimension letters: N batch, h heads, Lq queries, Lk keys/values, d query/key features,
e value features.

What is fused, and what is not. The two products, ``S = q @ k^T`` and ``out = P @ v`` (and
the four of the backward), go to NumPy's batched matmul, i.e. one BLAS GEMM per (batch item,
head); everything between them is one serial Numba pass over the (batch item, head) pairs,
each walking its Lq rows:

* forward: scale, mask (additive, read as contiguous rows of the key axis), causality, the row
  maximum, a vectorised exp, the normalisation, and zero rows where everything is masked,
  written in place over S, which becomes the weights P (saved for the backward: reused, not
  recomputed, see the derivation). Every row stays in the inputs' precision (the scale is
  cast to it), so float32 rows run the float32 exp of ``_vexp``;
* backward: ``dS = P * (dP - rowsum(dP * P))`` (plus the weights' own upstream gradient when
  the caller used them) times the scale, in place over dP.

From ``SPLIT_MACS`` multiply-adds of the forward GEMMs on (the seed model's core has 8.4M),
the batch is cut into ranges of batch items (two per worker thread of ``_threads``), and each
worker runs a range's GEMMs (BLAS single-threaded) and passes whole: the kernels release the
GIL, so the ranges run at once, with no parallel region (which on a busy machine waits for a
descheduled peer thread, and costs compile time at a cold start). Smaller cores run in the
calling thread, where the hand-off to the workers would cost more than it saves.

A kernel fusing all of it per (batch, head) in plain loops (scores, softmax and the weighted
sum in L1-sized buffers, no BLAS call) was measured again: at this model's shapes (Lq=16,
Lk=64, d=32) its forward took about three times the CPU time of BLAS GEMMs + this pass
(benchmarks/RESULTS.md, "Design measurements"), so the products stay in BLAS. The softmax
pass is what a GEMM library does not do, and where the masking, the fully-masked-row rule and
the exponentials live.

Buffers (S/P, out and the gradients) come from the workspace cache
(``_workspace.empty``), so a training loop does not fault fresh pages for them every call.

Layout. q, k, v may be views (for example the (N, h, L, d) transpose of a multi-head layer's
(N, L, h, d) projection): NumPy's matmul hands strided 2-D blocks straight to BLAS, so no copy
is made. The output is laid out in memory like q (``_empty_in_layout_of``), so the layer's
transpose back to (N, L, h, d) and merge of the heads is a view, not a copy; dq, dk, dv have
exactly q's, k's and v's strides, and inputs split from one projection get their gradients in
one buffer shaped like it (``_gradient_buffers``), which the split's backward returns without
concatenating (numba_cpu/shape.py). ``fastmath`` enables only reassociation and contraction
(not 'no infinities': the -inf of masked scores must survive).
"""

from __future__ import annotations

import itertools
import math

import numpy as np
from numba import njit

from tinymm.kernels._shapes import sum_to_shape
from tinymm.kernels.numba_cpu import _threads
from tinymm.kernels.numba_cpu._util import contiguous
from tinymm.kernels.numba_cpu._vexp import constants, exp_split
from tinymm.kernels.numba_cpu._workspace import empty

_FAST = {"reassoc", "contract", "nsz", "arcp"}
# forward GEMM multiply-adds from which the core runs as batch ranges on the workers: a GEMM
# pair and softmax pass per (batch item, head) make many short BLAS calls, which the workers
# share well below a single GEMM's split (_threads.GEMM_SPLIT_MACS; measured at the seed's
# 8.4M: benchmarks/RESULTS.md)
SPLIT_MACS = 1 << 22


@njit(cache=True, nogil=True, fastmath=_FAST)
def _masked_softmax_rows(S, bias, has_bias, causal, scale, bits, powers):
    """S (n, h, Lq, Lk) -> P in place: softmax_j(scale * S + bias), zero rows when all -inf.

    ``bias`` is (Mn, Mh, Mq, Lk) with Mn, Mh, Mq each 1 (broadcast) or full, read only when
    ``has_bias``; ``scale`` has S's dtype, so every row is computed in S's precision (the exp
    of ``_vexp`` then runs in float32 for float32 inputs). ``bits`` (Lk,) ints of S's width and
    ``powers`` (the same memory seen as floats) are the exp's scratch row.
    """
    n_items, h, Lq, Lk = S.shape
    Mn, Mh, Mq = bias.shape[0], bias.shape[1], bias.shape[2]
    c = constants(S)
    floor, zero = c[8], c[9]
    for unit in range(n_items * h):  # one (batch item, head): Lq rows
        n = unit // h
        head = unit % h
        for i in range(Lq):
            z = S[n, head, i]  # (Lk,) contiguous
            for j in range(Lk):
                z[j] = z[j] * scale
            if has_bias:
                b = bias[n if Mn > 1 else 0, head if Mh > 1 else 0, i if Mq > 1 else 0]
                for j in range(Lk):
                    z[j] = z[j] + b[j]
            if causal:
                for j in range(i + 1, Lk):  # key j > query i: forbidden
                    z[j] = -np.inf
            row_max = z[0]
            for j in range(1, Lk):
                row_max = max(row_max, z[j])
            if row_max == -np.inf:  # fully masked row: zeros, documented
                for j in range(Lk):
                    z[j] = zero
                continue
            for j in range(Lk):
                x = z[j] - row_max
                p, e = exp_split(max(x, floor), c)
                z[j] = p if x > -np.inf else zero
                bits[j] = e
            total = zero
            for j in range(Lk):
                z[j] = z[j] * powers[j]
                total += z[j]
            inv = 1.0 / total
            for j in range(Lk):
                z[j] = z[j] * inv


@njit(cache=True, nogil=True, fastmath=_FAST)
def _softmax_backward_rows(dP, P, dP_ext, has_dP_ext, scale):
    """dP (R, Lk) rows -> scale * dS in place: with g = dP + dP_ext (dP alone without the
    weights' gradient), dS = P * (g - rowsum(g * P))."""
    R, Lk = P.shape
    for r in range(R):
        g = dP[r]
        p = P[r]
        if has_dP_ext:
            ext = dP_ext[r]
            for j in range(Lk):
                g[j] += ext[j]
        row_dot = 0.0  # rowsum(dP * P), summed in float64
        for j in range(Lk):
            row_dot += g[j] * p[j]
        for j in range(Lk):
            g[j] = p[j] * (g[j] - row_dot) * scale


def _empty_in_layout_of(x, shape, dtype) -> np.ndarray:
    """An uninitialised array of ``shape`` (x's rank) whose axes lie in memory in the order of
    x's strides (workspace memory). For q, k, v that are the (N, h, L, d) transposes of a
    multi-head layer's (N, L, h, d) projections, the outputs and gradients are then the same
    transposes, and the layer's transpose back and merge of the heads is a view, not a copy."""
    order = sorted(range(x.ndim), key=lambda axis: -abs(x.strides[axis]))  # outermost first
    buffer = empty(tuple(shape[axis] for axis in order), dtype)
    return buffer.transpose(np.argsort(order))


def _gradient_buffers(arrays, dtype) -> list[np.ndarray]:
    """One uninitialised gradient array per input array, laid out in memory like it.

    Inputs that are views of one C-contiguous base array and together cover it without
    overlapping (q, k and v split from one projection, or k and v from one K/V projection)
    get views of ONE new buffer shaped like that base, at their own offsets and strides: the
    split's backward then finds the concatenation already made (numba_cpu/shape.py) and
    copies nothing. Other inputs get ``_empty_in_layout_of`` arrays."""
    grads = [None] * len(arrays)
    groups: dict[int, list[int]] = {}  # id(base) -> indices of the inputs viewing it
    for i, x in enumerate(arrays):
        base = x.base
        if isinstance(base, np.ndarray) and base.dtype == dtype and base.flags.c_contiguous:
            groups.setdefault(id(base), []).append(i)
    for indices in groups.values():
        views = [arrays[i] for i in indices]
        base = views[0].base
        if sum(x.size for x in views) != base.size or any(
                np.shares_memory(a, b) for a, b in itertools.combinations(views, 2)):
            continue
        buffer = empty(base.shape, dtype)
        start = base.__array_interface__["data"][0]
        for i, x in zip(indices, views):
            offset = x.__array_interface__["data"][0] - start
            grads[i] = np.ndarray(x.shape, dtype, buffer=buffer, offset=offset,
                                  strides=x.strides)
    return [g if g is not None else _empty_in_layout_of(x, x.shape, dtype)
            for g, x in zip(grads, arrays)]


def _bias4(mask, dtype, Lk: int) -> np.ndarray:
    """The mask in additive form as a contiguous (Mn, Mh, Mq, Lk) array, Mn, Mh, Mq each 1 or
    full (a mask broadcast along the keys is expanded to Lk, so rows are read contiguously)."""
    if mask is None:
        return np.zeros((1, 1, 1, Lk), dtype=dtype)
    if mask.dtype == np.bool_:
        bias = np.where(mask, 0.0, -np.inf).astype(dtype)
    else:
        bias = mask.astype(dtype, copy=False)
    bias = bias.reshape((1,) * (4 - bias.ndim) + bias.shape)  # (Mn, Mh, Mq, Mk)
    return contiguous(np.broadcast_to(bias, bias.shape[:3] + (Lk,)))


def _batch_pieces(N: int, macs: int) -> int:
    """How many batch-item ranges a core of ``macs`` multiply-adds (its forward GEMMs) is cut
    into: two per worker thread (a descheduled worker then holds up less of it) from
    SPLIT_MACS on, one below that or without a pool (handing small work to the workers costs
    more than it saves)."""
    n_workers = _threads.workers()[1]
    if n_workers == 1 or macs < SPLIT_MACS:
        return 1
    return max(1, min(N, 2 * n_workers))


def _exp_scratch(Lk: int, dtype):
    """The softmax's exp scratch row: (bits, bits seen as floats), ints of dtype's width."""
    bits = np.empty(Lk, dtype=np.int32 if dtype == np.float32 else np.int64)
    return bits, bits.view(dtype)


def scaled_dot_product_attention_forward(q, k, v, mask=None, is_causal=False, scale=None):
    N, h, Lq, d = q.shape
    Lk, e = k.shape[2], v.shape[3]
    dtype = q.dtype
    scale = 1.0 / math.sqrt(d) if scale is None else float(scale)
    bias = _bias4(mask, dtype, Lk)
    has_bias, causal, typed_scale = mask is not None, bool(is_causal), dtype.type(scale)
    P = empty((N, h, Lq, Lk), dtype)  # scores, then the weights
    out = _empty_in_layout_of(q, (N, h, Lq, e), dtype)
    pieces = _batch_pieces(N, N * h * Lq * Lk * (d + e))

    def piece(worker, n0, n1):  # batch items n0:n1, BLAS single-threaded in every worker
        s = slice(n0, n1)
        np.matmul(q[s], k[s].swapaxes(-1, -2), out=P[s])  # (n, h, Lq, Lk)
        b = bias[s] if bias.shape[0] > 1 else bias
        _masked_softmax_rows(P[s], b, has_bias, causal, typed_scale, *_exp_scratch(Lk, dtype))
        np.matmul(P[s], v[s], out=out[s])  # (n, h, Lq, e)

    _threads.run_ranges(piece, N, pieces)
    mask_shape = mask.shape if mask is not None and mask.dtype != np.bool_ else None
    cache = (q, k, v, P, scale, mask_shape)
    return (out, P), cache


def scaled_dot_product_attention_backward(grads, cache):
    q, k, v, P, scale, mask_shape = cache
    dout, dP_ext = grads if isinstance(grads, tuple) else (grads, None)
    dtype = q.dtype
    dout = dout.astype(dtype, copy=False)
    N, Lk = q.shape[0], P.shape[3]
    has_dP_ext = dP_ext is not None
    dP_ext = contiguous(dP_ext.astype(dtype, copy=False)) if has_dP_ext else P
    dq, dk, dv = _gradient_buffers((q, k, v), dtype)  # like q, k, v
    dS = empty(P.shape, dtype)  # dP, then scale * dS   (N, h, Lq, Lk)
    pieces = _batch_pieces(N, P.size * (q.shape[3] + v.shape[3]))

    def piece(worker, n0, n1):  # batch items n0:n1
        s = slice(n0, n1)
        np.matmul(P[s].swapaxes(-1, -2), dout[s], out=dv[s])
        np.matmul(dout[s], v[s].swapaxes(-1, -2), out=dS[s])
        _softmax_backward_rows(dS[s].reshape(-1, Lk), P[s].reshape(-1, Lk),
                               dP_ext[s].reshape(-1, Lk), has_dP_ext, scale)
        np.matmul(dS[s], k[s], out=dq[s])
        np.matmul(dS[s].swapaxes(-1, -2), q[s], out=dk[s])

    _threads.run_ranges(piece, N, pieces)
    dmask = sum_to_shape(dS, mask_shape) / scale if mask_shape is not None else None
    return dq, dk, dv, dmask
