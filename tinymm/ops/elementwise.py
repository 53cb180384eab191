"""Elementwise Tensor arithmetic and math, each a ``Function`` with its backward beside it.

These are the ops behind ``Tensor``'s operators (``+ - * / ** -x``) and its elementwise methods
(``exp``, ``log``, ``sqrt``, ``abs``, ``clamp``, ``astype``). Each calls the elementwise kernels
through ``ctx.backend`` (kernels/reference/elementwise.py holds the derivations), so the same op
runs on NumPy arrays and on device arrays; the op checks its inputs first.

Broadcasting. NumPy broadcasting makes ``a + b`` with ``a`` (3, 1) and ``b`` (4,) give a
(3, 4) result: each input element was used once per broadcast copy, so by the chain rule its
gradient is the *sum* of the upstream gradient over those copies; the backward kernels do
that sum (``kernels/_shapes.sum_to_shape`` in the reference).
"""

from __future__ import annotations

import numpy as np

from tinymm.autograd import Function


def _check_broadcast(op: str, a: np.ndarray, b: np.ndarray) -> tuple[int, ...]:
    try:
        return np.broadcast_shapes(a.shape, b.shape)
    except ValueError:
        raise ValueError(
            f"{op}: shapes {a.shape} and {b.shape} do not broadcast (trailing dimensions must "
            "be equal or 1); reshape or unsqueeze one of them"
        ) from None


# ------------------------------------------------------------------ binary elementwise
class _Binary(Function):
    """``out = f(a, b)`` with broadcasting: kernels ``<kernel>_forward`` / ``_backward``."""

    kernel = ""

    @classmethod
    def forward(cls, ctx, a, b):
        _check_broadcast(cls.kernel, a, b)
        out, cache = getattr(ctx.backend, f"{cls.kernel}_forward")(a, b)
        ctx.save_for_backward(cache)
        return out

    @classmethod
    def backward(cls, ctx, grad):
        # (da, db) at the operands' shapes: the kernel sums the broadcast copies
        return getattr(ctx.backend, f"{cls.kernel}_backward")(grad, *ctx.saved)


class Add(_Binary):
    kernel = "add"  # da = dout, db = dout


class Sub(_Binary):
    kernel = "sub"  # da = dout, db = -dout


class Mul(_Binary):
    kernel = "mul"  # da = dout * b, db = dout * a


class Div(_Binary):
    kernel = "div"  # da = dout / b, db = -dout * a / b^2


class PowTensor(_Binary):
    """a ** b with both sides tensors: d/da = b a^(b-1), d/db = a^b log(a) (0 where a <= 0)."""

    kernel = "pow"


class Pow(Function):
    """x ** p for a constant exponent p: the pow kernels with p as a 0-d array of x's dtype."""

    @staticmethod
    def forward(ctx, x, exponent: float):
        p = ctx.backend.full((), exponent, x.dtype)  # () on x's device
        out, cache = ctx.backend.pow_forward(x, p)
        ctx.save_for_backward(cache)
        return out

    @staticmethod
    def backward(ctx, grad):
        dx, _ = ctx.backend.pow_backward(grad, *ctx.saved)  # dout * p * x^(p-1)
        return (dx,)


# ------------------------------------------------------------------ unary elementwise
class _Unary(Function):
    """``out = f(x)``: kernels ``<kernel>_forward`` / ``_backward`` (see the reference)."""

    kernel = ""

    @classmethod
    def forward(cls, ctx, x):
        out, cache = getattr(ctx.backend, f"{cls.kernel}_forward")(x)
        ctx.save_for_backward(cache)
        return out

    @classmethod
    def backward(cls, ctx, grad):
        return getattr(ctx.backend, f"{cls.kernel}_backward")(grad, *ctx.saved)


class Neg(_Unary):
    kernel = "neg"  # dx = -dout


class Exp(_Unary):
    kernel = "exp"  # dx = dout * exp(x), from the saved output


class Log(_Unary):
    kernel = "log"  # dx = dout / x


class Sqrt(_Unary):
    kernel = "sqrt"  # dx = dout / (2 sqrt(x)), from the saved output


class Abs(_Unary):
    kernel = "abs"  # dx = dout * sign(x); sign(0) = 0, the subgradient PyTorch picks


class Clamp(Function):
    @staticmethod
    def forward(ctx, x, low=None, high=None):
        out, cache = ctx.backend.clamp_forward(x, min=low, max=high)
        ctx.save_for_backward(cache)
        return out

    @staticmethod
    def backward(ctx, grad):
        return ctx.backend.clamp_backward(grad, *ctx.saved)  # dout where low <= x <= high


class Cast(Function):
    @staticmethod
    def forward(ctx, x, dtype):
        out, cache = ctx.backend.cast_forward(x, dtype)
        ctx.save_for_backward(cache)
        return out

    @staticmethod
    def backward(ctx, grad):
        return ctx.backend.cast_backward(grad, *ctx.saved)  # dout back in x's dtype
