"""More of ``keras.ops`` (re-exported there), NumPy's names and argument conventions as
Keras 3 defines them, on tinymm's differentiable Tensor ops (a KerasTensor argument records
an OpLayer, as for the basics in ops.py). Integer- and bool-valued results (comparisons,
argmin/argsort, isnan...) carry no gradient, as in Keras.

Keras's conventions kept here: ``std``/``var``/``moments`` use the population variance
(ddof 0); ``split`` takes NumPy's sections or split indices; ``repeat`` is ``np.repeat``
(each element repeated) and ``tile`` is ``np.tile``; ``take`` with ``axis=None`` indexes the
flattened tensor; ``pad`` takes NumPy's ``pad_width`` pairs; ``ops.gelu`` defaults to the tanh
approximation (``activations.gelu`` to the exact form) and ``leaky_relu`` to slope 0.2;
``normalize`` is x / max(||x||, 1e-7);
``arange``/``full`` give int32 for integer arguments and float32 (Keras's floatx) otherwise.
"""

from __future__ import annotations

import builtins

import numpy as np

import tinymm
from tinymm.keras.ops import convert_to_numpy, mean, symbolic
from tinymm.keras.ops import convert_to_tensor as _t
from tinymm.ops import activation as _act
from tinymm.ops.shape import pad as _pad
from tinymm.tensor import Tensor, as_tensor

_FLOATX = np.float32


def _const(array) -> Tensor:
    """A Tensor of values that carry no gradient (indices, masks)."""
    return as_tensor(np.asarray(array))


def _axes(axis):
    return tuple(axis) if isinstance(axis, (list, tuple)) else axis


# ---------------------------------------------------------------- elementwise arithmetic
@symbolic
def add(x1, x2):
    return _t(x1) + _t(x2)


@symbolic
def subtract(x1, x2):
    return _t(x1) - _t(x2)


@symbolic
def multiply(x1, x2):
    return _t(x1) * _t(x2)


@symbolic
def divide(x1, x2):
    return _t(x1) / _t(x2)


true_divide = divide


@symbolic
def power(x1, x2):
    return _t(x1) ** (x2 if isinstance(x2, (int, float)) else _t(x2))


@symbolic
def negative(x):
    return -_t(x)


@symbolic
def absolute(x):
    return _t(x).abs()


@symbolic
def log1p(x):
    return _t(x).log1p()


@symbolic
def sin(x):
    return _t(x).sin()


@symbolic
def cos(x):
    return _t(x).cos()


@symbolic
def clip(x, x_min, x_max):
    return _t(x).clamp(x_min, x_max)


@symbolic
def where(condition, x1=None, x2=None):
    if x1 is None and x2 is None:
        return _const(np.stack(np.nonzero(convert_to_numpy(condition))))
    return tinymm.where(_const(convert_to_numpy(condition).astype(bool)), _t(x1), _t(x2))


@symbolic
def stop_gradient(x):
    return _t(x).detach()


# ---------------------------------------------------------------- activations
@symbolic
def gelu(x, approximate: bool = True):
    return _act.gelu(_t(x), "tanh" if approximate else "none")


@symbolic
def silu(x):
    return _act.silu(_t(x))


swish = silu


@symbolic
def softplus(x):
    return _act.softplus(_t(x))


@symbolic
def leaky_relu(x, negative_slope: float = 0.2):
    return _act.leaky_relu(_t(x), negative_slope)


@symbolic
def elu(x, alpha: float = 1.0):
    return _act.elu(_t(x), alpha)


# ---------------------------------------------------------------- reductions
@symbolic
def prod(x, axis=None, keepdims: bool = False):
    x = _t(x)
    if axis is None:
        out = x.reshape(-1).prod(0)
        return out.reshape((1,) * x.ndim) if keepdims else out
    for a in sorted(np.atleast_1d(axis) % x.ndim, reverse=True):
        x = x.prod(int(a), keepdim=keepdims)
    return x


@symbolic
def var(x, axis=None, keepdims: bool = False):
    return _t(x).var(_axes(axis), correction=0, keepdim=keepdims)


@symbolic
def std(x, axis=None, keepdims: bool = False):
    return _t(x).std(_axes(axis), correction=0, keepdim=keepdims)


def moments(x, axes, keepdims: bool = False, synchronized: bool = False):
    """(mean, variance) over ``axes`` (population variance)."""
    return (mean(x, axis=_axes(axes), keepdims=keepdims),
            var(x, axis=_axes(axes), keepdims=keepdims))


@symbolic
def logsumexp(x, axis=None, keepdims: bool = False):
    x = _t(x)
    if axis is None:
        out = x.reshape(-1).logsumexp(0)
        return out.reshape((1,) * x.ndim) if keepdims else out
    return x.logsumexp(_axes(axis), keepdim=keepdims)


@symbolic
def cumsum(x, axis=None, dtype=None):
    x = _t(x)
    return (x.reshape(-1) if axis is None else x).cumsum(0 if axis is None else axis)


@symbolic
def all(x, axis=None, keepdims: bool = False):  # noqa: A001 (Keras's name)
    return _const(np.all(convert_to_numpy(x), axis=_axes(axis), keepdims=keepdims))


@symbolic
def any(x, axis=None, keepdims: bool = False):  # noqa: A001 (Keras's name)
    return _const(np.any(convert_to_numpy(x), axis=_axes(axis), keepdims=keepdims))


@symbolic
def argmin(x, axis=None, keepdims: bool = False):
    return _const(np.argmin(convert_to_numpy(x), axis=axis, keepdims=keepdims).astype("int32"))


@symbolic
def argsort(x, axis: int = -1):
    return _const(np.argsort(convert_to_numpy(x), axis=axis, kind="stable").astype("int32"))


@symbolic
def sort(x, axis: int = -1):
    return _t(x).sort(axis).values


def top_k(x, k: int, sorted: bool = True):  # noqa: A002 (Keras's name)
    """(values, indices) of the k largest entries along the last axis."""
    out = _t(x).topk(k, -1, largest=True, sorted=True)
    return out.values, _const(out.indices.array.astype("int32"))


@symbolic
def norm(x, ord=None, axis=None, keepdims: bool = False):  # noqa: A002 (Keras's name)
    x = _t(x)
    if ord not in (None, 2, "fro") and not (ord == 1 and isinstance(axis, int)):
        raise ValueError(f"keras.ops.norm: ord={ord!r} is not supported by tinymm (None, 2, "
                         "'fro', or 1 along one axis)")
    if ord == 1:
        return x.abs().sum(axis=axis, keepdims=keepdims)
    axes = _axes(axis)
    if ord == 2 and ((axes is None and x.ndim == 2) or (isinstance(axes, tuple)
                                                        and len(axes) == 2)):
        raise ValueError("keras.ops.norm: ord=2 over a matrix is its largest singular value "
                         "(as NumPy's), which tinymm does not compute; use ord='fro' or None "
                         "for the Frobenius norm, or reduce one axis")
    # the Euclidean norm, with PyTorch's zero gradient at an all-zero vector (Tensor.norm)
    return x.norm(p="fro", dim=axes, keepdim=keepdims)


@symbolic
def normalize(x, axis: int = -1, order: int = 2, epsilon=None):
    if order != 2:
        raise ValueError(f"keras.ops.normalize: only order=2 is supported, got {order}")
    x = _t(x)
    eps = 1e-7 if epsilon is None else epsilon
    return x / (x * x).sum(axis=axis, keepdims=True).sqrt().clamp(min=eps)


# ---------------------------------------------------------------- comparisons, logic
def _compare(fn):
    def compare(x1, x2):
        return _const(fn(convert_to_numpy(x1), convert_to_numpy(x2)))

    compare.__name__ = fn.__name__
    compare.__doc__ = f"Elementwise ``np.{fn.__name__}`` (bool, no gradient)."
    return symbolic(compare)


equal, not_equal = _compare(np.equal), _compare(np.not_equal)
greater, greater_equal = _compare(np.greater), _compare(np.greater_equal)
less, less_equal = _compare(np.less), _compare(np.less_equal)
logical_and, logical_or = _compare(np.logical_and), _compare(np.logical_or)


@symbolic
def logical_not(x):
    return _const(np.logical_not(convert_to_numpy(x)))


@symbolic
def isnan(x):
    return _const(np.isnan(convert_to_numpy(x)))


@symbolic
def isfinite(x):
    return _const(np.isfinite(convert_to_numpy(x)))


# ---------------------------------------------------------------- shapes and indexing
@symbolic
def split(x, indices_or_sections, axis: int = 0):
    x = _t(x)
    size = x.shape[axis]
    if isinstance(indices_or_sections, int):
        if size % indices_or_sections:
            raise ValueError(f"keras.ops.split: axis {axis} of size {size} does not split into "
                             f"{indices_or_sections} equal sections")
        return list(x.split(size // indices_or_sections, axis))
    bounds = [0, *indices_or_sections, size]
    return list(x.split([b - a for a, b in zip(bounds[:-1], bounds[1:])], axis))


@symbolic
def tile(x, repeats):
    x = _t(x)
    repeats = [repeats] if isinstance(repeats, int) else list(repeats)
    reps = [1] * builtins.max(0, x.ndim - len(repeats)) + repeats
    shape = (1,) * (len(reps) - x.ndim) + tuple(x.shape)
    return x.reshape(shape).repeat(*reps)


@symbolic
def repeat(x, repeats, axis=None):
    x = _t(x)
    if axis is None:
        x, axis = x.reshape(-1), 0
    index = np.repeat(np.arange(x.shape[axis]), repeats)
    return x.index_select(axis, _const(index))


@symbolic
def take(x, indices, axis=None):
    x = _t(x)
    idx = np.asarray(convert_to_numpy(indices), dtype=np.int64)
    if axis is None:
        x, axis = x.reshape(-1), 0
    axis %= x.ndim
    picked = x.index_select(axis, _const(idx.reshape(-1) % x.shape[axis]))
    return picked.reshape(tuple(x.shape[:axis]) + idx.shape + tuple(x.shape[axis + 1:]))


@symbolic
def take_along_axis(x, indices, axis=None):
    x = _t(x)
    idx = np.asarray(convert_to_numpy(indices), dtype=np.int64)
    if axis is None:
        x, axis = x.reshape(-1), 0
    return x.gather(axis, _const(np.broadcast_to(idx, np.broadcast_shapes(
        idx.shape, tuple(1 if i == axis % x.ndim else d for i, d in enumerate(x.shape))))))


@symbolic
def flip(x, axis=None):
    x = _t(x)
    for a in range(x.ndim) if axis is None else np.atleast_1d(axis):
        x = x.index_select(int(a), _const(np.arange(x.shape[int(a)])[::-1].copy()))
    return x


@symbolic
def roll(x, shift, axis=None):
    x = _t(x)
    if axis is None:
        return roll(x.reshape(-1), shift, 0).reshape(x.shape)
    for s, a in zip(np.atleast_1d(shift), np.atleast_1d(axis)):
        n = x.shape[int(a)]
        x = x.index_select(int(a), _const((np.arange(n) - int(s)) % n))
    return x


@symbolic
def pad(x, pad_width, mode: str = "constant", constant_values=None):
    x = _t(x)
    widths = np.broadcast_to(np.asarray(pad_width, dtype=np.int64), (x.ndim, 2))
    flat = [int(w) for pair in widths[::-1] for w in pair]  # last axis first, as F.pad
    return _pad(x, flat, mode=mode, value=0.0 if constant_values is None else constant_values)


@symbolic
def triu(x, k: int = 0):
    return tinymm.triu(_t(x), k)


@symbolic
def tril(x, k: int = 0):
    return tinymm.tril(_t(x), k)


@symbolic
def dot(x1, x2):
    x1, x2 = _t(x1), _t(x2)
    if x1.ndim == 0 or x2.ndim == 0:
        return x1 * x2
    return x1 @ x2


@symbolic
def tensordot(x1, x2, axes=2):
    """Keras's ``ops.tensordot``: an int ``axes`` contracts the last ``axes`` dims of x1 with
    the first of x2; a pair of lists names them."""
    return tinymm.tensordot(_t(x1), _t(x2), dims=axes)


@symbolic
def einsum(subscripts, *operands):
    return tinymm.einsum(subscripts, *[_t(o) for o in operands])


# ---------------------------------------------------------------- creation
def _dtype(dtype, *values):
    if dtype is not None:
        return np.dtype(dtype)
    integral = builtins.all(isinstance(v, (int, np.integer)) and not isinstance(v, bool)
                            for v in values if v is not None)
    return np.dtype("int32" if integral else _FLOATX)


def arange(start, stop=None, step=1, dtype=None) -> Tensor:
    return _const(np.arange(start, stop, step, dtype=_dtype(dtype, start, stop, step)))


def full(shape, fill_value, dtype=None) -> Tensor:
    """Keras's ``full``: floatx unless ``dtype`` says otherwise, whatever the fill's type."""
    return _const(np.full(shape, fill_value, dtype=np.dtype(dtype or _FLOATX)))


def ones(shape, dtype=None) -> Tensor:
    return _const(np.ones(shape, dtype=dtype or _FLOATX))


def zeros(shape, dtype=None) -> Tensor:
    return _const(np.zeros(shape, dtype=dtype or _FLOATX))


def eye(N, M=None, k: int = 0, dtype=None) -> Tensor:  # noqa: N803 (Keras's names)
    return _const(np.eye(N, M, k, dtype=dtype or _FLOATX))


def ones_like(x, dtype=None) -> Tensor:
    return _const(np.ones_like(convert_to_numpy(x), dtype=dtype))


def zeros_like(x, dtype=None) -> Tensor:
    return _const(np.zeros_like(convert_to_numpy(x), dtype=dtype))


def full_like(x, fill_value, dtype=None) -> Tensor:
    return _const(np.full_like(convert_to_numpy(x), fill_value, dtype=dtype))


EXPORTS = sorted(
    name for name, value in list(globals().items())
    if not name.startswith("_") and callable(value) and name not in {
        "Tensor", "as_tensor", "convert_to_numpy", "symbolic"}
    and getattr(value, "__module__", __name__) == __name__)
__all__ = EXPORTS
