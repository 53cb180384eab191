"""Helpers shared by the numba kernels (not kernels themselves)."""

from __future__ import annotations

import numpy as np


def contiguous(x: np.ndarray) -> np.ndarray:
    """A C-contiguous view or copy: the kernels index flat memory with unit stride."""
    return x if x.flags.c_contiguous else np.ascontiguousarray(x)


def rows_last(x: np.ndarray, axis: int) -> tuple[np.ndarray, int]:
    """Move ``axis`` last and view the array as contiguous (rows, C); returns the axis too."""
    axis = axis % x.ndim
    moved = np.moveaxis(x, axis, -1)
    return contiguous(moved).reshape(-1, x.shape[axis]), axis


def rows_back(rows: np.ndarray, like_shape: tuple[int, ...], axis: int) -> np.ndarray:
    """Inverse of ``rows_last``: reshape (rows, C) back and move the last axis to ``axis``."""
    moved_shape = like_shape[:axis] + like_shape[axis + 1:] + (like_shape[axis],)
    return np.moveaxis(rows.reshape(moved_shape), -1, axis)


# Work below this many elements runs on the calling thread: waking the thread pool for a
# parallel region costs microseconds (and far more on a busy machine), more than small work.
PARALLEL_MIN = 1 << 15
BLOCK = 1 << 13  # elements per parallel block of an elementwise kernel


def parallel_worth_it(work: int) -> bool:
    """Whether a kernel over ``work`` elements should use the parallel driver."""
    return work >= PARALLEL_MIN
