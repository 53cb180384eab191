"""Shape helpers shared by every backend's kernels and by the ops (not kernels themselves)."""

from __future__ import annotations

import numpy as np


def sum_to_shape(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum ``grad`` down to ``shape``, undoing NumPy broadcasting.

    An input element that broadcasting used once per copy receives, by the chain rule, the
    sum of the upstream gradient over those copies: over the leading axes broadcasting added,
    and over the axes where the input had size 1 and the output did not.
    """
    if grad.shape == tuple(shape):
        return grad
    extra = grad.ndim - len(shape)  # leading axes that broadcasting added
    if extra > 0:
        grad = grad.sum(axis=tuple(range(extra)))
    stretched = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if stretched:
        grad = grad.sum(axis=stretched, keepdims=True)
    return grad.reshape(shape)
