"""Layer normalization (Ba, Kiros and Hinton, 2016): derivation.

Where batch normalization (kernels/reference/batch_norm.py) takes statistics per channel over
the batch, layer normalization takes them per sample over its own trailing features, so a
sample's output never depends on the rest of the batch and training and evaluation compute
the same thing (no running statistics).

Dimension letters: B the leading (batch, time, ...) positions flattened, D the number of
normalised features, the product of ``normalized_shape`` (the trailing axes of x)::

    x             (B, D)      the input (..., *normalized_shape) reshaped
    weight, bias  (D,)        elementwise affine, shaped normalized_shape (None: 1 and 0)

Forward, for each row b::

    mean[b]    = sum_d x[b, d] / D                                                  (B,)
    var[b]     = sum_d (x[b, d] - mean[b])^2 / D       biased: divides by D         (B,)
    inv_std[b] = 1 / sqrt(var[b] + eps)                                             (B,)
    x_hat      = (x - mean) * inv_std                  each row: zero mean, unit variance
    out        = weight * x_hat + bias                 weight, bias broadcast over rows

Backward, from dout = dL/dout (B, D). The affine part sums over the rows::

    dbias   = sum_b dout                                                            (D,)
    dweight = sum_b dout * x_hat                                                    (D,)
    dx_hat  = dout * weight                                                         (B, D)

and the normalisation is batch normalization's with the roles of the axes exchanged: the
statistics of row b depend on every x[b, :], which gives the same compact form with D in
place of M and sums over d instead of over the batch::

    dx = inv_std / D * (D * dx_hat - sum_d dx_hat - x_hat * sum_d dx_hat * x_hat)

(the incoming gradient of each row with its mean and its component along x_hat removed,
divided by the row's standard deviation).
"""

from __future__ import annotations

import numpy as np


def layer_norm_forward(x, normalized_shape, weight, bias, eps=1e-5):
    D = int(np.prod(normalized_shape, dtype=np.int64))
    x2 = x.reshape(-1, D)  # (B, D)
    dtype = x.dtype
    mean = x2.mean(axis=1, keepdims=True)  # (B, 1)
    var = ((x2 - mean) ** 2).mean(axis=1, keepdims=True)  # (B, 1), biased
    inv_std = (1 / np.sqrt(var + eps)).astype(dtype)  # (B, 1)
    x_hat = (x2 - mean) * inv_std  # (B, D)
    out = x_hat
    if weight is not None:
        out = out * weight.reshape(D)
    if bias is not None:
        out = out + bias.reshape(D)
    w = None if weight is None else weight.reshape(D)
    cache = (x_hat, inv_std, w, bias is not None, x.shape, tuple(normalized_shape))
    return out.reshape(x.shape).astype(dtype, copy=False), cache


def layer_norm_backward(dout, cache):
    x_hat, inv_std, weight, has_bias, shape, normalized_shape = cache
    B, D = x_hat.shape
    d2 = dout.reshape(B, D)  # (B, D)
    dbias = d2.sum(axis=0).reshape(normalized_shape) if has_bias else None  # (D,)
    dweight = None
    if weight is not None:
        dweight = (d2 * x_hat).sum(axis=0).reshape(normalized_shape)  # (D,)
    dx_hat = d2 * weight if weight is not None else d2  # (B, D)
    sum_dx_hat = dx_hat.sum(axis=1, keepdims=True)  # (B, 1)
    sum_dx_hat_x_hat = (dx_hat * x_hat).sum(axis=1, keepdims=True)  # (B, 1)
    dx = inv_std / D * (D * dx_hat - sum_dx_hat - x_hat * sum_dx_hat_x_hat)  # (B, D)
    return dx.reshape(shape), dweight, dbias
