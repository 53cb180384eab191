"""More torch functions programs use: ``cumprod`` and ``atan2`` (differentiable Functions),
and compositions of Tensor ops: ``logaddexp``, ``hypot``, ``logit``, ``exp2``, ``clamp_min``,
``clamp_max``, ``hstack``, ``vstack``, ``dstack``, ``column_stack``; ``isclose``,
``tril_indices`` and ``triu_indices`` (no gradient).

    cumprod(x, dim)    out_j = prod_{k <= j} x_k along dim;
                       dx_i = sum_{j >= i} dout_j prod_{k <= j, k != i} x_k (the cumprod
                       kernels, kernels/reference/scan.py; exact where an x_k is 0)
    atan2(y, x)        the angle of (x, y);  dy = dout x / (x^2 + y^2),
                       dx = -dout y / (x^2 + y^2) (broadcast inputs get summed gradients)

cumprod runs on the device its input lives on; atan2 runs on cpu tensors.
"""

from __future__ import annotations

import numpy as np

from tinymm.autograd import ArrayFunction
from tinymm.devices import as_device, device_triangle_indices
from tinymm.dtypes import float_result, result_type
from tinymm.ops._checks import check_dim, check_float
from tinymm.ops._kernel import KernelFunction
from tinymm.ops.shape import cat
from tinymm.tensor import Tensor, as_tensor, from_numpy


class Cumprod(ArrayFunction):
    """The running product along ``dim``: the ``cumprod`` kernels."""

    @staticmethod
    def forward(ctx, x, dim: int):
        out, cache = ctx.backend.cumprod_forward(x, dim)
        ctx.save_for_backward(cache)
        return out

    @staticmethod
    def backward(ctx, grad):
        return ctx.backend.cumprod_backward(grad, *ctx.saved)


class Atan2(KernelFunction):
    kernel = "atan2"  # s = dout / (x^2 + y^2): dy = s x, dx = -s y (kernels/reference/special)

    @classmethod
    def forward(cls, ctx, y, x):
        return cls.run(ctx, y, x)


def cumprod(input, dim: int | None = None, dtype=None, axis: int | None = None) -> Tensor:  # noqa: A002
    """``torch.cumprod(input, dim)``; ``axis`` is PyTorch's NumPy-style alias of dim."""
    if (dim is None) == (axis is None):
        raise TypeError("cumprod: give dim (or its alias axis), once")
    dim = dim if axis is None else axis
    x = as_tensor(input)
    x = x if dtype is None else x.to(dtype)
    if x.requires_grad:
        check_float("cumprod", "input", x.array)
    return Cumprod.apply(x, dim=check_dim("cumprod", "dim", dim, max(x.ndim, 1)))


def atan2(input, other) -> Tensor:  # noqa: A002
    y, x = as_tensor(input), as_tensor(other)
    check_float("atan2", "input", y.array)
    check_float("atan2", "other", x.array)
    try:
        np.broadcast_shapes(tuple(y.shape), tuple(x.shape))
    except ValueError:
        raise ValueError(f"atan2: input {tuple(y.shape)} and other {tuple(x.shape)} do not "
                         "broadcast") from None
    common = result_type(y, x)  # the kernels take one dtype
    return Atan2.apply(y if y.dtype == common else y.to(common),
                       x if x.dtype == common else x.to(common))


def logaddexp(input, other) -> Tensor:  # noqa: A002
    a, b = as_tensor(input), as_tensor(other)
    big = a.maximum(b)
    return big + (-(a - b).abs()).exp().log1p()


def hypot(input, other) -> Tensor:  # noqa: A002
    a, b = as_tensor(input), as_tensor(other)
    return (a * a + b * b).sqrt()


def logit(input, eps: float | None = None) -> Tensor:  # noqa: A002
    p = as_tensor(input)
    p = p if eps is None else p.clamp(eps, 1 - eps)
    return (p / (1 - p)).log()


def exp2(input) -> Tensor:  # noqa: A002
    return (as_tensor(input) * float(np.log(2.0))).exp()


def clamp_min(input, min) -> Tensor:  # noqa: A002
    return as_tensor(input).clamp(min=min)


def clamp_max(input, max) -> Tensor:  # noqa: A002
    return as_tensor(input).clamp(max=max)


def _at_least(t: Tensor, ndim: int) -> Tensor:
    if t.ndim >= ndim:
        return t
    if ndim == 3 and t.ndim == 2:
        return t.unsqueeze(-1)
    return t.reshape(*((1,) * (ndim - max(t.ndim, 1))), *(t.shape or (1,)))


def hstack(tensors) -> Tensor:
    ts = [_at_least(as_tensor(t), 1) for t in tensors]
    return cat(ts, dim=0 if ts[0].ndim == 1 else 1)


def vstack(tensors) -> Tensor:
    return cat([_at_least(as_tensor(t), 2) for t in tensors], dim=0)


def dstack(tensors) -> Tensor:
    return cat([_at_least(as_tensor(t), 3) for t in tensors], dim=2)


def column_stack(tensors) -> Tensor:
    ts = [as_tensor(t) for t in tensors]
    return cat([t.reshape(-1, 1) if t.ndim <= 1 else t for t in ts], dim=1)


def isclose(input, other, rtol: float = 1e-05, atol: float = 1e-08,  # noqa: A002
            equal_nan: bool = False) -> Tensor:
    a, b = as_tensor(input).detach(), as_tensor(other).detach()
    if a.is_cuda or b.is_cuda:  # NumPy's rule, by comparison kernels on the device
        dtype = float_result(result_type(a, b))
        a, b = a.to(dtype), b.to(dtype)
        close = ((a - b).abs() <= b.abs() * rtol + atol) | (a == b)  # a == b: equal infinities
        return close | ((a != a) & (b != b)) if equal_nan else close
    a, b = a.numpy(), b.numpy()
    return from_numpy(np.isclose(a, b, rtol=rtol, atol=atol, equal_nan=equal_nan))


def _indices(fn, row: int, col: int, offset: int, dtype, device) -> Tensor:
    """(2, count) coordinates of the kept triangle in row order, as ``dtype`` (int64); made on
    the device by a kernel for a cuda ``device``."""
    if device is not None and as_device(device, fn.__name__).type == "cuda":
        out = Tensor._make(device_triangle_indices(int(row), int(col), int(offset),
                                            fn is np.tril_indices))
        return out if dtype is None or out.dtype == np.dtype(dtype) else out.to(np.dtype(dtype))
    rows, cols = fn(row, offset, col)
    return from_numpy(np.stack([rows, cols]).astype(dtype or np.int64))


def tril_indices(row: int, col: int, offset: int = 0, dtype=None, device=None) -> Tensor:
    return _indices(np.tril_indices, row, col, offset, dtype, device)


def triu_indices(row: int, col: int, offset: int = 0, dtype=None, device=None) -> Tensor:
    return _indices(np.triu_indices, row, col, offset, dtype, device)


__all__ = ["atan2", "clamp_max", "clamp_min", "column_stack", "cumprod", "dstack", "exp2",
           "hstack", "hypot", "isclose", "logaddexp", "logit", "tril_indices", "triu_indices",
           "vstack"]
