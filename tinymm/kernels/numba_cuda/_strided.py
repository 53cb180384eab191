"""Strided views on the GPU: one gather and one scatter kernel behind every copy-shaped op.

A C-contiguous device array of shape S is a flat buffer; any view of it that NumPy's basic
indexing can express is ``(base, shape, strides)`` in elements::

    view[i_0, ..., i_{d-1}] = buffer[base + sum_k i_k * strides[k]]

* broadcasting: the stride of a broadcast axis is 0 (every index reads the same element);
* a permutation: the view's axis k has the input stride of axis ``axes[k]``;
* a basic slice ``start:stop:step``: the base moves by ``start * stride`` and the stride is
  multiplied by ``step`` (negative steps give negative strides);
* an integer index drops its axis after moving the base, ``None`` inserts a stride-0 axis.

``gather`` copies a view into a new contiguous array (``out[i] = buffer[offset(i)] * scale``)
and ``scatter`` writes a contiguous array into a view of another (``dst[offset(i)] = src[i]``,
or ``+=``). One thread per element of the contiguous side: thread ``i`` turns its flat index
into the view's multi-index by repeated division (innermost axis first) and sums the strides.
Before launching, ``plan`` merges adjacent axes that are contiguous with each other in every
view involved (a permutation of whole blocks becomes a 2- or 3-d copy), so the divisions per
element are as few as the view allows. Views have at most ``MAXDIM`` axes (padded with size-1
axes, so every kernel is compiled once per dtype).

Scatter-add is only used where no two elements of the view coincide (basic slices never
repeat an element), so it needs no atomics.
"""

from __future__ import annotations

from numba import cuda

from tinymm.kernels.numba_cuda._device import empty, grid_1d, require_device

MAXDIM = 8  # axes of a view after merging; device functions are inlined (PTX without a GPU)


@cuda.jit(device=True, inline="always")
def offset(i, shape, strides):
    """The buffer offset of flat index ``i`` of a view (shape, strides), innermost axis last."""
    off = 0
    for k in range(MAXDIM - 1, -1, -1):
        n = shape[k]
        q = i // n
        off += (i - q * n) * strides[k]
        i = q
    return off


@cuda.jit(device=True, inline="always")
def offsets2(i, shape, sa, sb):
    """Offsets of flat index ``i`` in two views of one shape (a binary op's two operands)."""
    oa = 0
    ob = 0
    for k in range(MAXDIM - 1, -1, -1):
        n = shape[k]
        q = i // n
        r = i - q * n
        oa += r * sa[k]
        ob += r * sb[k]
        i = q
    return oa, ob


def _gather(src, base, shape, strides, out, scale):
    i = cuda.grid(1)
    if i < out.size:
        out[i] = src[base + offset(i, shape, strides)] * scale


def _gather_plain(src, base, shape, strides, out):
    i = cuda.grid(1)
    if i < out.size:
        out[i] = src[base + offset(i, shape, strides)]


def _scatter(src, dst, base, shape, strides, accumulate):
    i = cuda.grid(1)
    if i < src.size:
        j = base + offset(i, shape, strides)
        if accumulate:
            dst[j] += src[i]
        else:
            dst[j] = src[i]


TUPLE_SIG = f"UniTuple(int64, {MAXDIM})"  # the type of a (shape or strides) kernel argument
_FLOATS = ("float32", "float64")
_ALL = ("float32", "float64", "int64", "boolean")
_V = f"int64, {TUPLE_SIG}, {TUPLE_SIG}"  # base, shape, strides
PTX_TARGETS = [
    (_gather, tuple(f"void({t}[::1], {_V}, {t}[::1], {t})" for t in _FLOATS)),
    (_gather_plain, tuple(f"void({t}[::1], {_V}, {t}[::1])" for t in _ALL)),
    (_scatter, tuple(f"void({t}[::1], {t}[::1], {_V}, int64)" for t in _ALL)),
]
gather_kernel = cuda.jit(_gather)
gather_plain_kernel = cuda.jit(_gather_plain)
scatter_kernel = cuda.jit(_scatter)


def contiguous_strides(shape) -> tuple[int, ...]:
    """Element strides of a C-contiguous array of ``shape``."""
    strides, step = [], 1
    for n in reversed(shape):
        strides.append(step)
        step *= int(n)
    return tuple(reversed(strides))


def plan(shape, *stride_sets):
    """Merge mergeable axes, drop size-1 axes and pad to MAXDIM: (shape, stride tuples).

    Axes k and k+1 merge when, in every view, stride[k] == stride[k+1] * shape[k+1] (the
    pair is one run of memory). Raises ValueError beyond MAXDIM axes after merging.
    """
    dims = [(int(n), [int(s[k]) for s in stride_sets]) for k, n in enumerate(shape) if n != 1]
    merged: list = []
    for n, strides in dims:
        if merged:
            pn, ps = merged[-1]
            if all(ps[v] == strides[v] * n for v in range(len(strides))):
                merged[-1] = (pn * n, strides)
                continue
        merged.append((n, strides))
    if len(merged) > MAXDIM:
        raise ValueError(f"cuda strided copy: a view of shape {tuple(shape)} has more than "
                         f"{MAXDIM} non-mergeable axes")
    pad = MAXDIM - len(merged)
    out_shape = (1,) * pad + tuple(n for n, _ in merged)
    outs = tuple((0,) * pad + tuple(s[v] for _, s in merged) for v in range(len(stride_sets)))
    return out_shape, outs


def gather(src, base: int, shape, strides, scale=None):
    """A new contiguous array of ``shape`` copied from the view (base, strides) of ``src``."""
    require_device("gather", src=src)
    out = empty(tuple(shape), src.dtype)
    if out.size == 0:
        return out
    kshape, (kstrides,) = plan(shape, strides)
    blocks, threads = grid_1d(out.size)
    flat_src = src.reshape(src.size)
    if scale is None:
        gather_plain_kernel[blocks, threads](flat_src, int(base), kshape, kstrides,
                                             out.reshape(out.size))
    else:
        gather_kernel[blocks, threads](flat_src, int(base), kshape, kstrides,
                                       out.reshape(out.size), src.dtype.type(scale))
    return out


def scatter(src, dst, base: int, strides, accumulate: bool = False):
    """Write (or add) contiguous ``src`` into the view (base, src.shape, strides) of ``dst``."""
    require_device("scatter", src=src, dst=dst)
    if src.size == 0:
        return dst
    kshape, (kstrides,) = plan(src.shape, strides)
    blocks, threads = grid_1d(src.size)
    scatter_kernel[blocks, threads](src.reshape(src.size), dst.reshape(dst.size), int(base),
                                    kshape, kstrides, int(accumulate))
    return dst


def broadcast_strides(shape, out_shape) -> tuple[int, ...]:
    """Strides that view a contiguous array of ``shape`` as ``out_shape`` (NumPy broadcasting)."""
    own = contiguous_strides(shape)
    extra = len(out_shape) - len(shape)
    strides = [0] * extra
    for k, n in enumerate(shape):
        strides.append(0 if n == 1 and out_shape[extra + k] != 1 else own[k])
    return tuple(strides)


def broadcast_to(src, out_shape, scale=None):
    """A contiguous copy of ``src`` broadcast to ``out_shape`` (times ``scale`` if given)."""
    out_shape = tuple(int(n) for n in out_shape)
    if tuple(src.shape) == out_shape and scale is None:
        return src
    return gather(src, 0, out_shape, broadcast_strides(tuple(src.shape), out_shape), scale)
