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
from tinymm.kernels._shapes import sum_to_shape as unbroadcast  # for the ops still on NumPy


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
