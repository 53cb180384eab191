"""Gather, scatter, where, comparisons and one-hot: derivation.

Positions. For an ``index`` array with the input's number of dims and a ``dim``, position p
of ``index`` names the input element ``where(p)``: p with its ``dim`` coordinate replaced by
``index[p]`` (a negative index counts from the end of ``dim``, as NumPy's and PyTorch's).

    gather    out[p] = x[where(p)]                 out shaped like index
              dx = zeros(x); dx[where(p)] += dout[p]    (an index that repeats adds)
    scatter   out = x; out[where(p)] = src[p]       dx = dout with 0 at every where(p),
                                                    dsrc[p] = dout[where(p)]
    (add)     out = x; out[where(p)] += src[p]      dx = dout,  dsrc[p] = dout[where(p)]

``src`` may be larger than ``index``: only its leading index.shape block is read, the rest of
dsrc is 0. When scatter writes one place twice the last write wins here (PyTorch leaves the
order unspecified, and so do the device kernels); dsrc still reaches every writer, as
PyTorch's gather-based backward.

    where     out = a where cond else b (all three broadcast to one shape S)
              da = sum_to_shape(dout where cond else 0),  db = sum_to_shape(dout where not
              cond else 0); cond gets none
    compare   out = a OP b as bool, OP one of lt le gt ge eq ne (NaN compares unequal to
              everything) or, for bools, and / or / xor; no gradient
    one_hot   out[..., c] = 1 if idx[...] == c else 0, int64 (..., C); no gradient

Indices reaching these kernels are in range: the ops check them (on a device at the next copy
to the host), and the device kernels guard them meanwhile.
"""

from __future__ import annotations

import numpy as np

from tinymm.kernels._shapes import sum_to_shape

COMPARE_OPS = {"lt": np.less, "le": np.less_equal, "gt": np.greater, "ge": np.greater_equal,
               "eq": np.equal, "ne": np.not_equal, "and": np.logical_and,
               "or": np.logical_or, "xor": np.logical_xor}


def _where(index: np.ndarray, dim: int, n: int) -> tuple:
    grids = list(np.indices(index.shape, sparse=True))
    grids[dim] = np.where(index < 0, index + n, index)
    return tuple(grids)


def gather_forward(x, index, dim):
    where = _where(index, dim, x.shape[dim])
    return x[where], (x.shape, where)  # out shaped like index


def gather_backward(dout, cache):
    shape, where = cache
    dx = np.zeros(shape, dout.dtype)
    np.add.at(dx, where, dout)
    return dx, None


def scatter_forward(x, index, src, dim, add=False):
    where = _where(index, dim, x.shape[dim])
    block = tuple(slice(0, n) for n in index.shape)
    out = x.copy()
    if add:
        np.add.at(out, where, src[block])
    else:
        out[where] = src[block]
    return out, (where, block, src.shape, add)


def scatter_backward(dout, cache):
    where, block, src_shape, add = cache
    dx = dout.copy()
    if not add:
        dx[where] = 0
    dsrc = np.zeros(src_shape, dout.dtype)
    dsrc[block] = dout[where]
    return dx, dsrc, None


def where_forward(cond, a, b):
    return np.where(cond, a, b), (cond, a.shape, b.shape)


def where_backward(dout, cache):
    cond, a_shape, b_shape = cache
    zero = dout.dtype.type(0)
    return (None, sum_to_shape(np.where(cond, dout, zero), a_shape),
            sum_to_shape(np.where(cond, zero, dout), b_shape))


def compare_forward(a, b, op):
    return np.asarray(COMPARE_OPS[op](a, b)), None


def compare_backward(dout, cache):
    return None, None


def one_hot_forward(idx, num_classes):
    return (idx[..., None] == np.arange(num_classes)).astype(np.int64), None


def one_hot_backward(dout, cache):
    return (None,)
