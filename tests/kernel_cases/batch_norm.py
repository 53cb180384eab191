"""Parity cases for the batch_norm kernels: (N, C), (N, C, L), (N, C, H, W), train and eval,
with and without the affine part and the running statistics.

The numba kernels accumulate in float64 and fold the affine part into one scale and shift per
channel, so float32 results differ from the reference's by a few ulps (tolerance 1e-5).
"""

import numpy as np

from tests.kernel_cases import KernelCase

TOL = {np.float32: 1e-5, np.float64: 1e-12}


def _args(rng, dtype, shape, affine=True, stats=True, offset=0.0):
    C = shape[1]

    def randn(*s):
        return rng.standard_normal(s).astype(dtype)

    x = (randn(*shape) * 2 + offset).astype(dtype)
    weight, bias = (randn(C), randn(C)) if affine else (None, None)
    running = (randn(C) * 0.1, (rng.random(C) + 0.5).astype(dtype)) if stats else (None, None)
    return (x, weight, bias) + running


CASES = [
    KernelCase("batch_norm_forward", lambda r, d: (_args(r, d, (6, 4)), {}), "NC-train", TOL),
    KernelCase("batch_norm_forward",
               lambda r, d: (_args(r, d, (3, 5, 7), offset=10.0), {"momentum": 0.3}),
               "NCL-train-offset", TOL),
    KernelCase("batch_norm_forward",
               lambda r, d: (_args(r, d, (2, 3, 4, 5), affine=False, stats=False), {}),
               "NCHW-train-no-affine-no-stats", TOL),
    KernelCase("batch_norm_forward",
               lambda r, d: (_args(r, d, (2, 3, 4, 5)), {"training": False, "eps": 1e-3}),
               "NCHW-eval", TOL),
    KernelCase("batch_norm_forward",
               lambda r, d: (_args(r, d, (4, 70, 16, 8)), {}), "NCHW-parallel", TOL),
    KernelCase("batch_norm_forward",
               lambda r, d: (_args(r, d, (600, 65)), {}), "NC-parallel", TOL),
    KernelCase("batch_norm_forward",
               lambda r, d: (_args(r, d, (5, 1, 3)), {"training": False}), "one-channel-eval",
               TOL),
]
