"""Layer normalization op (derivation: kernels/reference/layer_norm.py).

PyTorch's functional signature::

    F.layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5) -> output

    input             (..., *normalized_shape): statistics per position over the trailing axes
    normalized_shape  an int or a tuple of ints, the trailing shape of input to normalise over
    weight, bias      shaped normalized_shape, or None: the elementwise affine part
"""

from __future__ import annotations

import numbers
import operator

import numpy as np

from tinymm.autograd import ArrayFunction
from tinymm.devices import is_device_array
from tinymm.ops._checks import check_float, check_same_dtype


def normalized_shape_tuple(name: str, normalized_shape) -> tuple[int, ...]:
    """An int or a sequence of positive ints as a tuple (the layer and the op share it)."""
    def bad() -> TypeError:
        return TypeError(f"{name}: normalized_shape must be an int or a tuple of ints, got "
                         f"{normalized_shape!r}")

    if isinstance(normalized_shape, (bool, str, bytes)):
        raise bad()
    sizes = (normalized_shape,) if not hasattr(normalized_shape, "__iter__") else normalized_shape
    try:
        shape = tuple(operator.index(s) for s in sizes)  # ints only: no floats, no strings
    except TypeError:
        raise bad() from None
    if any(isinstance(s, bool) for s in sizes):
        raise bad()
    if not shape or any(s <= 0 for s in shape):
        raise ValueError(f"{name}: normalized_shape must be a non-empty tuple of positive "
                         f"sizes, got {normalized_shape!r}")
    return shape


class LayerNorm(ArrayFunction):
    @staticmethod
    def forward(ctx, x, normalized_shape, weight=None, bias=None, eps=1e-5):
        name = "layer_norm"
        shape = normalized_shape_tuple(name, normalized_shape)
        for what, array in (("input", x), ("weight", weight), ("bias", bias)):
            is_array = isinstance(array, np.ndarray) or is_device_array(array)
            if not is_array and (what == "input" or array is not None):
                raise TypeError(f"{name}: {what} must be a Tensor"
                                + (" or None" if what != "input" else "")
                                + f", got {type(array).__name__}")
        check_float(name, "input", x)
        k = len(shape)
        if x.ndim < k or tuple(x.shape[x.ndim - k:]) != shape:
            raise ValueError(f"{name}: given normalized_shape={list(shape)}, expected an input "
                             f"of shape [*, {', '.join(map(str, shape))}], got {x.shape}; "
                             "normalized_shape names the input's trailing axes")
        for what, array in (("weight", weight), ("bias", bias)):
            if array is not None and tuple(array.shape) != shape:
                raise ValueError(f"{name}: {what} must have shape normalized_shape = {shape}, "
                                 f"got {array.shape}")
        check_same_dtype(name, input=x, weight=weight, bias=bias)
        if not isinstance(eps, numbers.Real) or isinstance(eps, bool) or eps < 0:
            raise ValueError(f"{name}: eps must be a non-negative number, got {eps!r}")
        out, cache = ctx.backend.layer_norm_forward(x, shape, weight, bias, eps=float(eps))
        ctx.save_for_backward(cache)
        return out  # like x

    @staticmethod
    def backward(ctx, dout):
        dx, dweight, dbias = ctx.backend.layer_norm_backward(dout, *ctx.saved)
        return dx, None, dweight, dbias  # in forward's input order (normalized_shape: none)


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):  # noqa: A002
    """Layer normalization with PyTorch's signature and semantics (module docstring)."""
    return LayerNorm.apply(input, normalized_shape, weight, bias, eps=eps)
