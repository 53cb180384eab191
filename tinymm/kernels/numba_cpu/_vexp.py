"""A vectorisable exp for Numba kernels, written once: ``exp_split`` (one element) and
``exp_inplace`` (a 1-d buffer), each in its argument's precision.

libm's scalar ``exp`` does not vectorise inside a Numba loop. Here exp(y) = 2^k * exp(r) with
k = round(y / ln 2) and |r| <= ln(2) / 2: exp(r) is a Taylor polynomial (degree 7 in float32,
relative error < 1e-8; degree 13 in float64, ~1e-16) that LLVM vectorises, and 2^k is
assembled from its IEEE-754 bits, which a second pass reads back as floats. ``constants(z)``
gives the constants in z's dtype, so float32 code stays in float32 arithmetic and a vector
holds twice as many float32 lanes as float64 ones (8 against 4 in 256 bits, 16 against 8 in
512; LLVM picks the width for the CPU). ``exp_buffers`` allocates the work buffers.
Used by the recurrent kernels (lstm, gru, rnn) through ``exp_inplace`` and by attention's
softmax through ``exp_split``.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit, types
from numba.extending import overload

# No 'reassoc': the rounding trick in exp_inplace needs (y + shift) - shift to stay as written.
FASTMATH = {"nnan", "ninf", "nsz", "arcp", "contract", "afn"}
# (lo, hi, log2e, shift, ln2_hi, ln2_lo, one, two, floor, zero, bias, mantissa)
_F32_CONSTANTS = tuple(np.float32(v) for v in (
    -80.0, 80.0,  # exp_inplace's clamp: the gates saturate long before
    1.4426950408889634,  # log2(e)
    12582912.0,  # 1.5 * 2^23: adding it rounds a float32 to an integer
    0.693359375, -2.12194440e-4,  # ln 2 = hi + lo, hi with few bits so k * hi is exact
    1.0, 2.0,
    -87.0,  # floor: the lowest argument whose 2^k is normal (exp(-87) ~ 1.6e-38)
    0.0)) + (np.int32(127), np.int32(23))  # exponent bias, mantissa bits
_F64_CONSTANTS = tuple(np.float64(v) for v in (
    -80.0, 80.0, 1.4426950408889634,
    6755399441055744.0,  # 1.5 * 2^52
    0.693145751953125, 1.42860682030941723212e-6,
    1.0, 2.0, -700.0, 0.0)) + (np.int64(1023), np.int64(52))  # floor: exp(-700) ~ 1e-304


def constants(z):  # typed by the overload below: float32 arrays get float32 constants
    raise NotImplementedError


@overload(constants)
def _constants_for_dtype(z):
    constants = _F32_CONSTANTS if z.dtype == types.float32 else _F64_CONSTANTS
    return lambda z: constants


def _exp_poly(r):  # exp(r) on |r| <= ln(2) / 2, at the precision of r's type
    raise NotImplementedError


@overload(_exp_poly)
def _exp_poly_for_dtype(r):
    if r == types.float32:  # Taylor to degree 7: relative error < 1e-8
        c = tuple(np.float32(1.0 / math.factorial(q)) for q in range(8))

        def poly32(r):
            return c[0] + r * (c[1] + r * (c[2] + r * (c[3] + r * (c[4] + r * (
                c[5] + r * (c[6] + r * c[7]))))))

        return poly32
    c = tuple(1.0 / math.factorial(q) for q in range(14))  # degree 13: ~1e-16

    def poly64(r):
        return c[0] + r * (c[1] + r * (c[2] + r * (c[3] + r * (c[4] + r * (c[5] + r * (
            c[6] + r * (c[7] + r * (c[8] + r * (c[9] + r * (c[10] + r * (c[11] + r * (
                c[12] + r * c[13]))))))))))))

    return poly64


@njit(cache=True, fastmath=FASTMATH)
def exp_split(y, c):
    """exp(y) as (p, bits): p = exp(r) and bits the IEEE-754 bits of 2^k, exp(y) = p * 2^k.

    y must lie in [c's floor, 80]; c is ``constants`` of y's dtype. k = round(y / ln 2) by the
    1.5 * 2^mantissa trick (why FASTMATH has no 'reassoc'; callers whose own flags reassociate
    still get these instructions as written), r = y - k * ln 2 in two parts so k * ln2_hi is
    exact. A small function that LLVM inlines into the caller's loop and vectorises.
    """
    log2e, shift, ln2_hi, ln2_lo = c[2], c[3], c[4], c[5]
    bias, mantissa = c[10], c[11]
    k = (y * log2e + shift) - shift  # round(y / ln 2), as a float
    r = y - k * ln2_hi - k * ln2_lo
    return _exp_poly(r), (int(k) + bias) << mantissa


@njit(cache=True, fastmath=FASTMATH)
def exp_inplace(z, bits, scale):
    """z[:] = exp(z) for a 1-d float buffer, in two vectorisable passes, in z's precision.

    The first pass clamps z to [-80, 80] (every gate has saturated by then) and stores
    ``exp_split``'s polynomial in z and the bits of 2^k in ``bits`` (an int32/int64 buffer as
    long as z); the second multiplies by ``scale``, the same memory viewed as floats.
    """
    c = constants(z)
    lo, hi = c[0], c[1]
    for m in range(z.size):
        p, b = exp_split(min(max(z[m], lo), hi), c)
        z[m] = p
        bits[m] = b
    for m in range(z.size):
        z[m] = z[m] * scale[m]


def exp_buffers(M: int, dtype) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Work buffers of exp_inplace: z (M,) floats, bits (M,) ints of the same width and
    scale, the bits viewed as floats."""
    bits = np.empty(M, np.int32 if dtype == np.float32 else np.int64)
    return np.empty(M, dtype), bits, bits.view(dtype)
