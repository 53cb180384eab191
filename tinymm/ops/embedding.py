"""Embedding op: a row lookup ``weight[indices]`` (derivation: kernels/reference/embedding.py)."""

from __future__ import annotations

import numpy as np

from tinymm.autograd import Function
from tinymm.ops._checks import check_float, check_ndim


def as_indices(op: str, indices) -> np.ndarray:
    """The indices as an integer array, or a ValueError saying what was received."""
    array = np.asarray(getattr(indices, "data", indices))
    if array.dtype.kind not in "iu":
        raise ValueError(f"{op}: indices must be an integer array (token ids), got dtype "
                         f"{array.dtype}; convert with .astype(np.int64)")
    return array


def check_indices(op: str, indices: np.ndarray, num_embeddings: int) -> None:
    """Every index in [0, num_embeddings): checked before any kernel reads weight rows."""
    if indices.size == 0:
        return
    low, high = int(indices.min()), int(indices.max())
    if low < 0 or high >= num_embeddings:
        worst = low if low < 0 else high
        raise ValueError(f"{op}: index {worst} is out of range for {num_embeddings} embeddings "
                         f"(valid: 0 to {num_embeddings - 1}); check the vocabulary size or the "
                         "tokenizer")


def normalize_padding_idx(op: str, padding_idx: int | None, num_embeddings: int) -> int | None:
    """PyTorch's rule: a negative padding_idx counts from the end; it must name a row."""
    if padding_idx is None:
        return None
    if not -num_embeddings <= padding_idx < num_embeddings:
        raise ValueError(f"{op}: padding_idx must be within [{-num_embeddings}, "
                         f"{num_embeddings - 1}] for {num_embeddings} embeddings, got "
                         f"{padding_idx}")
    return padding_idx + num_embeddings if padding_idx < 0 else padding_idx


class Embedding(Function):
    @staticmethod
    def forward(ctx, indices, weight, padding_idx=None):
        check_ndim("embedding", "weight", weight, 2, "(num_embeddings, embedding_dim)")
        check_float("embedding", "weight", weight)
        indices = as_indices("embedding", indices)
        check_indices("embedding", indices, weight.shape[0])
        padding_idx = normalize_padding_idx("embedding", padding_idx, weight.shape[0])
        out, ctx.cache = ctx.backend.embedding_forward(indices, weight, padding_idx=padding_idx)
        return out  # (..., E)

    @staticmethod
    def backward(ctx, grad):
        return ctx.backend.embedding_backward(grad, ctx.cache)  # (None, dweight)


def embedding(indices, weight, padding_idx=None):
    """``weight[indices]``, PyTorch's ``F.embedding``: weight (V, E), indices any int shape.

    The gradient reaches ``weight`` only (rows looked up several times accumulate); the row
    ``padding_idx`` gets none.
    """
    indices = as_indices("embedding", indices)  # raw ints: no gradient flows to indices
    return Embedding.apply(indices, weight, padding_idx=padding_idx)
