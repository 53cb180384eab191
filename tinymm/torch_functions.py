"""The ``torch.<function>(tensor, ...)`` forms of Tensor methods (``tinymm.exp(x)``,
``tinymm.max(x, 1)``, ``tinymm.softmax(x, dim=1)``, ...), plus grad-mode helpers.

Each function converts its first argument to a Tensor and calls the method of the same name,
so the semantics (and the op behind it) are defined once, in ``tinymm/tensor.py``. The
``torch.`` forms of some functional ops (``cdist``, ``cosine_similarity``, ``conv1d``, ...)
are the functional ops themselves.
"""

from __future__ import annotations

from tinymm import autograd
from tinymm.dtypes import can_cast_in_place
from tinymm.ops.conv1d import conv1d  # noqa: F401 - torch.conv1d
from tinymm.ops.distance import cdist, cosine_similarity, pairwise_distance  # noqa: F401
from tinymm.ops.dropout import dropout as _dropout
from tinymm.ops.index import ValuesIndices  # noqa: F401 - tinymm.ValuesIndices
from tinymm.ops.indexing import meshgrid as _meshgrid
from tinymm.ops.more_math import *  # noqa: F403 - torch.cumprod, atan2, hstack, ...
from tinymm.ops.more_math import __all__ as _MORE_MATH
from tinymm.ops.selection import tensordot  # noqa: F401 - torch.tensordot
from tinymm.tensor import Tensor, as_tensor

_UNARY = [
    "abs", "acos", "arccos", "arcsin", "arctan", "asin", "atan", "ceil", "cos", "cosh", "exp",
    "expm1", "floor", "log", "log10", "log1p", "log2", "neg", "reciprocal", "relu", "round",
    "rsqrt", "sigmoid", "sign", "sin", "sinh", "sqrt", "square", "tan", "tanh", "trunc",
    "logical_not", "clone", "t", "numel", "nonzero", "unbind",
]
_WITH_ARGS = [
    "add", "all", "allclose", "amax", "amin", "any", "argmax", "argmin", "argsort", "chunk",
    "clamp", "clip", "cumsum", "div", "dot", "equal", "flatten", "gather", "index_select",
    "lerp", "log_softmax", "logsumexp", "masked_fill", "matmul", "maximum", "mean", "minimum",
    "mm", "bmm", "mul", "narrow", "norm", "permute", "pow", "prod", "reshape", "select", "softmax",
    "sort", "squeeze", "std", "sub", "sum", "topk", "transpose", "unsqueeze", "var", "eq", "ne",
    "lt", "le", "gt", "ge", "max", "min", "true_divide", "multiply", "divide", "subtract",
    # ops/indexing.py and ops/special.py
    "roll", "flip", "repeat_interleave", "movedim", "broadcast_to", "masked_select",
    "take_along_dim", "diag", "tril", "triu", "outer", "scatter", "scatter_add", "index_add",
    "erf", "fmod", "remainder", "nan_to_num", "isnan", "isinf", "isfinite", "logical_and",
    "logical_or", "logical_xor", "unique", "bincount", "count_nonzero", "addmm", "addcmul",
    "addcdiv",
    # ops/selection.py
    "median", "kthvalue", "mode", "diff", "cummax", "cummin", "take", "index_fill", "trace",
    "kron", "baddbmm",
]


def _write_out(name: str, out, result):
    """PyTorch's ``out=``: ``result`` written into the given tensor (or tuple of tensors, for
    results such as max's values and indices), which is returned; an ``out`` of another shape
    takes the result's shape, as torch resizes it."""
    if isinstance(result, tuple):
        if not isinstance(out, (tuple, list)) or len(out) != len(result):
            raise TypeError(f"{name}: out= must be a tuple of {len(result)} tensors, got "
                            f"{type(out).__name__}")
        return type(result)(*(_write_out(name, o, r) for o, r in zip(out, result)))
    if not isinstance(out, Tensor):
        raise TypeError(f"{name}: out= must be a Tensor, got {type(out).__name__}")
    if out.requires_grad and autograd.is_grad_enabled():
        raise RuntimeError(f"{name}(): functions with out=... arguments don't support "
                           "automatic differentiation, but one of the arguments requires grad.")
    if not can_cast_in_place(result.array.dtype, out.array.dtype):
        raise RuntimeError(f"{name}: result type {result.dtype} can't be cast to the desired "
                           f"output type {out.dtype}")
    with autograd.no_grad():
        if tuple(out.shape) != tuple(result.shape):
            out.array = result.detach().to(out.dtype).clone().array  # resized, as torch does
        else:
            out.copy_(result)
    return out


def _method(name: str):
    def fn(input, *args, out=None, **kwargs):  # noqa: A002 - PyTorch's argument name
        result = getattr(as_tensor(input), name)(*args, **kwargs)
        return result if out is None else _write_out(name, out, result)

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"``torch.{name}(input, ...)``: the same as ``input.{name}(...)``."
    return fn


for _name in _UNARY + _WITH_ARGS:
    globals()[_name] = _method(_name)
negative = globals()["neg"]


def meshgrid(*tensors, indexing: str = "ij"):
    """``torch.meshgrid`` (ops/indexing.py)."""
    return _meshgrid(*tensors, indexing=indexing)


def fliplr(input) -> Tensor:  # noqa: A002 - PyTorch's argument name
    """``torch.fliplr``: reverse dim 1 (the input needs at least 2 dims)."""
    return _flip_needing("fliplr", input, 2, 1)


def flipud(input) -> Tensor:  # noqa: A002
    """``torch.flipud``: reverse dim 0 (the input needs at least 1 dim)."""
    return _flip_needing("flipud", input, 1, 0)


def _flip_needing(name: str, input, ndim: int, dim: int) -> Tensor:  # noqa: A002
    x = as_tensor(input)
    if x.ndim < ndim:
        raise ValueError(f"{name}: expected a tensor of at least {ndim} dims, got shape "
                         f"{tuple(x.shape)}")
    return x.flip(dim)


class set_grad_enabled:  # noqa: N801 - PyTorch's name
    """``with set_grad_enabled(False):`` (a context manager; also a plain call). Per thread,
    like ``no_grad``."""

    def __init__(self, mode: bool):
        self._token = autograd.set_grad_mode(mode)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        autograd.reset_grad_mode(self._token)


class enable_grad:  # noqa: N801
    def __enter__(self):
        self._token = autograd.set_grad_mode(True)
        return self

    def __exit__(self, *exc) -> None:
        autograd.reset_grad_mode(self._token)


inference_mode = autograd.no_grad


def dropout(input, p: float, train: bool) -> Tensor:  # noqa: A002 - PyTorch's names
    """``torch.dropout(input, p, train)``: ``F.dropout(input, p, training=train)``."""
    return _dropout(input, p, train)


__all__ = sorted(_UNARY + _WITH_ARGS + _MORE_MATH + [
    "ValuesIndices", "cdist", "conv1d", "cosine_similarity", "dropout", "enable_grad", "fliplr",
    "flipud",
    "meshgrid", "pairwise_distance", "inference_mode", "negative", "set_grad_enabled",
    "tensordot",
])
