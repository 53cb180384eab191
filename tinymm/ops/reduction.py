"""Reductions (sum, mean, max over axes), each a ``Function`` with its backward beside it.

A reduction maps many input elements to one output element, so its backward sends the upstream
gradient back to each of them: all of them for ``sum``, divided by the count for ``mean``, and
only to the (first) maximum for ``max``. ``_expand_reduced`` reinserts the reduced axes as
size 1 so the gradient broadcasts against the input.
"""

from __future__ import annotations

import numpy as np

from tinymm.autograd import Function


def _normalize_axis(op: str, axis, ndim: int) -> tuple[int, ...]:
    """``axis`` (None, an int or a sequence of ints) -> sorted non-negative axes. A 0-d tensor
    accepts axis 0 or -1 and reduces over nothing, as PyTorch's dim=0 on a scalar does."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, (int, np.integer)) else axis
    if not isinstance(axes, (tuple, list)) or not all(
            isinstance(a, (int, np.integer)) and not isinstance(a, bool) for a in axes):
        raise TypeError(f"{op}: axis must be None, an int or a tuple of ints, got {axis!r}")
    for a in axes:
        if not -max(ndim, 1) <= a < max(ndim, 1):
            raise ValueError(f"{op}: axis {a} is out of range for a {ndim}-d tensor (valid: "
                             f"{-max(ndim, 1)} to {max(ndim, 1) - 1})")
    if ndim == 0:
        return ()
    normalized = tuple(sorted(int(a) % ndim for a in axes))
    if len(set(normalized)) != len(normalized):
        raise ValueError(f"{op}: axis {axis!r} names the same axis twice")
    return normalized


def _expand_reduced(grad: np.ndarray, axes: tuple[int, ...], keepdims: bool) -> np.ndarray:
    """Reinsert the reduced axes (as size 1) so ``grad`` broadcasts against the input."""
    if not keepdims:
        grad = np.expand_dims(grad, axes) if axes else grad
    return grad


class Sum(Function):
    @staticmethod
    def forward(ctx, x, axis=None, keepdims=False):
        axes = _normalize_axis("sum", axis, x.ndim)
        ctx.save_for_backward(x.shape, axes, keepdims)
        return np.asarray(x.sum(axis=axes, keepdims=keepdims))

    @staticmethod
    def backward(ctx, grad):
        shape, axes, keepdims = ctx.saved
        # every summed element contributed with coefficient 1
        return (np.broadcast_to(_expand_reduced(grad, axes, keepdims), shape).copy(),)


class Mean(Function):
    @staticmethod
    def forward(ctx, x, axis=None, keepdims=False):
        axes = _normalize_axis("mean", axis, x.ndim)
        if x.dtype.kind not in "fc":
            raise TypeError(f"mean: input must be a floating-point tensor, got {x.dtype} "
                            "(convert with .float() or .double()), as in PyTorch")
        count = int(np.prod([x.shape[a] for a in axes])) if axes else 1
        ctx.save_for_backward(x.shape, axes, keepdims, count)
        return np.asarray(x.mean(axis=axes, keepdims=keepdims), dtype=x.dtype)

    @staticmethod
    def backward(ctx, grad):
        shape, axes, keepdims, count = ctx.saved
        g = _expand_reduced(grad, axes, keepdims) / count
        return (np.broadcast_to(g, shape).astype(grad.dtype),)


class Max(Function):
    """Maximum along axes; the gradient is shared equally among tied maxima (as PyTorch's
    ``amax``), which keeps it a valid subgradient and makes gradcheck agree away from ties."""

    @staticmethod
    def forward(ctx, x, axis=None, keepdims=False):
        axes = _normalize_axis("max", axis, x.ndim)
        if x.size == 0:
            raise ValueError(f"max: cannot reduce an empty tensor of shape {x.shape}")
        out = np.max(x, axis=axes, keepdims=True)
        ctx.save_for_backward(x, out, axes, keepdims)
        return out if keepdims else np.squeeze(out, axis=axes)

    @staticmethod
    def backward(ctx, grad):
        x, out, axes, keepdims = ctx.saved
        is_max = x == out
        share = is_max / is_max.sum(axis=axes, keepdims=True)
        return ((_expand_reduced(grad, axes, keepdims) * share).astype(grad.dtype),)
