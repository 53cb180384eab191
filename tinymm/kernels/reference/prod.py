"""The product reduction over one axis (or every element), torch.prod: derivation.

x is viewed as (O, R, I): O the axes before ``axis``, R the reduced axis, I the axes after it
(axis None: O = I = 1, R every element in row-major order).

    out[o, i] = prod_r x[o, r, i]
    dx[o, r, i] = dout[o, i] * prod_{s != r} x[o, s, i]
                = dout[o, i] * prefix[o, r, i] * suffix[o, r, i]

with the exclusive prefix product prefix[r] = x[0] ... x[r - 1] and suffix product
suffix[r] = x[r + 1] ... x[R - 1] (both 1 when empty). This is PyTorch's gradient including
its zero cases, with no division: with no zero in a row it equals dout * out / x; with one
zero, the zero's position gets the product of the others and every other position 0; with
two or more zeros every position gets 0. Integer inputs multiply in int64 (PyTorch's
result dtype); they have no gradient.
"""

from __future__ import annotations

import numpy as np


def _rows(x, axis):
    """x as (O, R, I) and the reduced axis (None: every element)."""
    if axis is None:
        return x.reshape(1, x.size, 1)
    shape = x.shape
    outer, inner = int(np.prod(shape[:axis])), int(np.prod(shape[axis + 1:]))
    return x.reshape(outer, shape[axis], inner)


def _out_shape(shape, axis, keepdim):
    if axis is None:
        return (1,) * len(shape) if keepdim else ()
    if keepdim:
        return shape[:axis] + (1,) + shape[axis + 1:]
    return shape[:axis] + shape[axis + 1:]


def prod_forward(x, axis=None, keepdim=False):
    rows = _rows(x, axis)  # (O, R, I)
    out = np.prod(rows, axis=1, dtype=x.dtype)  # (O, I)
    return out.reshape(_out_shape(x.shape, axis, keepdim)), (x, axis)


def prod_backward(dout, cache):
    x, axis = cache
    rows = _rows(x, axis)  # (O, R, I)
    ones = np.ones_like(rows[:, :1])
    prefix = np.concatenate([ones, np.cumprod(rows, axis=1)[:, :-1]], axis=1)
    suffix = np.concatenate([np.cumprod(rows[:, ::-1], axis=1)[:, :-1][:, ::-1], ones], axis=1)
    g = dout.reshape(rows.shape[0], 1, rows.shape[2])  # (O, 1, I)
    return ((g * prefix * suffix).reshape(x.shape),)
