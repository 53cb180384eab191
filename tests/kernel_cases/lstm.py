"""Parity cases for the LSTM kernels: lengths, batch_first, reverse, no bias or initial state.

The numba cell computes its exponentials with its own vectorised polynomial in float64 and
rounds once, where the reference rounds every float32 operation: float32 results agree to a
few ulps per step, accumulated over the steps (tolerance 1e-5 in float32).
"""

import numpy as np

from tests.kernel_cases import KernelCase

TOL = {np.float32: 1e-5, np.float64: 1e-12}


def _lstm_args(rng, dtype, T, N, D, H, batch_first=False, state=True, bias=True):
    def randn(*shape):
        return (rng.standard_normal(shape) * 0.5).astype(dtype)

    x = randn(N, T, D) if batch_first else randn(T, N, D)
    return (x, randn(N, H) if state else None, randn(N, H) if state else None,
            randn(4 * H, D), randn(4 * H, H), randn(4 * H) if bias else None,
            randn(4 * H) if bias else None)


def _saturating(rng, dtype):
    """Weights 20x larger: gate pre-activations far into the sigmoid/tanh tails."""
    args = _lstm_args(rng, dtype, 3, 2, 3, 4)
    return args[:3] + tuple((20 * a).astype(dtype) for a in args[3:])


CASES = [
    KernelCase("lstm_forward", lambda r, d: (_lstm_args(r, d, 5, 3, 4, 6), {}), "plain", TOL),
    KernelCase("lstm_forward",
               lambda r, d: (_lstm_args(r, d, 5, 3, 4, 6, batch_first=True, state=False),
                             {"lengths": np.array([5, 2, 3]), "batch_first": True}),
               "lengths-batch-first", TOL),
    KernelCase("lstm_forward",
               lambda r, d: (_lstm_args(r, d, 4, 3, 2, 3, bias=False),
                             {"lengths": np.array([1, 4, 2]), "reverse": True}),
               "lengths-reverse-no-bias", TOL),
    KernelCase("lstm_forward",
               lambda r, d: (_lstm_args(r, d, 3, 1, 1, 1), {}), "tiny", TOL),
    KernelCase("lstm_forward", lambda r, d: (_saturating(r, d), {}), "saturating", TOL),
]
