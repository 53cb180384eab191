"""Batch normalization (Ioffe and Szegedy, 2015): derivation.

Dimension letters: N batch, C channels (features), S the product of any trailing spatial
axes (L for BatchNorm1d on (N, C, L), H*W for BatchNorm2d on (N, C, H, W), 1 for (N, C)).
Every statistic is per channel, over the M = N*S values that channel holds in the batch, so
the input is viewed as (N, C, S) and the sums below run over n and s::

    x             (N, C, S)   the input, (N, C), (N, C, L) or (N, C, H, W) reshaped
    weight, bias  (C,)        the affine part, gamma and beta in the paper (None: 1 and 0)
    running_mean  (C,)        running_var (C,): estimates kept for evaluation (may be None)

Forward in training mode (``training=True``): normalise with the batch's own statistics::

    mean     = sum_{n,s} x[n, c, s] / M                                           (C,)
    var      = sum_{n,s} (x[n, c, s] - mean)^2 / M        biased: divides by M    (C,)
    inv_std  = 1 / sqrt(var + eps)                                                 (C,)
    x_hat    = (x - mean) * inv_std                       zero mean, unit variance (N, C, S)
    out      = weight * x_hat + bias                      weight, bias broadcast over n, s

and, when running statistics are given, update them in place with PyTorch's momentum rule,
where the variance estimate is the UNBIASED one (divides by M - 1; PyTorch requires M > 1)::

    running_mean = (1 - momentum) * running_mean + momentum * mean
    running_var  = (1 - momentum) * running_var  + momentum * var * M / (M - 1)

(Keras' momentum is 1 - PyTorch's: it weights the old estimate, not the new one.)

Forward in evaluation mode (``training=False``): the same affine map with the running
statistics in place of the batch's, which are then constants::

    inv_std = 1 / sqrt(running_var + eps)
    x_hat   = (x - running_mean) * inv_std;       out = weight * x_hat + bias

Backward, from dout = dL/dout (N, C, S). The affine part is a per-channel scale and shift::

    dbias   = sum_{n,s} dout                                                       (C,)
    dweight = sum_{n,s} dout * x_hat                                               (C,)
    dx_hat  = dout * weight                                                        (N, C, S)

In evaluation mode x_hat is an affine function of x alone, so dx = dx_hat * inv_std.
In training mode mean and var depend on every x of the channel too, so x reaches x_hat along
three paths: directly, through var and through mean. Staged as a computational graph (sums
over n, s; per channel)::

    dvar  = sum dx_hat * (x - mean) * (-1/2) * (var + eps)^(-3/2)
          = -inv_std^2 / 2 * sum dx_hat * x_hat                      (x - mean = x_hat / inv_std)
    dmean = sum dx_hat * (-inv_std) + dvar * sum (-2 (x - mean) / M)
          = -inv_std * sum dx_hat                                     (sum (x - mean) = 0)
    dx    = dx_hat * inv_std + dvar * 2 (x - mean) / M + dmean / M    (d var/dx, d mean/dx)

and substituting the two sums collapses the three paths into the compact form::

    dx = inv_std / M * (M * dx_hat - sum_{n,s} dx_hat - x_hat * sum_{n,s} dx_hat * x_hat)

Read it as: the gradient of a normalised vector is the incoming gradient with its mean
removed (the shift does not change x_hat) and its component along x_hat removed (neither
does a change of scale), then divided by the standard deviation. The running statistics
get no gradient: they are buffers, not parameters.
"""

from __future__ import annotations

import numpy as np


def _channels(x: np.ndarray) -> np.ndarray:
    return x.reshape(x.shape[0], x.shape[1], -1)  # (N, C, S)


def batch_norm_forward(x, weight, bias, running_mean, running_var, training=True,
                       momentum=0.1, eps=1e-5):
    x3 = _channels(x)  # (N, C, S)
    N, C, S = x3.shape
    M = N * S
    dtype = x.dtype
    if training:
        mean = x3.mean(axis=(0, 2))  # (C,)
        var = ((x3 - mean[:, None]) ** 2).mean(axis=(0, 2))  # (C,), biased
        if running_mean is not None:
            running_mean[...] = (1 - momentum) * running_mean + momentum * mean
        if running_var is not None:
            running_var[...] = (1 - momentum) * running_var + momentum * var * (M / (M - 1))
    else:
        mean, var = running_mean, running_var  # (C,)
    inv_std = (1 / np.sqrt(var + eps)).astype(dtype)  # (C,)
    x_hat = (x3 - mean[:, None]) * inv_std[:, None]  # (N, C, S)
    out = x_hat
    if weight is not None:
        out = out * weight[:, None]
    if bias is not None:
        out = out + bias[:, None]
    cache = (x_hat, inv_std, weight, training, bias is not None, x.shape)
    return out.reshape(x.shape).astype(dtype, copy=False), cache


def batch_norm_backward(dout, cache):
    x_hat, inv_std, weight, training, has_bias, shape = cache
    d3 = _channels(dout)  # (N, C, S)
    N, C, S = x_hat.shape
    M = N * S
    dbias = d3.sum(axis=(0, 2)) if has_bias else None  # (C,)
    dweight = (d3 * x_hat).sum(axis=(0, 2)) if weight is not None else None  # (C,)
    dx_hat = d3 * weight[:, None] if weight is not None else d3  # (N, C, S)
    if training:
        sum_dx_hat = dx_hat.sum(axis=(0, 2))  # (C,)
        sum_dx_hat_x_hat = (dx_hat * x_hat).sum(axis=(0, 2))  # (C,)
        dx = (inv_std / M)[:, None] * (M * dx_hat - sum_dx_hat[:, None]
                                       - x_hat * sum_dx_hat_x_hat[:, None])
    else:
        dx = dx_hat * inv_std[:, None]
    return dx.reshape(shape), dweight, dbias, None, None
