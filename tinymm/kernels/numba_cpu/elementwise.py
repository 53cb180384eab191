"""Numba in-place gradient sum (derivation: kernels/reference/elementwise.py).

``accumulate(dst, src)``: ``dst += src``. A large sum (at least ``SPLIT`` elements, both
arrays C-contiguous, one dtype, no overlap) is cut into contiguous ranges of the flat arrays
handed to the thread pool's workers (``_threads.run_ranges``), one compiled unit-stride loop
each, so both cores stream memory: a single NumPy ``+=`` runs on one core. Smaller sums, mixed
dtypes (NumPy's in-place casting), strided or overlapping operands take NumPy's ``+=``. Each
element is one rounded addition either way, so the result is the reference's bit for bit.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from tinymm.kernels.numba_cpu import _threads

SPLIT = 1 << 20  # elements from which the sum is cut into ranges for the workers (below it
# a pool hand-off costs more than the second core saves)
PIECE = 1 << 17  # about this many elements per range ...
MAX_PIECES = 8  # ... and at most this many: more than workers, so a descheduled one does less


@njit(cache=True, nogil=True)
def _add_into(dst, src):
    for i in range(dst.shape[0]):  # from 0: no negative-index wraparound, so it vectorises
        dst[i] += src[i]


def accumulate(dst, src):
    n = dst.size
    if (n < SPLIT or dst.dtype != src.dtype or dst.shape != src.shape
            or not (dst.flags.c_contiguous and src.flags.c_contiguous)
            or np.may_share_memory(dst, src)):
        np.add(dst, src, out=dst)
        return
    d, s = dst.reshape(-1), src.reshape(-1)  # views: C-contiguous
    _threads.run_ranges(lambda worker, start, stop: _add_into(d[start:stop], s[start:stop]), n,
                        min(MAX_PIECES, max(2, n // PIECE)))
