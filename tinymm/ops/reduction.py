"""Reductions (sum, mean, max over axes; prod over one), each an ``ArrayFunction`` with its
backward beside it.

A reduction maps many input elements to one output element, so its backward sends the upstream
gradient back to each of them: all of them for ``sum``, divided by the count for ``mean``, and
shared among the tied maxima for ``max`` (``torch.amax``'s rule). Each op validates the axes
and calls the reduction kernels through ``ctx.backend`` (derivations in
kernels/reference/reduction.py), so it runs on any device.
"""

from __future__ import annotations

import numbers

import numpy as np

from tinymm.ops._checks import check_dim
from tinymm.ops._kernel import KernelFunction


def _normalize_axis(op: str, axis, ndim: int) -> tuple[int, ...]:
    """``axis`` (None, an int or a sequence of ints) -> sorted non-negative axes. A 0-d tensor
    accepts axis 0 or -1 and reduces over nothing, as PyTorch's dim=0 on a scalar does."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, numbers.Integral) else axis
    if not isinstance(axes, (tuple, list)) or not all(
            isinstance(a, numbers.Integral) and not isinstance(a, bool) for a in axes):
        raise TypeError(f"{op}: axis must be None, an int or a tuple of ints, got {axis!r}")
    for a in axes:
        check_dim(op, "axis", a, ndim)
    if ndim == 0:
        return ()
    normalized = tuple(sorted(int(a) % ndim for a in axes))
    if len(set(normalized)) != len(normalized):
        raise ValueError(f"{op}: axis {axis!r} names the same axis twice")
    return normalized


class Sum(KernelFunction):
    kernel = "sum"  # each summed element has coefficient 1: dout broadcast back

    @classmethod
    def forward(cls, ctx, x, axis=None, keepdims=False):
        axes = _normalize_axis("sum", axis, x.ndim)
        if x.dtype.kind in "biu" and x.dtype != np.int64:  # torch sums bool and ints in int64
            x = ctx.backend.cast_forward(x, np.dtype(np.int64))[0]
        return cls.run(ctx, x, axis=axes, keepdim=keepdims)


class Mean(KernelFunction):
    kernel = "mean"  # dout / count, broadcast back

    @classmethod
    def forward(cls, ctx, x, axis=None, keepdims=False):
        axes = _normalize_axis("mean", axis, x.ndim)
        if x.dtype.kind not in "fc":
            raise TypeError(f"mean: input must be a floating-point tensor, got {x.dtype} "
                            "(convert with .float() or .double()), as in PyTorch")
        return cls.run(ctx, x, axis=axes, keepdim=keepdims)


class Max(KernelFunction):
    """Maximum along axes; the gradient is shared equally among tied maxima (as PyTorch's
    ``amax``: the amax kernels), which keeps it a valid subgradient and makes gradcheck agree
    away from ties."""

    kernel = "amax"

    @classmethod
    def forward(cls, ctx, x, axis=None, keepdims=False):
        axes = _normalize_axis("max", axis, x.ndim)
        if x.size == 0:
            raise ValueError(f"max: cannot reduce an empty tensor of shape {x.shape}")
        return cls.run(ctx, x, axis=axes, keepdim=keepdims)


class Prod(KernelFunction):
    """Product over one axis (None: every element), torch.prod: dx = dout times the product
    of the other elements (the prod kernels: no division, PyTorch's zero cases). Bool and
    integer tensors multiply in int64 (PyTorch's dtype), outside the graph."""

    kernel = "prod"

    @classmethod
    def forward(cls, ctx, x, axis=None, keepdim=False):
        if axis is not None:
            axis = check_dim("prod", "dim", axis, x.ndim)
            axis = axis if x.ndim else None  # a 0-d tensor's dim 0 is the whole tensor
        if x.dtype.kind in "biu":
            wide = ctx.backend.cast_forward(x, np.dtype(np.int64))[0]
            return ctx.backend.prod_forward(wide, axis=axis, keepdim=keepdim)[0]
        return cls.run(ctx, x, axis=axis, keepdim=keepdim)

