"""Embedding op: a row lookup ``weight[indices]`` (derivation: kernels/reference/embedding.py)."""

from __future__ import annotations

import numpy as np

from tinymm.autograd import ArrayFunction
from tinymm.devices import is_device_array
from tinymm.ops._checks import as_int64, check_bounds, check_float, check_ndim, check_same_device


def as_indices(op: str, indices):
    """The indices as an integer array where they live (a NumPy array, or an int64 device
    array for a cuda tensor), or a ValueError saying what was received."""
    raw = getattr(indices, "array", indices)
    if is_device_array(raw):
        return as_int64(op, "indices", raw)
    array = np.asarray(raw)
    if array.dtype.kind not in "iu":
        raise ValueError(f"{op}: indices must be an integer array (token ids), got dtype "
                         f"{array.dtype}; convert with .astype(np.int64)")
    return array


def check_indices(op: str, indices, num_embeddings: int) -> None:
    """Every index in [0, num_embeddings): host indices are checked before any kernel reads
    weight rows; device indices at the next copy of a result to the host (the cuda kernels
    skip bad rows meanwhile; see ``_checks.check_bounds``)."""

    def judge(bounds):
        if bounds is None or 0 <= bounds[0] and bounds[1] < num_embeddings:
            return None
        worst = bounds[0] if bounds[0] < 0 else bounds[1]
        return (f"{op}: index {worst} is out of range for {num_embeddings} embeddings (valid: "
                f"0 to {num_embeddings - 1}); check the vocabulary size or the tokenizer")

    check_bounds(op, "indices", indices, None, judge)


def normalize_padding_idx(op: str, padding_idx: int | None, num_embeddings: int) -> int | None:
    """PyTorch's rule: a negative padding_idx counts from the end; it must name a row."""
    if padding_idx is None:
        return None
    if not -num_embeddings <= padding_idx < num_embeddings:
        raise ValueError(f"{op}: padding_idx must be within [{-num_embeddings}, "
                         f"{num_embeddings - 1}] for {num_embeddings} embeddings, got "
                         f"{padding_idx}")
    return padding_idx + num_embeddings if padding_idx < 0 else padding_idx


class Embedding(ArrayFunction):
    @staticmethod
    def forward(ctx, indices, weight, padding_idx=None, name="embedding"):
        """``name``: the op or layer the errors name (nn.Embedding passes its own)."""
        check_ndim(name, "weight", weight, 2, "(num_embeddings, embedding_dim)")
        check_float(name, "weight", weight)
        indices = as_indices(name, indices)
        check_same_device(name, indices=indices, weight=weight)
        check_indices(name, indices, weight.shape[0])
        padding_idx = normalize_padding_idx(name, padding_idx, weight.shape[0])
        out, cache = ctx.backend.embedding_forward(indices, weight, padding_idx=padding_idx)
        ctx.save_for_backward(cache)
        return out  # (..., E)

    @staticmethod
    def backward(ctx, grad):
        return ctx.backend.embedding_backward(grad, *ctx.saved)  # (None, dweight)


def embedding_renorm_(op: str, weight, indices: np.ndarray, max_norm: float,
                      norm_type: float = 2.0) -> None:
    """PyTorch's ``max_norm``: before the lookup, each row of ``weight`` that ``indices``
    names and whose ``norm_type``-norm exceeds ``max_norm`` is scaled in place, outside the
    graph, by max_norm / (norm + 1e-7)."""
    from tinymm.autograd import no_grad
    from tinymm.tensor import from_numpy, where

    if is_device_array(indices):
        raise ValueError(f"{op}: max_norm is not supported for cuda tensors in tinymm")
    if not max_norm > 0:
        raise ValueError(f"{op}: max_norm must be > 0, got {max_norm}")
    check_indices(op, indices, weight.shape[0])
    rows = from_numpy(np.unique(indices.astype(np.int64)))
    with no_grad():
        picked = weight[rows]  # (R, E)
        norms = picked.norm(p=norm_type, dim=1, keepdim=True)  # (R, 1)
        weight[rows] = picked * where(norms > max_norm, max_norm / (norms + 1e-7), 1.0)


def embedding(indices, weight, padding_idx=None, max_norm=None, norm_type: float = 2.0):
    """``weight[indices]``, PyTorch's ``F.embedding``: weight (V, E), indices any int shape.

    The gradient reaches ``weight`` only (rows looked up several times accumulate); the row
    ``padding_idx`` gets none. ``max_norm`` renormalises the looked-up rows first, in place
    (``embedding_renorm_``).
    """
    indices = as_indices("embedding", indices)  # raw ints: no gradient flows to indices
    if max_norm is not None:
        embedding_renorm_("embedding", weight, indices, max_norm, norm_type)
    return Embedding.apply(indices, weight, padding_idx=padding_idx)
