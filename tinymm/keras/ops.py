"""``keras.ops`` basics: NumPy-named functions on Tensors (arrays are converted), with
autograd through tinymm's ops, so they work inside custom layers, losses and metrics; given
a KerasTensor (a functional model under construction) they record an OpLayer instead.

``convert_to_numpy`` / ``convert_to_tensor`` cross between the two; reductions take
``axis`` and ``keepdims`` as NumPy does. Dimension letters: N batch, C classes.
"""

from __future__ import annotations

import functools

import numpy as np

from tinymm.keras.engine import KerasTensor, OpLayer
from tinymm.ops.activation import relu as _relu
from tinymm.ops.activation import sigmoid as _sigmoid
from tinymm.ops.activation import tanh as _tanh
from tinymm.ops.matmul import matmul as _matmul
from tinymm.ops.shape import concat
from tinymm.ops.shape import stack as _stack
from tinymm.ops.softmax import log_softmax as _log_softmax
from tinymm.ops.softmax import softmax as _softmax
from tinymm.tensor import Tensor, as_tensor


def convert_to_tensor(x, dtype=None) -> Tensor:
    if isinstance(x, KerasTensor):
        return x
    if isinstance(x, Tensor):
        return x if dtype is None else x.astype(np.dtype(dtype))
    array = np.asarray(x)
    if dtype is not None:
        array = array.astype(dtype)
    elif array.dtype == np.float64:
        array = array.astype(np.float32)  # Keras's floatx
    return as_tensor(array)


def convert_to_numpy(x) -> np.ndarray:
    return np.array(x.array if isinstance(x, Tensor) else x, copy=True)


_t = convert_to_tensor


def symbolic(fn):
    """Let ``fn`` take KerasTensors too: then it records an OpLayer in the functional graph
    (Keras 3's behaviour for ``keras.ops``); on data it runs directly."""

    @functools.wraps(fn)
    def op(*args, **kwargs):
        return OpLayer.apply(fn, *args, **kwargs)

    return op


@symbolic
def relu(x):
    return _relu(_t(x))


@symbolic
def sigmoid(x):
    return _sigmoid(_t(x))


@symbolic
def tanh(x):
    return _tanh(_t(x))


@symbolic
def mean(x, axis=None, keepdims: bool = False):
    """The mean; bool and integer input gives float32, as Keras."""
    x = _t(x)
    x = x if x.dtype.kind == "f" else x.float()
    return x.mean(axis=axis, keepdims=keepdims)


@symbolic
def sum(x, axis=None, keepdims: bool = False):  # noqa: A001 (Keras's name)
    return _t(x).sum(axis=axis, keepdims=keepdims)


@symbolic
def max(x, axis=None, keepdims: bool = False):  # noqa: A001
    return _t(x).max(axis=axis, keepdims=keepdims)


@symbolic
def min(x, axis=None, keepdims: bool = False):  # noqa: A001
    return -(-_t(x)).max(axis=axis, keepdims=keepdims)


@symbolic
def square(x):
    x = _t(x)
    return x * x


@symbolic
def sqrt(x):
    return _t(x).sqrt()


@symbolic
def exp(x):
    return _t(x).exp()


@symbolic
def log(x):
    return _t(x).log()


@symbolic
def abs(x):  # noqa: A001
    return _t(x).abs()


@symbolic
def matmul(a, b):
    return _matmul(_t(a), _t(b))


@symbolic
def softmax(x, axis: int = -1):
    return _softmax(_t(x), dim=axis)


@symbolic
def log_softmax(x, axis: int = -1):
    return _log_softmax(_t(x), dim=axis)


@symbolic
def concatenate(xs, axis: int = 0):
    return concat([_t(x) for x in xs], axis=axis)


@symbolic
def stack(xs, axis: int = 0):
    return _stack([_t(x) for x in xs], axis=axis)


@symbolic
def reshape(x, new_shape):
    return _t(x).reshape(tuple(new_shape))


@symbolic
def transpose(x, axes=None):
    x = _t(x)
    return x.permute(*(reversed(range(x.ndim)) if axes is None else axes))


@symbolic
def expand_dims(x, axis: int):
    return _t(x).unsqueeze(axis)


@symbolic
def squeeze(x, axis=None):
    return _t(x).squeeze(axis)


@symbolic
def maximum(a, b):
    """Elementwise max; at ties each side gets half the gradient (torch.maximum's)."""
    return _t(a).maximum(_t(b))


@symbolic
def minimum(a, b):
    """Elementwise min; ties as ``maximum``."""
    return _t(a).minimum(_t(b))


@symbolic
def argmax(x, axis=None, keepdims: bool = False):
    """The first maximum's index, int32 (Keras's dtype)."""
    return as_tensor(np.argmax(convert_to_numpy(x), axis=axis, keepdims=keepdims)
                     .astype("int32"))


@symbolic
def one_hot(indices, num_classes: int, dtype="float32"):
    """Class indices (...,) -> (..., num_classes) rows of zeros with a 1; indices outside
    [0, num_classes) give all-zero rows, as Keras and TensorFlow do."""
    idx = np.asarray(convert_to_numpy(indices), dtype=np.int64)
    valid = (idx >= 0) & (idx < num_classes)  # (...,)
    out = np.eye(num_classes, dtype=dtype)[np.where(valid, idx, 0)]  # (..., C)
    return as_tensor(out * valid[..., None].astype(dtype))


@symbolic
def cast(x, dtype):
    return _t(x).astype(np.dtype(dtype))


def shape(x) -> tuple:
    return tuple(_t(x).shape)


from tinymm.keras.math_ops import *  # noqa: E402, F403
from tinymm.keras.math_ops import EXPORTS as MATH_EXPORTS  # noqa: E402
from tinymm.keras.more_ops import *  # noqa: E402, F403
from tinymm.keras.more_ops import EXPORTS  # noqa: E402

__all__ = EXPORTS + MATH_EXPORTS + [
    "abs", "argmax", "cast", "concatenate", "convert_to_numpy", "convert_to_tensor", "exp",
    "expand_dims", "log", "log_softmax", "matmul", "max", "maximum", "mean", "min", "minimum",
    "one_hot", "relu", "reshape", "shape", "sigmoid", "softmax", "sqrt", "square", "squeeze",
    "stack", "sum", "tanh", "transpose"]
