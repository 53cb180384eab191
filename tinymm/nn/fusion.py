"""Fusion layers: ways to join an image representation and a question representation.

Dimension letters: N batch, D feature widths (D_a, D_b, D_out), R rank, Lq question tokens,
Lk image regions, E embed_dim, C channels, H/W height/width.

The seed article fuses by concatenation, element-wise product or attention; GatedFusion,
BilinearFusion and FiLM go beyond it. What each can express (tutorials/05_attention_fusion.py
works through it):

* ``Concatenate``: [a; b]. Keeps everything, but the two modalities only meet in the layers
  after it; a following Linear computes W_a a + W_b b, a sum, so any interaction (say "the
  answer depends on colour *and* on which object was asked about") must be built by later
  nonlinear layers.
* ``Multiply``: a * b, element-wise; needs equal widths. Multiplicative interaction, but only
  feature i of a with feature i of b, and it acts on whole vectors: it cannot select one image
  region, because the regions were already pooled or flattened into a single vector.
* ``CrossAttentionFusion``: the question's tokens score every image region and take a weighted
  average of them: the only fusion here that can pick a region by content; the weights are
  returned for visualisation.
* ``GatedFusion``: per feature, a learned sigmoid gate chooses how much of each modality to
  keep: z * tanh(W_a a) + (1 - z) * tanh(W_b b), z = sigmoid(W_z [a; b]).
* ``BilinearFusion``: low-rank bilinear pooling, W_o (tanh(U a) * tanh(V b)): every feature of
  a can interact with every feature of b through the rank-R factorisation.
* ``FiLM``: the question produces a per-channel scale and shift for the image feature map,
  gamma(q) * x + beta(q), before pooling: conditioning that keeps the spatial layout.
"""

from __future__ import annotations

import numpy as np

from tinymm.nn.attention import MultiheadAttention
from tinymm.nn.linear import Linear
from tinymm.nn.module import Module
from tinymm.ops.fusion import bilinear_pool, film, gated_fusion
from tinymm.ops.shape import concat, split
from tinymm.tensor import Tensor, as_tensor, from_numpy


def _as_tensor(x):
    return as_tensor(x)


class Concatenate(Module):
    """``concat(tensors, dim)``: joins the feature vectors; every other dimension must match."""

    def __init__(self, dim: int = -1):
        super().__init__()
        self.dim = dim

    def forward(self, *tensors):
        if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
            tensors = tuple(tensors[0])
        if len(tensors) < 2:
            raise ValueError(f"Concatenate: needs at least two inputs, got {len(tensors)}")
        tensors = [_as_tensor(t) for t in tensors]
        ndim = tensors[0].ndim
        dim = self.dim % ndim if ndim else 0
        for i, t in enumerate(tensors[1:], start=1):
            others = [s for a, s in enumerate(t.shape) if a != dim]
            ref = [s for a, s in enumerate(tensors[0].shape) if a != dim]
            if t.ndim != ndim or others != ref:
                raise ValueError(f"Concatenate(dim={self.dim}): input {i} has shape "
                                 f"{tuple(t.shape)}, input 0 has {tuple(tensors[0].shape)}; "
                                 f"all dimensions except dim {self.dim} must match (flatten or "
                                 "pool feature maps to (N, features) first)")
        return concat(tensors, axis=dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class Multiply(Module):
    """Element-wise product of inputs of one shape (Keras' ``Multiply``)."""

    def forward(self, *tensors):
        if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
            tensors = tuple(tensors[0])
        if len(tensors) < 2:
            raise ValueError(f"Multiply: needs at least two inputs, got {len(tensors)}")
        tensors = [_as_tensor(t) for t in tensors]
        first = tensors[0]
        for i, t in enumerate(tensors[1:], start=1):
            if t.shape[-1:] != first.shape[-1:]:
                wa, wb = first.shape[-1] if first.ndim else 1, t.shape[-1] if t.ndim else 1
                raise ValueError(
                    f"Multiply: input 0 has width {wa} (shape {tuple(first.shape)}) but input "
                    f"{i} has width {wb} (shape {tuple(t.shape)}); an element-wise product needs "
                    f"equal widths. Project one side first, e.g. Dense({wb}) / "
                    f"nn.Linear({wa}, {wb}) on input 0 (a {wa}-wide flattened feature map "
                    f"multiplied with a {wb}-wide LSTM state is this mistake)")
            if t.shape != first.shape:
                raise ValueError(f"Multiply: input 0 has shape {tuple(first.shape)} but input "
                                 f"{i} has shape {tuple(t.shape)}; the shapes must be equal")
        out = first
        for t in tensors[1:]:
            out = out * t
        return out


class CrossAttentionFusion(Module):
    """Question tokens attend over image regions; returns (fused (N, E), attention (N, Lk)).

    query (N, Lq, query_dim) or (N, query_dim) (one token); context (N, Lk, context_dim), or an
    image feature map (N, context_dim, H, W) whose H * W positions become the Lk regions;
    query_mask (N, Lq) bool, True = real token (padding is left out of the pooling)::

        q        = query @ W_in^T + b_in                                    (N, Lq, E)
        attended, weights = MultiheadAttention(q, context, context)         (N, Lq, E), (N, Lq, Lk)
        tokens   = q + attended                  (residual: keeps the question's own content)
        fused    = mean of tokens over real query tokens                    (N, E)
        attention = mean of weights over real query tokens                  (N, Lk), rows sum to 1
    """

    def __init__(self, query_dim: int, context_dim: int, embed_dim: int = 128,
                 num_heads: int = 4, dtype=np.float32):
        super().__init__()
        self.query_dim = query_dim
        self.context_dim = context_dim
        self.embed_dim = embed_dim
        self.query_proj = Linear(query_dim, embed_dim, dtype=dtype)
        self.attention = MultiheadAttention(embed_dim, num_heads, batch_first=True,
                                            kdim=context_dim, vdim=context_dim, dtype=dtype)

    def extra_repr(self) -> str:
        return (f"query_dim={self.query_dim}, context_dim={self.context_dim}, "
                f"embed_dim={self.embed_dim}")

    def forward(self, query, context, query_mask=None):
        name = f"CrossAttentionFusion(query_dim={self.query_dim}, context_dim={self.context_dim})"
        query, context = _as_tensor(query), _as_tensor(context)
        if query.ndim == 2:
            query = query.unsqueeze(1)  # (N, 1, query_dim)
        if query.ndim != 3 or query.shape[-1] != self.query_dim:
            raise ValueError(f"{name}: query must be (N, Lq, {self.query_dim}) or "
                             f"(N, {self.query_dim}), got shape {tuple(query.shape)}")
        if context.ndim == 4:  # (N, C, H, W) feature map -> (N, H * W, C) regions
            if context.shape[1] != self.context_dim:
                raise ValueError(f"{name}: a context feature map must have {self.context_dim} "
                                 f"channels (N, C, H, W), got shape {tuple(context.shape)}")
            N, C = context.shape[0], context.shape[1]
            context = context.reshape(N, C, -1).permute(0, 2, 1)  # (N, H * W, C)
        if context.ndim != 3 or context.shape[-1] != self.context_dim:
            raise ValueError(f"{name}: context must be (N, Lk, {self.context_dim}) or a feature "
                             f"map (N, {self.context_dim}, H, W), got shape "
                             f"{tuple(context.shape)}")
        N, Lq = query.shape[0], query.shape[1]
        if context.shape[0] != N:
            raise ValueError(f"{name}: query has batch size {N} but context has "
                             f"{context.shape[0]}")
        q = self.query_proj(query)  # (N, Lq, E)
        attended, weights = self.attention(q, context, context, need_weights=True)
        tokens = q + attended  # (N, Lq, E)
        if query_mask is None:
            return tokens.mean(axis=1), weights.mean(axis=1)  # (N, E), (N, Lk)
        m = (query_mask.cpu().numpy() if isinstance(query_mask, Tensor)  # host metadata
             else np.asarray(query_mask))
        if m.shape != (N, Lq):
            raise ValueError(f"{name}: query_mask must have shape (N, Lq) = {(N, Lq)}, got "
                             f"{tuple(m.shape)}")
        if m.dtype != np.bool_:
            raise TypeError(f"{name}: query_mask must be bool (True = real token), got {m.dtype}")
        counts = m.sum(axis=1)  # (N,)
        if np.any(counts == 0):
            raise ValueError(f"{name}: query_mask row {int(np.argmax(counts == 0))} has no real "
                             "token; every question needs at least one")
        w = (m / counts[:, None]).astype(q.dtype)  # (N, Lq), rows sum to 1
        w_tokens = from_numpy(w[:, :, None]).to(q.device)  # (N, Lq, 1): one copy to a GPU
        fused = (tokens * w_tokens).sum(axis=1)  # (N, E)
        attention = (weights * w_tokens).sum(axis=1)  # (N, Lk)
        return fused, attention


class GatedFusion(Module):
    """Gated multimodal unit: ``z * tanh(W_a a) + (1 - z) * tanh(W_b b)``, z per feature.

    z = sigmoid(W_z [a; b] + b_z). a (N, dim_a), b (N, dim_b) -> (N, dim_out). The
    element-wise core is one fused kernel (ops/fusion.py gated_fusion).
    """

    def __init__(self, dim_a: int, dim_b: int, dim_out: int, dtype=np.float32):
        super().__init__()
        self.dim_a, self.dim_b, self.dim_out = dim_a, dim_b, dim_out
        self.proj_a = Linear(dim_a, dim_out, dtype=dtype)
        self.proj_b = Linear(dim_b, dim_out, dtype=dtype)
        self.gate = Linear(dim_a + dim_b, dim_out, dtype=dtype)

    def extra_repr(self) -> str:
        return f"dim_a={self.dim_a}, dim_b={self.dim_b}, dim_out={self.dim_out}"

    def forward(self, a, b):
        _check_pair(f"GatedFusion({self.dim_a}, {self.dim_b}, {self.dim_out})", a, b,
                    self.dim_a, self.dim_b)
        g = self.gate(concat([a, b], axis=-1))  # (N, dim_out)
        return gated_fusion(g, self.proj_a(a), self.proj_b(b))  # (N, dim_out)


class BilinearFusion(Module):
    """Low-rank bilinear pooling (MLB): ``W_o (tanh(U a) * tanh(V b)) + b_o``.

    a (N, dim_a), b (N, dim_b) -> (N, dim_out); ``rank`` R (default dim_out) is the width of
    the factorised product: a full bilinear map would need dim_a * dim_b * dim_out weights,
    this needs (dim_a + dim_b + dim_out) * R. ``activation=None`` drops the two tanh:
    ``W_o ((U a) * (V b)) + b_o``, a product that cannot saturate.
    """

    def __init__(self, dim_a: int, dim_b: int, dim_out: int, rank: int | None = None,
                 dtype=np.float32, activation: str | None = "tanh"):
        super().__init__()
        rank = dim_out if rank is None else rank
        if rank <= 0:
            raise ValueError(f"BilinearFusion: rank must be positive, got {rank}")
        if activation not in ("tanh", None):
            raise ValueError(f"BilinearFusion: activation must be 'tanh' or None, got "
                             f"{activation!r}")
        self.activation = activation
        self.dim_a, self.dim_b, self.dim_out, self.rank = dim_a, dim_b, dim_out, rank
        self.proj_a = Linear(dim_a, rank, dtype=dtype)
        self.proj_b = Linear(dim_b, rank, dtype=dtype)
        self.out = Linear(rank, dim_out, dtype=dtype)

    def extra_repr(self) -> str:
        return f"dim_a={self.dim_a}, dim_b={self.dim_b}, dim_out={self.dim_out}, rank={self.rank}"

    def forward(self, a, b):
        _check_pair(f"BilinearFusion({self.dim_a}, {self.dim_b}, {self.dim_out})", a, b,
                    self.dim_a, self.dim_b)
        pa, pb = self.proj_a(a), self.proj_b(b)  # (N, R) each
        joint = bilinear_pool(pa, pb) if self.activation == "tanh" else pa * pb  # (N, R)
        return self.out(joint)  # (N, dim_out)


class FiLM(Module):
    """Feature-wise linear modulation of a feature map x (N, C, H, W) by a vector cond (N, D).

    gamma, beta = split(W cond + b) (N, C) each; out = gamma * x + beta per channel. The
    projection's bias starts at (1, 0) for (gamma, beta), so a fresh FiLM is near identity.
    """

    def __init__(self, cond_dim: int, num_channels: int, dtype=np.float32):
        super().__init__()
        self.cond_dim, self.num_channels = cond_dim, num_channels
        self.proj = Linear(cond_dim, 2 * num_channels, dtype=dtype)
        self.proj.bias.array[:num_channels] += 1.0

    def extra_repr(self) -> str:
        return f"cond_dim={self.cond_dim}, num_channels={self.num_channels}"

    def forward(self, x, cond):
        name = f"FiLM(cond_dim={self.cond_dim}, num_channels={self.num_channels})"
        if x.ndim != 4 or x.shape[1] != self.num_channels:
            raise ValueError(f"{name}: x must be (N, {self.num_channels}, H, W), got shape "
                             f"{tuple(x.shape)}")
        if cond.ndim != 2 or cond.shape != (x.shape[0], self.cond_dim):
            raise ValueError(f"{name}: cond must be (N, {self.cond_dim}) = "
                             f"{(x.shape[0], self.cond_dim)}, got shape {tuple(cond.shape)}")
        gamma, beta = split(self.proj(cond), self.num_channels, axis=-1)  # (N, C) each
        return film(x, gamma, beta)  # (N, C, H, W)


def _check_pair(name: str, a, b, dim_a: int, dim_b: int) -> None:
    if a.ndim != 2 or a.shape[-1] != dim_a:
        raise ValueError(f"{name}: a must be (N, {dim_a}), got shape {tuple(a.shape)}")
    if b.ndim != 2 or b.shape[-1] != dim_b:
        raise ValueError(f"{name}: b must be (N, {dim_b}), got shape {tuple(b.shape)}")
    if a.shape[0] != b.shape[0]:
        raise ValueError(f"{name}: a and b must have the same batch size, got {a.shape[0]} "
                         f"and {b.shape[0]}")
