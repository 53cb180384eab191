"""Scaled dot-product attention op (derivation: kernels/reference/attention.py).

Dimension letters: N batch, h heads, Lq queries, Lk keys/values, d query/key features,
e value features.

``scaled_dot_product_attention(q, k, v, attn_mask=None, is_causal=False, scale=None)`` follows
``torch.nn.functional.scaled_dot_product_attention``: q (N, h, Lq, d), k (N, h, Lk, d),
v (N, h, Lk, e) (or the same without the head axis); a bool ``attn_mask`` is True where a query
may attend, a float one is added to the scores; both broadcast to (N, h, Lq, Lk). A query row
with nothing to attend to gives zeros (as PyTorch 2.5+), never NaN. ``attn_mask`` and
``is_causal`` together combine (a position must pass both), as PyTorch does.
"""

from __future__ import annotations

import numpy as np

from tinymm.autograd import ArrayFunction
from tinymm.ops._checks import check_float, check_same_dtype, finite_kernel_forward

OP = "scaled_dot_product_attention"


def check_attention_inputs(op: str, q, k, v, mask) -> None:
    """Validate q (N, h, Lq, d), k (N, h, Lk, d), v (N, h, Lk, e) and the mask, or raise."""
    for name, x in (("query", q), ("key", k), ("value", v)):
        check_float(op, name, x)
        if x.ndim != 4:
            raise ValueError(f"{op}: {name} must be 4-d (N, heads, L, features), got shape "
                             f"{x.shape}")
        if 0 in x.shape:
            raise ValueError(f"{op}: {name} has an empty dimension, shape {x.shape}")
    check_same_dtype(op, query=q, key=k, value=v)
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(f"{op}: query and key must have the same feature size d, got query "
                         f"{q.shape} (d={q.shape[-1]}) and key {k.shape} (d={k.shape[-1]}); "
                         "project them to a common size first")
    if q.shape[:2] != k.shape[:2]:
        raise ValueError(f"{op}: query and key must share (N, heads), got query {q.shape} and "
                         f"key {k.shape}")
    if k.shape[:3] != v.shape[:3]:
        raise ValueError(f"{op}: key and value must share (N, heads, Lk), got key {k.shape} "
                         f"and value {v.shape}")
    if mask is None:
        return
    if mask.dtype != np.bool_:
        check_float(op, "attn_mask", mask)
        if mask.dtype != q.dtype:
            raise TypeError(f"{op}: a float attn_mask must have the query's dtype {q.dtype}, "
                            f"got {mask.dtype}; convert it, or pass a bool mask")
    scores = (q.shape[0], q.shape[1], q.shape[2], k.shape[2])  # (N, h, Lq, Lk)
    ok = mask.ndim <= 4
    if ok:
        try:
            ok = np.broadcast_shapes(mask.shape, scores) == scores
        except ValueError:
            ok = False
    if not ok:
        raise ValueError(f"{op}: attn_mask of shape {mask.shape} does not broadcast to the "
                         f"attention scores (N, heads, Lq, Lk) = {scores}; give it shape "
                         f"(Lq, Lk) = {scores[2:]}, (N, 1, 1, Lk) for key padding, or {scores}")


class ScaledDotProductAttention(ArrayFunction):
    """Outputs ``out`` (N, h, Lq, e) and, with ``need_weights``, the weights (N, h, Lq, Lk)."""

    @staticmethod
    def forward(ctx, q, k, v, mask=None, is_causal=False, scale=None, need_weights=False):
        check_attention_inputs(OP, q, k, v, mask)
        if scale is not None and not (np.isfinite(scale) and scale > 0):
            raise ValueError(f"{OP}: scale must be a positive number, got {scale}")
        (out, weights), cache = finite_kernel_forward(  # a mask's -inf is not checked
            ctx, "scaled_dot_product_attention_forward", (q, k, v),
            q, k, v, mask, is_causal=bool(is_causal), scale=scale)
        ctx.save_for_backward(cache)
        return (out, weights) if need_weights else out

    @staticmethod
    def backward(ctx, grad_out, grad_weights=None):
        dq, dk, dv, dmask = ctx.backend.scaled_dot_product_attention_backward(
            (grad_out, grad_weights), *ctx.saved)
        return dq, dk, dv, dmask


def _lift(x, ndim: int):
    """A 3-d (N, L, f) input gets a head axis of size 1: (N, 1, L, f)."""
    return x.unsqueeze(1) if ndim == 3 else x


def _as_tensor(x):
    from tinymm.tensor import as_tensor

    return as_tensor(x)


def attention_with_weights(query, key, value, attn_mask=None, is_causal=False, scale=None):
    """Like ``scaled_dot_product_attention`` but returns ``(out, weights)``, both 4-d."""
    return ScaledDotProductAttention.apply(query, key, value, attn_mask, is_causal=is_causal,
                                           scale=scale, need_weights=True)


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0,
                                 is_causal=False, scale=None):
    """``softmax(query @ key^T * scale + mask) @ value``, PyTorch's F.scaled_dot_product_attention.

    query (N, h, Lq, d) or (N, Lq, d); key (N, h, Lk, d); value (N, h, Lk, e); attn_mask bool
    (True = attend) or float (added), broadcastable to (N, h, Lq, Lk); ``scale`` defaults to
    1 / sqrt(d); ``dropout_p`` > 0 drops attention weights (F.dropout, scaled by 1 / (1 - p))
    before the product with value, as torch does (always: SDPA has no training flag).
    Returns (N, h, Lq, e) (or (N, Lq, e) for 3-d inputs).
    """
    if not isinstance(dropout_p, (int, float)) or not 0.0 <= dropout_p <= 1.0:
        raise ValueError(f"{OP}: dropout_p must be a probability in [0, 1], got {dropout_p!r}")
    query, key, value = _as_tensor(query), _as_tensor(key), _as_tensor(value)
    ndim = query.ndim
    if ndim not in (3, 4) or key.ndim != ndim or value.ndim != ndim:
        raise ValueError(f"{OP}: query, key and value must all be 4-d (N, heads, L, features) "
                         f"or all 3-d (N, L, features), got shapes {query.shape}, {key.shape}, "
                         f"{value.shape}")
    if attn_mask is not None:
        attn_mask = _as_tensor(attn_mask)
        if ndim == 3 and attn_mask.ndim == 3:
            attn_mask = attn_mask.unsqueeze(1)  # (N, Lq, Lk) -> (N, 1, Lq, Lk)
    q, k, v = _lift(query, ndim), _lift(key, ndim), _lift(value, ndim)
    if dropout_p > 0:
        from tinymm.ops.dropout import dropout

        _, weights = attention_with_weights(q, k, v, attn_mask, is_causal, scale)
        out = dropout(weights, dropout_p, training=True) @ v  # (N, h, Lq, e)
    else:
        out = ScaledDotProductAttention.apply(q, k, v, attn_mask, is_causal=is_causal,
                                              scale=scale)
    return out.squeeze(1) if ndim == 3 else out
