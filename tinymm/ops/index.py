"""Ops that select elements by position: max/min along a dim with their indices, top-k,
sort, gather, cumulative sum. Each is an ``ArrayFunction`` with its backward beside it.

All of them pick (or add up) input elements, so each backward routes the upstream gradient
back to the positions it came from: ``values = take_along_axis(x, idx, dim)`` has
``dx = zeros; put/add grad at idx along dim`` (an index that repeats, as in ``gather``, adds).
Only the selected element receives a gradient: ``max(x, dim)`` sends it to the index it
returns, not shared among ties (PyTorch's rule for the indexed form).

Dimension letters: ``dim`` is the axis being selected along; K the number of picks.
"""

from __future__ import annotations

from collections import namedtuple

import numpy as np

from tinymm.autograd import ArrayFunction, device_unsupported
from tinymm.devices import is_device_array
from tinymm.ops._checks import check_dim

ValuesIndices = namedtuple("ValuesIndices", ["values", "indices"])  # torch.return_types.*


def _scatter_add(shape, idx: np.ndarray, grad: np.ndarray, dim: int) -> np.ndarray:
    """zeros(shape) with ``grad`` added at ``idx`` along ``dim`` (repeats accumulate)."""
    dx = np.zeros(shape, dtype=grad.dtype)
    full = list(np.ix_(*[np.arange(n) for n in idx.shape]))
    full[dim] = idx
    np.add.at(dx, tuple(full), grad)
    return dx


class MaxDim(ArrayFunction):
    """(values, indices) of the max (``mode="max"``) or min along ``dim``; indices int64,
    the first occurrence on ties (as NumPy's and PyTorch's CPU argmax)."""

    @staticmethod
    def forward(ctx, x, dim, keepdim=False, mode="max"):
        dim = check_dim(mode, "dim", dim, x.ndim)
        if x.ndim and x.shape[dim] == 0:
            raise ValueError(f"{mode}: cannot reduce the empty dim {dim} of shape {x.shape}")
        x1 = x.reshape(1) if x.ndim == 0 else x
        idx = (np.argmax if mode == "max" else np.argmin)(x1, axis=dim)  # (x minus dim)
        idx = np.expand_dims(idx, dim)  # keep dim as size 1
        values = np.take_along_axis(x1, idx, axis=dim)
        ctx.save_for_backward(x.shape, idx, dim, keepdim)
        if x.ndim == 0:
            return values.reshape(()), idx.reshape(()).astype(np.int64)
        if not keepdim:
            values, idx = values.squeeze(dim), idx.squeeze(dim)
        return values, idx.astype(np.int64)

    @staticmethod
    def backward(ctx, grad, grad_indices):
        shape, idx, dim, keepdim = ctx.saved
        if len(shape) == 0:
            return (grad.reshape(()),)
        g = grad if keepdim else np.expand_dims(grad, dim)
        return (_scatter_add(shape, idx, g, dim),)


def _last_axis_rows(backend, x, dim: int):
    """x with ``dim`` moved last and flattened to rows (R, n) through the backend's kernels
    (no NumPy on device data), and the moved shape."""
    x1 = x.reshape(1) if x.ndim == 0 else x
    axes = [d for d in range(x1.ndim) if d != dim] + [dim]
    if dim != x1.ndim - 1:
        x1 = backend.permute_forward(x1, tuple(axes))[0]  # (..., n) contiguous
    moved = tuple(x1.shape)
    return x1.reshape(int(np.prod(moved[:-1])), moved[-1]), moved, axes  # (R, n)


def _from_rows(backend, rows, moved: tuple, axes: list, ndim: int):
    """The inverse of ``_last_axis_rows`` for rows (R, K): back to x's layout, K along dim."""
    out = rows.reshape(*moved[:-1], rows.shape[1])  # (..., K)
    if axes != sorted(axes):
        out = backend.permute_forward(out, tuple(int(a) for a in np.argsort(axes)))[0]
    return out.reshape(()) if ndim == 0 else out


class TopK(ArrayFunction):
    """The k largest (or smallest) values along ``dim`` and their indices, best first (also
    for ``sorted=False``; ties keep the lower index first, NaN comes last): the ``topk``
    kernel on rows with ``dim`` moved last, so a cuda tensor stays on the device."""

    @staticmethod
    def forward(ctx, x, k, dim=-1, largest=True, sorted=True, op="topk"):  # noqa: A002
        dim = check_dim(op, "dim", dim, max(x.ndim, 1))
        n = x.shape[dim] if x.ndim else 1
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 0 <= k <= n:
            raise ValueError(f"{op}: k={k!r} is out of range for dim {dim} of size {n}")
        b = ctx.backend
        rows, moved, axes = _last_axis_rows(b, x, dim)  # (R, n)
        (values, idx), cache = b.topk_forward(rows, int(k), largest=largest)  # (R, K) each
        ctx.save_for_backward(cache, moved, axes, x.ndim)
        return (_from_rows(b, values, moved, axes, x.ndim),
                _from_rows(b, idx, moved, axes, x.ndim))

    @staticmethod
    def backward(ctx, grad, grad_indices):
        cache, moved, axes, ndim = ctx.saved
        b = ctx.backend
        if axes != sorted(axes):
            grad = b.permute_forward(grad, tuple(axes))[0]  # (..., K) dim last
        rows = grad.reshape(int(np.prod(grad.shape[:-1])), grad.shape[-1])  # (R, K)
        (dx,) = b.topk_backward((rows, None), cache)  # (R, n)
        return (_from_rows(b, dx, moved, axes, ndim),)


class Sort(ArrayFunction):
    """Values sorted along ``dim`` and the permutation that sorts them (stable; NaN last):
    top-k with k = the dim's size."""

    @staticmethod
    def forward(ctx, x, dim=-1, descending=False, stable=True):
        n = x.shape[check_dim("sort", "dim", dim, max(x.ndim, 1))] if x.ndim else 1
        return TopK.forward(ctx, x, n, dim=dim, largest=descending, op="sort")

    backward = TopK.backward


class Gather(ArrayFunction):
    """out[..i..] = x[..index[..i..]..] along ``dim`` (``torch.gather``)."""

    @staticmethod
    def forward(ctx, x, index, dim):
        if is_device_array(x) or is_device_array(index):  # its index checks read the host
            raise device_unsupported("gather")
        dim = check_dim("gather", "dim", dim, x.ndim)
        index = np.asarray(index)
        if index.dtype.kind not in "iu" or index.ndim != x.ndim:
            raise ValueError(f"gather: index must be an integer tensor with the input's "
                             f"{x.ndim} dims, got dtype {index.dtype} and shape {index.shape}")
        n = x.shape[dim]
        if index.size and (index.min() < -n or index.max() >= n):
            raise ValueError(f"gather: index values must lie in [{-n}, {n}) for dim {dim} of "
                             f"{x.shape}, got [{index.min()}, {index.max()}]")
        for d in range(x.ndim):
            if d != dim and index.shape[d] > x.shape[d]:
                raise ValueError(f"gather: index shape {index.shape} exceeds input shape "
                                 f"{x.shape} at dim {d}")
        view = x[tuple(slice(0, s) if d != dim else slice(None)
                       for d, s in enumerate(index.shape))]
        ctx.save_for_backward(x.shape, view.shape, index % n, dim)
        return np.take_along_axis(view, index % n, axis=dim)

    @staticmethod
    def backward(ctx, grad):
        shape, view_shape, index, dim = ctx.saved
        dx = np.zeros(shape, dtype=grad.dtype)
        region = tuple(slice(0, s) for s in view_shape)
        dx[region] = _scatter_add(view_shape, index, grad, dim)
        return (dx, None)


class Cumsum(ArrayFunction):
    """Running sum along ``dim``: out[i] = x[0] + ... + x[i], so dx[j] = sum_{i >= j} grad[i]
    (a cumulative sum of the reversed gradient, reversed back)."""

    @staticmethod
    def forward(ctx, x, dim):
        dim = check_dim("cumsum", "dim", dim, x.ndim)
        ctx.save_for_backward(dim)
        return np.cumsum(x, axis=dim, dtype=x.dtype if x.dtype.kind == "f" else np.int64)

    @staticmethod
    def backward(ctx, grad):
        (dim,) = ctx.saved
        return (np.flip(np.cumsum(np.flip(grad, dim), axis=dim), dim).copy(),)
