"""CUDA reductions sum, mean and max over axes (derivation: kernels/reference/reduction.py).

Every reduction is brought to the form ``x (outer, R, inner) -> out (outer, inner)``: a run
of adjacent reduced axes of a contiguous array is exactly that, with ``outer`` the product of
the axes before the run and ``inner`` of those after it. Sum and mean reduce several runs one
after the other (last run first), each a contiguous result. Max reduces one run so that the
index of the first maximum (row-major order over the reduced axes, the reference's tie rule)
is well defined: reduced axes that are not adjacent are first moved to the end by a permute
copy (``_strided.gather``).

Two kernels:

* ``_reduce_columns``: one thread per output element (o, j) walks r = 0 .. R-1; consecutive
  threads have consecutive j, so for inner > 1 each step reads consecutive addresses
  (coalesced). It is exact about the order of the max scan (first maximum wins, NaN wins
  as in NumPy's argmax).
* ``_sum_rows`` (inner == 1, long rows, sums only): one block of 256 threads per output;
  thread t adds elements t, t + 256, ... (coalesced), then the block combines the 256
  partial sums in shared memory by a tree (halving the active threads each step), with a
  barrier per step. Shared memory rather than warp shuffles, so the simulator runs it too.

Backward: sum and mean broadcast dout back over the reduced axes (one gather with stride 0
on them, times 1/count for the mean); max writes dout at each output's first maximum into a
zero array; amax (``torch.amax``) gives each of the c tied maxima dout / c, one thread per
output counting its ties and then writing its whole row. Both permute back when the forward
permuted.
"""

from __future__ import annotations

import numpy as np
from numba import cuda, float32, float64

from tinymm.kernels.numba_cuda import _strided
from tinymm.kernels.numba_cuda._device import SIMULATOR, empty, grid_1d, require_device, zeros
from tinymm.kernels.numba_cuda._reduce import block_sum

ROW_THREADS = 8 if SIMULATOR else 256  # threads per row-sum block: a power of two (the tree)
ROW_MIN = 512  # rows at least this long (inner == 1) use the block-per-row kernel


def _reduce_columns(x, out, arg, R, inner, mode, scale):
    # x flat (outer * R * inner), out and arg flat (outer * inner); mode 0 sum, 1 max
    i = cuda.grid(1)
    if i < out.size:
        o = i // inner
        j = i - o * inner
        base = o * R * inner + j
        best = x[base]
        where = 0
        if mode == 0:
            for r in range(1, R):
                best += x[base + r * inner]
            out[i] = best * scale
        else:
            for r in range(1, R):
                v = x[base + r * inner]
                if v > best or (v != v and best == best):  # first maximum; NaN wins
                    best = v
                    where = r
            out[i] = best
            arg[i] = where


def _make_sum_rows(dtype):
    def sum_rows(x, out, R, scale):
        # x flat (outer * R), out (outer,): one block per row, ROW_THREADS threads
        part = cuda.shared.array(ROW_THREADS, dtype)
        t = cuda.threadIdx.x
        row = cuda.blockIdx.x
        acc = dtype(0)
        for r in range(t, R, ROW_THREADS):
            acc += x[row * R + r]
        part[t] = acc
        block_sum(part, t, ROW_THREADS)  # part[0] becomes the row sum
        if t == 0:
            out[row] = part[0] * scale

    return sum_rows


def _max_scatter(dout, arg, dx, R, inner):
    # dx flat (outer * R * inner) zeroed; dout, arg flat (outer * inner)
    i = cuda.grid(1)
    if i < dout.size:
        o = i // inner
        j = i - o * inner
        dx[(o * R + arg[i]) * inner + j] = dout[i]


def _amax_share(x, out, dout, dx, R, inner, zero, one):
    # one thread per output (o, j): count its tied maxima, then give each dout / count
    i = cuda.grid(1)
    if i < out.size:
        o = i // inner
        j = i - o * inner
        base = o * R * inner + j
        best = out[i]
        count = zero
        for r in range(R):
            if x[base + r * inner] == best:
                count += one
        share = dout[i] / count if count > zero else zero
        for r in range(R):
            k = base + r * inner
            dx[k] = share if x[k] == best else zero


_FL = ("float32", "float64")
PTX_TARGETS = [
    (_amax_share, tuple(f"void({t}[::1], {t}[::1], {t}[::1], {t}[::1], int64, int64, {t}, {t})"
                        for t in _FL)),
    (_reduce_columns, tuple(f"void({t}[::1], {t}[::1], int64[::1], int64, int64, int64, {t})"
                            for t in _FL)),
    (_max_scatter, tuple(f"void({t}[::1], int64[::1], {t}[::1], int64, int64)" for t in _FL)),
]
_SUM_ROWS = {}
for _dt, _nbt in ((np.dtype(np.float32), float32), (np.dtype(np.float64), float64)):
    _fn = _make_sum_rows(_nbt)
    _fn.__name__ = f"sum_rows_{_dt.name}"
    PTX_TARGETS.append((_fn, (f"void({_nbt.name}[::1], {_nbt.name}[::1], int64, {_nbt.name})",)))
    _SUM_ROWS[_dt] = cuda.jit(_fn)
reduce_columns_kernel = cuda.jit(_reduce_columns)
max_scatter_kernel = cuda.jit(_max_scatter)
amax_share_kernel = cuda.jit(_amax_share)


def normalize_axes(axis, ndim: int) -> tuple[int, ...]:
    """``axis`` (None, int or tuple) -> sorted non-negative axes; None means every axis."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    return tuple(sorted({int(a) % max(ndim, 1) for a in axes}))


def _runs(axes):
    """Maximal runs of consecutive axes: (0, 1, 3) -> [(0, 2), (3, 4)] as [start, stop)."""
    runs: list = []
    for a in axes:
        if runs and runs[-1][1] == a:
            runs[-1] = (runs[-1][0], a + 1)
        else:
            runs.append((a, a + 1))
    return runs


def _reduce_run(x, start, stop, mode, scale):
    """Reduce axes [start, stop) of contiguous ``x``: (out with the run removed, argmax)."""
    shape = tuple(x.shape)
    outer = int(np.prod(shape[:start], dtype=np.int64))
    R = int(np.prod(shape[start:stop], dtype=np.int64))
    inner = int(np.prod(shape[stop:], dtype=np.int64))
    out_shape = shape[:start] + shape[stop:]
    out = empty(out_shape, x.dtype)
    arg = empty(out_shape if mode == 1 else (1,), np.int64)
    n = outer * inner
    if n == 0:
        return out, arg
    sc = x.dtype.type(scale)
    if R == 0:  # an empty sum is 0 (the op rejects an empty max); no element is read
        return zeros(out_shape, x.dtype), arg
    if mode == 0 and inner == 1 and R >= ROW_MIN:
        _SUM_ROWS[np.dtype(x.dtype)][outer, ROW_THREADS](x.reshape(x.size), out.reshape(n), R,
                                                         sc)
    else:
        blocks, threads = grid_1d(n)
        reduce_columns_kernel[blocks, threads](x.reshape(x.size), out.reshape(n),
                                               arg.reshape(arg.size), R, inner, mode, sc)
    return out, arg


def _sum(x, axes, scale):
    """Sum of ``x`` over ``axes`` (keepdim False) times ``scale``, as a contiguous array."""
    out = x
    runs = _runs(axes)
    for k, (start, stop) in enumerate(reversed(runs)):  # last run first: earlier axes stay put
        out, _ = _reduce_run(out, start, stop, 0, scale if k == len(runs) - 1 else 1.0)
    if not runs and scale != 1.0:
        out = _strided.broadcast_to(x, tuple(x.shape), scale)
    return out


def _kept_shape(shape, axes):
    return tuple(1 if k in axes else n for k, n in enumerate(shape))


def sum_forward(x, axis=None, keepdim=False):
    require_device("sum_forward", x=x)
    axes = normalize_axes(axis, x.ndim)
    out = _sum(x, axes, 1.0)
    if keepdim:
        out = out.reshape(_kept_shape(x.shape, axes))
    return out, (tuple(x.shape), axes, 1.0)


def mean_forward(x, axis=None, keepdim=False):
    require_device("mean_forward", x=x)
    axes = normalize_axes(axis, x.ndim)
    count = int(np.prod([x.shape[a] for a in axes], dtype=np.int64))
    scale = 1.0 / count if count else float("nan")
    out = _sum(x, axes, scale)
    if keepdim:
        out = out.reshape(_kept_shape(x.shape, axes))
    return out, (tuple(x.shape), axes, scale)


def _spread(dout, cache):
    shape, axes, scale = cache
    require_device("sum_backward", dout=dout)
    kept = _kept_shape(shape, axes)
    d = dout.reshape(kept) if dout.size else empty(kept, dout.dtype)
    return (_strided.broadcast_to(d, shape, None if scale == 1.0 else scale),)


def sum_backward(dout, cache):
    return _spread(dout, cache)


def mean_backward(dout, cache):
    return _spread(dout, cache)


def _one_run(x, axes):
    """``x`` with the reduced ``axes`` as one run [start, stop): permuted (a copy) if needed."""
    shape = tuple(x.shape)
    kept_axes = tuple(k for k in range(x.ndim) if k not in axes)
    runs = _runs(axes)
    if len(runs) > 1:  # move the reduced axes to the end: one run, row-major order kept
        perm = kept_axes + axes
        strides = _strided.contiguous_strides(shape)
        x = _strided.gather(x, 0, tuple(shape[k] for k in perm), tuple(strides[k] for k in perm))
        return x, len(kept_axes), x.ndim, perm
    if runs:
        return x, runs[0][0], runs[0][1], None
    return x, 0, 0, None


def _unpermute(dx, perm, shape):
    """Undo ``_one_run``'s permutation: axis perm[k] of the input is axis k of ``dx``."""
    if perm is None:
        return dx
    inverse = tuple(int(k) for k in np.argsort(perm))
    strides = _strided.contiguous_strides(tuple(dx.shape))
    return _strided.gather(dx, 0, shape, tuple(strides[k] for k in inverse))


def max_forward(x, axis=None, keepdim=False):
    require_device("max_forward", x=x)
    axes = normalize_axes(axis, x.ndim)
    shape = tuple(x.shape)
    x, start, stop, perm = _one_run(x, axes)
    out, arg = _reduce_run(x, start, stop, 1, 1.0)
    if keepdim:
        out = out.reshape(_kept_shape(shape, axes))
    cache = (arg, tuple(x.shape), start, stop, perm, shape, axes)
    return out, cache


def max_backward(dout, cache):
    require_device("max_backward", dout=dout)
    arg, work_shape, start, stop, perm, shape, axes = cache
    R = int(np.prod(work_shape[start:stop], dtype=np.int64))
    inner = int(np.prod(work_shape[stop:], dtype=np.int64))
    dx = zeros(work_shape, dout.dtype)
    if dout.size:
        blocks, threads = grid_1d(dout.size)
        max_scatter_kernel[blocks, threads](dout.reshape(dout.size), arg.reshape(arg.size),
                                            dx.reshape(dx.size), R, inner)
    return (_unpermute(dx, perm, shape),)


def amax_forward(x, axis=None, keepdim=False):
    require_device("amax_forward", x=x)
    axes = normalize_axes(axis, x.ndim)
    shape = tuple(x.shape)
    work, start, stop, perm = _one_run(x, axes)
    out, _ = _reduce_run(work, start, stop, 1, 1.0)
    cache = (work, out, start, stop, perm, shape)
    return (out.reshape(_kept_shape(shape, axes)) if keepdim else out), cache


def amax_backward(dout, cache):
    require_device("amax_backward", dout=dout)
    work, out, start, stop, perm, shape = cache
    work_shape = tuple(work.shape)
    R = int(np.prod(work_shape[start:stop], dtype=np.int64))
    inner = int(np.prod(work_shape[stop:], dtype=np.int64))
    dx = empty(work_shape, dout.dtype)
    if out.size:
        t = dout.dtype.type
        blocks, threads = grid_1d(out.size)
        amax_share_kernel[blocks, threads](work.reshape(work.size), out.reshape(out.size),
                                           dout.reshape(dout.size), dx.reshape(dx.size), R,
                                           inner, t(0), t(1))
    return (_unpermute(dx, perm, shape),)


def sum_to_shape(grad, shape):
    """Sum a device ``grad`` down to ``shape``, undoing broadcasting (kernels/_shapes.py)."""
    shape = tuple(int(n) for n in shape)
    if tuple(grad.shape) == shape:
        return grad
    extra = grad.ndim - len(shape)
    axes = tuple(range(extra)) + tuple(extra + k for k, n in enumerate(shape)
                                       if n == 1 and grad.shape[extra + k] != 1)
    return _sum(grad, axes, 1.0).reshape(shape)
