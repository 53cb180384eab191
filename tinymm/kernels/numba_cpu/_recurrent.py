"""Helpers shared by the recurrent Numba kernels (rnn, lstm): states, lengths, the time loop.

``loop_in_numba`` decides whether a time loop runs inside ``@njit`` (per-step GEMM through
SciPy's BLAS bindings, when SciPy is installed: ``BLAS_IN_NUMBA``) or in Python.
"""

from __future__ import annotations

import numpy as np
from numba import njit

try:  # numba's np.dot inside @njit calls BLAS through SciPy's Cython bindings
    import scipy.linalg.cython_blas  # noqa: F401

    BLAS_IN_NUMBA = True
except ImportError:  # pragma: no cover - depends on the environment
    BLAS_IN_NUMBA = False


@njit(cache=True)
def take_active_rows(dh_next, dh_prev, lengths, t):
    """dh_next[n] = dh_prev[n] for the rows whose step t was real (the others carry)."""
    N, H = dh_next.shape
    for n in range(N):
        if t < lengths[n]:
            for j in range(H):
                dh_next[n, j] = dh_prev[n, j]


def loop_in_numba(N: int, G: int, H: int) -> bool:
    """Run the time loop inside @njit (per-step GEMM through SciPy's BLAS) or in Python?

    Inside numba saves the per-step Python overhead (calls, argument unboxing) that dominates
    small batches. But SciPy ships its own OpenBLAS with its own thread pool: when the per-step
    GEMM ((N, H) x (H, G) forward, (N, G) x (G, H) backward) is big enough for OpenBLAS to
    multithread (M*N*K >= 2^18), SciPy's threads would compete for the cores with NumPy's
    pool, which runs the big GEMMs around the loop, and both pools spin-wait. So the numba
    loop is used where that GEMM runs on one thread anyway (LSTM 128->128: N <= 3); larger
    batches loop in Python, where the overhead is a small fraction of the step.
    """
    return BLAS_IN_NUMBA and N * G * H < 2**18


def bias_sum(bias_ih, bias_hh):
    if bias_ih is None:
        return bias_hh
    if bias_hh is None:
        return bias_ih
    return bias_ih + bias_hh


def lengths_array(lengths, N: int, T: int) -> np.ndarray:
    if lengths is None:
        return np.full(N, T, dtype=np.int64)
    return np.ascontiguousarray(lengths, dtype=np.int64)


def state_array(value, N: int, H: int, dtype) -> np.ndarray:
    """A fresh, writable C-contiguous (N, H) state array (the loop updates it in place)."""
    if value is None:
        return np.zeros((N, H), dtype)
    return np.array(value, dtype=dtype, order="C", copy=True)
