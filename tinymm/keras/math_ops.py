"""Still more of ``keras.ops`` (re-exported there): rounding, the other unary functions,
activations, reductions, shape helpers and constructors, with Keras 3's names, arguments
and defaults, on tinymm's differentiable Tensor ops. Integer- and bool-valued results
(isinf, isclose, count_nonzero, searchsorted, bincount, nonzero) and the step functions
(floor, ceil, round, sign: gradient 0) carry no useful gradient, as in Keras.

Keras's formulas kept: ``hard_sigmoid`` relu6(x + 3) / 6, ``hard_silu`` x hard_sigmoid(x),
``selu`` 1.0507 elu(x, 1.6733), ``celu`` max(x, 0) + min(alpha (e^(x/alpha) - 1), 0),
``glu`` a sigmoid(b) over the halves of ``axis``, ``log_sigmoid`` -softplus(-x);
``median`` the mean of the two middle values for an even count; ``floor_divide``/``mod``
follow NumPy's signs (the divisor's); ``average`` is sum(x w) / sum(w) along ``axis``;
``linspace`` gives float32 unless ``dtype``. ``conv``/``max_pool``/``average_pool`` (Keras's
``keras.ops.nn``) take channels-last (N, T, C) or (N, H, W, C); the pools support "valid"
padding only.
"""

from __future__ import annotations

import builtins

import numpy as np

from tinymm.keras.ops import convert_to_numpy, stack, symbolic
from tinymm.keras.ops import convert_to_tensor as _t
from tinymm.kernels.geometry import conv_padding
from tinymm.ops import activation as _act
from tinymm.ops.conv2d import conv2d
from tinymm.ops.pointwise import relu6 as _relu6
from tinymm.ops.pool2d import avg_pool2d, max_pool2d
from tinymm.tensor import Tensor, as_tensor


def _const(array) -> Tensor:
    """A Tensor of values that carry no gradient (indices, masks, constants)."""
    return as_tensor(np.asarray(array))


def _float(dtype) -> np.dtype:
    return np.dtype(np.float32 if dtype is None else dtype)


def _unary(method: str, doc: str):
    def op(x):
        return getattr(_t(x), method)()

    op.__doc__ = doc
    return symbolic(op)


floor = _unary("floor", "Elementwise floor (gradient 0).")
ceil = _unary("ceil", "Elementwise ceiling (gradient 0).")
sign = _unary("sign", "Elementwise sign (gradient 0).")
rsqrt = _unary("rsqrt", "1 / sqrt(x).")
reciprocal = _unary("reciprocal", "1 / x.")
log2 = _unary("log2", "Base-2 logarithm.")
log10 = _unary("log10", "Base-10 logarithm.")
expm1 = _unary("expm1", "e^x - 1.")
erf = _unary("erf", "The error function.")
cosh = _unary("cosh", "Hyperbolic cosine.")
sinh = _unary("sinh", "Hyperbolic sine.")
tan = _unary("tan", "Tangent.")
arctan = _unary("atan", "Arc tangent.")


@symbolic
def round(x, decimals: int = 0):  # noqa: A001 (Keras's name)
    """Round half to even at ``decimals`` places (gradient 0)."""
    scale = 10.0 ** decimals
    return (_t(x) * scale).round() / scale if decimals else _t(x).round()


@symbolic
def relu6(x):
    """min(max(x, 0), 6); the gradient is 0 at both bounds (torch's relu6)."""
    return _relu6(_t(x))


@symbolic
def hard_sigmoid(x):
    return relu6(_t(x) + 3.0) / 6.0


@symbolic
def hard_silu(x):
    x = _t(x)
    return x * hard_sigmoid(x)


hard_swish = hard_silu


@symbolic
def selu(x):
    return 1.0507009873554805 * _act.elu(_t(x), 1.6732632423543772)


@symbolic
def celu(x, alpha: float = 1.0):
    x = _t(x)
    return _act.relu(x) - _act.relu(-alpha * ((x / alpha).exp() - 1.0))


@symbolic
def log_sigmoid(x):
    return -_act.softplus(-_t(x))


@symbolic
def glu(x, axis: int = -1):
    x = _t(x)
    if x.shape[axis] % 2:
        raise ValueError(f"keras.ops.glu: axis {axis} must have an even size, got shape "
                         f"{tuple(x.shape)}")
    a, b = x.chunk(2, axis)
    return a * b.sigmoid()


# ---------------------------------------------------------------- binary
@symbolic
def arctan2(x1, x2):
    """The angle of (x2, x1) in (-pi, pi]: atan(x1 / x2) shifted by pi by quadrant."""
    y, x = _t(x1), _t(x2)
    base = (y / x).atan()
    xa, ya = convert_to_numpy(x), convert_to_numpy(y)
    shift = np.where(xa < 0, np.where(ya >= 0, np.pi, -np.pi), 0.0)
    return base + _const(shift.astype(base.dtype))


@symbolic
def floor_divide(x1, x2):
    """floor(x1 / x2); integers stay integers (exact, as Keras), floats give floor(x1 / x2)."""
    return _t(x1) // _t(x2)


@symbolic
def mod(x1, x2):
    return _t(x1).remainder(_t(x2))


# ---------------------------------------------------------------- reductions
@symbolic
def amax(x, axis=None, keepdims: bool = False):
    return _t(x).amax(_axes(axis), keepdim=keepdims)


@symbolic
def amin(x, axis=None, keepdims: bool = False):
    return _t(x).amin(_axes(axis), keepdim=keepdims)


def _axes(axis):
    return tuple(axis) if isinstance(axis, (list, tuple)) else axis


@symbolic
def median(x, axis=None, keepdims: bool = False):
    x = _t(x)
    if not x.is_floating_point():
        x = x.float()  # Keras: the median of ints is float32
    if axis is None:
        flat = median(x.reshape(-1), 0)
        return flat.reshape((1,) * x.ndim) if keepdims else flat
    ordered = x.sort(axis)[0]
    n = x.shape[axis]
    return ordered.narrow(axis, (n - 1) // 2, 2 - n % 2).mean(axis, keepdim=keepdims)


@symbolic
def cumprod(x, axis=None, dtype=None):
    """Running products along ``axis`` (the flattened tensor for None), as a chain of
    products, so zeros and signs keep an exact gradient."""
    x = _t(x)
    if axis is None:
        x, axis = x.reshape(-1), 0
    parts = x.unbind(axis)
    running = [parts[0]]
    for part in parts[1:]:
        running.append(running[-1] * part)
    return stack(running, axis=axis)


@symbolic
def diff(a, n: int = 1, axis: int = -1):
    x = _t(a)
    for _ in range(n):
        size = x.shape[axis]
        x = x.narrow(axis, 1, size - 1) - x.narrow(axis, 0, size - 1)
    return x


@symbolic
def average(x, axis=None, weights=None):
    x = _t(x)
    if weights is None:
        return x.mean(_axes(axis))
    w = _t(weights)
    if axis is not None and w.ndim == 1 and x.ndim > 1:
        shape = [1] * x.ndim
        shape[axis] = w.shape[0]
        w = w.reshape(shape)
    return (x * w).sum(_axes(axis)) / (w + x * 0).sum(_axes(axis))  # w broadcast to x


@symbolic
def count_nonzero(x, axis=None):
    return _const(np.count_nonzero(convert_to_numpy(x), axis=_axes(axis)).astype(np.int32))


# ---------------------------------------------------------------- predicates
@symbolic
def isinf(x):
    return _const(np.isinf(convert_to_numpy(x)))


@symbolic
def isclose(x1, x2, rtol: float = 1e-5, atol: float = 1e-8, equal_nan: bool = False):
    return _const(np.isclose(convert_to_numpy(x1), convert_to_numpy(x2), rtol, atol, equal_nan))


def allclose(x1, x2, rtol: float = 1e-5, atol: float = 1e-8, equal_nan: bool = False):
    return _const(np.allclose(convert_to_numpy(x1), convert_to_numpy(x2), rtol, atol, equal_nan))


@symbolic
def nan_to_num(x, nan: float = 0.0, posinf=None, neginf=None):
    return _t(x).nan_to_num(nan, posinf, neginf)


# ---------------------------------------------------------------- shapes and indexing
@symbolic
def moveaxis(x, source, destination):
    return _t(x).movedim(source, destination)


@symbolic
def ravel(x):
    return _t(x).reshape(-1)


def size(x) -> int:
    return int(np.prod(np.shape(convert_to_numpy(x)) if not hasattr(x, "shape") else x.shape))


def ndim(x) -> int:
    return len(x.shape) if hasattr(x, "shape") else np.ndim(x)


def dtype(x) -> str:
    return str(np.dtype(x.dtype) if hasattr(x, "dtype") else np.asarray(x).dtype)


def is_tensor(x) -> bool:
    return isinstance(x, Tensor)


@symbolic
def outer(x1, x2):
    return _t(x1).reshape(-1, 1) * _t(x2).reshape(1, -1)


@symbolic
def diagonal(x, offset: int = 0, axis1: int = 0, axis2: int = 1):
    """NumPy's diagonal: the (axis1, axis2) diagonal moved to the last axis."""
    x = _t(x).movedim((axis1, axis2), (-2, -1))
    rows, cols = x.shape[-2], x.shape[-1]
    i = np.arange(builtins.max(0, -offset), builtins.min(rows, cols - offset))
    return x[..., _const(i), _const(i + offset)]


@symbolic
def diag(x, k: int = 0):
    x = _t(x)
    if x.ndim not in (1, 2):
        raise ValueError(f"keras.ops.diag: expects a 1-d or 2-d tensor, got shape "
                         f"{tuple(x.shape)}")
    return x.diag(k) if x.ndim == 1 else diagonal(x, k)


@symbolic
def broadcast_to(x, shape):
    return _t(x).broadcast_to(tuple(shape))


@symbolic
def identity(n: int, dtype=None):
    return _const(np.eye(n, dtype=_float(dtype)))


def empty(shape, dtype=None) -> Tensor:
    return _const(np.zeros(shape, dtype=_float(dtype)))


def linspace(start, stop, num: int = 50, endpoint: bool = True, retstep: bool = False,
             dtype=None, axis: int = 0):
    values, step = np.linspace(start, stop, num, endpoint=endpoint, retstep=True, axis=axis)
    out = _const(values.astype(_float(dtype)))
    return (out, step) if retstep else out


def meshgrid(*x, indexing: str = "xy") -> list:
    return [_const(g) for g in np.meshgrid(*(convert_to_numpy(v) for v in x), indexing=indexing)]


def nonzero(x) -> tuple:
    return tuple(_const(i.astype(np.int32)) for i in np.nonzero(convert_to_numpy(x)))


@symbolic
def searchsorted(sorted_sequence, values, side: str = "left"):
    return _const(np.searchsorted(convert_to_numpy(sorted_sequence), convert_to_numpy(values),
                                  side=side).astype(np.int32))


@symbolic
def bincount(x, weights=None, minlength: int = 0, sparse: bool = False):
    w = None if weights is None else convert_to_numpy(weights)
    out = np.bincount(convert_to_numpy(x), weights=w, minlength=minlength)
    return _const(out.astype(np.int32) if w is None else out.astype(w.dtype))


# ---------------------------------------------------------------- keras.ops.nn: conv, pooling
def _image(x: Tensor, op: str) -> tuple[Tensor, bool]:
    """Channels-last (N, T, C) or (N, H, W, C) as (N, C, H, W) (T as a height-1 image), and
    whether it was 1-d."""
    if x.ndim not in (3, 4):
        raise ValueError(f"keras.ops.{op}: expects (N, T, C) or (N, H, W, C) channels-last "
                         f"input, got shape {tuple(x.shape)}")
    one_d = x.ndim == 3
    x = x.reshape(x.shape[0], 1, *x.shape[1:]) if one_d else x
    return x.permute(0, 3, 1, 2), one_d


def _back(y: Tensor, one_d: bool) -> Tensor:
    y = y.permute(0, 2, 3, 1)
    return y.reshape(y.shape[0], *y.shape[2:]) if one_d else y


def _pair(value, one_d: bool, name: str, op: str) -> tuple[int, int]:
    values = tuple(value) if isinstance(value, (list, tuple)) else (value,) * (1 if one_d else 2)
    if len(values) != (1 if one_d else 2):
        raise ValueError(f"keras.ops.{op}: {name} must be an int or {1 if one_d else 2} ints, "
                         f"got {value!r}")
    return (1, int(values[0])) if one_d else (int(values[0]), int(values[1]))


def _check_format(op: str, data_format, padding, allowed=("valid", "same")) -> None:
    if data_format not in (None, "channels_last"):
        raise ValueError(f"keras.ops.{op}: supports data_format 'channels_last', got "
                         f"{data_format!r}")
    if padding not in allowed:
        raise ValueError(f"keras.ops.{op}: padding must be one of {allowed}, got {padding!r}")


@symbolic
def conv(inputs, kernel, strides=1, padding: str = "valid", data_format=None,
         dilation_rate=1):
    """Keras's convolution: inputs (N, T, C) or (N, H, W, C), kernel (k, C, F) or
    (kH, kW, C, F); "same" pads as Keras (the extra row/column after)."""
    _check_format("conv", data_format, padding)
    x, one_d = _image(_t(inputs), "conv")
    w = _t(kernel)
    w = w.reshape(1, *w.shape) if one_d else w  # (kH, kW, C, F)
    stride = _pair(strides, one_d, "strides", "conv")
    dilation = _pair(dilation_rate, one_d, "dilation_rate", "conv")
    pads = conv_padding(padding, tuple(w.shape[:2]), dilation, stride, tuple(x.shape[2:]))
    y = conv2d(x, w.permute(3, 2, 0, 1), None, stride, pads, dilation)
    return _back(y, one_d)


def _pool(fn, op: str, inputs, pool_size, strides, padding, data_format):
    _check_format(op, data_format, padding, ("valid",))
    x, one_d = _image(_t(inputs), op)
    size = _pair(pool_size, one_d, "pool_size", op)
    stride = size if strides is None else _pair(strides, one_d, "strides", op)
    return _back(fn(x, size, stride), one_d)


@symbolic
def max_pool(inputs, pool_size, strides=None, padding: str = "valid", data_format=None):
    return _pool(max_pool2d, "max_pool", inputs, pool_size, strides, padding, data_format)


@symbolic
def average_pool(inputs, pool_size, strides=None, padding: str = "valid", data_format=None):
    return _pool(avg_pool2d, "average_pool", inputs, pool_size, strides, padding, data_format)


EXPORTS = sorted(
    name for name, value in list(globals().items())
    if not name.startswith("_") and callable(value) and name not in {
        "Tensor", "convert_to_numpy", "symbolic"}
    and getattr(value, "__module__", __name__) == __name__)
__all__ = EXPORTS
