"""PyTorch's ``erf``, ``fmod``, ``remainder``, ``nan_to_num``, ``addmm``, ``addcmul``,
``addcdiv`` (differentiable) and the counting and logical functions ``unique``, ``bincount``,
``count_nonzero``, ``logical_and/or/xor/not``, ``isnan``, ``isinf``, ``isfinite`` (no gradient:
their outputs are integers or booleans).

    erf(x)             the erf kernels (kernels/reference/special.py);
                       dx = dout * 2 / sqrt(pi) * exp(-x^2)
    fmod(a, b)         a - b * trunc(a / b) (sign of a);  da = dout, db = -dout * trunc(a / b)
    remainder(a, b)    a - b * floor(a / b) (sign of b);  da = dout, db = -dout * floor(a / b)
                       (both: the modulo kernels, kernels/reference/special.py)

The quotient's derivative is 0 wherever it exists (as PyTorch). The others are compositions of
Tensor ops. erf, fmod and remainder run on either device (their kernels); the logical functions,
isnan/isinf/isfinite and count_nonzero run on cuda tensors by comparison kernels, bincount by
a scatter-add and unique (over all elements) by a sort and a masked_select; the other ops run
on cpu tensors.
"""

from __future__ import annotations

import operator

import numpy as np

from tinymm.backend import get_backend
from tinymm.dtypes import result_type
from tinymm.devices import device_row_order
from tinymm.ops._checks import as_int64, check_dim, check_float, int_bounds
from tinymm.ops._kernel import KernelFunction
from tinymm.ops.shape import cat
from tinymm.tensor import Tensor, as_tensor, from_numpy, where


class Erf(KernelFunction):
    kernel = "erf"  # dx = dout * 2 / sqrt(pi) * exp(-x^2), from the saved input

    @classmethod
    def forward(cls, ctx, x):
        check_float("erf", "input", x)
        return cls.run(ctx, x)


class Modulo(KernelFunction):
    """fmod (``floor=False``) or remainder (``floor=True``) of broadcast a and b (the modulo
    kernels: da = dout, db = -dout * the quotient)."""

    kernel = "modulo"

    @classmethod
    def forward(cls, ctx, a, b, floor):
        return cls.run(ctx, a, b, floor=floor)


def erf(input) -> Tensor:  # noqa: A002 - PyTorch's argument names
    return Erf.apply(as_tensor(input))


def _modulo(op: str, floor: bool, input, other) -> Tensor:  # noqa: A002
    x = as_tensor(input)
    dtype = result_type(x, other)  # torch's promotion: int % 1.5 is float32, u8 % 0-d i64 u8
    y = other if isinstance(other, Tensor) else from_numpy(np.asarray(other, dtype)).to(
        x.device)  # a number: one counted copy to a cuda x's device
    try:
        np.broadcast_shapes(tuple(x.shape), tuple(y.shape))
    except ValueError:
        raise ValueError(f"{op}: input {tuple(x.shape)} and other {tuple(y.shape)} do not "
                         "broadcast") from None
    x, y = x.to(dtype), y.to(dtype)
    if dtype.kind in "iu" and not y.is_cuda and not np.all(y.array):
        raise ZeroDivisionError(f"{op}: integer division by zero")
    return Modulo.apply(x, y, floor=floor)


def fmod(input, other) -> Tensor:  # noqa: A002
    return _modulo("fmod", False, input, other)


def remainder(input, other) -> Tensor:  # noqa: A002
    return _modulo("remainder", True, input, other)


def nan_to_num(input, nan: float = 0.0, posinf=None, neginf=None) -> Tensor:  # noqa: A002
    """NaN -> nan, +inf -> posinf (default the dtype's max), -inf -> neginf (its min); the
    gradient reaches the finite elements only."""
    x = as_tensor(input)
    check_float("nan_to_num", "input", x.array)
    info = np.finfo(x.dtype)
    posinf = info.max if posinf is None else posinf
    neginf = info.min if neginf is None else neginf
    out = where(x == np.inf, posinf, x)  # the masks by comparison kernels, where x is
    out = where(x == -np.inf, neginf, out)
    return where(x.isnan(), nan, out)


def addmm(input, mat1, mat2, *, beta=1, alpha=1) -> Tensor:  # noqa: A002
    """beta * input + alpha * (mat1 @ mat2); beta = 0 ignores input (NaN included)."""
    product = as_tensor(mat1) @ as_tensor(mat2)
    product = product * alpha if alpha != 1 else product
    if beta == 0:
        return product
    return product + (as_tensor(input) * beta if beta != 1 else as_tensor(input))


def addcmul(input, tensor1, tensor2, *, value=1) -> Tensor:  # noqa: A002
    return as_tensor(input) + as_tensor(tensor1) * as_tensor(tensor2) * value


def addcdiv(input, tensor1, tensor2, *, value=1) -> Tensor:  # noqa: A002
    return as_tensor(input) + as_tensor(tensor1) / as_tensor(tensor2) * value


def _host(value) -> np.ndarray:
    return as_tensor(value)._host_values()


def _on_cuda(*values) -> bool:
    return any(isinstance(v, Tensor) and v.is_cuda for v in values)


_BOOL_OPS = {np.logical_and: operator.and_, np.logical_or: operator.or_,
             np.logical_xor: operator.xor}


def _logical(fn):
    def apply(input, other) -> Tensor:  # noqa: A002
        if _on_cuda(input, other):  # the compare kernel on the operands' truth values
            return _BOOL_OPS[fn](as_tensor(input) != 0, as_tensor(other) != 0)
        return from_numpy(fn(_host(input), _host(other)))

    apply.__name__ = fn.__name__
    apply.__doc__ = f"``torch.{fn.__name__}``: elementwise, bool output, no gradient."
    return apply


logical_and = _logical(np.logical_and)
logical_or = _logical(np.logical_or)
logical_xor = _logical(np.logical_xor)


def logical_not(input) -> Tensor:  # noqa: A002
    if _on_cuda(input):
        return as_tensor(input) == 0
    return from_numpy(np.logical_not(_host(input)))


# on cuda by comparisons: NaN is the one value unequal to itself; x - x is 0 exactly when x
# is finite (inf - inf is NaN); integers are always finite
def isnan(input) -> Tensor:  # noqa: A002
    if _on_cuda(input):
        return input != input
    return from_numpy(np.isnan(_host(input)))


def isinf(input) -> Tensor:  # noqa: A002
    if _on_cuda(input):
        return input.abs() == np.inf if input.dtype.kind == "f" else input != input
    return from_numpy(np.isinf(_host(input)))


def isfinite(input) -> Tensor:  # noqa: A002
    if _on_cuda(input):
        return (input - input) == 0 if input.dtype.kind == "f" else input == input
    return from_numpy(np.isfinite(_host(input)))


def _groups(first: Tensor, perm: Tensor, shape):
    """(group, inverse, counts) from the sorted elements' group-start flags ``first`` (n,)
    and the sort's permutation ``perm`` (n,): a group's number is the running count of
    starts minus 1, scattered back through perm (inverse, reshaped to ``shape``) or added up
    (counts, one per group: ``size`` of them); by kernels."""
    cuda = get_backend("cuda")
    n = first.shape[0]
    group = first.cumsum(0) - 1  # (n,) int64: the group of each sorted element
    inverse = Tensor._make(cuda.full((n,), 0, np.int64)).scatter(0, perm, group)
    return group, inverse.reshape(*shape)


def _counts(group: Tensor, size: int) -> Tensor:
    """How many sorted elements fall in each of the ``size`` groups (scatter-add of ones)."""
    cuda = get_backend("cuda")
    ones = Tensor._make(cuda.full((group.shape[0],), 1, np.float64))
    return Tensor._make(cuda.full((size,), 0, np.float64)).scatter_add(
        0, group, ones).to(np.int64)


def _unique_on_device(x: Tensor, return_inverse: bool, return_counts: bool):
    """unique of a cuda tensor over all its elements, by kernels: sort, mark each sorted
    value that differs from the one before it (a group's first), keep those (masked_select:
    one counted copy of the count), then ``_groups`` and ``_counts``."""
    values, perm = x.detach().reshape(-1).sort()  # (n,) each
    n = values.shape[0]
    cuda = get_backend("cuda")
    if n == 0:
        return values, Tensor._make(cuda.full(x.shape, 0, np.int64)), \
            Tensor._make(cuda.full((0,), 0, np.int64))
    head = Tensor._make(cuda.full((1,), True, np.bool_))
    first = cat([head, values[1:] != values[:-1]]) if n > 1 else head  # (n,) bool
    out = values.masked_select(first)
    group, inverse = _groups(first, perm, x.shape)
    return out, inverse, _counts(group, out.shape[0])


def _unique_dim_on_device(x: Tensor, dim: int):
    """unique(dim) of a cuda tensor by kernels: the slices along dim as rows (n, m), sorted
    lexicographically on the device (``device_row_order``); a row that differs from the one
    before it starts a group; the starts are kept (index_select of their positions: one
    counted copy of the count), then ``_groups`` and ``_counts``."""
    moved = x.detach().movedim(dim, 0).contiguous()  # (n, ...)
    n = moved.shape[0]
    rows = moved.reshape(n, -1)  # (n, m)
    perm = Tensor._make(device_row_order(rows.array))  # (n,)
    ordered = rows.index_select(0, perm)  # (n, m) sorted
    cuda = get_backend("cuda")
    head = Tensor._make(cuda.full((1,), True, np.bool_))
    first = cat([head, (ordered[1:] != ordered[:-1]).any(1)]) if n > 1 else head  # (n,)
    starts = first.nonzero().reshape(-1)  # (k,) the groups' first rows
    out = ordered.index_select(0, starts).reshape(-1, *moved.shape[1:]).movedim(0, dim)
    group, inverse = _groups(first, perm, (n,))
    return out, inverse, _counts(group, starts.shape[0])


def unique(input, sorted: bool = True, return_inverse: bool = False,  # noqa: A002
           return_counts: bool = False, dim=None):
    """The distinct values (sorted), and optionally the inverse indices and the counts; with
    ``dim``, the distinct slices along dim (sorted lexicographically). A cuda input runs by
    kernels (an empty one with ``dim`` is copied to the host and the results back)."""
    if _on_cuda(input) and (dim is None or (input.ndim and input.numel())):
        found = _unique_on_device(input, return_inverse, return_counts) if dim is None else \
            _unique_dim_on_device(input, check_dim("unique", "dim", dim, input.ndim))
        out = [found[0]] + [found[1]] * return_inverse + [found[2]] * return_counts
        return out[0] if len(out) == 1 else tuple(out)
    values = _host(input)
    if dim is not None:
        dim = check_dim("unique", "dim", dim, values.ndim)
    found = np.unique(values, return_inverse=True, return_counts=True, axis=dim)
    out = [found[0]]
    if return_inverse:
        out.append(found[1].reshape(values.shape if dim is None else -1).astype(np.int64))
    if return_counts:
        out.append(found[2].astype(np.int64))
    out = _on_device_of(input, out)
    return out[0] if len(out) == 1 else tuple(out)


def _on_device_of(input, arrays) -> list:  # noqa: A002
    """Host results as tensors on ``input``'s device (one counted copy each to cuda)."""
    device = as_tensor(input).device
    return [from_numpy(a).to(device) for a in arrays]


def _bincount_on_device(x: Tensor, weights, minlength: int) -> Tensor:
    """bincount of a cuda tensor: its (min, max) in one counted 16-byte copy (the size needs
    it), then a scatter-add of the weights (or ones) into zeros on the device."""
    if x.ndim != 1 or x.dtype.kind not in "iu":
        raise RuntimeError(f"bincount: input must be a 1-d tensor of non-negative integers, got "
                           f"shape {tuple(x.shape)} dtype {x.dtype}")
    bounds = int_bounds(as_int64("bincount", "input", x.array))
    if bounds is not None and bounds[0] < 0:
        raise RuntimeError(f"bincount: input must be non-negative, got {bounds[0]}")
    size = max(int(minlength), 0 if bounds is None else bounds[1] + 1)
    cuda = get_backend("cuda")
    w = Tensor._make(cuda.full(x.shape, 1, np.float64)) if weights is None \
        else as_tensor(weights)
    counts = Tensor._make(cuda.full((size,), 0, w.dtype)).scatter_add(
        0, x.to(np.int64), w)  # zeros (size,) written by kernels: no transfer
    return counts.to(np.int64) if weights is None else counts


def bincount(input, weights=None, minlength: int = 0) -> Tensor:  # noqa: A002
    if _on_cuda(input):
        return _bincount_on_device(input, weights, minlength)
    values = _host(input)
    if values.ndim != 1 or values.dtype.kind not in "iu" or (values.size and values.min() < 0):
        raise RuntimeError(f"bincount: input must be a 1-d tensor of non-negative integers, got "
                           f"shape {values.shape} dtype {values.dtype}")
    w = None if weights is None else _host(weights)
    counts = np.bincount(values, w, minlength)
    return from_numpy(counts.astype(np.int64 if w is None else w.dtype))


def count_nonzero(input, dim=None) -> Tensor:  # noqa: A002
    if _on_cuda(input):  # the nonzero mask summed on the device (float64 counts are exact)
        dims = dim if dim is None or isinstance(dim, int) else tuple(dim)
        return (input != 0).to(np.float64).sum(dims).to(np.int64)
    values = _host(input)
    if dim is not None:
        dims = (dim,) if isinstance(dim, int) else tuple(dim)
        dim = tuple(check_dim("count_nonzero", "dim", d, values.ndim) for d in dims)
    return from_numpy(np.asarray(np.count_nonzero(values, axis=dim), dtype=np.int64))
