"""Helpers shared by the recurrent Numba kernels (rnn, lstm): states, lengths, the time loop,
the batch split.

``loop_in_numba`` decides whether a time loop runs inside ``@njit`` (per-step GEMM through
SciPy's BLAS bindings, when SciPy is installed: ``BLAS_IN_NUMBA``) or in Python.

The batch split: the rows of a batch are independent through the whole recurrence, so a
batch of at least ``2 * CHUNK_ROWS`` rows is cut into chunks of about ``CHUNK_ROWS`` rows
(``row_chunks``), and each worker thread of ``_threads`` runs whole chunks: input projection,
time loop and weight-gradient shares, with BLAS single-threaded. A chunk's time loop runs
where ``loop_in_numba`` puts it for the chunk's rows (for 16-row LSTM chunks: in Python, the
cell kernels releasing the GIL, which spares the cold start compiling the loop and its
in-Numba GEMM; measured no slower than the in-Numba loop on this shape: benchmarks/RESULTS.md).
The chunks depend on N only, and their weight-gradient shares are summed in chunk order
(``sum_in_order``), so results do not depend on the number of threads or on which worker took
which chunk.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from tinymm.kernels.numba_cpu import _workspace

try:  # numba's np.dot inside @njit calls BLAS through SciPy's Cython bindings
    import scipy.linalg.cython_blas  # noqa: F401

    BLAS_IN_NUMBA = True
except ImportError:  # pragma: no cover - depends on the environment
    BLAS_IN_NUMBA = False


CHUNK_ROWS = 16  # rows per chunk of the batch split (module docstring)
MAX_CHUNKS = 16


@njit(cache=True, nogil=True)
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


def row_chunks(N: int) -> list[tuple[int, int]]:
    """The batch split's row ranges [(n0, n1), ...]: one chunk below 2 * CHUNK_ROWS rows."""
    count = min(N // CHUNK_ROWS, MAX_CHUNKS)
    if count < 2:
        return [(0, N)]
    return [(k * N // count, (k + 1) * N // count) for k in range(count)]


def rows_of(a, n0: int, n1: int):
    """a[:, n0:n1] of a (T, N, ...) array, C-contiguous: a itself when it is every row."""
    return a if n1 - n0 == a.shape[1] else np.ascontiguousarray(a[:, n0:n1])


def gather_rows(blocks, N: int):
    """The (T, Nc, ...) blocks of the chunks, in order, as one (T, N, ...) array."""
    if len(blocks) == 1:
        return blocks[0]
    first = blocks[0]
    out = _workspace.empty((first.shape[0], N) + first.shape[2:], first.dtype)
    n0 = 0
    for block in blocks:
        out[:, n0:n0 + block.shape[1]] = block
        n0 += block.shape[1]
    return out


def sum_in_order(shares):
    """The chunks' shares of one gradient summed in chunk order (the first one itself when
    it is the only one)."""
    total = shares[0]
    if len(shares) > 1:
        total = total.copy()
        for share in shares[1:]:
            total += share
    return total
