"""Rounding, the error function and atan2, elementwise: derivation.

    rounding   out = f(x), f one of floor, ceil, round (half to even, as torch.round), trunc,
               sign (1 above 0, -1 below, and +0 for 0, -0 and NaN, as torch.sign)
               dx = 0: f is piecewise constant, so its derivative is 0 wherever it exists, and
               PyTorch returns 0 everywhere (at the jumps too)
    erf        out = 2 / sqrt(pi) * integral_0^x exp(-t^2) dt
               dx = dout * 2 / sqrt(pi) * exp(-x^2)
    modulo     out = a - b trunc(a / b) (fmod: the sign of a) or a - b floor(a / b)
               (remainder, ``floor=True``: the sign of b), a and b broadcast, computed
               exactly (np.fmod / np.remainder); q = round((a - out) / b), the quotient
               da = dout, db = -dout q: the quotient's derivative is 0 wherever it exists
               (PyTorch's), both summed down to their operand's shape
    atan2      out = the angle of the point (x, y), y and x broadcast (np.arctan2)
               s = dout / (x^2 + y^2);  dy = s x,  dx = -s y, each summed down to its
               operand's shape where broadcasting stretched it

The forward keeps x's shape and dtype; erf runs in float64 per element (math.erf) and rounds
to x's dtype, so float32 results are correctly rounded.
"""

from __future__ import annotations

import math

import numpy as np

from tinymm.kernels._shapes import sum_to_shape


def _sign(x):
    return (x > 0).astype(x.dtype) - (x < 0)  # a NaN compares false both ways: 0


ROUNDING_MODES = {"floor": np.floor, "ceil": np.ceil, "round": np.round, "trunc": np.trunc,
                  "sign": _sign}
_ERF = np.frompyfunc(math.erf, 1, 1)


def rounding_forward(x, mode):
    return np.asarray(ROUNDING_MODES[mode](x), dtype=x.dtype), (x.shape, x.dtype)


def rounding_backward(dout, cache):
    shape, dtype = cache
    return (np.zeros(shape, dtype=dtype),)


def erf_forward(x):
    return np.asarray(_ERF(x.astype(np.float64)), dtype=x.dtype).reshape(x.shape), x


def erf_backward(dout, cache):
    x = cache
    scale = dout.dtype.type(2.0 / math.sqrt(math.pi))
    return (dout * scale * np.exp(-x * x),)


def atan2_forward(y, x):
    return np.arctan2(y, x), (y, x)


def atan2_backward(dout, cache):
    y, x = cache
    scale = dout / (x * x + y * y)
    return (sum_to_shape(scale * x, y.shape).astype(y.dtype),
            sum_to_shape(-scale * y, x.shape).astype(x.dtype))


def modulo_forward(a, b, floor=False):
    out = (np.remainder if floor else np.fmod)(a, b)
    quotient = np.round((a - out) / np.where(b == 0, 1, b))  # trunc or floor of a / b
    return out, (quotient, a.shape, b.shape)


def modulo_backward(dout, cache):
    quotient, a_shape, b_shape = cache
    return (sum_to_shape(dout, a_shape),
            sum_to_shape((-dout * quotient).astype(dout.dtype), b_shape))
