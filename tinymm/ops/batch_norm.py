"""Batch normalization op (derivation: kernels/reference/batch_norm.py).

PyTorch's functional signature::

    F.batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False,
                 momentum=0.1, eps=1e-5) -> output

    input         (N, C), (N, C, L) or (N, C, H, W) (any (N, C, *)): statistics per channel C
                  over every other axis
    running_mean  (C,) or None, running_var (C,) or None: tensors (or arrays) updated in place
                  when training (momentum rule, unbiased variance), read in evaluation
    weight, bias  (C,) or None: the per-channel affine part
    training      True: normalise with the batch's statistics; False: with the running ones

The running statistics receive no gradient.
"""

from __future__ import annotations

import numbers

import numpy as np

from tinymm.autograd import ArrayFunction
from tinymm.devices import is_device_array
from tinymm.ops._checks import check_float, check_same_dtype


def _check_batch_norm(x, running_mean, running_var, weight, bias, training, momentum,
                      eps) -> None:
    name = "batch_norm"
    for what, array in (("input", x), ("running_mean", running_mean),
                        ("running_var", running_var), ("weight", weight), ("bias", bias)):
        is_array = isinstance(array, np.ndarray) or is_device_array(array)
        if not is_array and (what == "input" or array is not None):
            raise TypeError(f"{name}: {what} must be a Tensor"
                            + (" or None" if what != "input" else "")
                            + f", got {type(array).__name__}")
    if x.ndim < 2:
        raise ValueError(f"{name}: input must be at least 2-d (N, C, *), got shape {x.shape}")
    check_float(name, "input", x)
    C = x.shape[1]
    for what, array in (("running_mean", running_mean), ("running_var", running_var),
                        ("weight", weight), ("bias", bias)):
        if array is not None and array.shape != (C,):
            raise ValueError(f"{name}: {what} must have shape (C,) = ({C},) for an input of "
                             f"shape {x.shape} (C = input.shape[1]), got {array.shape}")
    check_same_dtype(name, input=x, running_mean=running_mean, running_var=running_var,
                     weight=weight, bias=bias)
    if not training and (running_mean is None or running_var is None):
        raise ValueError(f"{name}: running_mean and running_var are required when "
                         "training=False (evaluation normalises with them); pass training=True "
                         "to use the batch's own statistics")
    values_per_channel = x.size // C if C else 0
    if training and values_per_channel <= 1:
        raise ValueError(f"{name}: expected more than 1 value per channel when training, got "
                         f"input of shape {x.shape}; use a larger batch or eval mode")
    if not isinstance(momentum, numbers.Real) or isinstance(momentum, bool):
        raise TypeError(f"{name}: momentum must be a number, got {type(momentum).__name__}")
    if not isinstance(eps, numbers.Real) or isinstance(eps, bool) or eps < 0:
        raise ValueError(f"{name}: eps must be a non-negative number, got {eps!r}")
    for what, array in (("running_mean", running_mean), ("running_var", running_var)):
        if training and array is not None and not array.flags.writeable:
            raise ValueError(f"{name}: {what} must be writable (it is updated in place when "
                             "training); pass a copy")


class BatchNorm(ArrayFunction):
    @staticmethod
    def forward(ctx, x, running_mean, running_var, weight=None, bias=None, training=False,
                momentum=0.1, eps=1e-5):
        _check_batch_norm(x, running_mean, running_var, weight, bias, training, momentum, eps)
        out, cache = ctx.backend.batch_norm_forward(
            x, weight, bias, running_mean, running_var, training=bool(training),
            momentum=float(momentum), eps=float(eps))
        ctx.save_for_backward(cache)
        return out  # like x

    @staticmethod
    def backward(ctx, dout):
        dx, dweight, dbias, _, _ = ctx.backend.batch_norm_backward(dout, *ctx.saved)
        return dx, None, None, dweight, dbias  # in forward's input order


def batch_norm(input, running_mean, running_var, weight=None, bias=None,  # noqa: A002
               training=False, momentum=0.1, eps=1e-5):
    """Batch normalization with PyTorch's signature and semantics (module docstring)."""
    return BatchNorm.apply(input, running_mean, running_var, weight, bias, training=training,
                           momentum=momentum, eps=eps)
