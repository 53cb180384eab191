"""Numba-backend shape kernels: only ``split_backward`` differs from the reference.

The gradient of a split is the concatenation of its pieces' gradients. When those are already
adjacent views of one buffer, in order along the split axis with the same strides (the
attention kernel writes dq, dk, dv into one buffer laid out like the q/k/v projection they were
split from: kernels/numba_cpu/attention.py), the concatenation IS that view of the buffer, and
it is returned without a copy. Any other pieces are concatenated as the reference does.
"""

from __future__ import annotations

import numpy as np


def _data(x: np.ndarray) -> int:
    return x.__array_interface__["data"][0]


def adjacent_view(pieces, axis: int) -> np.ndarray | None:
    """The array whose split along ``axis`` gives exactly ``pieces`` (views of one base, each
    starting where the previous one ends along ``axis``, same strides and other dimensions),
    as a view of their memory; None when they are not such views."""
    first = pieces[0] if pieces else None
    if len(pieces) < 2 or not isinstance(first, np.ndarray) or first.base is None:
        return None
    axis %= first.ndim
    step = first.strides[axis]
    rest = first.shape[:axis] + first.shape[axis + 1:]
    length = 0
    for piece in pieces:
        if not isinstance(piece, np.ndarray) or piece.base is not first.base \
                or piece.dtype != first.dtype or piece.strides != first.strides \
                or piece.shape[:axis] + piece.shape[axis + 1:] != rest \
                or piece.shape[axis] == 0 or _data(piece) != _data(first) + length * step:
            return None
        length += piece.shape[axis]
    shape = first.shape[:axis] + (length,) + first.shape[axis + 1:]
    return np.lib.stride_tricks.as_strided(first, shape, first.strides)


def split_backward(douts, cache):
    axis = cache
    joined = adjacent_view(douts, axis)
    return (joined if joined is not None else np.concatenate(douts, axis=axis),)
