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
