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


# ------------------------------------------------------------------ more unary math
# Each forward is NumPy's function; each backward is its derivative times the upstream
# gradient (y = f(x), dx = grad * f'(x)), written with what forward saved.
class Sin(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.sin(x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved
        return (grad * np.cos(x),)  # d sin = cos


class Cos(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.cos(x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved
        return (-grad * np.sin(x),)  # d cos = -sin


class Tan(Function):
    @staticmethod
    def forward(ctx, x):
        out = np.tan(x)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved
        return (grad * (1 + out * out),)  # d tan = 1 + tan^2


class Asin(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.arcsin(x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved
        return (grad / np.sqrt(1 - x * x),)  # d asin = 1 / sqrt(1 - x^2)


class Acos(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.arccos(x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved
        return (-grad / np.sqrt(1 - x * x),)  # d acos = -1 / sqrt(1 - x^2)


class Atan(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.arctan(x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved
        return (grad / (1 + x * x),)  # d atan = 1 / (1 + x^2)


class Sinh(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.sinh(x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved
        return (grad * np.cosh(x),)


class Cosh(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.cosh(x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved
        return (grad * np.sinh(x),)


class Log1p(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.log1p(x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved
        return (grad / (1 + x),)


class Expm1(Function):
    @staticmethod
    def forward(ctx, x):
        out = np.expm1(x)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved
        return (grad * (out + 1),)  # d (e^x - 1) = e^x


class Log2(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.log2(x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved
        return (grad / (x * x.dtype.type(np.log(2.0))),)  # d log2 = 1 / (x ln 2)


class Log10(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.log10(x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved
        return (grad / (x * x.dtype.type(np.log(10.0))),)


class Reciprocal(Function):
    @staticmethod
    def forward(ctx, x):
        out = 1 / x
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved
        return (-grad * out * out,)  # d (1/x) = -1/x^2


class Rsqrt(Function):
    @staticmethod
    def forward(ctx, x):
        out = 1 / np.sqrt(x)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved
        return (grad * out.dtype.type(-0.5) * out * out * out,)  # d x^(-1/2) = -x^(-3/2) / 2


class Piecewise(Function):
    """A piecewise-constant function (sign, floor, ceil, round, trunc): its derivative is 0
    wherever it exists, and PyTorch returns 0 everywhere."""

    @staticmethod
    def forward(ctx, x, fn):
        ctx.save_for_backward(x.shape)
        return np.asarray(fn(x))

    @staticmethod
    def backward(ctx, grad):
        (shape,) = ctx.saved
        return (np.zeros(shape, dtype=grad.dtype),)


# ------------------------------------------------------------------ max/min of two, where
class Maximum(Function):
    """max(a, b) elementwise; on ties each side gets half the gradient, as PyTorch."""

    @staticmethod
    def forward(ctx, a, b):
        _check_broadcast("maximum", a, b)
        ctx.save_for_backward(a, b)
        return np.maximum(a, b)

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved
        share = np.where(a == b, grad.dtype.type(0.5), (a > b).astype(grad.dtype))
        return unbroadcast(grad * share, a.shape), unbroadcast(grad * (1 - share), b.shape)


class Minimum(Function):
    @staticmethod
    def forward(ctx, a, b):
        _check_broadcast("minimum", a, b)
        ctx.save_for_backward(a, b)
        return np.minimum(a, b)

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved
        share = np.where(a == b, grad.dtype.type(0.5), (a < b).astype(grad.dtype))
        return unbroadcast(grad * share, a.shape), unbroadcast(grad * (1 - share), b.shape)


class Where(Function):
    """out = a where cond else b (all three broadcast); the gradient goes to the side picked."""

    @staticmethod
    def forward(ctx, cond, a, b):
        if cond.dtype != np.bool_:
            raise TypeError(f"where: condition must be a bool tensor, got {cond.dtype}")
        try:
            np.broadcast_shapes(cond.shape, a.shape, b.shape)
        except ValueError:
            raise ValueError(f"where: condition {cond.shape}, input {a.shape} and other "
                             f"{b.shape} do not broadcast") from None
        ctx.save_for_backward(cond, a.shape, b.shape)
        return np.where(cond, a, b)  # (shape)

    @staticmethod
    def backward(ctx, grad):
        cond, a_shape, b_shape = ctx.saved
        zero = grad.dtype.type(0)
        return (None, unbroadcast(np.where(cond, grad, zero), a_shape),
                unbroadcast(np.where(cond, zero, grad), b_shape))


class Clone(Function):
    """A copy with its own storage; the gradient passes through unchanged."""

    @staticmethod
    def forward(ctx, x):
        return x.copy()

    @staticmethod
    def backward(ctx, grad):
        return (grad,)
