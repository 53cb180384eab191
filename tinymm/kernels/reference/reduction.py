"""Reductions over axes (sum, mean, max) with PyTorch's ``keepdim``: derivation.

``axis`` is None (every axis), an int or a tuple of ints; R is the number of elements each
output element reduces (the product of the reduced axes' sizes). With ``keepdim`` the reduced
axes stay as size 1, otherwise they are removed.

    sum    out = sum_r x[..., r, ...]       dx = dout broadcast back over the reduced axes
    mean   out = (1 / R) sum_r x[...]       dx = dout / R, broadcast back

Each input element enters its sum once with coefficient 1 (or 1/R), so its gradient is the
upstream gradient of the output it went into.

    max    out = max_r x[...]               dx = dout at the FIRST maximum of each reduction,
                                                 0 elsewhere

The max is piecewise linear: its derivative is 1 at the winning element. "First" is in
row-major order over the reduced axes (NumPy's argmax order, where a NaN counts as the
maximum), the tie rule of max-pooling and of ``torch.max(dim)``; the gradient of a
reduction then sums to dout exactly.

    amax   out = max_r x[...]               dx = dout / c at each of the c tied maxima

``torch.amax``'s rule (and the Tensor method ``max``'s): a tie shares the gradient equally,
which keeps it a valid subgradient (the average of the one-hot choices) and makes finite
differences agree away from ties.

The code moves the reduced axes to the end, so each output owns one contiguous row of R
elements: ``argmax`` of the row is the first maximum, and the backward writes dout there.
"""

from __future__ import annotations

import numpy as np


def _axes(axis, ndim: int) -> tuple[int, ...]:
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    return tuple(sorted({int(a) % max(ndim, 1) for a in axes}))


def _kept_shape(shape, axes):
    return tuple(1 if k in axes else n for k, n in enumerate(shape))


def sum_forward(x, axis=None, keepdim=False):
    axes = _axes(axis, x.ndim)
    return np.asarray(np.sum(x, axis=axes, keepdims=keepdim)), (x.shape, axes)


def sum_backward(dout, cache):
    shape, axes = cache
    return (np.broadcast_to(dout.reshape(_kept_shape(shape, axes)), shape).copy(),)


def mean_forward(x, axis=None, keepdim=False):
    axes = _axes(axis, x.ndim)
    count = int(np.prod([x.shape[a] for a in axes]))
    out = np.asarray(np.mean(x, axis=axes, keepdims=keepdim), dtype=x.dtype)
    return out, (x.shape, axes, count)


def mean_backward(dout, cache):
    shape, axes, count = cache
    g = dout.reshape(_kept_shape(shape, axes)) / dout.dtype.type(count)
    return (np.broadcast_to(g, shape).astype(dout.dtype),)


def _rows(x, axes):
    """x with the reduced axes moved to the end and flattened: (..., R), and the kept axes."""
    kept = tuple(k for k in range(x.ndim) if k not in axes)
    return np.transpose(x, kept + axes).reshape([x.shape[k] for k in kept] + [-1]), kept


def max_forward(x, axis=None, keepdim=False):
    axes = _axes(axis, x.ndim)
    rows, kept = _rows(x, axes)  # (..., R)
    first = np.asarray(rows.argmax(axis=-1))  # (...): the first maximum of each row
    out = np.take_along_axis(rows, first[..., None], axis=-1).reshape(first.shape)
    if keepdim:
        out = out.reshape(_kept_shape(x.shape, axes))
    return out.copy(), (first, x.shape, axes, kept)  # a contiguous copy (0-d stays 0-d)


def max_backward(dout, cache):
    first, shape, axes, kept = cache
    R = int(np.prod([shape[a] for a in axes]))
    rows = np.zeros(first.shape + (R,), dtype=dout.dtype)  # (..., R)
    np.put_along_axis(rows, first[..., None], dout.reshape(first.shape + (1,)), axis=-1)
    moved = rows.reshape([shape[k] for k in kept] + [shape[a] for a in axes])
    return (np.ascontiguousarray(np.transpose(moved, np.argsort(kept + axes))),)


def amax_forward(x, axis=None, keepdim=False):
    axes = _axes(axis, x.ndim)
    out = np.max(x, axis=axes, keepdims=True)  # kept axes as size 1: broadcasts against x
    cache = (x, out, axes)
    return (out if keepdim else np.squeeze(out, axis=axes)), cache


def amax_backward(dout, cache):
    x, out, axes = cache
    is_max = x == out
    share = is_max / is_max.sum(axis=axes, keepdims=True)  # 1 / c at each of c tied maxima
    return ((dout.reshape(out.shape) * share).astype(dout.dtype),)
