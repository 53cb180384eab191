"""More of PyTorch's activations, as compositions of Tensor ops (autograd derives each
backward from the pieces), with PyTorch's formulas and defaults:

    hardsigmoid(x)            relu6(x + 3) / 6
    hardswish(x)              x * relu6(x + 3) / 6
    selu(x)                   scale * (max(0, x) + min(0, alpha (e^x - 1))), PyTorch's alpha
                              and scale constants
    celu(x, alpha=1)          max(0, x) + min(0, alpha (e^(x / alpha) - 1))
    softsign(x)               x / (1 + |x|)
    softmin(x, dim)           softmax(-x, dim)
    tanhshrink(x)             x - tanh(x)
    threshold(x, t, value)    x where x > t, else value
    hardshrink(x, lambd=0.5)  x where |x| > lambd, else 0
    softshrink(x, lambd=0.5)  x - lambd where x > lambd, x + lambd where x < -lambd, else 0
"""

from __future__ import annotations

from tinymm.ops.activation import elu, tanh
from tinymm.ops.pointwise import relu6
from tinymm.ops.softmax import softmax
from tinymm.tensor import Tensor, as_tensor, where

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


def hardsigmoid(input, inplace: bool = False) -> Tensor:  # noqa: A002 - PyTorch's names
    return relu6(as_tensor(input) + 3) / 6


def hardswish(input, inplace: bool = False) -> Tensor:  # noqa: A002
    x = as_tensor(input)
    return x * (relu6(x + 3) / 6)


def selu(input, inplace: bool = False) -> Tensor:  # noqa: A002
    return SELU_SCALE * elu(as_tensor(input), SELU_ALPHA)


def celu(input, alpha: float = 1.0, inplace: bool = False) -> Tensor:  # noqa: A002
    if alpha == 0:
        raise ValueError("celu: alpha must not be 0 (it divides the input)")
    x = as_tensor(input)
    return alpha * elu(x / alpha, 1.0)


def softsign(input) -> Tensor:  # noqa: A002
    x = as_tensor(input)
    return x / (1 + x.abs())


def softmin(input, dim: int | None = None, _stacklevel: int = 3, dtype=None) -> Tensor:  # noqa: A002
    return softmax(-as_tensor(input), dim, dtype=dtype)


def tanhshrink(input) -> Tensor:  # noqa: A002
    x = as_tensor(input)
    return x - tanh(x)


def threshold(input, threshold: float, value: float, inplace: bool = False) -> Tensor:  # noqa: A002
    x = as_tensor(input)
    return where(x > threshold, x, value)


def hardshrink(input, lambd: float = 0.5) -> Tensor:  # noqa: A002
    x = as_tensor(input)
    return where(x.abs() > lambd, x, 0.0)


def softshrink(input, lambd: float = 0.5) -> Tensor:  # noqa: A002
    if lambd < 0:
        raise ValueError(f"softshrink: lambd must be >= 0, got {lambd}")
    x = as_tensor(input)
    return where(x > lambd, x - lambd, where(x < -lambd, x + lambd, 0.0))
