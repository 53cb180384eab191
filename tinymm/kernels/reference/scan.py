"""Scans along one dim (cumsum, cumprod, cummax/cummin) and the extreme along a dim with its
index (max/min with dim, argmax/argmin): derivation.

Along ``dim`` each line of the input (every other coordinate fixed) is x_0 .. x_{n-1}.

    cumsum    out_j = x_0 + ... + x_j
              dx_i = sum_{j >= i} dout_j               (a cumsum of the reversed gradient)
    Bool and integer inputs sum in int64 (PyTorch's dtype), floats in their own dtype.

    cumprod   out_j = x_0 * ... * x_j
              dx_i = sum_{j >= i} dout_j prod_{k <= j, k != i} x_k
                   = (prod_{k < i} x_k) * sum_{j >= i} dout_j prod_{i < k <= j} x_k
    The code uses (reverse cumsum of dout * out)_i / x_i on lines without a zero and the
    product form, which divides by nothing, on lines with one.

    cummax    (values_j, indices_j): the running maximum of x_0 .. x_j and the index of its
              LATEST occurrence (PyTorch's rule); once a NaN is met it is the running value,
              and a later NaN takes over the index. cummin likewise with the minimum.
              dx = zeros; dx[indices_j] += dvalues_j   (an index is picked by many j: adds)

    max_dim   (values, indices): the maximum of the line and the index of its FIRST
              occurrence (NumPy's argmax and PyTorch's max(dim) on the CPU; a NaN counts as
              the maximum, the first NaN wins); ``largest=False`` the minimum. With
              ``keepdim`` the dim stays as size 1.
              dx = zeros; dx[indices] = dvalues        (one element per line)

    masked_select
              x and mask of one shape; out (count,) holds x's elements where mask is True in
              row-major order; count (the number of True, which the caller knows) sizes it.
              Element i goes to out[cumsum(mask)_i - 1], a scan of the mask.
              dx = zeros(x); dx[mask] = dout        mask gets none

    nonzero   out (count, ndim) int64: the coordinates of mask's True elements in row-major
              order (element i, at place cumsum(mask)_i - 1, unravelled over mask's shape);
              no gradient

cummax's running pair is an associative combine, which is what lets the device scan it in
blocks: combine((v, i), (w, j)) = (w, j) if w is NaN, or v is not NaN and w >= v (w <= v for
the minimum), else (v, i).
"""

from __future__ import annotations

import numpy as np


def _sum_dtype(x):
    return x.dtype if x.dtype.kind == "f" else np.dtype(np.int64)


def cumsum_forward(x, dim):
    return np.cumsum(x, axis=dim, dtype=_sum_dtype(x)), (dim,)


def cumsum_backward(dout, cache):
    (dim,) = cache
    return (np.flip(np.cumsum(np.flip(dout, dim), axis=dim), dim).copy(),)


def cumprod_forward(x, dim):
    return np.cumprod(x, axis=dim), (x, dim)


def cumprod_backward(dout, cache):
    x, dim = cache
    xs, gs = np.moveaxis(x, dim, -1), np.moveaxis(dout, dim, -1)  # (..., n)
    out = np.cumprod(xs, axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):  # (reverse cumsum of dout * out) / x
        dx = np.flip(np.cumsum(np.flip(gs * out, -1), -1), -1) / xs
    rows = (xs == 0).any(-1)
    if rows.any():  # lines with a zero: the product form, no division
        n = xs.shape[-1]
        zx, zg = xs[rows], gs[rows]  # (R, n)
        products = np.where(np.eye(n, dtype=bool), 1, zx[:, None, :])  # (R, i, k)
        products = np.cumprod(products, -1) * np.triu(np.ones((n, n)))  # keep j >= i
        dx[rows] = (products * zg[:, None, :]).sum(-1)
    return (np.moveaxis(dx, -1, dim).astype(x.dtype),)


def cummax_forward(x, dim, largest=True):
    better = np.greater if largest else np.less
    a = np.moveaxis(x, dim, 0)  # (n, ...)
    index = np.zeros(a.shape, np.int64)
    best = a[0].copy() if a.shape[0] else a[:0]
    values = np.empty_like(a)
    for t in range(a.shape[0]):
        if t:
            take = better(a[t], best) | (a[t] == best) | np.isnan(a[t])
            best = np.where(take, a[t], best)
            index[t] = np.where(take, t, index[t - 1])
        values[t] = best
    values, index = np.moveaxis(values, 0, dim).copy(), np.moveaxis(index, 0, dim).copy()
    return (values, index), (x.shape, index, dim)


def cummax_backward(dout, cache):
    dvalues = dout[0] if isinstance(dout, tuple) else dout
    shape, index, dim = cache
    dx = np.zeros(shape, dvalues.dtype)
    grids = list(np.indices(index.shape, sparse=True))
    grids[dim] = index
    np.add.at(dx, tuple(grids), dvalues)
    return (dx,)


def max_dim_forward(x, dim, keepdim=False, largest=True):
    idx = np.expand_dims((np.argmax if largest else np.argmin)(x, axis=dim), dim)
    values = np.take_along_axis(x, idx, axis=dim)
    idx = idx.astype(np.int64)
    cache = (x.shape, idx, dim, keepdim)
    if not keepdim:
        values, idx = values.squeeze(dim), idx.squeeze(dim)
    return (values, idx), cache


def max_dim_backward(dout, cache):
    dvalues = dout[0] if isinstance(dout, tuple) else dout
    shape, idx, dim, keepdim = cache
    dx = np.zeros(shape, dvalues.dtype)
    np.put_along_axis(dx, idx, dvalues if keepdim else np.expand_dims(dvalues, dim), axis=dim)
    return (dx,)


def masked_select_forward(x, mask, count):
    out = x[mask]  # (count,)
    return out, (x.shape, mask)


def masked_select_backward(dout, cache):
    shape, mask = cache
    dx = np.zeros(shape, dout.dtype)
    dx[mask] = dout
    return dx, None


def nonzero_forward(mask, count):
    return np.argwhere(mask).astype(np.int64).reshape(int(count), mask.ndim), None


def nonzero_backward(dout, cache):
    return (None,)
