"""CUDA rounding, error function and atan2 (derivation: kernels/reference/special.py).

One thread per element over the flat array. The rounding mode is a launch argument (uniform
across the grid). ``math.floor``/``ceil`` lower to libdevice's floorf/ceilf (floor/ceil in
float64) and keep the dtype; trunc is the floor of a positive and the ceiling of a negative;
round is half to even from the floor (``r = floor(v)``; up when the remainder is over one
half, or exactly one half and r is odd). NaN and infinities pass through every mode but
sign, which gives +-1 for infinities and +0 for 0, -0 and NaN, as PyTorch does. erf is
libdevice's erff/erf; atan2 is its atan2f/atan2 on y and x broadcast to the output (strided
copies), and its backward computes both gradients at the output shape in one pass, then sums
each down to its operand's shape.

Numerics: typed constants (zero, one, half, the erf derivative's 2 / sqrt(pi)) are passed in,
so float32 arithmetic never mixes with a float64 literal.
"""

from __future__ import annotations

import math

import numpy as np
from numba import cuda

from tinymm.kernels.numba_cuda._device import empty, flat, grid_1d, map_1d, require_device, zeros
from tinymm.kernels.numba_cuda._strided import broadcast_to
from tinymm.kernels.numba_cuda.reduction import sum_to_shape

FLOOR, CEIL, ROUND, TRUNC, SIGN = range(5)
MODES = {"floor": FLOOR, "ceil": CEIL, "round": ROUND, "trunc": TRUNC, "sign": SIGN}


@cuda.jit(device=True, inline=True)
def _half_even(v, one, half):
    """v rounded to the nearest whole number, ties to even (v finite)."""
    r = math.floor(v)
    d = v - r
    odd = r - (one + one) * math.floor(r * half)  # 1 for an odd r, else 0
    if d > half or (d == half and odd == one):
        r = r + one
    return r


def _rounding(x, out, mode, zero, one, half):
    i = cuda.grid(1)
    if i < out.size:
        v = x[i]
        if mode == SIGN:
            r = one if v > zero else (-one if v < zero else zero)  # 0, -0 and NaN: +0
        elif v != v or v - v != zero:  # NaN or an infinity
            r = v
        elif mode == FLOOR:
            r = math.floor(v)
        elif mode == CEIL:
            r = math.ceil(v)
        elif mode == TRUNC:  # toward zero
            r = math.floor(v) if v >= zero else math.ceil(v)
        else:  # ROUND: half to even
            r = _half_even(v, one, half)
        out[i] = r


def _erf(x, out):
    i = cuda.grid(1)
    if i < out.size:
        out[i] = math.erf(x[i])


def _erf_grad(dout, x, dx, scale):
    i = cuda.grid(1)
    if i < dx.size:
        v = x[i]
        dx[i] = dout[i] * scale * math.exp(-v * v)


def _modulo(a, b, out, quotient, floor, zero, one, half, nan):
    i = cuda.grid(1)
    if i < out.size:
        x = a[i]
        y = b[i]
        if y == zero or x - x != zero or y != y:  # b = 0, a infinite or NaN, b NaN: NaN
            r = nan
        elif y - y != zero:  # b infinite: a (fmod); remainder moves it to b's side
            r = x
            if floor and x != zero and (x < zero) != (y < zero):
                r = y
        else:
            r = math.fmod(x, y)
            if floor and r != zero and (r < zero) != (y < zero):
                r = r + y
        out[i] = r
        q = (x - r) / (one if y == zero else y)
        quotient[i] = _half_even(q, one, half) if q - q == zero else q


def _neg_scale(dout, q, out, zero):
    i = cuda.grid(1)
    if i < out.size:
        out[i] = zero - dout[i] * q[i]  # -dout q


def _atan2(y, x, out):
    i = cuda.grid(1)
    if i < out.size:
        out[i] = math.atan2(y[i], x[i])


def _atan2_grad(dout, y, x, dy, dx):
    i = cuda.grid(1)
    if i < dout.size:
        a = y[i]
        b = x[i]
        s = dout[i] / (b * b + a * a)
        dy[i] = s * b
        dx[i] = -s * a


_FL = ("float32", "float64")
PTX_TARGETS = [
    (_rounding, tuple(f"void({t}[::1], {t}[::1], int64, {t}, {t}, {t})" for t in _FL)),
    (_erf, tuple(f"void({t}[::1], {t}[::1])" for t in _FL)),
    (_erf_grad, tuple(f"void({t}[::1], {t}[::1], {t}[::1], {t})" for t in _FL)),
    (_modulo, tuple(f"void({t}[::1], {t}[::1], {t}[::1], {t}[::1], boolean, {t}, {t}, {t}, "
                    f"{t})" for t in _FL)),
    (_neg_scale, tuple(f"void({t}[::1], {t}[::1], {t}[::1], {t})" for t in _FL)),
    (_atan2, tuple(f"void({t}[::1], {t}[::1], {t}[::1])" for t in _FL)),
    (_atan2_grad, tuple(f"void({t}[::1], {t}[::1], {t}[::1], {t}[::1], {t}[::1])" for t in _FL)),
]
rounding_kernel = cuda.jit(_rounding)
erf_kernel = cuda.jit(_erf)
erf_grad_kernel = cuda.jit(_erf_grad)
modulo_kernel = cuda.jit(_modulo)
neg_scale_kernel = cuda.jit(_neg_scale)
atan2_kernel = cuda.jit(_atan2)
atan2_grad_kernel = cuda.jit(_atan2_grad)


def rounding_forward(x, mode):
    t = x.dtype.type
    out = map_1d("rounding_forward", rounding_kernel, {"x": x}, MODES[mode], t(0), t(1),
                 t(0.5))
    return out, (tuple(x.shape), x.dtype)


def rounding_backward(dout, cache):
    require_device("rounding_backward", dout=dout)
    shape, dtype = cache
    return (zeros(shape, dtype),)


def erf_forward(x):
    return map_1d("erf_forward", erf_kernel, {"x": x}), x


def erf_backward(dout, cache):
    x = cache
    scale = x.dtype.type(2.0 / math.sqrt(math.pi))
    return (map_1d("erf_backward", erf_grad_kernel, {"dout": dout, "x": x}, scale),)


def atan2_forward(y, x):
    require_device("atan2_forward", y=y, x=x)
    shape = tuple(np.broadcast_shapes(tuple(y.shape), tuple(x.shape)))
    yb, xb = broadcast_to(y, shape), broadcast_to(x, shape)  # (shape) each
    out = map_1d("atan2_forward", atan2_kernel, {"y": yb, "x": xb})
    return out, (yb, xb, tuple(y.shape), tuple(x.shape))


def atan2_backward(dout, cache):
    require_device("atan2_backward", dout=dout)
    yb, xb, y_shape, x_shape = cache
    dy, dx = empty(tuple(dout.shape), dout.dtype), empty(tuple(dout.shape), dout.dtype)
    if dout.size:
        blocks, threads = grid_1d(dout.size)
        atan2_grad_kernel[blocks, threads](flat(dout), flat(yb), flat(xb), flat(dy), flat(dx))
    return sum_to_shape(dy, y_shape), sum_to_shape(dx, x_shape)


def modulo_forward(a, b, floor=False):
    require_device("modulo_forward", a=a, b=b)
    shape = tuple(np.broadcast_shapes(tuple(a.shape), tuple(b.shape)))
    ab, bb = broadcast_to(a, shape), broadcast_to(b, shape)  # (shape) each
    out, quotient = empty(shape, a.dtype), empty(shape, a.dtype)
    if out.size:
        t = a.dtype.type
        blocks, threads = grid_1d(out.size)
        modulo_kernel[blocks, threads](flat(ab), flat(bb), flat(out), flat(quotient),
                                       bool(floor), t(0), t(1), t(0.5), t(np.nan))
    return out, (quotient, tuple(a.shape), tuple(b.shape))


def modulo_backward(dout, cache):
    require_device("modulo_backward", dout=dout)
    quotient, a_shape, b_shape = cache
    t = dout.dtype.type
    minus_q = map_1d("modulo_backward", neg_scale_kernel, {"dout": dout, "q": quotient}, t(0))
    return sum_to_shape(dout, a_shape), sum_to_shape(minus_q, b_shape)
