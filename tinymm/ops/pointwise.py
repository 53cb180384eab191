"""More of PyTorch's activations, composed of the activation ops and Tensor arithmetic
(autograd derives each backward from the pieces; tests/test_torch_api_functional.py holds
them to PyTorch and to finite differences):

    logsigmoid(x)            = -softplus(-x)                       (stable for large |x|)
    glu(x, dim)              = a * sigmoid(b), (a, b) = x split in halves along dim
    mish(x)                  = x * tanh(softplus(x))
    hardtanh(x, lo, hi)      = min(max(x, lo), hi)
    relu6(x)                 = hardtanh(x, 0, 6)
    prelu(x, weight)         = relu(x) + weight * min(x, 0), weight (C,) along dim 1 (or (1,))
"""

from __future__ import annotations

import math

from tinymm.ops._checks import check_float
from tinymm.ops.activation import relu, sigmoid, softplus, tanh
from tinymm.tensor import as_tensor


def _float_input(op: str, x):
    x = as_tensor(x)
    check_float(op, "input", x.array)
    return x


def logsigmoid(input):  # noqa: A002 - PyTorch's argument name
    return -softplus(-_float_input("logsigmoid", input))


def glu(input, dim: int = -1):  # noqa: A002
    x = _float_input("glu", input)
    size = x.shape[dim]
    if size % 2:
        raise RuntimeError(f"glu: the halved dimension must have an even size, got size {size} "
                           f"at dim {dim} (shape {tuple(x.shape)})")
    a, b = x.split(size // 2, dim)
    return a * sigmoid(b)


def mish(input, inplace: bool = False):  # noqa: A002
    x = _float_input("mish", input)
    return x * tanh(softplus(x))


def hardtanh(input, min_val: float = -1.0, max_val: float = 1.0,  # noqa: A002
             inplace: bool = False):
    x = _float_input("hardtanh", input)
    for name, value in (("min_val", min_val), ("max_val", max_val)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) \
                or not math.isfinite(value):
            raise TypeError(f"hardtanh: {name} must be a finite number, got {value!r}")
    if max_val < min_val:
        raise ValueError(f"hardtanh: max_val ({max_val}) must be >= min_val ({min_val})")
    # clamp(x, min, max) written as max - relu((max - min) - relu(x - min)): the gradient is
    # 1 strictly inside (min, max) and 0 at both bounds, as PyTorch's (clamp's passes there)
    return max_val - relu((max_val - min_val) - relu(x - min_val))


def relu6(input, inplace: bool = False):  # noqa: A002
    return hardtanh(input, 0.0, 6.0)


def prelu(input, weight):  # noqa: A002
    x, w = _float_input("prelu", input), as_tensor(weight)
    if w.ndim != 1 or (w.shape[0] != 1 and (x.ndim < 2 or w.shape[0] != x.shape[1])):
        channels = x.shape[1] if x.ndim >= 2 else 1
        raise ValueError(f"prelu: weight must be 1-d with 1 or {channels} (the input's dim 1) "
                         f"entries, got shape {tuple(w.shape)} for input {tuple(x.shape)}")
    if w.shape[0] != 1:
        w = w.reshape(w.shape[0], *([1] * (x.ndim - 2)))  # (C, 1, ...) broadcasts on dim 1
    return relu(x) + w * x.clamp(max=0.0)  # at x = 0 the gradient is w, as PyTorch's
