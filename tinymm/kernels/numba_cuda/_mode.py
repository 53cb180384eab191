"""The mode of each row on the device (Tensor.mode): PyTorch's most frequent value, the
smallest of those on a tie, and the index of its last occurrence.

x is (M, L), the mode's dim moved last by the caller. Each row is sorted stably (the bitonic
network of ``_sort``: ``sorted`` and ``perm``, the source index of each place), so equal
values form runs, and within a run the source indices ascend. Then one block per row: each
thread takes a strided share of the places j; a place where a run ends (the last place, or
the next value differs) finds where its run starts by binary search over the sorted row
(the first place holding a value >= sorted[j]), so the run's count is j - start + 1. A NaN
equals nothing: each is a run of one. The best run (the higher count; on equal counts the
smaller value, a number before NaN; then the earlier run) is chosen by a shared-memory tree
over the threads' candidates (no warp shuffles, so the simulator runs the same code); its
last place's source index, perm[j], is the last occurrence of the mode (the sort is stable).
"""

from __future__ import annotations

import numpy as np
from numba import cuda, int64

from tinymm.kernels.numba_cuda._device import SIMULATOR, empty
from tinymm.kernels.numba_cuda._sort import sort_rows

MODE_THREADS = 8 if SIMULATOR else 256  # a power of two (the tree halves it)


@cuda.jit(device=True, inline="always")
def _run_start(s, r, j):
    """The first place of the run that ends at place j of the sorted row s[r]."""
    v = s[r, j]
    if v != v:
        return j
    lo, hi = 0, j
    while lo < hi:
        mid = (lo + hi) // 2
        if s[r, mid] < v:
            lo = mid + 1
        else:
            hi = mid
    return lo


@cuda.jit(device=True, inline="always")
def _better(s, r, ca, ja, cb, jb):
    """True when the run of count ca ending at ja beats the one of count cb ending at jb
    (jb < 0: no candidate)."""
    if jb < 0:
        return ja >= 0
    if ja < 0 or ca != cb:
        return ja >= 0 and ca > cb
    va = s[r, ja]
    vb = s[r, jb]
    if va == vb or (va != va and vb != vb):
        return ja < jb
    return vb != vb or va < vb


def _mode_runs(s, perm, index):
    # s, perm (M, L) the stably sorted rows and their source indices; index (M,) <- the mode's
    counts = cuda.shared.array(MODE_THREADS, int64)
    ends = cuda.shared.array(MODE_THREADS, int64)
    r = cuda.blockIdx.x
    t = cuda.threadIdx.x
    L = s.shape[1]
    best_count, best_end = 0, -1
    for j in range(t, L, MODE_THREADS):
        if j == L - 1 or s[r, j + 1] != s[r, j]:
            count = j - _run_start(s, r, j) + 1
            if _better(s, r, count, j, best_count, best_end):
                best_count, best_end = count, j
    counts[t] = best_count
    ends[t] = best_end
    cuda.syncthreads()
    half = MODE_THREADS // 2
    while half > 0:
        if t < half and _better(s, r, counts[t + half], ends[t + half], counts[t], ends[t]):
            counts[t] = counts[t + half]
            ends[t] = ends[t + half]
        cuda.syncthreads()
        half //= 2
    if t == 0:
        index[r] = perm[r, ends[0]]


mode_runs_kernel = cuda.jit(_mode_runs)
PTX_TARGETS = [(_mode_runs, tuple(f"void({t}[:, ::1], int64[:, ::1], int64[::1])"
                                  for t in ("float32", "float64", "int64")))]


def mode_index(x):
    """The int64 (M,) device array of each row's mode index, for a C-contiguous (M, L)
    device array x with L >= 1."""
    index = empty((x.shape[0],), np.int64)
    if index.size:
        ordered, perm = sort_rows(x)
        mode_runs_kernel[x.shape[0], MODE_THREADS](ordered, perm, index)
    return index
