"""Parity cases for the embedding kernels: repeated indices and a padding row."""

import numpy as np

from tests.kernel_cases import KernelCase


def _weight(rng, dtype, V, E):
    return rng.standard_normal((V, E)).astype(dtype)


CASES = [
    KernelCase("embedding_forward",
               lambda r, d: ((r.integers(0, 5, (3, 4)), _weight(r, d, 5, 6)), {}), "repeats"),
    KernelCase("embedding_forward",
               lambda r, d: ((np.array([[0, 2, 2, 1], [2, 0, 0, 0]]), _weight(r, d, 4, 3)),
                             {"padding_idx": 0}), "padding"),
    KernelCase("embedding_forward",
               lambda r, d: ((r.integers(0, 7, 9), _weight(r, d, 7, 5)), {"padding_idx": 6}),
               "1d"),
]
