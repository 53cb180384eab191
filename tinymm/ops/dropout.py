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

The mask draws from the global generator (``tinymm.manual_seed``; ``tinymm.nn.init.seed`` is
the same call), so a seeded run drops the same elements every time. For a cuda input the mask
is drawn on the device from the generator's xoroshiro128+ states (other draws than the
CPU's, as in PyTorch), with no host copy. ``nn.Dropout``
(nn/dropout.py) is the layer around this op.
"""

from __future__ import annotations

import numpy as np

from tinymm.devices import random_draw
from tinymm.random import default_generator
from tinymm.tensor import Tensor, from_data, from_numpy


def check_p(p: float) -> None:
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout: p is the probability of zeroing an element and must be in "
                         f"[0, 1], got {p}")


def dropout(x, p: float = 0.5, training: bool = True, inplace: bool = False):
    """PyTorch's ``F.dropout``: identity when ``training`` is False or p = 0 (``inplace`` is
    accepted and computes out of place: the values are the same)."""
    return _drop("dropout", x, p, training, lambda shape: shape)


def dropout2d(x, p: float = 0.5, training: bool = True, inplace: bool = False):
    """PyTorch's ``F.dropout2d``: zero whole channels, x (N, C, H, W) or (C, H, W); the mask
    is (N, C, 1, 1) (or (C, 1, 1)), one draw per channel, broadcast over the feature map."""
    if not isinstance(x, Tensor):
        x = from_data(x)
    if x.ndim not in (3, 4):
        raise ValueError(f"dropout2d: expected a 3-d (C, H, W) or 4-d (N, C, H, W) input, got "
                         f"shape {tuple(x.shape)}")
    batch = x.ndim - 2  # 1 or 2 leading dims that get their own draw
    return _drop("dropout2d", x, p, training, lambda shape: shape[:batch] + (1, 1))


def _drop(op: str, x, p: float, training: bool, mask_shape):
    """x times keep / (1 - p), keep ~ Bernoulli(1 - p) of shape ``mask_shape(x.shape)``."""
    check_p(p)
    if not isinstance(x, Tensor):
        x = from_data(x)
    if x.dtype.kind != "f":
        raise TypeError(f"{op}: input must be float32 or float64, got {x.dtype}")
    if not training or p == 0.0:
        return x
    shape = mask_shape(tuple(x.shape))
    if x.is_cuda:  # drawn on the device from the generator's cuda states (no host copy)
        states = default_generator.cuda_states()
        return x * Tensor._make(random_draw(states, "dropout_mask", shape, p, x.dtype))
    if p == 1.0:
        return x * from_numpy(np.zeros(shape, dtype=x.dtype)).to(x.device)
    keep = default_generator.rng.random(shape) >= p  # True = kept
    scale_mask = keep.astype(x.dtype) * x.dtype.type(1.0 / (1.0 - p))  # keep / (1 - p)
    return x * from_numpy(scale_mask).to(x.device)
