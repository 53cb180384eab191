"""Elementwise arithmetic and unary math: derivation.

Binary ops take ``a`` and ``b`` of one dtype whose shapes broadcast (NumPy's rules) to the
output shape S, and compute ``out[s] = f(a[s], b[s])`` with each operand read through its
broadcast. By the chain rule each output element sends ``dout[s] * df/da`` to the ``a``
element it read; an ``a`` element read by several output elements (a broadcast axis)
receives the sum, so the backward computes the gradient at the output shape and then sums
it down to the operand's shape (``sum_to_shape``, kernels/_shapes.py)::

    add       out = a + b        da = dout                    db = dout
    sub       out = a - b        da = dout                    db = -dout
    mul       out = a * b        da = dout * b                db = dout * a
    div       out = a / b        da = dout / b                db = -dout * a / b^2
    pow       out = a ** b       da = dout * b * a^(b - 1)    db = dout * out * log(a)  (a > 0;
                                                                    0 where a <= 0)
    maximum   out = max(a, b)    da = dout * ([a > b] + [a == b] / 2)      db likewise with
    minimum   out = min(a, b)    da = dout * ([a < b] + [a == b] / 2)      a and b swapped

(PyTorch splits the gradient of a tie between the two operands of maximum/minimum.)

Unary ops, ``out = f(x)`` and ``dx = dout * f'(x)`` with f' written through the saved value
that makes it cheapest::

    neg    out = -x              dx = -dout
    exp    out = e^x             dx = dout * out
    log    out = log x           dx = dout / x
    sqrt   out = sqrt x          dx = dout / (2 out)
    abs    out = |x|             dx = dout * sign(x)          (sign(0) = 0, PyTorch's choice)
    clamp  out = min(max(x, lo), hi)
                                 dx = dout * [lo <= x <= hi]  (a bound that is None is absent)

More unary math (PyTorch's torch.sin ... torch.rsqrt), cached value in brackets::

    sin        out = sin x          dx = dout * cos x                   [x]
    cos        out = cos x          dx = -dout * sin x                  [x]
    tan        out = tan x          dx = dout * (1 + out^2)             [out]
    asin       out = asin x         dx = dout / sqrt(1 - x^2)           [x]
    acos       out = acos x         dx = -dout / sqrt(1 - x^2)          [x]
    atan       out = atan x         dx = dout / (1 + x^2)               [x]
    sinh       out = sinh x         dx = dout * cosh x                  [x]
    cosh       out = cosh x         dx = dout * sinh x                  [x]
    log1p      out = log(1 + x)     dx = dout / (1 + x)                 [x]
    expm1      out = e^x - 1        dx = dout * (out + 1)               [out]
    log2       out = log2 x         dx = dout / (x ln 2)                [x]
    log10      out = log10 x        dx = dout / (x ln 10)               [x]
    reciprocal out = 1 / x          dx = -dout * out^2                  [out]
    rsqrt      out = 1 / sqrt x     dx = dout * (-1/2) * out^3          [out]

``accumulate(dst, src)`` is the sum autograd makes when a tensor receives a second gradient
(it is used on several paths, or ``backward`` runs again): ``dst += src`` in place, no new
array, with NumPy's in-place casting (a float64 ``src`` is rounded into a float32 ``dst``).
"""

from __future__ import annotations

import numpy as np

from tinymm.kernels._shapes import sum_to_shape


def add_forward(a, b):
    return a + b, (a.shape, b.shape)


def add_backward(dout, cache):
    a_shape, b_shape = cache
    return sum_to_shape(dout, a_shape), sum_to_shape(dout, b_shape)


def sub_forward(a, b):
    return a - b, (a.shape, b.shape)


def sub_backward(dout, cache):
    a_shape, b_shape = cache
    return sum_to_shape(dout, a_shape), sum_to_shape(-dout, b_shape)


def mul_forward(a, b):
    return a * b, (a, b)


def mul_backward(dout, cache):
    a, b = cache
    return sum_to_shape(dout * b, a.shape), sum_to_shape(dout * a, b.shape)


def div_forward(a, b):
    return a / b, (a, b)


def div_backward(dout, cache):
    a, b = cache
    return sum_to_shape(dout / b, a.shape), sum_to_shape(-dout * a / (b * b), b.shape)


def pow_forward(a, b):
    out = np.power(a, b)
    return out, (a, b, out)


def pow_backward(dout, cache):
    a, b, out = cache
    da = dout * b * np.power(a, b - 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        db = np.where(a > 0, dout * out * np.log(np.where(a > 0, a, 1)), 0).astype(dout.dtype)
    return sum_to_shape(da, a.shape), sum_to_shape(db, b.shape)


def maximum_forward(a, b):
    return np.maximum(a, b), (a, b)


def maximum_backward(dout, cache):
    a, b = cache
    share_a = (a > b) + 0.5 * (a == b)  # 1, 1/2 or 0 (float64 mask)
    share_b = (b > a) + 0.5 * (a == b)
    return (sum_to_shape((dout * share_a).astype(dout.dtype), a.shape),
            sum_to_shape((dout * share_b).astype(dout.dtype), b.shape))


def minimum_forward(a, b):
    return np.minimum(a, b), (a, b)


def minimum_backward(dout, cache):
    a, b = cache
    share_a = (a < b) + 0.5 * (a == b)
    share_b = (b < a) + 0.5 * (a == b)
    return (sum_to_shape((dout * share_a).astype(dout.dtype), a.shape),
            sum_to_shape((dout * share_b).astype(dout.dtype), b.shape))


def neg_forward(x):
    return -x, None


def neg_backward(dout, cache):
    return (-dout,)


def exp_forward(x):
    out = np.exp(x)
    return out, out


def exp_backward(dout, cache):
    return (dout * cache,)


def log_forward(x):
    return np.log(x), x


def log_backward(dout, cache):
    return (dout / cache,)


def sqrt_forward(x):
    out = np.sqrt(x)
    return out, out


def sqrt_backward(dout, cache):
    return (dout / (2 * cache),)


def abs_forward(x):
    return np.abs(x), x


def abs_backward(dout, cache):
    return (dout * np.sign(cache),)


def clamp_forward(x, min=None, max=None):  # noqa: A002 - PyTorch's argument names
    keep = np.ones(x.shape, dtype=bool)
    if min is not None:
        keep &= x >= min
    if max is not None:
        keep &= x <= max
    return np.clip(x, min, max), keep


def clamp_backward(dout, cache):
    return (dout * cache,)


# ------------------------------------------------------------------ more unary math
def sin_forward(x):
    return np.sin(x), x


def sin_backward(dout, cache):
    return (dout * np.cos(cache),)


def cos_forward(x):
    return np.cos(x), x


def cos_backward(dout, cache):
    return (-dout * np.sin(cache),)


def tan_forward(x):
    out = np.tan(x)
    return out, out


def tan_backward(dout, cache):
    return (dout * (1 + cache * cache),)


def asin_forward(x):
    return np.arcsin(x), x


def asin_backward(dout, cache):
    return (dout / np.sqrt(1 - cache * cache),)


def acos_forward(x):
    return np.arccos(x), x


def acos_backward(dout, cache):
    return (-dout / np.sqrt(1 - cache * cache),)


def atan_forward(x):
    return np.arctan(x), x


def atan_backward(dout, cache):
    return (dout / (1 + cache * cache),)


def sinh_forward(x):
    return np.sinh(x), x


def sinh_backward(dout, cache):
    return (dout * np.cosh(cache),)


def cosh_forward(x):
    return np.cosh(x), x


def cosh_backward(dout, cache):
    return (dout * np.sinh(cache),)


def log1p_forward(x):
    return np.log1p(x), x


def log1p_backward(dout, cache):
    return (dout / (1 + cache),)


def expm1_forward(x):
    out = np.expm1(x)
    return out, out


def expm1_backward(dout, cache):
    return (dout * (cache + 1),)


def log2_forward(x):
    return np.log2(x), x


def log2_backward(dout, cache):
    return (dout / (cache * cache.dtype.type(np.log(2.0))),)


def log10_forward(x):
    return np.log10(x), x


def log10_backward(dout, cache):
    return (dout / (cache * cache.dtype.type(np.log(10.0))),)


def reciprocal_forward(x):
    out = 1 / x
    return out, out


def reciprocal_backward(dout, cache):
    return (-dout * cache * cache,)


def rsqrt_forward(x):
    out = 1 / np.sqrt(x)
    return out, out


def rsqrt_backward(dout, cache):
    return (dout * cache.dtype.type(-0.5) * cache * cache * cache,)


# ------------------------------------------------------------------ in place
def accumulate(dst, src):
    np.add(dst, src, out=dst)
