"""Weight initialisation, with PyTorch's formulas so default layers match ``torch.nn``.

``kaiming_uniform_(w, a=sqrt(5))`` is what PyTorch's Linear and Conv layers use by default:
bound = gain * sqrt(3 / fan_in) with gain = sqrt(2 / (1 + a^2)), which works out to
bound = 1 / sqrt(fan_in). Biases draw from U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
All functions draw from ``tinymm.random.default_generator()`` (seed it with
``tinymm.nn.init.seed`` or ``tinymm.random.seed``).
"""

from __future__ import annotations

import math

import numpy as np

from tinymm.random import default_generator, seed
from tinymm.tensor import Tensor

__all__ = ["seed"]  # re-exported: nn.init.seed(s) reseeds the default generator


def fan_in_and_fan_out(shape: tuple[int, ...]) -> tuple[int, int]:
    if len(shape) < 2:
        raise ValueError(f"init: fan in/out needs at least 2 dimensions, got shape {shape}")
    receptive = int(np.prod(shape[2:])) if len(shape) > 2 else 1
    return shape[1] * receptive, shape[0] * receptive


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    if nonlinearity in ("linear", "conv1d", "conv2d", "sigmoid"):
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else param
        return math.sqrt(2.0 / (1 + slope**2))
    raise ValueError(f"calculate_gain: unknown nonlinearity {nonlinearity!r}")


def uniform_(t: Tensor, low: float = 0.0, high: float = 1.0) -> Tensor:
    t.array[...] = default_generator().uniform(low, high, size=t.shape)
    return t


def normal_(t: Tensor, mean: float = 0.0, std: float = 1.0) -> Tensor:
    t.array[...] = default_generator().normal(mean, std, size=t.shape)
    return t


def zeros_(t: Tensor) -> Tensor:
    t.array[...] = 0
    return t


def ones_(t: Tensor) -> Tensor:
    t.array[...] = 1
    return t


def kaiming_uniform_(t: Tensor, a: float = 0.0, mode: str = "fan_in",
                     nonlinearity: str = "leaky_relu") -> Tensor:
    fan_in, fan_out = fan_in_and_fan_out(t.shape)
    fan = fan_in if mode == "fan_in" else fan_out
    bound = calculate_gain(nonlinearity, a) * math.sqrt(3.0 / fan)
    return uniform_(t, -bound, bound)


def xavier_uniform_(t: Tensor, gain: float = 1.0) -> Tensor:
    fan_in, fan_out = fan_in_and_fan_out(t.shape)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(t, -bound, bound)


def default_bias_(bias: Tensor, fan_in: int) -> Tensor:
    bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
    return uniform_(bias, -bound, bound)


def constant_(t: Tensor, value: float) -> Tensor:
    t.array[...] = value
    return t


def kaiming_normal_(t: Tensor, a: float = 0.0, mode: str = "fan_in",
                    nonlinearity: str = "leaky_relu") -> Tensor:
    fan_in, fan_out = fan_in_and_fan_out(t.shape)
    fan = fan_in if mode == "fan_in" else fan_out
    return normal_(t, 0.0, calculate_gain(nonlinearity, a) / math.sqrt(fan))


def xavier_normal_(t: Tensor, gain: float = 1.0) -> Tensor:
    fan_in, fan_out = fan_in_and_fan_out(t.shape)
    return normal_(t, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)))


def orthogonal_(t: Tensor, gain: float = 1.0) -> Tensor:
    """A (semi-)orthogonal matrix from the QR decomposition of a Gaussian one, as PyTorch:
    rows = shape[0], cols = prod(shape[1:]); the signs of R's diagonal fix Q uniquely."""
    if t.ndim < 2:
        raise ValueError(f"orthogonal_: needs at least 2 dimensions, got shape {t.shape}")
    rows, cols = t.shape[0], int(np.prod(t.shape[1:]))
    flat = default_generator().normal(0.0, 1.0, size=(rows, cols))  # (rows, cols)
    if rows < cols:
        flat = flat.T  # (cols, rows): QR needs a tall matrix
    q, r = np.linalg.qr(flat)
    q *= np.sign(np.diag(r))  # (tall, short)
    if rows < cols:
        q = q.T  # (rows, cols)
    t.array[...] = (gain * q).reshape(t.shape)
    return t
