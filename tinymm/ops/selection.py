"""Order statistics, differences, cumulative extremes and products as PyTorch's, composed of
existing ops (autograd derives each backward from the pieces) except cummax/cummin, which run
the ``cummax`` kernels (``CumExtreme``).

Values chosen by index (median, kthvalue, mode, take, cummax, cummin) come from ``gather``s
or the cummax kernels, so the gradient goes to the chosen elements. Conventions as
PyTorch's: ``median`` is the lower median (element (n - 1) // 2 of the sorted slice);
``kthvalue(k)`` the k-th smallest (1-based); ``mode`` the most frequent value (the smallest
among equally frequent ones) and the index of its last occurrence; ``cummax``/``cummin``
the running extreme and the index of its latest occurrence.

Products: ``tensordot`` moves the contracted dims of a to the end and of b to the front and
does one matmul; ``kron(a, b)[i*B + j] = a[i] * b[j]`` along every dim (one broadcast
product reshaped); ``trace`` sums the main diagonal; ``baddbmm = beta input + alpha
batch1 @ batch2`` (input ignored when beta = 0).
"""

from __future__ import annotations

import numpy as np

from tinymm.autograd import ArrayFunction
from tinymm.devices import device_mode_index
from tinymm.ops._checks import check_dim, int_bounds
from tinymm.ops.index import return_type
from tinymm.ops.indexing import scatter, spread_index
from tinymm.ops.shape import cat
from tinymm.tensor import Tensor, as_tensor, from_numpy, where


def _sorted_pick(op: str, x, position: int, dim, keepdim: bool):
    values, indices = x.sort(dim)
    v = values.narrow(dim, position, 1)
    i = indices.narrow(dim, position, 1)
    return return_type(op)(v, i) if keepdim else return_type(op)(v.squeeze(dim), i.squeeze(dim))


def median(input, dim=None, keepdim: bool = False):  # noqa: A002 - PyTorch's argument names
    x = as_tensor(input)
    if x.numel() == 0:
        raise ValueError("median: the input is empty")
    if dim is None:
        flat = x.reshape(-1)
        return _sorted_pick("median", flat, (flat.shape[0] - 1) // 2, 0, False).values
    dim = check_dim("median", "dim", dim, x.ndim)
    return _sorted_pick("median", x, (x.shape[dim] - 1) // 2, dim, keepdim)


def kthvalue(input, k: int, dim: int = -1, keepdim: bool = False):  # noqa: A002
    x = as_tensor(input)
    dim = check_dim("kthvalue", "dim", dim, max(x.ndim, 1))
    size = x.shape[dim] if x.ndim else 1
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= size:
        raise ValueError(f"kthvalue: k must be an int in [1, {size}] (the size of dim {dim}), "
                         f"got {k!r}")
    return _sorted_pick("kthvalue", x, int(k) - 1, dim, keepdim)


def _slice_mode(row: np.ndarray) -> int:
    values, counts = np.unique(row, return_counts=True)
    best = values[np.argmax(counts)]  # np.unique sorts: the first maximum is the smallest
    return int(np.flatnonzero(row == best)[-1])


def mode(input, dim: int = -1, keepdim: bool = False):  # noqa: A002
    x = as_tensor(input)
    dim = check_dim("mode", "dim", dim, x.ndim)
    if x.is_cuda and x.ndim and x.numel() and x.dtype in (np.float32, np.float64, np.int64):
        moved = x.detach().movedim(dim, -1).contiguous()  # (..., L), on the device
        rows = moved.reshape(-1, moved.shape[-1])
        index = Tensor._make(device_mode_index(rows.array))
        index = index.reshape(moved.shape[:-1]).unsqueeze(dim)
    else:
        moved = np.moveaxis(x.detach().numpy(), dim, -1)  # (..., L)
        flat = moved.reshape(-1, moved.shape[-1])
        index = np.array([_slice_mode(r) for r in flat], np.int64).reshape(moved.shape[:-1])
        index = from_numpy(np.expand_dims(index, dim))
    values = x.gather(dim, index)
    result = return_type("mode")
    return result(values, index) if keepdim else result(values.squeeze(dim), index.squeeze(dim))


class CumExtreme(ArrayFunction):
    """The running max (``largest``) or min along ``dim`` and the index of its latest
    occurrence: the ``cummax`` kernels; the gradient goes to the chosen elements."""

    @staticmethod
    def forward(ctx, x, dim, largest):
        (values, index), cache = ctx.backend.cummax_forward(x, dim, largest=largest)
        ctx.save_for_backward(cache)
        return values, index

    @staticmethod
    def backward(ctx, grad, grad_index):
        return ctx.backend.cummax_backward((grad, None), *ctx.saved)


def _cumulative(op: str, input, dim: int, largest: bool):  # noqa: A002
    x = as_tensor(input)
    if x.ndim == 0:
        values, index = _cumulative(op, x.reshape(1), dim, largest)
        return return_type(op)(values.reshape(()), index.reshape(()))
    dim = check_dim(op, "dim", dim, x.ndim)
    return return_type(op)(*CumExtreme.apply(x, dim=dim, largest=largest))


def cummax(input, dim: int):  # noqa: A002
    return _cumulative("cummax", input, dim, True)


def cummin(input, dim: int):  # noqa: A002
    return _cumulative("cummin", input, dim, False)


def diff(input, n: int = 1, dim: int = -1, prepend=None, append=None):  # noqa: A002
    """``out[i] = x[i + 1] - x[i]`` along dim, ``n`` times, after prepend/append are joined."""
    x = as_tensor(input)
    dim = check_dim("diff", "dim", dim, x.ndim)
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"diff: n must be a non-negative int, got {n!r}")
    parts = [as_tensor(p) for p in (prepend,) if p is not None] + [x] + \
        [as_tensor(p) for p in (append,) if p is not None]
    x = cat(parts, dim) if len(parts) > 1 else x
    for _ in range(int(n)):
        length = x.shape[dim]
        if length == 0:
            break
        x = x.narrow(dim, 1, length - 1) - x.narrow(dim, 0, length - 1)
    return x


def take(input, index):  # noqa: A002
    """``input.reshape(-1)[index]``, shaped like index (a gather of the flattened input, which
    wraps negative indices and checks the range where the index lives)."""
    x = as_tensor(input)
    idx = as_tensor(index)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"take: index must hold integers, got dtype {idx.dtype}")
    n = x.numel()
    bounds = None if idx.is_cuda else int_bounds(idx.array)
    if bounds is not None and (bounds[0] < -n or bounds[1] >= n):
        raise IndexError(f"take: index out of range for an input of {n} elements, got "
                         f"{bounds[0]}..{bounds[1]}")
    return x.reshape(-1).gather(0, idx.reshape(-1)).reshape(*idx.shape)


def index_fill(input, dim: int, index, value):  # noqa: A002
    """A copy of input with the entries at ``index`` along ``dim`` set to value: a scatter of
    the value over those slices (on the device the tensors live)."""
    x = as_tensor(input)
    if x.ndim == 0:
        return index_fill(x.reshape(1), dim, index, value).reshape(())
    dim = check_dim("index_fill", "dim", dim, x.ndim)
    idx = as_tensor(index).reshape(-1)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"index_fill: index must hold integers, got dtype {idx.dtype}")
    size = x.shape[dim]
    bounds = None if idx.is_cuda else int_bounds(idx.array)
    if bounds is not None and (bounds[0] < -size or bounds[1] >= size):
        raise IndexError(f"index_fill: index out of range for dim {dim} of size {size}")
    idx = where(idx < 0, idx + size, idx)  # the scatter's index is non-negative
    shape = list(x.shape)
    shape[dim] = idx.shape[0]
    return scatter(x, dim, spread_index(idx.array, dim, tuple(shape)), value=value)


def sum_to_size(input, *size):  # noqa: A002
    """Sum input down to ``size``, which it must broadcast from (as a gradient is)."""
    x = as_tensor(input)
    size = tuple(size[0]) if len(size) == 1 and isinstance(size[0], (tuple, list)) else size
    try:
        if np.broadcast_shapes(size, tuple(x.shape)) != tuple(x.shape):
            raise ValueError
    except ValueError:
        raise ValueError(f"sum_to_size: size {size} is not expandable to the tensor's shape "
                         f"{tuple(x.shape)}") from None
    lead = x.ndim - len(size)
    if lead:
        x = x.sum(tuple(range(lead)))
    dims = tuple(d for d, s in enumerate(size) if s == 1 and x.shape[d] != 1)
    return x.sum(dims, keepdim=True) if dims else x


def _dims_pair(a, b, dims):
    if isinstance(dims, (int, np.integer)):
        if dims < 0 or dims > min(a.ndim, b.ndim):
            raise ValueError(f"tensordot: dims must be in [0, {min(a.ndim, b.ndim)}], got "
                             f"{dims}")
        return list(range(a.ndim - dims, a.ndim)), list(range(dims))
    da, db = ([d] if isinstance(d, int) else list(d) for d in dims)
    if len(da) != len(db):
        raise ValueError(f"tensordot: both dims lists must be as long, got {da} and {db}")
    return [d % a.ndim for d in da], [d % b.ndim for d in db]


def tensordot(a, b, dims=2):
    a, b = as_tensor(a), as_tensor(b)
    da, db = _dims_pair(a, b, dims)
    for i, j in zip(da, db):
        if a.shape[i] != b.shape[j]:
            raise ValueError(f"tensordot: contracted dims differ in size: a dim {i} has "
                             f"{a.shape[i]}, b dim {j} has {b.shape[j]}")
    free_a = [d for d in range(a.ndim) if d not in da]
    free_b = [d for d in range(b.ndim) if d not in db]
    k = int(np.prod([a.shape[d] for d in da]))
    left = a.permute(*free_a, *da).reshape(-1, k)  # (free a, K)
    right = b.permute(*db, *free_b).reshape(k, -1)  # (K, free b)
    return (left @ right).reshape(*[a.shape[d] for d in free_a], *[b.shape[d] for d in free_b])


def kron(input, other):  # noqa: A002
    a, b = as_tensor(input), as_tensor(other)
    n = max(a.ndim, b.ndim)
    sa, sb = (1,) * (n - a.ndim) + tuple(a.shape), (1,) * (n - b.ndim) + tuple(b.shape)
    wide_a = a.reshape(*[v for s in sa for v in (s, 1)])  # (a0, 1, a1, 1, ...)
    wide_b = b.reshape(*[v for s in sb for v in (1, s)])  # (1, b0, 1, b1, ...)
    return (wide_a * wide_b).reshape(*[x * y for x, y in zip(sa, sb)])


def trace(input):  # noqa: A002
    x = as_tensor(input)
    if x.ndim != 2:
        raise ValueError(f"trace: expected a 2-d matrix, got shape {tuple(x.shape)}")
    k = min(x.shape)
    if k == 0:
        return x.sum()
    return x[:k, :k].diag().sum()


def baddbmm(input, batch1, batch2, *, beta=1, alpha=1):  # noqa: A002
    b1, b2 = as_tensor(batch1), as_tensor(batch2)
    if b1.ndim != 3 or b2.ndim != 3 or b1.shape[0] != b2.shape[0] or b1.shape[2] != b2.shape[1]:
        raise ValueError(f"baddbmm: batch1 and batch2 must be 3-d (b, n, m) and (b, m, p), "
                         f"got {tuple(b1.shape)} and {tuple(b2.shape)}")
    product = b1 @ b2
    if alpha != 1:
        product = product * alpha
    if beta == 0:
        return product
    x = as_tensor(input)
    return product + (x if beta == 1 else x * beta)


def no_bfloat16(*_args, **_kwargs):
    raise TypeError("bfloat16: tinymm has no bfloat16 dtype; use .half() (float16), .float() "
                    "(float32) or .double() (float64)")
