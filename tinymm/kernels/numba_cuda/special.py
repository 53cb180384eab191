"""CUDA rounding and error function (derivation: kernels/reference/special.py).

One thread per element over the flat array. The rounding mode is a launch argument (uniform
across the grid). ``math.floor``/``ceil`` lower to libdevice's floorf/ceilf (floor/ceil in
float64) and keep the dtype; trunc is the floor of a positive and the ceiling of a negative;
round is half to even from the floor (``r = floor(v)``; up when the remainder is over one
half, or exactly one half and r is odd). NaN and infinities pass through every mode but
sign (which gives +-1 for infinities), as NumPy and PyTorch do. erf is libdevice's erff/erf.

Numerics: typed constants (zero, one, half, the erf derivative's 2 / sqrt(pi)) are passed in,
so float32 arithmetic never mixes with a float64 literal.
"""

from __future__ import annotations

import math

from numba import cuda

from tinymm.kernels.numba_cuda._device import map_1d, require_device, zeros

FLOOR, CEIL, ROUND, TRUNC, SIGN = range(5)
MODES = {"floor": FLOOR, "ceil": CEIL, "round": ROUND, "trunc": TRUNC, "sign": SIGN}


def _rounding(x, out, mode, zero, one, half):
    i = cuda.grid(1)
    if i < out.size:
        v = x[i]
        if mode == SIGN:
            r = one if v > zero else (-one if v < zero else v * zero)  # 0 and NaN stay
        elif v != v or v - v != zero:  # NaN or an infinity
            r = v
        elif mode == FLOOR:
            r = math.floor(v)
        elif mode == CEIL:
            r = math.ceil(v)
        elif mode == TRUNC:  # toward zero
            r = math.floor(v) if v >= zero else math.ceil(v)
        else:  # ROUND: half to even
            r = math.floor(v)
            d = v - r
            odd = r - (one + one) * math.floor(r * half)  # 1 for an odd r, else 0
            if d > half or (d == half and odd == one):
                r = r + one
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


_FL = ("float32", "float64")
PTX_TARGETS = [
    (_rounding, tuple(f"void({t}[::1], {t}[::1], int64, {t}, {t}, {t})" for t in _FL)),
    (_erf, tuple(f"void({t}[::1], {t}[::1])" for t in _FL)),
    (_erf_grad, tuple(f"void({t}[::1], {t}[::1], {t}[::1], {t})" for t in _FL)),
]
rounding_kernel = cuda.jit(_rounding)
erf_kernel = cuda.jit(_erf)
erf_grad_kernel = cuda.jit(_erf_grad)


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
