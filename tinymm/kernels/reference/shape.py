"""Shape ops that move data (permute, basic-slice getitem, concat, split, cast, full): derivation.

None of these does arithmetic: each output element is a copy of one input element, so the
gradient of an input element is the upstream gradient of every output element copied from
it (the adjoint of a copy is a copy back, or a sum where one input feeds several outputs).
Where NumPy returns a view (permute, a basic getitem, the pieces of split and of concat's
backward) the reference returns that view too, as the CPU ops always have; a device backend
returns contiguous copies instead (its kernels index contiguous arrays); the CUDA getitem
takes index arrays from the host.

    permute(x, axes)     out[i_0, .., i_{d-1}] = x[j] with j[axes[k]] = i_k
                         dx = permute(dout, argsort(axes))      (the inverse permutation)
    getitem(x, index)    out = x[index]
                         dx = zeros(x.shape); dx[index] += dout, accumulating where an
                              (advanced) index repeats an element (np.add.at)
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
    return np.transpose(x, axes), axes


def permute_backward(dout, cache):
    return (np.transpose(dout, np.argsort(cache)),)  # the inverse permutation


def getitem_forward(x, index):
    out = x[index]
    if isinstance(out, np.generic):  # every dim taken by an int: the 0-d view, not a copy
        out = x[_keep_view(index)]
    return out, (x.shape, index)


def _keep_view(index):
    """An all-integer basic index that NumPy answers with a 0-d view (a trailing Ellipsis;
    one already inside is dropped, as it stands for no dims here)."""
    items = index if isinstance(index, tuple) else (index,)
    return tuple(i for i in items if i is not Ellipsis) + (Ellipsis,)


def getitem_backward(dout, cache):
    shape, index = cache
    dx = np.zeros(shape, dtype=dout.dtype)
    np.add.at(dx, index, dout)  # add.at: an index that repeats must accumulate
    return (dx,)


def concat_forward(arrays, axis=0):
    sizes = [a.shape[axis] for a in arrays]
    return np.concatenate(arrays, axis=axis), (axis, sizes)


def concat_backward(dout, cache):
    axis, sizes = cache
    return tuple(np.split(dout, np.cumsum(sizes)[:-1], axis=axis))


def split_forward(x, sizes, axis=0):
    return tuple(np.split(x, np.cumsum(sizes)[:-1], axis=axis)), axis


def split_backward(douts, cache):
    return (np.concatenate(douts, axis=cache),)


def cast_forward(x, dtype):
    return x.astype(dtype), x.dtype


def cast_backward(dout, cache):
    return (dout.astype(cache),)


def full(shape, value, dtype):
    return np.full(shape, value, dtype=dtype)
