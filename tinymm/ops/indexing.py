"""PyTorch's rearranging and scattering functions: ``roll``, ``flip``, ``repeat_interleave``,
``movedim``, ``broadcast_to``, ``meshgrid``, ``masked_select``, ``take_along_dim``, ``diag``,
``tril``/``triu``, ``scatter``/``scatter_add``, ``index_add``, and ``F.pad``'s reflect, replicate
and circular modes.

All but scatter are compositions of index_select, slicing, expand and gather, so autograd
derives their backward. ``Scatter`` is one op with its own backward:

    scatter      out = x; out[where(index)] = src        dx = dout with 0 at where(index),
                                                          dsrc = dout[where(index)]
    scatter_add  out = x; out[where(index)] += src       dx = dout, dsrc = dout[where(index)]

where(index) is, for each position p of ``index``, p with its ``dim`` coordinate replaced by
index[p]; ``src`` may be larger than ``index`` (only its leading index.shape block is read).
When scatter writes one place twice the last write wins on the cpu (PyTorch leaves the order
unspecified; on cuda it is unspecified too) and dsrc still reaches every writer, as PyTorch's
gather-based backward (kernels/reference/gather.py). Scatter, gather, take_along_dim,
index_add and masked_select run their kernels where the tensors live: a cuda tensor's index
stays on the device and is range-checked there. repeats (repeat_interleave) and the other
composed ops' index arrays are host arrays.
"""

from __future__ import annotations

import numpy as np

from tinymm.autograd import ArrayFunction
from tinymm.backend import get_backend
from tinymm.devices import is_device_array
from tinymm.factories import full
from tinymm.ops._checks import as_int64, check_bounds, check_dim, check_same_device, int_bounds
from tinymm.ops.shape import pad
from tinymm.tensor import Tensor, as_tensor, from_numpy


def _ints(op: str, name: str, value) -> np.ndarray:
    """Integer arguments the host needs (repeat counts size the result): a cuda tensor's come
    back in one counted copy, as PyTorch synchronises for them."""
    if isinstance(value, Tensor) and value.is_cuda:
        value = value.cpu()
    array = np.asarray(value.array if isinstance(value, Tensor) else value)
    if array.dtype.kind not in "iu":
        raise TypeError(f"{op}: {name} must hold integers, got dtype {array.dtype}")
    return array.astype(np.int64)


def _reflect(j: np.ndarray, n: int) -> np.ndarray:
    i = np.abs(j)
    return np.where(i >= n, 2 * (n - 1) - i, i)


# F.pad's indexed modes: the source index of padded position j (j < 0 before the input)
PAD_MODES = {"reflect": _reflect,
             "replicate": lambda j, n: np.clip(j, 0, n - 1),
             "circular": lambda j, n: j % n}


def pad_by_index(x: Tensor, widths, mode: str) -> Tensor:
    """x padded by (before, after) ``widths`` per dim, each padded position read from the
    input index ``PAD_MODES[mode]`` gives (reflect: mirrored without repeating the edge,
    replicate: the edge, circular: wrapped around)."""
    for dim, (before, after) in enumerate(widths):
        if before == after == 0:
            continue
        n = x.shape[dim]
        limit = n - 1 if mode == "reflect" else n
        if mode != "replicate" and max(before, after) > limit:
            raise ValueError(f"pad: mode {mode!r} needs widths at most {limit} for dim {dim} "
                             f"of size {n}, got ({before}, {after})")
        x = _along(x, dim, PAD_MODES[mode](np.arange(-before, n + after), n))
    return x


def _along(x: Tensor, dim: int, index: np.ndarray) -> Tensor:
    return x.index_select(dim, index)


def roll(input, shifts, dims=None) -> Tensor:  # noqa: A002 - PyTorch's argument names
    x = as_tensor(input)
    if dims is None:
        return roll(x.flatten(), shifts, 0).reshape(*x.shape)
    shifts = (shifts,) if isinstance(shifts, int) else tuple(shifts)
    dims = (dims,) if isinstance(dims, int) else tuple(dims)
    if len(shifts) != len(dims):
        raise ValueError(f"roll: shifts {shifts} and dims {dims} must have the same length")
    for shift, dim in zip(shifts, dims):
        n = x.shape[check_dim("roll", "dims", dim, x.ndim)]
        x = _along(x, dim, (np.arange(n) - shift) % n)  # out[i] = x[i - shift]
    return x


def flip(input, dims) -> Tensor:  # noqa: A002
    x = as_tensor(input)
    dims = (dims,) if isinstance(dims, int) else tuple(dims)
    for dim in dims:  # a copy, as torch's flip (a negative-stride view would alias x)
        n = x.shape[check_dim("flip", "dims", dim, x.ndim)]
        x = _along(x, dim, np.arange(n - 1, -1, -1))
    return x if dims else x.clone()


def repeat_interleave(input, repeats, dim=None) -> Tensor:  # noqa: A002
    x = as_tensor(input)
    if dim is None:
        x, dim = x.flatten(), 0
    dim = check_dim("repeat_interleave", "dim", dim, x.ndim)
    counts = _ints("repeat_interleave", "repeats", repeats)
    n = x.shape[dim]
    if counts.ndim > 1 or (counts.ndim == 1 and counts.size not in (1, n)) \
            or (counts < 0).any():
        raise ValueError(f"repeat_interleave: repeats must be a non-negative int or one count "
                         f"per element ({n}) of dim {dim}, got {counts.tolist()}")
    return _along(x, dim, np.repeat(np.arange(n), counts))


def movedim(input, source, destination) -> Tensor:  # noqa: A002
    x = as_tensor(input)
    source = (source,) if isinstance(source, int) else tuple(source)
    destination = (destination,) if isinstance(destination, int) else tuple(destination)
    return x.permute(*_moved_axes(x.ndim, source, destination))


def _moved_axes(ndim: int, source: tuple, destination: tuple) -> list[int]:
    """The permutation that puts each source dim at its destination, the rest in order."""
    source = [check_dim("movedim", "source", d, ndim) for d in source]
    destination = [check_dim("movedim", "destination", d, ndim) for d in destination]
    if len(source) != len(destination) or len(set(source)) != len(source) \
            or len(set(destination)) != len(destination):
        raise ValueError(f"movedim: source {source} and destination {destination} must be "
                         "distinct dims, as many of each")
    rest = iter(d for d in range(ndim) if d not in source)
    placed = dict(zip(destination, source))
    return [placed[i] if i in placed else next(rest) for i in range(ndim)]


def broadcast_to(input, size) -> Tensor:  # noqa: A002
    return as_tensor(input).expand(*size)


def meshgrid(*tensors, indexing: str = "ij") -> tuple[Tensor, ...]:
    """Grids (n_0, n_1, ...) from 1-d tensors; indexing="xy" makes them (n_1, n_0, ...)."""
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    if indexing not in ("ij", "xy"):
        raise ValueError(f"meshgrid: indexing must be 'ij' or 'xy', got {indexing!r}")
    vectors = [as_tensor(t) for t in tensors]
    if any(v.ndim > 1 for v in vectors):
        raise ValueError(f"meshgrid: expects 0-d or 1-d tensors, got shapes "
                         f"{[tuple(v.shape) for v in vectors]}")
    vectors = [v.reshape(-1) for v in vectors]
    if indexing == "xy" and len(vectors) >= 2:
        vectors[0], vectors[1] = vectors[1], vectors[0]
    shape = [v.shape[0] for v in vectors]
    grids = []
    for k, v in enumerate(vectors):
        view = [1] * len(vectors)
        view[k] = shape[k]
        grids.append(v.reshape(*view).expand(*shape))
    if indexing == "xy" and len(grids) >= 2:  # back to the inputs' order
        grids = [grids[1], grids[0], *grids[2:]]
    return tuple(grids)


class MaskedSelect(ArrayFunction):
    """x's elements where ``mask`` (x's shape) is True, in row-major order; ``count`` (the
    number of True) sizes the result. The ``masked_select`` kernels."""

    @staticmethod
    def forward(ctx, x, mask, count):
        out, cache = ctx.backend.masked_select_forward(x, mask, count)  # (count,)
        ctx.save_for_backward(cache)
        return out

    @staticmethod
    def backward(ctx, grad):
        dx, _ = ctx.backend.masked_select_backward(grad, *ctx.saved)
        return dx, None


def masked_select(input, mask) -> Tensor:  # noqa: A002
    """The elements where ``mask`` (broadcast against input) is True, as a 1-d tensor. The
    result's size is the mask's count: on cuda one counted device->host copy (8 bytes, the
    last element of the mask's cumsum) before the selection kernel runs."""
    x = as_tensor(input)
    keep = mask if isinstance(mask, Tensor) else as_tensor(mask)
    if keep.dtype != np.bool_:
        raise TypeError(f"masked_select: mask must be a bool tensor, got dtype {keep.dtype}")
    try:
        shape = np.broadcast_shapes(tuple(x.shape), tuple(keep.shape))
    except ValueError:
        raise ValueError(f"masked_select: mask {tuple(keep.shape)} does not broadcast with "
                         f"input {tuple(x.shape)}") from None
    x = x.expand(*shape) if tuple(x.shape) != shape else x
    keep = keep.expand(*shape) if tuple(keep.shape) != shape else keep
    flat = keep.reshape(-1)
    count = int(flat.cumsum(0)[-1].item()) if flat.numel() else 0
    return MaskedSelect.apply(x, keep, count=count)


def leading_mask(x: Tensor, mask: Tensor) -> Tensor:
    """A bool mask over x's leading dims reshaped to broadcast over the trailing ones (what
    ``x[mask]`` and ``x[mask] = v`` select), or PyTorch's IndexError when it does not fit."""
    if tuple(mask.shape) != tuple(x.shape[:mask.ndim]):
        raise IndexError(f"index: the boolean mask {tuple(mask.shape)} does not match the "
                         f"leading dims of the indexed tensor {tuple(x.shape)}")
    return mask.reshape(*mask.shape, *(1,) * (x.ndim - mask.ndim))


def masked_rows(x: Tensor, mask: Tensor) -> Tensor:
    """``x[mask]`` for a bool tensor over x's leading dims: the selected elements (a mask of
    x's shape) or rows (count, *x.shape[mask.ndim:]) in row-major order, by masked_select (on
    cuda one counted copy: the count)."""
    return masked_select(x, leading_mask(x, mask)).reshape(-1, *x.shape[mask.ndim:])


def take_along_dim(input, indices, dim=None) -> Tensor:  # noqa: A002
    x = as_tensor(input)
    index = Tensor._make(_index_array("take_along_dim", "indices", indices))
    if dim is None:
        return x.flatten().gather(0, index.reshape(-1))
    dim = check_dim("take_along_dim", "dim", dim, x.ndim)
    if index.ndim != x.ndim:
        raise ValueError(f"take_along_dim: indices must have the input's {x.ndim} dims, got "
                         f"shape {tuple(index.shape)}")
    sizes = [max(a, b) for a, b in zip(x.shape, index.shape)]
    x_shape = [x.shape[d] if d == dim else sizes[d] for d in range(x.ndim)]
    i_shape = [index.shape[d] if d == dim else sizes[d] for d in range(x.ndim)]
    x = x.expand(*x_shape) if list(x.shape) != x_shape else x
    index = index.expand(*i_shape) if list(index.shape) != i_shape else index
    return x.gather(dim, index)


def diag(input, diagonal: int = 0) -> Tensor:  # noqa: A002
    """A 1-d input becomes the square matrix with it on the given diagonal; a 2-d input gives
    that diagonal as a 1-d tensor."""
    x = as_tensor(input)
    k = int(diagonal)
    if x.ndim == 2:
        rows = np.arange(max(0, -k), min(x.shape[0], x.shape[1] - k))
        return x[rows, rows + k]
    if x.ndim != 1:
        raise ValueError(f"diag: expected a 1-d or 2-d input, got shape {tuple(x.shape)}")
    n = x.shape[0]
    m = n + abs(k)
    source = np.full((m, m), n)  # n: the zero appended below
    i = np.arange(n)
    source[i + max(0, -k), i + max(0, k)] = i
    return pad(x, (0, 1))[source.reshape(-1)].reshape(m, m)


def _triangle(x, diagonal: int, lower: bool) -> Tensor:
    x = as_tensor(x)
    rows, cols = x.shape[-2:]
    keep = np.tri(rows, cols, diagonal, dtype=bool) if lower else \
        ~np.tri(rows, cols, diagonal - 1, dtype=bool)  # (rows, cols) the kept triangle
    return x * from_numpy(keep.astype(x.dtype)).to(x.device)  # (a counted copy to a GPU)


def tril(input, diagonal: int = 0) -> Tensor:  # noqa: A002
    return _triangle(input, diagonal, lower=True)


def triu(input, diagonal: int = 0) -> Tensor:  # noqa: A002
    return _triangle(input, diagonal, lower=False)


class Scatter(ArrayFunction):
    """scatter / scatter_add along ``dim`` (module docstring): the ``scatter`` kernels."""

    @staticmethod
    def forward(ctx, x, src, index, dim, add):
        out, cache = ctx.backend.scatter_forward(x, index, src, dim, add=add)
        ctx.save_for_backward(cache)
        return out

    @staticmethod
    def backward(ctx, grad):
        dx, dsrc, _ = ctx.backend.scatter_backward(grad, *ctx.saved)
        return dx, dsrc, None


def _index_array(op: str, name: str, value):
    """An integer index (Tensor, array or list) as an int64 array where it lives: a cuda
    tensor's index stays on the device (never read by NumPy)."""
    array = value.array if isinstance(value, Tensor) else value
    if not is_device_array(array):
        array = np.asarray(array)
    if array.dtype.kind not in "iu":
        raise TypeError(f"{op}: {name} must hold integers, got dtype {array.dtype}")
    return as_int64(op, name, array)


def _check_scatter(op: str, x: Tensor, dim: int, index, src: Tensor):
    dim = check_dim(op, "dim", dim, x.ndim)
    index = _index_array(op, "index", index)
    check_same_device(op, input=x.array, index=index, src=src.array)
    if index.ndim != x.ndim or src.ndim != x.ndim:
        raise ValueError(f"{op}: index and src must have the input's {x.ndim} dims, got index "
                         f"{index.shape} and src {tuple(src.shape)}")
    for d in range(x.ndim):
        if index.shape[d] > src.shape[d] or (d != dim and index.shape[d] > x.shape[d]):
            raise ValueError(f"{op}: index {index.shape} must fit in src {tuple(src.shape)} "
                             f"and, except at dim {dim}, in the input {tuple(x.shape)}")
    n = x.shape[dim]

    def judge(bounds):
        if bounds is None or (0 <= bounds[0] and bounds[1] < n):
            return None
        bad = bounds[0] if bounds[0] < 0 else bounds[1]
        return f"{op}: index {bad} is out of bounds for dimension {dim} with size {n}"

    if is_device_array(index):  # judged on the device, raised at the next copy to the host
        check_bounds(op, "index", index, None, judge)
    elif judge(int_bounds(index)):
        raise RuntimeError(judge(int_bounds(index)))  # PyTorch's error for a host index
    return dim, index


def scatter(input, dim: int, index, src=None, value=None, *, reduce=None) -> Tensor:  # noqa: A002
    """``torch.scatter``: out = input with out[where(index)] = src (or the scalar value);
    ``reduce="add"`` adds instead."""
    x = as_tensor(input)
    if isinstance(src, (int, float)) and value is None:
        src, value = None, src  # scatter(dim, index, 1.5): PyTorch's positional value form
    if (src is None) == (value is None):
        raise ValueError("scatter: give exactly one of src (a tensor) and value")
    if reduce not in (None, "add"):
        raise ValueError(f"scatter: reduce must be None or 'add', got {reduce!r}")
    if src is None:
        shape = tuple(_index_array("scatter", "index", index).shape)
        src = (Tensor._make(get_backend("cuda").full(shape, value, x.dtype)) if x.is_cuda
               else full(shape, value, dtype=x.dtype))  # on cuda written by a kernel
    src = as_tensor(src)
    dim, index = _check_scatter("scatter", x, dim, index, src)
    return Scatter.apply(x, src.to(x.dtype), index, dim=dim, add=reduce == "add")


def scatter_add(input, dim: int, index, src) -> Tensor:  # noqa: A002
    x, src = as_tensor(input), as_tensor(src)
    dim, index = _check_scatter("scatter_add", x, dim, index, src)
    return Scatter.apply(x, src.to(x.dtype), index, dim=dim, add=True)


def spread_index(index, dim: int, shape) -> Tensor:
    """A 1-d index of one entry per slice along ``dim`` as an index of ``shape`` (the dim's
    size = len(index)): entry i repeated over slice i, by expand (on the device it lives)."""
    view = [1] * len(shape)
    view[dim] = int(index.shape[0])
    return Tensor._make(index).reshape(*view).expand(*shape)


def vector_index(op: str, index):
    """A 1-d index array: a 0-d one becomes (1,) (as PyTorch's index_select), any other
    shape is a ValueError naming the op, on every device."""
    if index.ndim == 0:
        return index.reshape(1)
    if index.ndim != 1:
        raise ValueError(f"{op}: index must be 1-d (a vector), got shape {tuple(index.shape)}")
    return index


def select_slices(x: Tensor, dim: int, index) -> Tensor:
    """``x.index_select(dim, index)`` for a 1-d integer index (a device one stays there): a
    gather of the index spread over the other dims; the gradient adds repeated slices."""
    index = vector_index("index_select", _index_array("index_select", "index", index))
    shape = list(x.shape)
    shape[dim] = index.shape[0]
    return x.gather(dim, spread_index(index, dim, tuple(shape)))


def index_add(input, dim: int, index, source, alpha=1) -> Tensor:  # noqa: A002
    """out = input; out[.., index[i], ..] += alpha * source[.., i, ..] along dim."""
    x, source = as_tensor(input), as_tensor(source)
    dim = check_dim("index_add", "dim", dim, x.ndim)
    index = _index_array("index_add", "index", index)
    if index.ndim != 1 or source.ndim != x.ndim or source.shape[dim] != index.size:
        raise ValueError(f"index_add: index must be 1-d with one entry per slice of source "
                         f"along dim {dim}, got index {index.shape} and source "
                         f"{tuple(source.shape)}")
    spread = spread_index(index, dim, tuple(source.shape))
    return scatter_add(x, dim, spread, source * alpha if alpha != 1 else source)
