"""Scaled dot-product attention: derivation.

Dimension letters (this file and every ``attention`` file): N batch, h heads, Lq query
positions, Lk key/value positions, d query/key features per head, e value features per head.

Inputs::

    q (N, h, Lq, d)    k (N, h, Lk, d)    v (N, h, Lk, e)
    mask: None, or broadcastable to (N, h, Lq, Lk): bool (True = may attend, PyTorch's SDPA
          convention) or float (added to the scores; -inf forbids a position)
    is_causal: query i may attend key j only when j <= i (top-left aligned, as PyTorch)
    scale: defaults to 1 / sqrt(d)

Forward, per batch item n and head, row i of the queries::

    S[i, j] = scale * sum_c q[i, c] * k[j, c] + B[i, j]        S = scale * q @ k^T + B   (Lq, Lk)
    m[i]    = max_j S[i, j]                                     (subtracted for stability)
    P[i, j] = exp(S[i, j] - m[i]) / sum_j' exp(S[i, j'] - m[i]) (softmax along j)   (Lq, Lk)
    out[i, c] = sum_j P[i, j] * v[j, c]                         out = P @ v              (Lq, e)

``B`` is the additive form of the mask: 0 where attending is allowed, -inf where it is not
(a bool mask becomes ``where(mask, 0, -inf)``, a float mask is used as is, causality adds
-inf above the diagonal). Subtracting the row maximum ``m[i]`` changes nothing mathematically
(the factor exp(-m) cancels between numerator and denominator) but keeps every exponent <= 0,
so exp never overflows.

Fully masked rows. When every entry of row i is -inf there is nothing to attend to and the
softmax is 0/0. PyTorch 2.5+ defines that row of ``P`` (and so of ``out``) as zeros, and so
does tinymm: ``m[i] = -inf`` marks the row, its ``P`` row is set to 0, and since ``P`` is 0
there, every gradient flowing through that row is 0 as well (no NaN anywhere).

The kernel returns two outputs, ``out`` and the attention weights ``P`` (N, h, Lq, Lk), so a
caller may use the weights (``nn.MultiheadAttention(need_weights=True)``) and even put them in
the loss; the backward then receives ``dP_ext`` as well (None or zeros when unused).

Backward. Given ``dout = dL/dout`` (Lq, e) and ``dP_ext = dL/dP`` from the weights output::

    dv[j, c] = sum_i P[i, j] * dout[i, c]                  dv = P^T @ dout          (Lk, e)
    dP[i, j] = sum_c dout[i, c] * v[j, c] + dP_ext[i, j]    dP = dout @ v^T + dP_ext (Lq, Lk)

The softmax Jacobian. Row i of P depends only on row i of S:
dP[i, j] / dS[i, l] = P[i, j] * (delta_jl - P[i, l]). The Jacobian-vector product is therefore::

    dS[i, l] = sum_j dP[i, j] * P[i, j] * (delta_jl - P[i, l])
             = P[i, l] * (dP[i, l] - sum_j dP[i, j] * P[i, j])

    dS = P * (dP - rowsum(dP * P))                                                  (Lq, Lk)

(one dot product per row, never the (Lk, Lk) Jacobian itself). Then S = scale * q @ k^T + B::

    dq[i, c] = scale * sum_j dS[i, j] * k[j, c]            dq = scale * dS @ k      (Lq, d)
    dk[j, c] = scale * sum_i dS[i, j] * q[i, c]            dk = scale * dS^T @ q    (Lk, d)
    dB       = dS, summed over the dimensions the float mask was broadcast along (a bool mask
               has no gradient: it returns None)

Recompute or reuse P? The backward reuses the ``P`` saved by the forward. FlashAttention
recomputes P from q and k because at long sequences P (Lq * Lk per head) dwarfs q, k and v
(L * d); at tinymm's shapes (Lq = 16 text tokens, Lk = 64 image regions, d = 32) P has 1,024
entries per head against 512 for q and 2,048 for k, and storing it costs less than redoing the
exponentials and the q @ k^T product. The weights output needs P anyway.
"""

from __future__ import annotations

import math

import numpy as np

from tinymm.kernels._shapes import sum_to_shape


def additive_mask(mask, is_causal: bool, Lq: int, Lk: int, dtype) -> np.ndarray | None:
    """The mask as ``B``: 0 = attend, -inf = forbidden, broadcastable to (N, h, Lq, Lk)."""
    bias = None
    if mask is not None:
        if mask.dtype == np.bool_:
            bias = np.where(mask, 0.0, -np.inf).astype(dtype)
        else:
            bias = mask.astype(dtype, copy=False)
    if is_causal:
        allowed = np.tril(np.ones((Lq, Lk), dtype=np.bool_))  # j <= i, (Lq, Lk)
        causal = np.where(allowed, 0.0, -np.inf).astype(dtype)
        bias = causal if bias is None else bias + causal
    return bias


def scaled_dot_product_attention_forward(q, k, v, mask=None, is_causal=False, scale=None):
    Lq, d = q.shape[-2], q.shape[-1]
    Lk = k.shape[-2]
    scale = 1.0 / math.sqrt(d) if scale is None else float(scale)
    S = scale * (q @ np.swapaxes(k, -1, -2))  # (N, h, Lq, Lk)
    B = additive_mask(mask, is_causal, Lq, Lk, q.dtype)
    if B is not None:
        S = S + B  # (N, h, Lq, Lk)
    m = S.max(axis=-1, keepdims=True)  # (N, h, Lq, 1)
    dead = np.isneginf(m)  # fully masked rows
    m = np.where(dead, 0.0, m).astype(q.dtype)
    E = np.exp(S - m)  # (N, h, Lq, Lk); exactly 0 where S is -inf
    Z = E.sum(axis=-1, keepdims=True)  # (N, h, Lq, 1); 0 only in fully masked rows
    P = E / np.where(dead, 1.0, Z).astype(q.dtype)  # (N, h, Lq, Lk), zero rows where dead
    out = P @ v  # (N, h, Lq, e)
    mask_is_float = mask is not None and mask.dtype != np.bool_
    mask_shape = mask.shape if mask_is_float else None
    cache = (q, k, v, P, scale, mask_shape)
    return (out, P), cache


def scaled_dot_product_attention_backward(grads, cache):
    q, k, v, P, scale, mask_shape = cache
    dout, dP_ext = grads if isinstance(grads, tuple) else (grads, None)
    dv = np.swapaxes(P, -1, -2) @ dout  # (N, h, Lk, e)
    dP = dout @ np.swapaxes(v, -1, -2)  # (N, h, Lq, Lk)
    if dP_ext is not None:
        dP = dP + dP_ext
    dS = P * (dP - (dP * P).sum(axis=-1, keepdims=True))  # (N, h, Lq, Lk)
    dq = scale * (dS @ k)  # (N, h, Lq, d)
    dk = scale * (np.swapaxes(dS, -1, -2) @ q)  # (N, h, Lk, d)
    dmask = sum_to_shape(dS, mask_shape) if mask_shape is not None else None
    return dq.astype(q.dtype, copy=False), dk.astype(q.dtype, copy=False), dv, dmask
