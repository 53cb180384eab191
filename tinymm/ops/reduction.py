"""Reductions (sum, mean, max over axes), each a ``Function`` with its backward beside it.

A reduction maps many input elements to one output element, so its backward sends the upstream
gradient back to each of them: all of them for ``sum``, divided by the count for ``mean``, and
only to the (first) maximum for ``max``. ``_expand_reduced`` reinserts the reduced axes as
size 1 so the gradient broadcasts against the input.
"""

from __future__ import annotations

import numpy as np

from tinymm.autograd import Function


def _normalize_axis(axis, ndim: int) -> tuple[int, ...]:
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    for a in axes:
        if not -ndim <= a < max(ndim, 1):
            raise ValueError(f"reduction: axis {a} is out of range for a {ndim}-d tensor")
    return tuple(sorted(a % max(ndim, 1) for a in axes))


def _expand_reduced(grad: np.ndarray, axes: tuple[int, ...], keepdims: bool) -> np.ndarray:
    """Reinsert the reduced axes (as size 1) so ``grad`` broadcasts against the input."""
    if not keepdims:
        grad = np.expand_dims(grad, axes) if axes else grad
    return grad


class Sum(Function):
    @staticmethod
    def forward(ctx, x, axis=None, keepdims=False):
        axes = _normalize_axis(axis, x.ndim)
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
        axes = _normalize_axis(axis, x.ndim)
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
        axes = _normalize_axis(axis, x.ndim)
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
