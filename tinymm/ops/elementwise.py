"""Elementwise Tensor arithmetic and math, each a ``Function`` with its backward beside it.

These are the ops behind ``Tensor``'s operators (``+ - * / ** -x``) and its elementwise methods
(``exp``, ``log``, ``sqrt``, ``abs``, ``clamp``, ``astype``). They are cheap, memory-bound NumPy
one-liners on the CPU.

Broadcasting. NumPy broadcasting makes ``a + b`` with ``a`` (3, 1) and ``b`` (4,) give a
(3, 4) result: each input element was used once per broadcast copy, so by the chain rule its
gradient is the *sum* of the upstream gradient over those copies. ``unbroadcast``
(``kernels/_shapes.sum_to_shape``) does that sum, and is the only place in the engine that
needs to know about broadcasting.
"""

from __future__ import annotations

import numpy as np

from tinymm.autograd import Function
from tinymm.kernels._shapes import sum_to_shape as unbroadcast


def _check_broadcast(op: str, a: np.ndarray, b: np.ndarray) -> tuple[int, ...]:
    try:
        return np.broadcast_shapes(a.shape, b.shape)
    except ValueError:
        raise ValueError(
            f"{op}: shapes {a.shape} and {b.shape} do not broadcast (trailing dimensions must "
            "be equal or 1); reshape or unsqueeze one of them"
        ) from None


# ------------------------------------------------------------------ binary elementwise
class Add(Function):
    @staticmethod
    def forward(ctx, a, b):
        _check_broadcast("add", a, b)
        ctx.save_for_backward(a.shape, b.shape)
        return a + b

    @staticmethod
    def backward(ctx, grad):
        a_shape, b_shape = ctx.saved
        return unbroadcast(grad, a_shape), unbroadcast(grad, b_shape)


class Sub(Function):
    @staticmethod
    def forward(ctx, a, b):
        _check_broadcast("sub", a, b)
        ctx.save_for_backward(a.shape, b.shape)
        return a - b

    @staticmethod
    def backward(ctx, grad):
        a_shape, b_shape = ctx.saved
        return unbroadcast(grad, a_shape), unbroadcast(-grad, b_shape)


class Mul(Function):
    @staticmethod
    def forward(ctx, a, b):
        _check_broadcast("mul", a, b)
        ctx.save_for_backward(a, b)
        return a * b

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved
        return unbroadcast(grad * b, a.shape), unbroadcast(grad * a, b.shape)


class Div(Function):
    @staticmethod
    def forward(ctx, a, b):
        _check_broadcast("div", a, b)
        ctx.save_for_backward(a, b)
        return a / b

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved
        da = grad / b  # d(a/b)/da = 1/b
        db = -grad * a / (b * b)  # d(a/b)/db = -a/b^2
        return unbroadcast(da, a.shape), unbroadcast(db, b.shape)


class Pow(Function):
    """x ** p for a constant exponent p."""

    @staticmethod
    def forward(ctx, x, exponent: float):
        ctx.save_for_backward(x, exponent)
        return np.power(x, x.dtype.type(exponent))

    @staticmethod
    def backward(ctx, grad):
        x, p = ctx.saved
        return (grad * p * np.power(x, x.dtype.type(p - 1)),)


class PowTensor(Function):
    """a ** b with both sides tensors: d/da = b a^(b-1), d/db = a^b log(a)."""

    @staticmethod
    def forward(ctx, a, b):
        _check_broadcast("pow", a, b)
        out = np.power(a, b)
        ctx.save_for_backward(a, b, out)
        return out

    @staticmethod
    def backward(ctx, grad):
        a, b, out = ctx.saved
        da = grad * b * np.power(a, b - 1)
        with np.errstate(divide="ignore", invalid="ignore"):
            db = np.where(a > 0, grad * out * np.log(np.where(a > 0, a, 1)), 0)
        return unbroadcast(da, a.shape), unbroadcast(db.astype(grad.dtype), b.shape)


# ------------------------------------------------------------------ unary elementwise
class Neg(Function):
    @staticmethod
    def forward(ctx, x):
        return -x

    @staticmethod
    def backward(ctx, grad):
        return (-grad,)


class Exp(Function):
    @staticmethod
    def forward(ctx, x):
        out = np.exp(x)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved
        return (grad * out,)  # d exp(x) = exp(x)


class Log(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.log(x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved
        return (grad / x,)


class Sqrt(Function):
    @staticmethod
    def forward(ctx, x):
        out = np.sqrt(x)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved
        return (grad / (2 * out),)


class Abs(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.abs(x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved
        return (grad * np.sign(x),)  # sign(0) = 0: the subgradient PyTorch picks


class Clamp(Function):
    @staticmethod
    def forward(ctx, x, low=None, high=None):
        keep = np.ones(x.shape, dtype=bool)
        if low is not None:
            keep &= x >= low
        if high is not None:
            keep &= x <= high
        ctx.save_for_backward(keep)
        return np.clip(x, low, high)

    @staticmethod
    def backward(ctx, grad):
        (keep,) = ctx.saved
        return (grad * keep,)


class Cast(Function):
    @staticmethod
    def forward(ctx, x, dtype):
        ctx.save_for_backward(x.dtype)
        return x.astype(dtype)

    @staticmethod
    def backward(ctx, grad):
        (dtype,) = ctx.saved
        return (grad.astype(dtype),)
