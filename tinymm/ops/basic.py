"""Tensor arithmetic, reductions and shape ops, each a ``Function`` with its backward beside it.

These are the ops behind ``Tensor``'s operators and methods. They are cheap, memory-bound
NumPy one-liners, so they have no kernels of their own; the heavy ops (matmul, linear, conv,
LSTM, attention, ...) call the CONTRACT kernels through ``ctx.backend`` instead.

Broadcasting. NumPy broadcasting makes ``a + b`` with ``a`` (3, 1) and ``b`` (4,) give a
(3, 4) result: each input element was used once per broadcast copy, so by the chain rule its
gradient is the *sum* of the upstream gradient over those copies. ``unbroadcast`` does that
sum and is the only place in the engine that needs to know about broadcasting.
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


# ------------------------------------------------------------------ reductions
def _normalize_axis(axis, ndim: int) -> tuple[int, ...]:
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    for a in axes:
        if not -ndim <= a < max(ndim, 1):
            raise ValueError(f"reduction: axis {a} is out of range for a {ndim}-d tensor")
    return tuple(sorted(a % max(ndim, 1) for a in axes))


def _expand_reduced(grad: np.ndarray, axes: tuple[int, ...], keepdims: bool) -> np.ndarray:
    """Reinsert the reduced axes (as size 1) so ``grad`` broadcasts against the input."""
    if not keepdims:
        grad = np.expand_dims(grad, axes) if axes else grad
    return grad


class Sum(Function):
    @staticmethod
    def forward(ctx, x, axis=None, keepdims=False):
        axes = _normalize_axis(axis, x.ndim)
        ctx.save_for_backward(x.shape, axes, keepdims)
        return np.asarray(x.sum(axis=axes, keepdims=keepdims))

    @staticmethod
    def backward(ctx, grad):
        shape, axes, keepdims = ctx.saved
        # every summed element contributed with coefficient 1
        return (np.broadcast_to(_expand_reduced(grad, axes, keepdims), shape).copy(),)


class Mean(Function):
    @staticmethod
    def forward(ctx, x, axis=None, keepdims=False):
        axes = _normalize_axis(axis, x.ndim)
        count = int(np.prod([x.shape[a] for a in axes])) if axes else 1
        ctx.save_for_backward(x.shape, axes, keepdims, count)
        return np.asarray(x.mean(axis=axes, keepdims=keepdims), dtype=x.dtype)

    @staticmethod
    def backward(ctx, grad):
        shape, axes, keepdims, count = ctx.saved
        g = _expand_reduced(grad, axes, keepdims) / count
        return (np.broadcast_to(g, shape).astype(grad.dtype),)


class Max(Function):
    """Maximum along axes; the gradient is shared equally among tied maxima (as PyTorch's
    ``amax``), which keeps it a valid subgradient and makes gradcheck agree away from ties."""

    @staticmethod
    def forward(ctx, x, axis=None, keepdims=False):
        axes = _normalize_axis(axis, x.ndim)
        if x.size == 0:
            raise ValueError(f"max: cannot reduce an empty tensor of shape {x.shape}")
        out = np.max(x, axis=axes, keepdims=True)
        ctx.save_for_backward(x, out, axes, keepdims)
        return out if keepdims else np.squeeze(out, axis=axes)

    @staticmethod
    def backward(ctx, grad):
        x, out, axes, keepdims = ctx.saved
        is_max = x == out
        share = is_max / is_max.sum(axis=axes, keepdims=True)
        return ((_expand_reduced(grad, axes, keepdims) * share).astype(grad.dtype),)


# ------------------------------------------------------------------ shapes
class Reshape(Function):
    @staticmethod
    def forward(ctx, x, shape):
        try:
            out = x.reshape(shape)
        except ValueError:
            raise ValueError(
                f"reshape: cannot reshape a tensor of shape {x.shape} ({x.size} elements) "
                f"into {shape}"
            ) from None
        ctx.save_for_backward(x.shape)
        return out

    @staticmethod
    def backward(ctx, grad):
        (shape,) = ctx.saved
        return (grad.reshape(shape),)


class Permute(Function):
    @staticmethod
    def forward(ctx, x, axes):
        if sorted(a % max(x.ndim, 1) for a in axes) != list(range(x.ndim)):
            raise ValueError(f"permute: {axes} is not a permutation of the {x.ndim} axes of "
                             f"{x.shape}")
        ctx.save_for_backward(axes)
        return np.transpose(x, axes)

    @staticmethod
    def backward(ctx, grad):
        (axes,) = ctx.saved
        return (np.transpose(grad, np.argsort(axes)),)  # the inverse permutation


class GetItem(Function):
    @staticmethod
    def forward(ctx, x, index):
        ctx.save_for_backward(x.shape, index)
        return np.asarray(x[index])

    @staticmethod
    def backward(ctx, grad):
        shape, index = ctx.saved
        dx = np.zeros(shape, dtype=grad.dtype)
        np.add.at(dx, index, grad)  # add.at: an index that repeats must accumulate
        return (dx,)


class Concat(Function):
    @staticmethod
    def forward(ctx, *arrays, axis=0):
        ref = arrays[0]
        for i, a in enumerate(arrays[1:], start=1):
            if a.ndim != ref.ndim or any(
                s != r for d, (s, r) in enumerate(zip(a.shape, ref.shape)) if d != axis % ref.ndim
            ):
                raise ValueError(
                    f"concat: tensor {i} has shape {a.shape}, which does not match tensor 0's "
                    f"{ref.shape} outside axis {axis}"
                )
        sizes = [a.shape[axis] for a in arrays]
        ctx.save_for_backward(axis, np.cumsum(sizes)[:-1])
        return np.concatenate(arrays, axis=axis)

    @staticmethod
    def backward(ctx, grad):
        axis, cuts = ctx.saved
        return tuple(np.split(grad, cuts, axis=axis))


class Stack(Function):
    @staticmethod
    def forward(ctx, *arrays, axis=0):
        shapes = {a.shape for a in arrays}
        if len(shapes) != 1:
            raise ValueError(f"stack: every tensor must have the same shape, got {sorted(shapes)}")
        ctx.save_for_backward(axis, len(arrays))
        return np.stack(arrays, axis=axis)

    @staticmethod
    def backward(ctx, grad):
        axis, count = ctx.saved
        return tuple(np.take(grad, i, axis=axis) for i in range(count))


class Split(Function):
    """Several outputs: the backward receives one gradient per piece."""

    @staticmethod
    def forward(ctx, x, cuts=(), axis=0):
        ctx.save_for_backward(axis)
        return tuple(np.split(x, cuts, axis=axis))

    @staticmethod
    def backward(ctx, *grads):
        (axis,) = ctx.saved
        return (np.concatenate(grads, axis=axis),)


def concat(tensors, axis: int = 0):
    """Join tensors along an existing axis (``torch.cat``)."""
    return Concat.apply(*tensors, axis=axis)


cat = concat


def stack(tensors, axis: int = 0):
    """Join tensors along a new axis (``torch.stack``)."""
    return Stack.apply(*tensors, axis=axis)


def split(x, split_size_or_sections, axis: int = 0):
    """Split into pieces of ``split_size`` (int) or of the given sizes (list), as torch.split."""
    n = x.shape[axis]
    if isinstance(split_size_or_sections, int):
        size = split_size_or_sections
        if size <= 0:
            raise ValueError(f"split: split_size must be positive, got {size}")
        sizes = [size] * (n // size) + ([n % size] if n % size else [])
    else:
        sizes = list(split_size_or_sections)
        if sum(sizes) != n:
            raise ValueError(f"split: sizes {sizes} sum to {sum(sizes)}, but axis {axis} has {n}")
    cuts = tuple(np.cumsum(sizes)[:-1].tolist())
    return Split.apply(x, cuts=cuts, axis=axis)
