"""Parity cases for the attention kernels (N batch, h heads, Lq, Lk, d, e as in the derivation).

Float32 tolerances are looser than the default: the numba kernel accumulates in float64 in a
different order than NumPy's float32 BLAS, and the softmax's exponentials amplify score
rounding by the score magnitude.
"""

import numpy as np

from tests.kernel_cases import KernelCase

F32_TOL = {np.float32: 2e-5, np.float64: 1e-12}


def _randn(rng, dtype, *shape):
    return rng.standard_normal(shape).astype(dtype)


def _qkv(rng, dtype, N=2, h=3, Lq=5, Lk=7, d=4, e=6):
    return _randn(rng, dtype, N, h, Lq, d), _randn(rng, dtype, N, h, Lk, d), _randn(
        rng, dtype, N, h, Lk, e)


def _padding(rng, dtype):
    q, k, v = _qkv(rng, dtype)
    keep = rng.random((2, 1, 1, 7)) > 0.3  # (N, 1, 1, Lk), True = attend
    keep[0, 0, 0, :] = False  # batch item 0: every key masked -> zero rows
    keep[1, 0, 0, 0] = True
    return (q, k, v, keep), {}


def _float_mask(rng, dtype):
    q, k, v = _qkv(rng, dtype)
    bias = _randn(rng, dtype, 5, 7)  # (Lq, Lk), broadcast over N and heads
    bias[2, :] = -np.inf  # one fully masked query row
    return (q, k, v, bias), {"scale": 0.7}


def _causal_bool(rng, dtype):
    q, k, v = _qkv(rng, dtype, Lq=6, Lk=6)
    keep = rng.random((2, 3, 6, 6)) > 0.2  # full (N, h, Lq, Lk)
    keep[:, :, :, 0] = True
    return (q, k, v, keep), {"is_causal": True}


CASES = [
    KernelCase("scaled_dot_product_attention_forward",
               lambda r, d: (_qkv(r, d), {}), "plain", tol=F32_TOL),
    KernelCase("scaled_dot_product_attention_forward",
               lambda r, d: (_qkv(r, d, Lq=6, Lk=4), {"is_causal": True}), "causal", tol=F32_TOL),
    KernelCase("scaled_dot_product_attention_forward", _padding, "key-padding-dead-row",
               tol=F32_TOL),
    KernelCase("scaled_dot_product_attention_forward", _float_mask, "float-mask-scale",
               tol=F32_TOL),
    KernelCase("scaled_dot_product_attention_forward", _causal_bool, "causal-and-bool",
               tol=F32_TOL),
    KernelCase("scaled_dot_product_attention_forward",
               lambda r, d: (_qkv(r, d, N=1, h=1, Lq=1, Lk=1, d=1, e=1), {}), "size-one",
               tol=F32_TOL),
]
