"""Activation modules: thin wrappers over the functional ops, PyTorch's names.

ReLU, Sigmoid, Tanh, Softmax and LogSoftmax call their fused ops (kernels with derivations in
kernels/reference/activation.py and softmax.py). LeakyReLU, ELU, GELU (the tanh
approximation only), SiLU and Softplus call compositions of Tensor ops (in ops/activation.py),
so autograd derives their backward from the pieces.
"""

from __future__ import annotations

from tinymm.nn.module import Module
from tinymm.ops.activation import elu, gelu, leaky_relu, relu, sigmoid, silu, softplus, tanh
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


