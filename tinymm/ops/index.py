"""Ops that select elements by position: max/min along a dim with their indices, top-k,
sort, gather, cumulative sum. Each is a ``Function`` with its backward beside it.

All of them pick (or add up) input elements, so each backward routes the upstream gradient
back to the positions it came from: ``values = take_along_axis(x, idx, dim)`` has
``dx = zeros; put/add grad at idx along dim`` (an index that repeats, as in ``gather``, adds).
Each runs its kernels (``max_dim``, ``topk``, ``gather``, ``cumsum``), so cuda tensors stay on
the device.
Only the selected element receives a gradient: ``max(x, dim)`` sends it to the index it
returns, not shared among ties (PyTorch's rule for the indexed form).

Dimension letters: ``dim`` is the axis being selected along; K the number of picks.
"""

from __future__ import annotations

from collections import namedtuple

import numpy as np

from tinymm.autograd import ArrayFunction
from tinymm.ops._checks import as_int64, check_bounds, check_dim, check_same_device


class ValuesIndices(namedtuple("ValuesIndices", ["values", "indices"])):
    """``torch.return_types.<op>``: an op's (values, indices), by name; ``return_type(op)`` is
    the class of one op's results, which prints as PyTorch's (``torch.return_types.max(...)``)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return (f"torch.return_types.{type(self).__name__}(\nvalues={self.values!r},\n"
                f"indices={self.indices!r})")

    def __reduce__(self):
        return _rebuild, (type(self).__name__, tuple(self))


_RETURN_TYPES: dict[str, type] = {}


def return_type(op: str) -> type:
    """The ``ValuesIndices`` subclass named ``op`` (``torch.return_types.max`` for "max")."""
    if op not in _RETURN_TYPES:
        _RETURN_TYPES[op] = type(op, (ValuesIndices,), {"__slots__": ()})
    return _RETURN_TYPES[op]


def _rebuild(op: str, items: tuple):
    return ValuesIndices(*items) if op == "ValuesIndices" else return_type(op)(*items)


class MaxDim(ArrayFunction):
    """(values, indices) of the max (``mode="max"``) or min along ``dim``; indices int64,
    the first occurrence on ties (as NumPy's and PyTorch's CPU argmax): the ``max_dim``
    kernels, so a cuda tensor stays on the device."""

    @staticmethod
    def forward(ctx, x, dim, keepdim=False, mode="max", op=None):
        op = op or mode  # the name errors give: max, min, argmax or argmin
        dim = check_dim(op, "dim", dim, x.ndim)
        if x.ndim and x.shape[dim] == 0:
            raise ValueError(f"{op}: cannot reduce the empty dim {dim} of shape {x.shape}")
        x1 = x.reshape(1) if x.ndim == 0 else x
        (values, idx), cache = ctx.backend.max_dim_forward(
            x1, dim, keepdim=keepdim or x.ndim == 0, largest=mode == "max")
        ctx.save_for_backward(cache, x.ndim)
        if x.ndim == 0:
            return values.reshape(()), idx.reshape(())
        return values, idx

    @staticmethod
    def backward(ctx, grad, grad_indices):
        cache, ndim = ctx.saved
        if ndim == 0:
            return (grad.reshape(()),)
        return ctx.backend.max_dim_backward((grad, None), cache)


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
    """out[..i..] = x[..index[..i..]..] along ``dim`` (``torch.gather``): the ``gather``
    kernels; a device index is range-checked on the device (``check_bounds``)."""

    @staticmethod
    def forward(ctx, x, index, dim):
        dim = check_dim("gather", "dim", dim, x.ndim)
        index = index if hasattr(index, "dtype") else np.asarray(index)  # a list of ints
        check_same_device("gather", input=x, index=index)
        if index.dtype.kind not in "iu" or index.ndim != x.ndim:
            raise ValueError(f"gather: index must be an integer tensor with the input's "
                             f"{x.ndim} dims, got dtype {index.dtype} and shape {index.shape}")
        for d in range(x.ndim):
            if d != dim and index.shape[d] > x.shape[d]:
                raise ValueError(f"gather: index shape {index.shape} exceeds input shape "
                                 f"{x.shape} at dim {d}")
        n = x.shape[dim]
        index = as_int64("gather", "index", index)
        check_bounds("gather", "index", index, None, lambda bounds: None if bounds is None or (
            -n <= bounds[0] and bounds[1] < n) else (
            f"gather: index values must lie in [{-n}, {n}) for dim {dim} of {x.shape}, got "
            f"[{bounds[0]}, {bounds[1]}]"))
        out, cache = ctx.backend.gather_forward(x, index, dim)
        ctx.save_for_backward(cache)
        return out

    @staticmethod
    def backward(ctx, grad):
        return ctx.backend.gather_backward(grad, *ctx.saved)


class Cumsum(ArrayFunction):
    """Running sum along ``dim``: out[i] = x[0] + ... + x[i], so dx[j] = sum_{i >= j} grad[i]
    (the ``cumsum`` kernels; bool and integer inputs sum in int64)."""

    @staticmethod
    def forward(ctx, x, dim):
        dim = check_dim("cumsum", "dim", dim, x.ndim)
        out, cache = ctx.backend.cumsum_forward(x.reshape(1) if x.ndim == 0 else x, dim)
        ctx.save_for_backward(cache, x.ndim)
        return out.reshape(()) if x.ndim == 0 else out

    @staticmethod
    def backward(ctx, grad):
        cache, ndim = ctx.saved
        (dx,) = ctx.backend.cumsum_backward(grad.reshape(1) if ndim == 0 else grad, cache)
        return (dx.reshape(()) if ndim == 0 else dx,)
