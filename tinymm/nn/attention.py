"""``MultiheadAttention``: PyTorch's layer, parameters and semantics (derivation of the core:
kernels/reference/attention.py).

Dimension letters: N batch, Lq queries, Lk keys/values, E embed_dim, h num_heads,
d = E / h features per head.

    Q = query @ W_q^T + b_q      K = key @ W_k^T + b_k      V = value @ W_v^T + b_v   (N, L, E)
    split each into h heads of d features                                    (N, h, L, d)
    head outputs = softmax(Q K^T / sqrt(d) + mask) V                          (N, h, Lq, d)
    out = concat(heads) @ W_o^T + b_o                                         (N, Lq, E)

``in_proj_weight`` (3E, E) stacks W_q, W_k, W_v (when kdim or vdim differ from E, PyTorch keeps
``q_proj_weight``, ``k_proj_weight`` (E, kdim), ``v_proj_weight`` (E, vdim) instead, and so do
we); ``in_proj_bias`` (3E,); ``out_proj`` is a Linear(E, E). Initialisation is PyTorch's:
xavier-uniform in-projections, zero biases, the default Linear init for ``out_proj.weight``.
So weights copied from ``torch.nn.MultiheadAttention`` give the same outputs and gradients.

Masks, PyTorch's MultiheadAttention convention (the opposite of F.scaled_dot_product_attention
for bool masks): ``key_padding_mask`` (N, Lk) True = ignore that key; ``attn_mask`` (Lq, Lk) or
(N * h, Lq, Lk) True = not allowed; float masks are added to the scores. One difference from
PyTorch: a query that may attend to no key at all gets a zero output (PyTorch returns NaN).
"""

from __future__ import annotations

import math

import numpy as np

from tinymm.nn import init
from tinymm.nn.linear import Linear
from tinymm.nn.module import Module, Parameter
from tinymm.ops.attention import attention_with_weights, scaled_dot_product_attention
from tinymm.ops.dropout import check_p, dropout
from tinymm.ops.linear import linear
from tinymm.ops.matmul import matmul
from tinymm.ops.shape import split
from tinymm.ops.softmax import softmax
from tinymm.tensor import Tensor, from_numpy


def _array(x):
    return x.array if isinstance(x, Tensor) else np.asarray(x)


class MultiheadAttention(Module):
    """PyTorch's ``nn.MultiheadAttention`` (no bias_k/bias_v, no add_zero_attn).

    ``dropout`` drops attention weights in training (each kept weight scaled by 1 / (1 - p)),
    as PyTorch's; that path composes softmax(Q K^T * scale + mask), dropout and the product
    with V from ops, while p = 0 or eval mode uses the fused attention kernel.
    """

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True,
                 batch_first: bool = False, kdim: int | None = None, vdim: int | None = None,
                 dtype=np.float32):
        super().__init__()
        name = f"MultiheadAttention(embed_dim={embed_dim}, num_heads={num_heads})"
        if embed_dim <= 0 or num_heads <= 0:
            raise ValueError(f"{name}: embed_dim and num_heads must be positive")
        if embed_dim % num_heads != 0:
            raise ValueError(f"{name}: embed_dim must be divisible by num_heads (each head gets "
                             f"embed_dim / num_heads features), got {embed_dim} / {num_heads} = "
                             f"{embed_dim / num_heads:g}; choose num_heads among the divisors "
                             f"of {embed_dim}")
        check_p(dropout)
        self.dropout = dropout
        self.embed_dim = embed_dim
        self.num_heads = num_heads
        self.head_dim = embed_dim // num_heads
        self.batch_first = batch_first
        self.kdim = embed_dim if kdim is None else kdim
        self.vdim = embed_dim if vdim is None else vdim
        self._qkv_same_embed_dim = self.kdim == embed_dim and self.vdim == embed_dim
        E = embed_dim
        if self._qkv_same_embed_dim:
            self.in_proj_weight = Parameter(np.empty((3 * E, E), dtype=dtype))
            init.xavier_uniform_(self.in_proj_weight)
        else:
            self.q_proj_weight = Parameter(np.empty((E, E), dtype=dtype))
            self.k_proj_weight = Parameter(np.empty((E, self.kdim), dtype=dtype))
            self.v_proj_weight = Parameter(np.empty((E, self.vdim), dtype=dtype))
            for w in (self.q_proj_weight, self.k_proj_weight, self.v_proj_weight):
                init.xavier_uniform_(w)
        if bias:
            self.in_proj_bias = Parameter(np.zeros(3 * E, dtype=dtype))
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = Linear(E, E, bias=bias, dtype=dtype)
        if bias:
            init.zeros_(self.out_proj.bias)

    def extra_repr(self) -> str:
        return (f"embed_dim={self.embed_dim}, num_heads={self.num_heads}, "
                f"dropout={self.dropout}, batch_first={self.batch_first}")

    # ------------------------------------------------------------------ validation
    def _name(self) -> str:
        return f"MultiheadAttention(embed_dim={self.embed_dim}, num_heads={self.num_heads})"

    def _check(self, query, key, value, key_padding_mask, attn_mask):
        name = self._name()
        layout = "(N, L, features)" if self.batch_first else "(L, N, features)"
        for label, x, width in (("query", query, self.embed_dim), ("key", key, self.kdim),
                                ("value", value, self.vdim)):
            if x.ndim not in (2, 3):
                raise ValueError(f"{name}: {label} must be 3-d {layout} or 2-d (L, features) "
                                 f"unbatched, got shape {tuple(x.shape)}")
            if x.shape[-1] != width:
                raise ValueError(f"{name}: {label} must have {width} features in its last "
                                 f"dimension, got shape {tuple(x.shape)}")
            weight_dtype = next(iter(self.parameters())).dtype
            if np.dtype(x.dtype) != weight_dtype:
                raise TypeError(f"{name}: {label} has dtype {np.dtype(x.dtype)} but the layer's "
                                f"parameters are {weight_dtype}; convert the input (.float() "
                                "or .double()) or the layer")
        if not query.ndim == key.ndim == value.ndim:
            raise ValueError(f"{name}: query, key and value must all be batched (3-d) or all "
                             f"unbatched (2-d), got shapes {tuple(query.shape)}, "
                             f"{tuple(key.shape)}, {tuple(value.shape)}")
        if key.shape[:-1] != value.shape[:-1]:
            raise ValueError(f"{name}: key and value must have the same batch and length, got "
                             f"key {tuple(key.shape)} and value {tuple(value.shape)}")
        batched = query.ndim == 3
        batch_axis = 0 if self.batch_first else 1
        if batched and query.shape[batch_axis] != key.shape[batch_axis]:
            raise ValueError(f"{name}: query and key must have the same batch size along axis "
                             f"{batch_axis} ({layout}), got query {tuple(query.shape)} and key "
                             f"{tuple(key.shape)}")
        N = query.shape[batch_axis] if batched else 1
        Lq = query.shape[1 - batch_axis] if batched else query.shape[0]
        Lk = key.shape[1 - batch_axis] if batched else key.shape[0]
        if key_padding_mask is not None:
            expected = (N, Lk) if batched else (Lk,)
            if tuple(key_padding_mask.shape) != expected:
                raise ValueError(f"{name}: key_padding_mask must have shape (N, Lk) = "
                                 f"{expected}, got {tuple(key_padding_mask.shape)}")
        if attn_mask is not None:
            allowed = [(Lq, Lk), (N * self.num_heads, Lq, Lk)]
            if tuple(attn_mask.shape) not in allowed:
                raise ValueError(f"{name}: attn_mask must have shape (Lq, Lk) = {allowed[0]} or "
                                 f"(N * num_heads, Lq, Lk) = {allowed[1]}, got "
                                 f"{tuple(attn_mask.shape)}")
        for label, m in (("key_padding_mask", key_padding_mask), ("attn_mask", attn_mask)):
            if m is not None and _array(m).dtype != np.bool_ and _array(m).dtype != query.dtype:
                raise TypeError(f"{name}: {label} must be bool (True = ignore) or the query's "
                                f"dtype {query.dtype}, got {_array(m).dtype}")
        return N, Lq, Lk, batched

    def _merged_mask(self, key_padding_mask, attn_mask, N, Lq, Lk, dtype):
        """Both masks as one SDPA mask (bool True = attend, or additive float), 4-d or None."""
        parts = []
        if key_padding_mask is not None:
            parts.append(_array(key_padding_mask).reshape(N, 1, 1, Lk))  # (N, 1, 1, Lk)
        if attn_mask is not None:
            m = _array(attn_mask)
            if m.ndim == 2:
                parts.append(m.reshape(1, 1, Lq, Lk))  # (1, 1, Lq, Lk)
            else:
                parts.append(m.reshape(N, self.num_heads, Lq, Lk))  # (N, h, Lq, Lk)
        if not parts:
            return None
        if all(p.dtype == np.bool_ for p in parts):
            ignore = parts[0]
            for p in parts[1:]:
                ignore = ignore | p
            return ~ignore  # True = attend
        total = np.zeros((1, 1, 1, 1), dtype=dtype)
        for p in parts:
            total = total + (np.where(p, -np.inf, 0.0).astype(dtype) if p.dtype == np.bool_
                             else p.astype(dtype))
        return total

    # ------------------------------------------------------------------ forward
    def _dropped_attention(self, q, k, v, mask, scale):
        """Heads (N, h, Lq, d) and the dropped weights (N, h, Lq, Lk) they came from."""
        scores = matmul(q, k.transpose(-2, -1)) * scale  # (N, h, Lq, Lk)
        if mask is not None:
            m = np.asarray(mask)
            additive = np.where(m, 0.0, -np.inf) if m.dtype == np.bool_ else m
            scores = scores + from_numpy(np.asarray(additive, dtype=scores.dtype))
        weights = dropout(softmax(scores, dim=-1), self.dropout, True)
        return matmul(weights, v), weights  # (N, h, Lq, d), (N, h, Lq, Lk)

    def _project(self, query, key, value):
        """The in-projections: Q (N, Lq, E), K (N, Lk, E), V (N, Lk, E).

        The packed weight is cut with ``split`` (whose backward is one concatenate), not with
        indexing (whose backward scatters into zeros with np.add.at, several times slower).
        """
        E = self.embed_dim
        b = self.in_proj_bias
        if not self._qkv_same_embed_dim:
            bq, bk, bv = (None, None, None) if b is None else split(b, E)
            return (linear(query, self.q_proj_weight, bq), linear(key, self.k_proj_weight, bk),
                    linear(value, self.v_proj_weight, bv))
        W = self.in_proj_weight
        if query is key and key is value:  # self-attention: one GEMM for all three
            qkv = linear(query, W, b)  # (N, L, 3E)
            q, k, v = split(qkv, E, axis=-1)
            return q, k, v
        if key is value:  # cross-attention over one memory: one GEMM for K and V
            Wq, Wkv = split(W, [E, 2 * E])  # (E, E), (2E, E)
            bq, bkv = (None, None) if b is None else split(b, [E, 2 * E])
            q = linear(query, Wq, bq)  # (N, Lq, E)
            kv = linear(key, Wkv, bkv)  # (N, Lk, 2E)
            k, v = split(kv, E, axis=-1)
            return q, k, v
        Wq, Wk, Wv = split(W, E)  # (E, E) each
        bq, bk, bv = (None, None, None) if b is None else split(b, E)
        return linear(query, Wq, bq), linear(key, Wk, bk), linear(value, Wv, bv)

    def forward(self, query, key, value, key_padding_mask=None, need_weights: bool = True,
                attn_mask=None, average_attn_weights: bool = True):
        N, Lq, Lk, batched = self._check(query, key, value, key_padding_mask, attn_mask)
        same_kv = key is value
        same_qkv = query is key and same_kv
        if not batched:  # (L, E) -> one batch item
            query, key, value = (x.unsqueeze(0 if self.batch_first else 1)
                                 for x in (query, key, value))
            if key_padding_mask is not None:
                key_padding_mask = _array(key_padding_mask).reshape(1, Lk)
        if not self.batch_first:  # (L, N, E) -> (N, L, E)
            query, key, value = (x.transpose(0, 1) for x in (query, key, value))
        if same_qkv:
            key = value = query
        elif same_kv:
            value = key
        h, d = self.num_heads, self.head_dim
        q, k, v = self._project(query, key, value)  # (N, L, E) each
        q = q.reshape(N, Lq, h, d).permute(0, 2, 1, 3)  # (N, h, Lq, d)
        k = k.reshape(N, Lk, h, d).permute(0, 2, 1, 3)  # (N, h, Lk, d)
        v = v.reshape(N, Lk, h, d).permute(0, 2, 1, 3)  # (N, h, Lk, d)
        mask = self._merged_mask(key_padding_mask, attn_mask, N, Lq, Lk, query.dtype)
        scale = 1.0 / math.sqrt(d)
        if self.training and self.dropout > 0:
            heads, weights = self._dropped_attention(q, k, v, mask, scale)
        elif need_weights:
            heads, weights = attention_with_weights(q, k, v, mask, scale=scale)
        else:
            heads, weights = scaled_dot_product_attention(q, k, v, mask, scale=scale), None
        merged = heads.permute(0, 2, 1, 3).reshape(N, Lq, self.embed_dim)  # (N, Lq, E)
        out = self.out_proj(merged)  # (N, Lq, E)
        if weights is not None and average_attn_weights:
            weights = weights.mean(axis=1)  # (N, Lq, Lk)
        if not self.batch_first:
            out = out.transpose(0, 1)  # (Lq, N, E)
        if not batched:
            out = out.squeeze(0 if self.batch_first else 1)
            if weights is not None:
                weights = weights.squeeze(0)
        return out, weights
