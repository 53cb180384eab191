"""Shape ops (reshape, permute, indexing, concatenation, stacking, splitting).

Each is a ``Function`` with its backward beside it. They move elements without changing them,
so each backward moves the upstream gradient back to where the elements came from: a reshape
back, the inverse permutation, a scatter-add into zeros for indexing (repeated indices add),
and a split of the gradient for a concatenation (and the reverse).
"""

from __future__ import annotations

import numpy as np

from tinymm.autograd import Function
from tinymm.ops._checks import check_dim


class Reshape(Function):
    @staticmethod
    def forward(ctx, x, shape):
        try:
            out = x.reshape(shape)
        except ValueError:
            raise ValueError(
                f"reshape: cannot reshape a tensor of shape {x.shape} ({x.size} elements) "
                f"into {shape}"
            ) from None
        ctx.save_for_backward(x.shape)
        return out

    @staticmethod
    def backward(ctx, grad):
        (shape,) = ctx.saved
        return (grad.reshape(shape),)


class Permute(Function):
    @staticmethod
    def forward(ctx, x, axes):
        if len(axes) != x.ndim:
            raise ValueError(f"permute: {axes} is not a permutation of the {x.ndim} axes of "
                             f"{x.shape}")
        axes = tuple(check_dim("permute", "axis", a, x.ndim) for a in axes) if x.ndim else ()
        if sorted(axes) != list(range(x.ndim)):
            raise ValueError(f"permute: {axes} is not a permutation of the {x.ndim} axes of "
                             f"{x.shape}")
        ctx.save_for_backward(axes)
        return np.transpose(x, axes)

    @staticmethod
    def backward(ctx, grad):
        (axes,) = ctx.saved
        return (np.transpose(grad, np.argsort(axes)),)  # the inverse permutation


class GetItem(Function):
    @staticmethod
    def forward(ctx, x, index):
        if isinstance(index, np.ndarray) and index.dtype.kind not in "iub":
            raise TypeError(f"index: an index array must hold integers or booleans, got "
                            f"{index.dtype}")
        try:
            out = np.asarray(x[index])
        except IndexError as err:  # still an IndexError (Python's protocol), but named
            raise IndexError(f"index: {err} (indexing a tensor of shape {x.shape} with "
                             f"{index!r})") from None
        ctx.save_for_backward(x.shape, index)
        return out

    @staticmethod
    def backward(ctx, grad):
        shape, index = ctx.saved
        dx = np.zeros(shape, dtype=grad.dtype)
        np.add.at(dx, index, grad)  # add.at: an index that repeats must accumulate
        return (dx,)


class Concat(Function):
    @staticmethod
    def forward(ctx, *arrays, axis=0):
        if not arrays:
            raise ValueError("concat: expected a non-empty list of tensors")
        ref = arrays[0]
        if ref.ndim == 0:
            raise ValueError("concat: zero-dimensional tensors cannot be concatenated (use "
                             "stack)")
        axis = check_dim("concat", "axis", axis, ref.ndim)
        for i, a in enumerate(arrays[1:], start=1):
            if a.ndim != ref.ndim or any(
                s != r for d, (s, r) in enumerate(zip(a.shape, ref.shape)) if d != axis % ref.ndim
            ):
                raise ValueError(
                    f"concat: tensor {i} has shape {a.shape}, which does not match tensor 0's "
                    f"{ref.shape} outside axis {axis}"
                )
        sizes = [a.shape[axis] for a in arrays]
        ctx.save_for_backward(axis, np.cumsum(sizes)[:-1])
        return np.concatenate(arrays, axis=axis)

    @staticmethod
    def backward(ctx, grad):
        axis, cuts = ctx.saved
        return tuple(np.split(grad, cuts, axis=axis))


class Stack(Function):
    @staticmethod
    def forward(ctx, *arrays, axis=0):
        if not arrays:
            raise ValueError("stack: expected a non-empty list of tensors")
        axis = check_dim("stack", "axis", axis, arrays[0].ndim, extra=1)
        shapes = {a.shape for a in arrays}
        if len(shapes) != 1:
            raise ValueError(f"stack: every tensor must have the same shape, got {sorted(shapes)}")
        ctx.save_for_backward(axis, len(arrays))
        return np.stack(arrays, axis=axis)

    @staticmethod
    def backward(ctx, grad):
        axis, count = ctx.saved
        return tuple(np.take(grad, i, axis=axis) for i in range(count))


class Split(Function):
    """Several outputs: the backward receives one gradient per piece."""

    @staticmethod
    def forward(ctx, x, cuts=(), axis=0):
        ctx.save_for_backward(axis)
        return tuple(np.split(x, cuts, axis=axis))

    @staticmethod
    def backward(ctx, *grads):
        (axis,) = ctx.saved
        return (np.concatenate(grads, axis=axis),)


def concat(tensors, axis: int = 0):
    """Join tensors along an existing axis (``torch.cat``)."""
    return Concat.apply(*tensors, axis=axis)


cat = concat


def stack(tensors, axis: int = 0):
    """Join tensors along a new axis (``torch.stack``)."""
    return Stack.apply(*tensors, axis=axis)


def split(x, split_size_or_sections, axis: int = 0):
    """Split into pieces of ``split_size`` (int) or of the given sizes (list), as torch.split."""
    if x.ndim == 0:
        raise ValueError("split: a zero-dimensional tensor cannot be split")
    axis = check_dim("split", "axis", axis, x.ndim)
    n = x.shape[axis]
    if isinstance(split_size_or_sections, (int, np.integer)) \
            and not isinstance(split_size_or_sections, bool):
        size = int(split_size_or_sections)
        if size <= 0:
            raise ValueError(f"split: split_size must be positive, got {size}")
        sizes = [size] * (n // size) + ([n % size] if n % size else [])
        sizes = sizes or [0]  # an empty axis splits into one empty piece, as torch.split
    else:
        sizes = list(split_size_or_sections)
        if not all(isinstance(s, (int, np.integer)) and not isinstance(s, bool) and s >= 0
                   for s in sizes):
            raise ValueError(f"split: sizes must be non-negative integers, got {sizes}")
        if sum(sizes) != n:
            raise ValueError(f"split: sizes {sizes} sum to {sum(sizes)}, but axis {axis} has {n}")
    cuts = tuple(np.cumsum(sizes)[:-1].tolist())
    return Split.apply(x, cuts=cuts, axis=axis)
