"""Shape ops that move data (permute, basic-slice getitem, concat, split, cast, full): derivation.

None of these does arithmetic: each output element is a copy of one input element, so the
gradient of an input element is the upstream gradient of every output element copied from
it (the adjoint of a copy is a copy back, or a sum where one input feeds several outputs).
Every output is a new C-contiguous array (a device has no strided views to hand back).

    permute(x, axes)     out[i_0, .., i_{d-1}] = x[j] with j[axes[k]] = i_k
                         dx = permute(dout, argsort(axes))      (the inverse permutation)
    getitem(x, index)    out = x[index] for a basic index (ints, slices, None, Ellipsis)
                         dx = zeros(x.shape); dx[index] = dout  (a basic index never repeats
                                                                 an element, so = suffices)
    concat(arrays, axis) out = the arrays joined along axis
                         d(arrays[i]) = dout[..., start_i : start_i + n_i, ...] along axis
    split(x, sizes, axis) outs[i] = x[..., start_i : start_i + sizes[i], ...] along axis
                         dx = concat(douts, axis)
    cast(x, dtype)       out = x converted to dtype;  dx = dout converted back to x.dtype
    full(shape, value, dtype)  a new array filled with value (no gradient; not an op)

Reshape is absent on purpose: on a contiguous array it changes only the shape, never data.
"""

from __future__ import annotations

import numpy as np

BASIC = (int, np.integer, slice, type(None), type(Ellipsis))


def is_basic_index(index) -> bool:
    """True for an int, slice, None or Ellipsis, or a tuple of them (NumPy basic indexing)."""
    items = index if isinstance(index, tuple) else (index,)
    return all(isinstance(i, BASIC) and not isinstance(i, bool) for i in items)


def permute_forward(x, axes):
    axes = tuple(int(a) % max(x.ndim, 1) for a in axes)
    return np.ascontiguousarray(np.transpose(x, axes)), axes


def permute_backward(dout, cache):
    return (np.ascontiguousarray(np.transpose(dout, np.argsort(cache))),)


def getitem_forward(x, index):
    return np.array(x[index], copy=True), (x.shape, index)


def getitem_backward(dout, cache):
    shape, index = cache
    dx = np.zeros(shape, dtype=dout.dtype)
    dx[index] = dout
    return (dx,)


def concat_forward(arrays, axis=0):
    sizes = [a.shape[axis] for a in arrays]
    return np.concatenate(arrays, axis=axis), (axis, sizes)


def concat_backward(dout, cache):
    axis, sizes = cache
    cuts = np.cumsum(sizes)[:-1]
    return tuple(np.ascontiguousarray(piece) for piece in np.split(dout, cuts, axis=axis))


def split_forward(x, sizes, axis=0):
    cuts = np.cumsum(sizes)[:-1]
    return tuple(np.ascontiguousarray(p) for p in np.split(x, cuts, axis=axis)), axis


def split_backward(douts, cache):
    return (np.concatenate(douts, axis=cache),)


def cast_forward(x, dtype):
    return x.astype(dtype), x.dtype


def cast_backward(dout, cache):
    return (dout.astype(cache),)


def full(shape, value, dtype):
    return np.full(shape, value, dtype=dtype)
