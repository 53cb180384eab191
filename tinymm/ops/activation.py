"""ReLU, sigmoid and tanh ops (derivation: kernels/reference/activation.py)."""

from __future__ import annotations

import math

from tinymm.ops._checks import check_float
from tinymm.ops._kernel import KernelFunction
from tinymm.ops.special import erf


class _Activation(KernelFunction):
    """``out = f(x)`` on a float input: kernels ``<kernel>_forward`` / ``_backward``."""

    @classmethod
    def forward(cls, ctx, x):
        check_float(cls.kernel, "input", x)
        return cls.run(ctx, x)


class ReLU(_Activation):
    kernel = "relu"  # dx = dout where x > 0


class Sigmoid(_Activation):
    kernel = "sigmoid"  # dx = dout * out * (1 - out)


class Tanh(_Activation):
    kernel = "tanh"  # dx = dout * (1 - out^2)


def relu(x, inplace: bool = False):
    """``inplace`` is accepted for PyTorch's signature; the result is a new tensor."""
    return ReLU.apply(x)


def sigmoid(x):
    return Sigmoid.apply(x)


def tanh(x):
    return Tanh.apply(x)


# Compositions of the ops above and Tensor arithmetic: autograd derives their backward from
# the pieces, so they need no kernels (and are gradchecked in tests/test_module.py). Each
# checks its own input first, so an error names the function called, not a piece of it.
def _check_composite(op: str, x, **numbers) -> None:
    check_float(op, "input", getattr(x, "array", x))
    for name, value in numbers.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) \
                or not math.isfinite(value):
            raise TypeError(f"{op}: {name} must be a finite number, got {value!r}")


def leaky_relu(x, negative_slope: float = 0.01, inplace: bool = False):
    """max(x, 0) + slope * min(x, 0) = relu(x) + slope * clamp(x, max=0); at x = 0 the
    gradient is the slope (the clamp passes it, relu does not), as PyTorch's."""
    _check_composite("leaky_relu", x, negative_slope=negative_slope)
    return relu(x) + x.clamp(max=0.0) * negative_slope


def elu(x, alpha: float = 1.0, inplace: bool = False):
    """x for x > 0, alpha (exp(x) - 1) otherwise = relu(x) + alpha (exp(clamp(x, max=0)) - 1);
    at x = 0 the gradient is alpha (the negative branch's, as PyTorch's)."""
    _check_composite("elu", x, alpha=alpha)
    return relu(x) + ((x.clamp(max=0.0).exp() - 1.0) * alpha)


def silu(x, inplace: bool = False):
    """x * sigmoid(x) (also called swish)."""
    _check_composite("silu", x)
    return x * sigmoid(x)


def gelu(x, approximate: str = "none"):
    """approximate="none" (PyTorch's default): the exact 0.5 x (1 + erf(x / sqrt(2)));
    approximate="tanh": 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))."""
    if approximate not in ("tanh", "none"):
        raise ValueError(f"gelu: approximate must be 'tanh' or 'none', got {approximate!r}")
    _check_composite("gelu", x)
    if approximate == "none":
        return x * 0.5 * (erf(x * (1.0 / math.sqrt(2.0))) + 1.0)
    inner = (x + x * x * x * 0.044715) * math.sqrt(2.0 / math.pi)
    return x * 0.5 * (tanh(inner) + 1.0)


def softplus(x, beta: float = 1.0, threshold: float = 20.0):
    """log(1 + exp(beta x)) / beta, computed as (z + |z|) / 2 + log(1 + exp(-|z|)), z = beta x
    (the first term is relu(z), written so that the gradient at z = 0 is sigmoid(0) = 1/2);
    where z > threshold the result is x itself (PyTorch's), gradient 1. At the default
    threshold 20 the formula is already x to within 2e-9 (log(1 + exp(-20))), so that
    selection runs only for another threshold."""
    _check_composite("softplus", x, beta=beta, threshold=threshold)
    if beta == 0:
        raise ValueError("softplus: beta must be non-zero (the result divides by it), got 0")
    z = x * beta
    magnitude = z.abs()
    out = ((z + magnitude) * 0.5 + ((-magnitude).exp() + 1.0).log()) * (1.0 / beta)
    if threshold == 20.0:
        return out
    from tinymm.tensor import where

    return where(z > threshold, x, out)
