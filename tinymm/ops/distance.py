"""Similarities and distances between vectors, composed of Tensor ops (autograd derives the
backward from the pieces):

    cosine_similarity(x1, x2, dim, eps) = sum_dim (x1 / max(|x1|, eps)) * (x2 / max(|x2|, eps))
    pairwise_distance(x1, x2, p, eps)   = || x1 - x2 + eps ||_p over the last dim
    cdist(x1 (.., P, M), x2 (.., R, M), p) = (.., P, R): || x1[.., i, :] - x2[.., j, :] ||_p

|.| is the 2-norm along ``dim``; x1 and x2 broadcast against each other, as PyTorch. cdist's
p = 2 distance has gradient 0 where two rows coincide (as PyTorch), not the sqrt's NaN.
"""

from __future__ import annotations

import numpy as np

from tinymm.ops._checks import check_float
from tinymm.tensor import Tensor, as_tensor


def float_pair(op: str, x1, x2) -> tuple[Tensor, Tensor]:
    """x1, x2 as float Tensors of one dtype (TypeError naming ``op`` otherwise)."""
    x1, x2 = as_tensor(x1), as_tensor(x2)
    check_float(op, "x1", x1.array)
    check_float(op, "x2", x2.array)
    if x1.dtype != x2.dtype:
        raise TypeError(f"{op}: x1 and x2 must have the same dtype, got {x1.dtype} and "
                        f"{x2.dtype}")
    return x1, x2


def _broadcast_shape(op: str, x1: Tensor, x2: Tensor) -> tuple[int, ...]:
    try:
        return np.broadcast_shapes(tuple(x1.shape), tuple(x2.shape))
    except ValueError:
        raise ValueError(f"{op}: x1 {tuple(x1.shape)} and x2 {tuple(x2.shape)} do not "
                         "broadcast") from None


def cosine_similarity(x1, x2, dim: int = 1, eps: float = 1e-8) -> Tensor:
    x1, x2 = float_pair("cosine_similarity", x1, x2)
    _broadcast_shape("cosine_similarity", x1, x2)
    n1 = x1.norm(2, dim, keepdim=True).clamp(min=eps)
    n2 = x2.norm(2, dim, keepdim=True).clamp(min=eps)
    return ((x1 / n1) * (x2 / n2)).sum(dim)


def pairwise_distance(x1, x2, p: float = 2.0, eps: float = 1e-6,
                      keepdim: bool = False) -> Tensor:
    x1, x2 = float_pair("pairwise_distance", x1, x2)
    _broadcast_shape("pairwise_distance", x1, x2)
    return (x1 - x2 + eps).norm(p, -1, keepdim=keepdim)


def cdist(x1, x2, p: float = 2.0) -> Tensor:
    x1, x2 = float_pair("cdist", x1, x2)
    if x1.ndim < 2 or x2.ndim < 2 or x1.shape[-1] != x2.shape[-1]:
        raise ValueError(f"cdist: x1 and x2 must be (.., P, M) and (.., R, M) with the same M, "
                         f"got {tuple(x1.shape)} and {tuple(x2.shape)}")
    if p < 0:
        raise ValueError(f"cdist: p must be >= 0, got {p}")
    diff = x1.unsqueeze(-2) - x2.unsqueeze(-3)  # (.., P, R, M)
    return diff.norm(p, -1)  # (.., P, R); gradient 0 at a zero distance
