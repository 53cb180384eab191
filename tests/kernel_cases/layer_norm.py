"""Parity cases for the layer_norm kernels: one and two normalised axes, with and without the
affine part, and a case large enough for the parallel path.

The numba kernels accumulate in float64, so float32 results differ from the reference's by a
few ulps (tolerance 1e-5).
"""

import numpy as np

from tests.kernel_cases import KernelCase

TOL = {np.float32: 1e-5, np.float64: 1e-12}


def _args(rng, dtype, shape, normalized_shape, affine=True, offset=0.0):
    def randn(*s):
        return rng.standard_normal(s).astype(dtype)

    x = (randn(*shape) * 2 + offset).astype(dtype)
    if not affine:
        return (x, normalized_shape, None, None)
    return (x, normalized_shape, randn(*normalized_shape), randn(*normalized_shape))


CASES = [
    KernelCase("layer_norm_forward", lambda r, d: (_args(r, d, (4, 6), (6,)), {}), "2d", TOL),
    KernelCase("layer_norm_forward",
               lambda r, d: (_args(r, d, (2, 3, 4, 5), (4, 5), offset=10.0), {"eps": 1e-3}),
               "two-axes-offset", TOL),
    KernelCase("layer_norm_forward",
               lambda r, d: (_args(r, d, (3, 5, 7), (7,), affine=False), {}), "no-affine", TOL),
    KernelCase("layer_norm_forward",
               lambda r, d: (_args(r, d, (64, 33, 40), (40,)), {}), "parallel", TOL),
]
