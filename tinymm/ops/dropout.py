"""Dropout (inverted, as PyTorch): zero each element with probability p, scale the rest.

Dimension letters: any shape; the mask has the input's shape.

Forward, training mode, with a Bernoulli mask ``keep`` drawn once per call::

    keep[i] ~ Bernoulli(1 - p)
    y[i]    = x[i] * keep[i] / (1 - p)

so E[y] = x and evaluation (``training=False``) is the identity. Backward follows from the
product rule with a constant mask: ``dx[i] = dy[i] * keep[i] / (1 - p)``. That is exactly the
gradient autograd gives for ``x * scale_mask``, so dropout is written as one multiplication by
a constant Tensor and needs no kernel of its own. p = 1 zeroes everything (PyTorch does the
same).

The mask draws from ``tinymm.random.default_generator()`` (reseed it with
``tinymm.random.seed`` or ``tinymm.nn.init.seed``), so a seeded run drops the same elements
every time. ``nn.Dropout`` (nn/dropout.py) is the layer around this op.
"""

from __future__ import annotations

import numpy as np

from tinymm.random import default_generator
from tinymm.tensor import Tensor, from_numpy


def check_p(p: float) -> None:
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout: p is the probability of zeroing an element and must be in "
                         f"[0, 1], got {p}")


def dropout(x, p: float = 0.5, training: bool = True):
    """PyTorch's ``F.dropout``: identity when ``training`` is False or p = 0."""
    check_p(p)
    if not isinstance(x, Tensor):
        x = Tensor(x)
    if x.dtype.kind != "f":
        raise TypeError(f"dropout: input must be float32 or float64, got {x.dtype}")
    if not training or p == 0.0:
        return x
    if p == 1.0:
        return x * from_numpy(np.zeros(x.shape, dtype=x.dtype))
    keep = default_generator().random(x.shape) >= p  # (same shape as x) True = kept
    scale_mask = keep.astype(x.dtype) * x.dtype.type(1.0 / (1.0 - p))  # keep / (1 - p)
    return x * from_numpy(scale_mask)
