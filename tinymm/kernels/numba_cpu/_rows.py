"""What the row-wise Numba kernels (softmax, log-softmax, cross-entropy) share: the row
maximum, the split of R rows into blocks for a ``prange`` driver, and the choice between the
driver and one thread.

Each kernel is written over a range of rows, ``kernel_range(*arrays, r0, r1)``; its driver
``kernel_all(*arrays)`` runs ``kernel_range`` on block b's rows ``block(b, R)`` for b in
``prange(n_blocks(R))``.
"""

from __future__ import annotations

from numba import njit

from tinymm.kernels.numba_cpu._util import parallel_worth_it

ROWS_PER_TASK = 64


@njit(cache=True)
def row_max(x, r):
    """max_c x[r, c] of a 2-d array."""
    m = x[r, 0]
    for c in range(1, x.shape[1]):
        m = max(m, x[r, c])
    return m


@njit(cache=True)
def n_blocks(R):
    return (R + ROWS_PER_TASK - 1) // ROWS_PER_TASK


@njit(cache=True)
def block(b, R):
    """Rows [r0, r1) of block b."""
    return b * ROWS_PER_TASK, min((b + 1) * ROWS_PER_TASK, R)


def run_rows(kernel_range, kernel_all, *arrays):
    """All rows on this thread for small arrays, split between threads for large ones."""
    if parallel_worth_it(arrays[0].size):
        kernel_all(*arrays)
    else:
        kernel_range(*arrays, 0, arrays[0].shape[0])
