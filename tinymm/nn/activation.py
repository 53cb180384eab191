"""Activation modules: thin wrappers over the functional ops, PyTorch's names.

ReLU, Sigmoid, Tanh, Softmax and LogSoftmax call their fused ops (kernels with derivations in
kernels/reference/activation.py and softmax.py). LeakyReLU, ELU, GELU (exact or tanh
approximation), SiLU and Softplus call compositions of Tensor ops (in ops/activation.py),
so autograd derives their backward from the pieces; so do LogSigmoid, Mish, GLU, Hardtanh,
ReLU6 and PReLU (ops/pointwise.py).

``inplace=True`` (ReLU, LeakyReLU, ELU, SiLU, Mish, Hardtanh, ReLU6) is accepted and kept as an
attribute, as PyTorch's constructors take it; the result is always a new tensor, with the
values and gradients of PyTorch's in-place form. Hardsigmoid, Hardswish, SELU, CELU, Softsign,
Tanhshrink, Softmin, Threshold, Hardshrink and Softshrink call ops/extra_activation.py.
"""

from __future__ import annotations

import numpy as np

from tinymm.nn.module import Module, Parameter
from tinymm.ops import extra_activation as _X
from tinymm.ops import pointwise as _P
from tinymm.ops.activation import elu, gelu, leaky_relu, relu, sigmoid, silu, softplus, tanh
from tinymm.ops.softmax import log_softmax, softmax


class ReLU(Module):
    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = inplace

    def forward(self, x):
        return relu(x)


class Sigmoid(Module):
    def forward(self, x):
        return sigmoid(x)


class Tanh(Module):
    def forward(self, x):
        return tanh(x)


class Softmax(Module):
    def __init__(self, dim: int | None = None):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        return softmax(x, dim=self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class LogSoftmax(Module):
    def __init__(self, dim: int | None = None):
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
    def __init__(self, negative_slope: float = 0.01, inplace: bool = False):
        super().__init__()
        self.negative_slope = negative_slope
        self.inplace = inplace

    def forward(self, x):
        return leaky_relu(x, self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}"


class ELU(Module):
    def __init__(self, alpha: float = 1.0, inplace: bool = False):
        super().__init__()
        self.alpha = alpha
        self.inplace = inplace

    def forward(self, x):
        return elu(x, self.alpha)


class GELU(Module):
    def __init__(self, approximate: str = "none"):
        super().__init__()
        self.approximate = approximate

    def forward(self, x):
        return gelu(x, self.approximate)


class SiLU(Module):
    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = inplace

    def forward(self, x):
        return silu(x)


class Softplus(Module):
    def __init__(self, beta: float = 1.0, threshold: float = 20.0):
        super().__init__()
        self.beta, self.threshold = beta, threshold

    def forward(self, x):
        return softplus(x, self.beta, self.threshold)


class LogSigmoid(Module):
    def forward(self, x):
        return _P.logsigmoid(x)


class Mish(Module):
    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = inplace

    def forward(self, x):
        return _P.mish(x)


class GLU(Module):
    def __init__(self, dim: int = -1):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        return _P.glu(x, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class Hardtanh(Module):
    def __init__(self, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False):
        super().__init__()
        self.min_val, self.max_val = min_val, max_val

    def forward(self, x):
        return _P.hardtanh(x, self.min_val, self.max_val)

    def extra_repr(self) -> str:
        return f"min_val={self.min_val}, max_val={self.max_val}"


class ReLU6(Hardtanh):
    def __init__(self, inplace: bool = False):
        super().__init__(0.0, 6.0)


class PReLU(Module):
    """PyTorch's ``nn.PReLU``: a learnt slope for negative inputs, ``weight`` (num_parameters,)
    filled with ``init`` (one slope, or one per channel of dim 1)."""

    def __init__(self, num_parameters: int = 1, init: float = 0.25, dtype=np.float32):
        super().__init__()
        if num_parameters < 1:
            raise ValueError(f"PReLU: num_parameters must be >= 1, got {num_parameters}")
        self.num_parameters = num_parameters
        self.weight = Parameter(np.full(num_parameters, init, dtype))

    def forward(self, x):
        return _P.prelu(x, self.weight)

    def extra_repr(self) -> str:
        return f"num_parameters={self.num_parameters}"


class _Functional(Module):
    """A parameter-free activation: ``forward`` is ``function(x, **options)``
    (ops/extra_activation.py has the formulas)."""

    function = None

    def __init__(self, **options):
        super().__init__()
        self._options = options
        for name, value in options.items():
            object.__setattr__(self, name, value)

    def forward(self, x):
        return type(self).function(x, **{k: getattr(self, k) for k in self._options})

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={getattr(self, k)}" for k in self._options)


class Hardsigmoid(_Functional):
    function = staticmethod(_X.hardsigmoid)

    def __init__(self, inplace: bool = False):
        super().__init__(inplace=inplace)


class Hardswish(_Functional):
    function = staticmethod(_X.hardswish)

    def __init__(self, inplace: bool = False):
        super().__init__(inplace=inplace)


class SELU(_Functional):
    function = staticmethod(_X.selu)

    def __init__(self, inplace: bool = False):
        super().__init__(inplace=inplace)


class CELU(_Functional):
    function = staticmethod(_X.celu)

    def __init__(self, alpha: float = 1.0, inplace: bool = False):
        super().__init__(alpha=alpha, inplace=inplace)


class Softsign(_Functional):
    function = staticmethod(_X.softsign)


class Tanhshrink(_Functional):
    function = staticmethod(_X.tanhshrink)


class Softmin(_Functional):
    function = staticmethod(_X.softmin)

    def __init__(self, dim: int | None = None):
        super().__init__(dim=dim)


class Threshold(_Functional):
    function = staticmethod(_X.threshold)

    def __init__(self, threshold: float, value: float, inplace: bool = False):
        super().__init__(threshold=threshold, value=value, inplace=inplace)


class Hardshrink(_Functional):
    function = staticmethod(_X.hardshrink)

    def __init__(self, lambd: float = 0.5):
        super().__init__(lambd=lambd)


class Softshrink(_Functional):
    function = staticmethod(_X.softshrink)

    def __init__(self, lambd: float = 0.5):
        super().__init__(lambd=lambd)
