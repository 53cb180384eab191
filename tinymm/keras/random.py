"""``keras.random``: random Tensors for custom layers and training steps (a VAE's sampling, a
GAN's latent vectors). ``seed`` is None (the generator ``keras.utils.set_random_seed``
seeds), an int (a fresh generator from that seed, so the same call gives the same values),
or a ``SeedGenerator`` (its own stream: successive calls differ, reproducibly). The values
come from NumPy's generators, so they differ from Keras's for the same seed."""

from __future__ import annotations

import numpy as np

from tinymm.nn import init as _init
from tinymm.tensor import Tensor, as_tensor

_FLOATX = "float32"


class SeedGenerator:
    """A stream of random draws (Keras's ``keras.random.SeedGenerator(seed)``)."""

    def __init__(self, seed=None, **kwargs):
        self.rng = np.random.default_rng(seed)


def _rng(seed) -> np.random.Generator:
    if seed is None:
        return _init.generator
    if isinstance(seed, SeedGenerator):
        return seed.rng
    if isinstance(seed, (int, np.integer)):
        return np.random.default_rng(int(seed))
    raise TypeError(f"keras.random: seed must be None, an int or a SeedGenerator, got "
                    f"{type(seed).__name__}")


def _shape(shape) -> tuple:
    return (int(shape),) if isinstance(shape, (int, np.integer)) else tuple(int(d) for d in shape)


def normal(shape, mean: float = 0.0, stddev: float = 1.0, dtype=None, seed=None) -> Tensor:
    draw = _rng(seed).normal(mean, stddev, _shape(shape))
    return as_tensor(draw.astype(dtype or _FLOATX))


def uniform(shape, minval: float = 0.0, maxval: float = 1.0, dtype=None, seed=None) -> Tensor:
    draw = _rng(seed).uniform(minval, maxval, _shape(shape))
    return as_tensor(draw.astype(dtype or _FLOATX))


def randint(shape, minval: int, maxval: int, dtype="int32", seed=None) -> Tensor:
    return as_tensor(_rng(seed).integers(minval, maxval, _shape(shape)).astype(dtype))


def truncated_normal(shape, mean: float = 0.0, stddev: float = 1.0, dtype=None,
                     seed=None) -> Tensor:
    """Normal draws, each redrawn until it lies within two standard deviations."""
    rng, shape = _rng(seed), _shape(shape)
    draw = rng.normal(0.0, 1.0, shape)
    bad = np.abs(draw) > 2.0
    while bad.any():
        draw[bad] = rng.normal(0.0, 1.0, int(bad.sum()))
        bad = np.abs(draw) > 2.0
    return as_tensor((mean + stddev * draw).astype(dtype or _FLOATX))


def shuffle(x, axis: int = 0, seed=None) -> Tensor:
    """``x`` with its entries along ``axis`` in a random order (gradients follow them)."""
    x = x if isinstance(x, Tensor) else as_tensor(np.asarray(x))
    order = _rng(seed).permutation(x.shape[axis])
    return x.index_select(axis, as_tensor(order))


def dropout(inputs, rate: float, noise_shape=None, seed=None) -> Tensor:
    """``inputs`` with each entry zeroed with probability ``rate``, the rest scaled by
    1 / (1 - rate) (``noise_shape`` broadcasts one draw over axes of size 1)."""
    if not 0 <= rate < 1:
        raise ValueError(f"keras.random.dropout: rate must be in [0, 1), got {rate}")
    x = inputs if isinstance(inputs, Tensor) else as_tensor(np.asarray(inputs))
    shape = tuple(x.shape) if noise_shape is None else tuple(
        x.shape[i] if d is None else d for i, d in enumerate(noise_shape))
    keep = _rng(seed).random(shape) >= rate
    return x * as_tensor((keep / (1.0 - rate)).astype(x.dtype))


__all__ = ["SeedGenerator", "dropout", "normal", "randint", "shuffle", "truncated_normal",
           "uniform"]
