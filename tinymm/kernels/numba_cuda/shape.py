"""CUDA shape copies: permute, getitem, concat, split, cast, full.

Derivation: kernels/reference/shape.py. Every op here is a copy between a contiguous array
and a strided view of another (``_strided``: one gather and one scatter kernel, one thread
per element of the contiguous side, axes merged before launch):

* permute: gather with the input's strides permuted; backward: the inverse permutation.
* getitem: a basic index (ints, slices, None, Ellipsis) is turned on the host into
  (base, shape, strides) of the view it selects, then gathered; backward scatters dout into
  zeros through the same view (a basic view never repeats an element). An advanced index
  (integer or boolean host arrays, mixed with basic items as NumPy allows) is turned on the
  host into the flat offset of every selected element, computed from the index and x's shape
  only (never x's data) with NumPy's own indexing rules, and copied to the device once (one
  counted transfer of out.size int64); a kernel gathers through it, and the backward adds
  dout back with atomics, so an element the index repeats accumulates (np.add.at).
* concat: each piece is scattered into its slab of the output (base = the slab's start
  along the axis); backward gathers the slabs back. split is the mirror image.
* cast: one thread per element converts on store (a new array even for the same dtype).
* full: ``_device.full``.
  A device index is one int64 array of row indices (``x[idx]``, ``x[idx, ...]``): a kernel
  gathers whole rows (negative indices count from the end, as NumPy's), the backward adds
  them back with atomics; the op checks the range on the device (reported at the next copy
  to the host) and both kernels guard it (a bad row reads and writes nothing).
Other index arrays must be host (NumPy) arrays: any other device array in an index is a
TypeError.
"""

from __future__ import annotations

import numpy as np
from numba import cuda

from tinymm.kernels.numba_cuda import _device, _strided
from tinymm.kernels.numba_cuda._device import empty, grid_1d, require_device, zeros
from tinymm.kernels.numba_cuda._rows import gather_rows, scatter_add_rows
from tinymm.kernels.reference.shape import is_basic_index


def _cast(x, out):
    i = cuda.grid(1)
    if i < out.size:
        out[i] = x[i]


def _take(x, offsets, out):
    i = cuda.grid(1)
    if i < out.size:
        out[i] = x[offsets[i]]


def _put_add(dout, offsets, dx):
    i = cuda.grid(1)
    if i < dout.size:
        cuda.atomic.add(dx, offsets[i], dout[i])  # repeated offsets accumulate


_PAIRS = [("float32", "float64"), ("float64", "float32"), ("int64", "float32"),
          ("int64", "float64"), ("float32", "int64"), ("float64", "int64"),
          ("boolean", "float32"), ("boolean", "float64"), ("int32", "int64")]
PTX_TARGETS = [(_cast, tuple(f"void({a}[::1], {b}[::1])" for a, b in _PAIRS)),
               (_take, tuple(f"void({t}[::1], int64[::1], {t}[::1])"
                             for t in ("float32", "float64", "int64", "boolean"))),
               (_put_add, tuple(f"void({t}[::1], int64[::1], {t}[::1])"
                                for t in ("float32", "float64")))]
cast_kernel = cuda.jit(_cast)
take_kernel = cuda.jit(_take)
put_add_kernel = cuda.jit(_put_add)
ROWS = "rows"  # getitem's cache marker for a device index array


def _advanced_offsets(name, shape, index):
    """The flat offsets (host int64, shaped as x[index]) of the elements x[index] selects.

    Per axis a, NumPy indexes a zero-copy broadcast of arange(shape[a]) with the index, giving
    every output element its coordinate along a (NumPy's rules for advanced, mixed and
    boolean indices, and its IndexError for an out-of-range one); the offsets are the
    coordinates times x's strides. Work and memory are O(ndim * out.size), not O(x.size).
    """
    items = index if isinstance(index, tuple) else (index,)
    if any(_device.is_device_array(i) for i in items):
        raise TypeError(f"cuda {name}: index arrays must be host (NumPy) arrays, received a "
                        f"device array")
    if not shape:
        return np.zeros((), np.int64)[index]
    offsets = None
    for a, (n, stride) in enumerate(zip(shape, _strided.contiguous_strides(shape))):
        along = np.arange(n, dtype=np.int64).reshape([-1 if k == a else 1
                                                       for k in range(len(shape))])
        part = np.broadcast_to(along, shape)[index] * stride
        offsets = part if offsets is None else offsets + part
    return np.ascontiguousarray(offsets)


def _view(name, shape, index):
    """(base, shape, strides) in elements of the basic-index view ``x[index]``."""
    items = list(index) if isinstance(index, tuple) else [index]
    n_ellipsis = sum(1 for i in items if i is Ellipsis)
    if n_ellipsis > 1:
        raise IndexError(f"cuda {name}: an index can only have a single ellipsis")
    consumed = sum(1 for i in items if i is not None and i is not Ellipsis)
    if consumed > len(shape):
        raise IndexError(f"cuda {name}: too many indices ({consumed}) for an array of shape "
                         f"{tuple(shape)}")
    if n_ellipsis:
        k = items.index(Ellipsis)
        items[k:k + 1] = [slice(None)] * (len(shape) - consumed)
    else:
        items += [slice(None)] * (len(shape) - consumed)
    own = _strided.contiguous_strides(shape)
    base, out_shape, out_strides, axis = 0, [], [], 0
    for item in items:
        if item is None:
            out_shape.append(1)
            out_strides.append(0)
            continue
        n = int(shape[axis])
        if isinstance(item, slice):
            start, stop, step = item.indices(n)
            length = len(range(start, stop, step))
            base += start * own[axis] if length else 0
            out_shape.append(length)
            out_strides.append(step * own[axis])
        else:
            i = int(item)
            if not -n <= i < n:
                raise IndexError(f"cuda {name}: index {i} is out of bounds for axis {axis} "
                                 f"with size {n}")
            base += (i % n) * own[axis]
        axis += 1
    return base, tuple(out_shape), tuple(out_strides)


def permute_forward(x, axes):
    require_device("permute_forward", x=x)
    axes = tuple(int(a) % max(x.ndim, 1) for a in axes)
    shape = tuple(x.shape)
    strides = _strided.contiguous_strides(shape)
    out = _strided.gather(x, 0, tuple(shape[a] for a in axes), tuple(strides[a] for a in axes))
    return out, axes


def permute_backward(dout, cache):
    inverse = tuple(int(k) for k in np.argsort(cache))
    return (permute_forward(dout, inverse)[0],)


def device_row_index(index):
    """The int64 device array of ``index`` when it selects rows with one (``x[idx]``, or
    ``x[idx, ...]`` / ``x[idx, :, ...]``), else None (a host index)."""
    items = index if isinstance(index, tuple) else (index,)
    if not items or not _device.is_device_array(items[0]):
        return None
    rest = items[1:]
    full = all(i is Ellipsis or isinstance(i, slice) and i == slice(None) for i in rest)
    if not full or items[0].dtype != np.int64:
        raise TypeError("cuda getitem_forward: a device index must be one int64 array of row "
                        "indices (x[idx] or x[idx, ...]); index with host arrays for other "
                        f"forms, received {index!r}")
    return items[0]


def _take_device_rows(x, idx):
    row = int(np.prod(x.shape[1:], dtype=np.int64))
    out = empty(tuple(idx.shape) + tuple(x.shape[1:]), x.dtype)  # idx.shape + row shape
    gather_rows(x.reshape(x.size), idx.reshape(idx.size), out.reshape(out.size), row,
                wrap=True)
    return out, (tuple(x.shape), ROWS, idx.reshape(idx.size))


def getitem_forward(x, index):
    require_device("getitem_forward", x=x)
    idx = device_row_index(index)
    if idx is not None:
        if x.ndim == 0:
            raise IndexError("cuda getitem_forward: a 0-d array has no rows to index")
        return _take_device_rows(x, idx)
    if not is_basic_index(index):
        offsets = _device.to_device(_advanced_offsets("getitem_forward", tuple(x.shape), index))
        out = empty(tuple(offsets.shape), x.dtype)
        if out.size:
            blocks, threads = grid_1d(out.size)
            take_kernel[blocks, threads](x.reshape(x.size), offsets.reshape(out.size),
                                         out.reshape(out.size))
        return out, (tuple(x.shape), None, offsets)
    base, shape, strides = _view("getitem_forward", tuple(x.shape), index)
    return _strided.gather(x, base, shape, strides), (tuple(x.shape), base, strides)


def getitem_backward(dout, cache):
    require_device("getitem_backward", dout=dout)
    shape, base, strides_or_offsets = cache
    dx = zeros(shape, dout.dtype)
    if base is ROWS:  # a device row index: add dout's rows back, repeats accumulating
        scatter_add_rows(dout.reshape(dout.size), strides_or_offsets, dx.reshape(dx.size),
                         dout.size // max(strides_or_offsets.size, 1), wrap=True)
        return (dx,)
    if base is None:  # an advanced index: add dout at the offsets, repeats accumulating
        if dout.size:
            blocks, threads = grid_1d(dout.size)
            put_add_kernel[blocks, threads](dout.reshape(dout.size),
                                            strides_or_offsets.reshape(dout.size),
                                            dx.reshape(dx.size))
        return (dx,)
    _strided.scatter(dout, dx, base, strides_or_offsets)
    return (dx,)


def _slabs(shape, axis, sizes):
    """(base, strides) of each slab of ``sizes`` along ``axis`` of a contiguous ``shape``."""
    strides = _strided.contiguous_strides(shape)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(int)
    return [(int(s) * strides[axis], strides) for s in starts]


def concat_forward(arrays, axis=0):
    require_device("concat_forward", **{f"arrays[{i}]": a for i, a in enumerate(arrays)})
    first = tuple(arrays[0].shape)
    axis = int(axis) % len(first)
    sizes = [int(a.shape[axis]) for a in arrays]
    shape = first[:axis] + (sum(sizes),) + first[axis + 1:]
    out = empty(shape, arrays[0].dtype)
    for a, (base, strides) in zip(arrays, _slabs(shape, axis, sizes)):
        _strided.scatter(a, out, base, strides)
    return out, (axis, sizes)


def concat_backward(dout, cache):
    require_device("concat_backward", dout=dout)
    axis, sizes = cache
    shape = tuple(dout.shape)
    pieces = []
    for n, (base, strides) in zip(sizes, _slabs(shape, axis, sizes)):
        piece_shape = shape[:axis] + (n,) + shape[axis + 1:]
        pieces.append(_strided.gather(dout, base, piece_shape, strides))
    return tuple(pieces)


def split_forward(x, sizes, axis=0):
    require_device("split_forward", x=x)
    axis = int(axis) % x.ndim
    sizes = [int(n) for n in sizes]
    return concat_backward(x, (axis, sizes)), axis


def split_backward(douts, cache):
    return (concat_forward(tuple(douts), cache)[0],)


def cast_forward(x, dtype):
    require_device("cast_forward", x=x)
    dtype = np.dtype(dtype)
    out = empty(tuple(x.shape), dtype)
    if out.size:
        blocks, threads = grid_1d(out.size)
        cast_kernel[blocks, threads](x.reshape(x.size), out.reshape(out.size))
    return out, np.dtype(x.dtype)


def cast_backward(dout, cache):
    return (cast_forward(dout, cache)[0],)


def full(shape, value, dtype):
    return _device.full(shape, value, dtype)
