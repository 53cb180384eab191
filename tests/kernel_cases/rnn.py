"""Parity cases for the RNN kernels: lengths, batch_first, reverse, relu, no bias or h0."""

import numpy as np

from tests.kernel_cases import KernelCase


def _rnn_args(rng, dtype, T, N, D, H, batch_first=False, h0=True, bias=True):
    def randn(*shape):
        return (rng.standard_normal(shape) * 0.5).astype(dtype)

    x = randn(N, T, D) if batch_first else randn(T, N, D)
    return (x, randn(N, H) if h0 else None, randn(H, D), randn(H, H),
            randn(H) if bias else None, randn(H) if bias else None)


CASES = [
    KernelCase("rnn_forward", lambda r, d: (_rnn_args(r, d, 5, 3, 4, 6), {}), "plain"),
    KernelCase("rnn_forward",
               lambda r, d: (_rnn_args(r, d, 5, 3, 4, 6, batch_first=True, h0=False),
                             {"lengths": np.array([5, 2, 3]), "batch_first": True}),
               "lengths-batch-first"),
    KernelCase("rnn_forward",
               lambda r, d: (_rnn_args(r, d, 4, 3, 2, 3, bias=False),
                             {"lengths": np.array([1, 4, 2]), "reverse": True}),
               "lengths-reverse-no-bias"),
    KernelCase("rnn_forward",
               lambda r, d: (_rnn_args(r, d, 4, 2, 3, 5), {"nonlinearity": "relu"}), "relu"),
]
