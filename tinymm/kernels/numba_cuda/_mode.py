"""The mode of each row on the device (Tensor.mode): PyTorch's most frequent value, the
smallest of those on a tie, and the index of its last occurrence.

x is (M, L), the mode's dim moved last by the caller. One thread per row walks j = 0 .. L-1
counting the elements equal to x[j] (O(L^2) work per row, no scratch memory): a higher count,
or the same count with a smaller value, makes x[j] the best so far, and a later occurrence of
the best value moves its index. NaNs equal nothing, so each counts once.
"""

from __future__ import annotations

import numpy as np
from numba import cuda, float32, float64, int64, void

from tinymm.kernels.numba_cuda._device import empty, grid_1d


def _mode(x, index):
    r = cuda.grid(1)
    if r < x.shape[0]:
        best_count = 0
        best = x[r, 0]
        at = 0
        for j in range(x.shape[1]):
            v = x[r, j]
            count = 0
            for k in range(x.shape[1]):
                if x[r, k] == v:
                    count += 1
            if count > best_count or (count == best_count and v < best):
                best, best_count, at = v, count, j
            elif count == best_count and v == best:
                at = j
        index[r] = at


mode_kernel = cuda.jit(_mode)
PTX_TARGETS = [(_mode, tuple(void(t[:, ::1], int64[::1]) for t in (float32, float64, int64)))]


def mode_index(x):
    """The int64 (M,) device array of each row's mode index, for a C-contiguous (M, L)
    device array x with L >= 1."""
    index = empty((x.shape[0],), np.int64)
    if index.size:
        blocks, threads = grid_1d(index.size)
        mode_kernel[blocks, threads](x, index)
    return index
