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
from tinymm.ops._kernel import KernelFunction


def _check_broadcast(op: str, a: np.ndarray, b: np.ndarray) -> tuple[int, ...]:
    try:
        return np.broadcast_shapes(a.shape, b.shape)
    except ValueError:
        raise ValueError(
            f"{op}: shapes {a.shape} and {b.shape} do not broadcast (trailing dimensions must "
            "be equal or 1); reshape or unsqueeze one of them"
        ) from None


# ------------------------------------------------------------------ binary elementwise
class _Binary(KernelFunction):
    """``out = f(a, b)`` with broadcasting; the backward kernel gives (da, db) at the operands'
    shapes (it sums the broadcast copies)."""

    @classmethod
    def forward(cls, ctx, a, b):
        _check_broadcast(cls.kernel, a, b)
        return cls.run(ctx, a, b)


class Add(_Binary):
    kernel = "add"  # da = dout, db = dout


class Sub(_Binary):
    kernel = "sub"  # da = dout, db = -dout


class Mul(_Binary):
    kernel = "mul"  # da = dout * b, db = dout * a

    @staticmethod
    def inputs_read_by_backward(needs):
        return {i for i, other_needed in ((0, needs[1]), (1, needs[0])) if other_needed}


class Div(_Binary):
    kernel = "div"  # da = dout / b, db = -dout * a / b^2

    @staticmethod
    def inputs_read_by_backward(needs):
        return {1} | ({0} if needs[1] else set())  # b always; a only for db


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
class _Unary(KernelFunction):
    """``out = f(x)``: kernels ``<kernel>_forward`` / ``_backward`` (see the reference)."""

    @classmethod
    def forward(cls, ctx, x):
        return cls.run(ctx, x)


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


class Clamp(KernelFunction):
    kernel = "clamp"  # dx = dout where low <= x <= high

    @classmethod
    def forward(cls, ctx, x, low=None, high=None):
        return cls.run(ctx, x, min=low, max=high)


class Cast(KernelFunction):
    kernel = "cast"  # dx = dout back in x's dtype

    @classmethod
    def forward(cls, ctx, x, dtype):
        return cls.run(ctx, x, dtype)


# ------------------------------------------------------------------ more unary math
class _Math(Function):
    """``out = f(x)`` in NumPy; backward is ``dx(grad, saved)``, the upstream gradient times
    f'(x), written with what forward saved: x, or the output where ``saves_output``."""

    saves_output = False

    @classmethod
    def forward(cls, ctx, x):
        out = cls.f(x)
        ctx.save_for_backward(out if cls.saves_output else x)
        return out

    @classmethod
    def backward(cls, ctx, grad):
        (saved,) = ctx.saved
        return (cls.dx(grad, saved),)


def _math(name: str, f, dx, saves_output: bool = False) -> type[Function]:
    """The ``_Math`` op ``name``: forward ``f``, backward ``dx(grad, x or out)``."""
    return type(name, (_Math,), {"f": staticmethod(f), "dx": staticmethod(dx),
                                 "saves_output": saves_output, "__doc__": f"``{name}``: "
                                 "NumPy's function, its derivative in the backward."})


Sin = _math("Sin", np.sin, lambda g, x: g * np.cos(x))  # d sin = cos
Cos = _math("Cos", np.cos, lambda g, x: -g * np.sin(x))  # d cos = -sin
Tan = _math("Tan", np.tan, lambda g, out: g * (1 + out * out), True)  # d tan = 1 + tan^2
Asin = _math("Asin", np.arcsin, lambda g, x: g / np.sqrt(1 - x * x))  # 1 / sqrt(1 - x^2)
Acos = _math("Acos", np.arccos, lambda g, x: -g / np.sqrt(1 - x * x))  # -1 / sqrt(1 - x^2)
Atan = _math("Atan", np.arctan, lambda g, x: g / (1 + x * x))  # d atan = 1 / (1 + x^2)
Sinh = _math("Sinh", np.sinh, lambda g, x: g * np.cosh(x))
Cosh = _math("Cosh", np.cosh, lambda g, x: g * np.sinh(x))
Log1p = _math("Log1p", np.log1p, lambda g, x: g / (1 + x))
Expm1 = _math("Expm1", np.expm1, lambda g, out: g * (out + 1), True)  # d (e^x - 1) = e^x
Log2 = _math("Log2", np.log2,
             lambda g, x: g / (x * x.dtype.type(np.log(2.0))))  # d log2 = 1 / (x ln 2)
Log10 = _math("Log10", np.log10, lambda g, x: g / (x * x.dtype.type(np.log(10.0))))
Reciprocal = _math("Reciprocal", lambda x: 1 / x,
                   lambda g, out: -g * out * out, True)  # d (1/x) = -1/x^2
Rsqrt = _math("Rsqrt", lambda x: 1 / np.sqrt(x),  # d x^(-1/2) = -x^(-3/2) / 2
              lambda g, out: g * out.dtype.type(-0.5) * out * out * out, True)


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
class _Extremum(Function):
    """max or min of a and b elementwise (``pick``: np.maximum or np.minimum); the side picked
    gets the gradient, and on ties each side gets half, as PyTorch."""

    @classmethod
    def forward(cls, ctx, a, b):
        _check_broadcast(cls.pick.__name__, a, b)
        ctx.save_for_backward(a, b)
        return cls.pick(a, b)

    @classmethod
    def backward(cls, ctx, grad):
        a, b = ctx.saved
        picked_a = cls.pick(a, b) == a
        share = np.where(a == b, grad.dtype.type(0.5), picked_a.astype(grad.dtype))
        return unbroadcast(grad * share, a.shape), unbroadcast(grad * (1 - share), b.shape)


class Maximum(_Extremum):
    pick = np.maximum


class Minimum(_Extremum):
    pick = np.minimum


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
