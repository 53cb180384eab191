"""Activation modules: thin wrappers over the functional ops, PyTorch's names.

ReLU, Sigmoid, Tanh, Softmax and LogSoftmax call their fused ops (kernels with derivations in
kernels/reference/activation.py and softmax.py). LeakyReLU, ELU, GELU (the tanh
approximation only), SiLU, Softplus and Identity
are compositions of Tensor ops, so autograd derives their backward from the pieces.
"""

from __future__ import annotations

import math

from tinymm.nn.module import Module
from tinymm.ops.activation import relu, sigmoid, tanh
from tinymm.ops.softmax import log_softmax, softmax


class ReLU(Module):
    def forward(self, x):
        return relu(x)


class Sigmoid(Module):
    def forward(self, x):
        return sigmoid(x)


class Tanh(Module):
    def forward(self, x):
        return tanh(x)


class Softmax(Module):
    def __init__(self, dim: int = -1):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        return softmax(x, dim=self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class LogSoftmax(Module):
    def __init__(self, dim: int = -1):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        return log_softmax(x, dim=self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class Identity(Module):
    def forward(self, x):
        return x


def leaky_relu(x, negative_slope: float = 0.01):
    """max(x, 0) + slope * min(x, 0) = relu(x) - slope * relu(-x)."""
    return relu(x) - relu(-x) * negative_slope


def elu(x, alpha: float = 1.0):
    """x for x > 0, alpha (exp(x) - 1) otherwise = relu(x) + alpha (exp(-relu(-x)) - 1)."""
    return relu(x) + (((-relu(-x)).exp() - 1.0) * alpha)


def silu(x):
    """x * sigmoid(x) (also called swish)."""
    return x * sigmoid(x)


def gelu(x, approximate: str = "tanh"):
    """0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))): PyTorch's approximate="tanh"."""
    if approximate != "tanh":
        raise ValueError(f"gelu: only approximate='tanh' is implemented, got {approximate!r}")
    inner = (x + x * x * x * 0.044715) * math.sqrt(2.0 / math.pi)
    return x * 0.5 * (tanh(inner) + 1.0)


def softplus(x, beta: float = 1.0):
    """log(1 + exp(beta x)) / beta, computed as relu(z) + log(1 + exp(-|z|)), z = beta x."""
    z = x * beta
    return (relu(z) + ((-z.abs()).exp() + 1.0).log()) * (1.0 / beta)


class LeakyReLU(Module):
    def __init__(self, negative_slope: float = 0.01):
        super().__init__()
        self.negative_slope = negative_slope

    def forward(self, x):
        return leaky_relu(x, self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}"


class ELU(Module):
    def __init__(self, alpha: float = 1.0):
        super().__init__()
        self.alpha = alpha

    def forward(self, x):
        return elu(x, self.alpha)


class GELU(Module):
    def __init__(self, approximate: str = "tanh"):
        super().__init__()
        self.approximate = approximate

    def forward(self, x):
        return gelu(x, self.approximate)


class SiLU(Module):
    def forward(self, x):
        return silu(x)


class Softplus(Module):
    def __init__(self, beta: float = 1.0):
        super().__init__()
        self.beta = beta

    def forward(self, x):
        return softplus(x, self.beta)


