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

from tinymm.autograd import ArrayFunction
from tinymm.devices import is_device_array
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


class Pow(ArrayFunction):
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
def _unary(name: str, kernel: str, derivative: str) -> type[KernelFunction]:
    """The ``_Unary`` op ``name`` over the kernels ``<kernel>_forward`` / ``_backward``."""
    return type(name, (_Unary,), {"kernel": kernel,
                                  "__doc__": f"``{kernel}(x)``; dx = dout * {derivative}."})


Sin = _unary("Sin", "sin", "cos(x)")
Cos = _unary("Cos", "cos", "-sin(x)")
Tan = _unary("Tan", "tan", "(1 + tan(x)^2), from the saved output")
Asin = _unary("Asin", "asin", "1 / sqrt(1 - x^2)")
Acos = _unary("Acos", "acos", "-1 / sqrt(1 - x^2)")
Atan = _unary("Atan", "atan", "1 / (1 + x^2)")
Sinh = _unary("Sinh", "sinh", "cosh(x)")
Cosh = _unary("Cosh", "cosh", "sinh(x)")
Log1p = _unary("Log1p", "log1p", "1 / (1 + x)")
Expm1 = _unary("Expm1", "expm1", "(expm1(x) + 1), from the saved output")
Log2 = _unary("Log2", "log2", "1 / (x ln 2)")
Log10 = _unary("Log10", "log10", "1 / (x ln 10)")
Reciprocal = _unary("Reciprocal", "reciprocal", "-1/x^2, from the saved output")
Rsqrt = _unary("Rsqrt", "rsqrt", "-x^(-3/2) / 2, from the saved output")


class Piecewise(KernelFunction):
    """A piecewise-constant function (``mode``: sign, floor, ceil, round, trunc): its
    derivative is 0 wherever it exists, and PyTorch returns 0 everywhere. Integer and bool
    tensors keep their dtype (floor/ceil/round/trunc give them back unchanged, as PyTorch);
    their sign goes through the float kernel and back."""

    kernel = "rounding"

    @classmethod
    def forward(cls, ctx, x, mode):
        if x.dtype.kind in "biu":
            if mode != "sign":
                return ctx.backend.cast_forward(x, x.dtype)[0]  # a copy
            as_float = ctx.backend.cast_forward(x, np.dtype(np.float64))[0]
            out = ctx.backend.rounding_forward(as_float, mode)[0]
            return ctx.backend.cast_forward(out, x.dtype)[0]
        return cls.run(ctx, x, mode=mode)


# ------------------------------------------------------------------ max/min of two, where
class Maximum(_Binary):
    """max of a and b elementwise (NaN propagates); the side picked gets the gradient, and on
    ties each side gets half, as PyTorch. The kernels run where the inputs live."""

    kernel = "maximum"


class Minimum(_Binary):
    """min of a and b elementwise; gradients as ``Maximum``."""

    kernel = "minimum"


class Where(ArrayFunction):
    """out = a where cond else b (all three broadcast); the gradient goes to the side picked
    (the ``where`` kernels)."""

    @staticmethod
    def forward(ctx, cond, a, b):
        if cond.dtype != np.bool_:
            raise TypeError(f"where: condition must be a bool tensor, got {cond.dtype}")
        try:
            np.broadcast_shapes(cond.shape, a.shape, b.shape)
        except ValueError:
            raise ValueError(f"where: condition {cond.shape}, input {a.shape} and other "
                             f"{b.shape} do not broadcast") from None
        out, cache = ctx.backend.where_forward(cond, a, b)  # (shape)
        ctx.save_for_backward(cache)
        return out

    @staticmethod
    def backward(ctx, grad):
        return ctx.backend.where_backward(grad, *ctx.saved)


class Clone(ArrayFunction):
    """A copy with its own storage; the gradient passes through unchanged."""

    @staticmethod
    def forward(ctx, x):
        if is_device_array(x):  # a device-to-device copy by the cast kernel
            return ctx.backend.cast_forward(x, x.dtype)[0]
        return x.copy()

    @staticmethod
    def backward(ctx, grad):
        return (grad,)
