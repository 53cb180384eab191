"""Parity cases for the GRU kernels: lengths, batch_first, reverse, no bias or h0, saturation.

The numba cell computes its exponentials with its own vectorised polynomial, so float32
results agree with the reference to a few ulps per step, accumulated over the steps
(tolerance 1e-5 in float32).
"""

import numpy as np

from tests.kernel_cases import KernelCase

TOL = {np.float32: 1e-5, np.float64: 1e-12}


def _gru_args(rng, dtype, T, N, D, H, batch_first=False, h0=True, bias=True, scale=0.5):
    def randn(*shape):
        return (rng.standard_normal(shape) * 0.5).astype(dtype)

    x = randn(N, T, D) if batch_first else randn(T, N, D)
    weights = (randn(3 * H, D), randn(3 * H, H), randn(3 * H) if bias else None,
               randn(3 * H) if bias else None)
    weights = tuple(None if w is None else (w * (scale / 0.5)).astype(dtype) for w in weights)
    return (x, randn(N, H) if h0 else None) + weights


CASES = [
    KernelCase("gru_forward", lambda r, d: (_gru_args(r, d, 5, 3, 4, 6), {}), "plain", TOL),
    KernelCase("gru_forward",
               lambda r, d: (_gru_args(r, d, 5, 3, 4, 6, batch_first=True, h0=False),
                             {"lengths": np.array([5, 2, 3]), "batch_first": True}),
               "lengths-batch-first", TOL),
    KernelCase("gru_forward",
               lambda r, d: (_gru_args(r, d, 4, 3, 2, 3, bias=False),
                             {"lengths": np.array([1, 4, 2]), "reverse": True}),
               "lengths-reverse-no-bias", TOL),
    KernelCase("gru_forward", lambda r, d: (_gru_args(r, d, 3, 1, 1, 1), {}), "tiny", TOL),
    KernelCase("gru_forward", lambda r, d: (_gru_args(r, d, 3, 2, 3, 4, scale=10.0), {}),
               "saturating", TOL),
    KernelCase("gru_forward", lambda r, d: (_gru_args(r, d, 3, 40, 8, 64), {}), "python-loop",
               TOL),
]
