"""CUDA gather, scatter, where, comparisons and one-hot (derivation:
kernels/reference/gather.py).

Dimension letters: p a position of ``index`` (flat, row-major), n the size of ``dim`` in x.

Gather and scatter: one thread per position of ``index``. The thread turns p into its
multi-index over index's shape (``_target``: repeated division, innermost axis first, as
``_strided.offset``), replaces the ``dim`` coordinate by index[p] (wrapped when negative) and
sums x's strides: the flat offset of where(p) in x. Shapes are padded in front to
``_strided.MAXDIM`` axes (size 1, stride 0), so each kernel compiles once per dtype. An index
still outside [-n, n) reads a zero and writes nothing (the ops check indices on the device
and report a bad one at the next copy to the host).

* gather's backward and scatter with ``add`` accumulate with ``cuda.atomic.add``: positions
  that name one element (a repeated index) add into it at the same time, and a plain ``+=``
  would lose updates. The order of those additions is not fixed, so float sums may differ
  from the reference by rounding.
* scatter without ``add`` writes plainly: where two positions name one element, which write
  lands is unspecified (as PyTorch's on a GPU).

where and compare: one thread per output element, reading each operand through its broadcast
view (``_strided``: stride 0 on a stretched axis; ``plan`` merges axes first). where's
backward splits dout by the condition at the output shape and ``reduction.sum_to_shape``
sums each half down to its operand. The comparison is a launch argument (uniform across the
grid). one_hot: one thread per output element (position, class).
"""

from __future__ import annotations

import numpy as np
from numba import cuda

from tinymm.kernels.numba_cuda import _strided
from tinymm.kernels.numba_cuda._device import empty, flat, grid_1d, require_device, zeros
from tinymm.kernels.numba_cuda.reduction import sum_to_shape

MAXDIM = _strided.MAXDIM
COMPARE_CODES = {"lt": 0, "le": 1, "gt": 2, "ge": 3, "eq": 4, "ne": 5, "and": 6, "or": 7,
                 "xor": 8}


@cuda.jit(device=True, inline="always")
def _target(p, v, ishape, xstrides, dim, n):
    """The offset in x of position p of index with index value v (-1 when v is out of
    range): p's coordinates over ``ishape``, ``dim``'s replaced by v."""
    if v < 0:
        v += n
    if v < 0 or v >= n:
        return -1
    off = 0
    for k in range(MAXDIM - 1, -1, -1):
        m = ishape[k]
        q = p // m
        c = p - q * m
        p = q
        off += (v if k == dim else c) * xstrides[k]
    return off


def _gather(x, index, out, ishape, xstrides, dim, n):
    p = cuda.grid(1)
    if p < out.size:
        off = _target(p, index[p], ishape, xstrides, dim, n)
        out[p] = x[off] if off >= 0 else 0


def _gather_add(dout, index, dx, ishape, xstrides, dim, n):
    # dx (like x) zeroed; dx[where(p)] += dout[p], repeats accumulating
    p = cuda.grid(1)
    if p < dout.size:
        off = _target(p, index[p], ishape, xstrides, dim, n)
        if off >= 0:
            cuda.atomic.add(dx, off, dout[p])


def _scatter(src, index, out, ishape, xstrides, sstrides, dim, n, add):
    # out (like x) already holds x; src read at p's coordinates through its own strides
    p = cuda.grid(1)
    if p < index.size:
        off = _target(p, index[p], ishape, xstrides, dim, n)
        if off >= 0:
            value = src[_strided.offset(p, ishape, sstrides)]
            if add:
                cuda.atomic.add(out, off, value)
            else:
                out[off] = value


def _scatter_grad(dout, index, dx, dsrc, ishape, xstrides, sstrides, dim, n, add):
    # dx holds dout (zeroed here where written unless add); dsrc zeroed beforehand
    p = cuda.grid(1)
    if p < index.size:
        off = _target(p, index[p], ishape, xstrides, dim, n)
        if off >= 0:
            dsrc[_strided.offset(p, ishape, sstrides)] = dout[off]
            if not add:
                dx[off] = 0


def _where(cond, a, b, out, shape, sc, sa, sb):
    i = cuda.grid(1)
    if i < out.size:
        ia, ib = _strided.offsets2(i, shape, sa, sb)
        out[i] = a[ia] if cond[_strided.offset(i, shape, sc)] else b[ib]


def _where_grad(cond, dout, da, db, shape, sc, zero):
    # da, db, dout at the output shape (contiguous); cond through its view
    i = cuda.grid(1)
    if i < dout.size:
        g = dout[i]
        if cond[_strided.offset(i, shape, sc)]:
            da[i] = g
            db[i] = zero
        else:
            da[i] = zero
            db[i] = g


def _compare(a, b, out, shape, sa, sb, op):
    i = cuda.grid(1)
    if i < out.size:
        ia, ib = _strided.offsets2(i, shape, sa, sb)
        x = a[ia]
        y = b[ib]
        if op == 0:
            r = x < y
        elif op == 1:
            r = x <= y
        elif op == 2:
            r = x > y
        elif op == 3:
            r = x >= y
        elif op == 4:
            r = x == y
        elif op == 5:
            r = x != y
        elif op == 6:
            r = bool(x) and bool(y)
        elif op == 7:
            r = bool(x) or bool(y)
        else:
            r = bool(x) != bool(y)
        out[i] = r


def _one_hot(idx, out, C):
    i = cuda.grid(1)
    if i < out.size:
        p = i // C
        out[i] = 1 if idx[p] == i - p * C else 0


_TUP = _strided.TUPLE_SIG
_FL = ("float32", "float64")
_VALUES = ("float32", "float64", "int64")
_POS = f"{_TUP}, {_TUP}, int64, int64"  # ishape, xstrides, dim, n
PTX_TARGETS = [
    (_gather, tuple(f"void({t}[::1], int64[::1], {t}[::1], {_POS})" for t in _VALUES)),
    (_gather_add, tuple(f"void({t}[::1], int64[::1], {t}[::1], {_POS})" for t in _FL)),
    (_scatter, tuple(f"void({t}[::1], int64[::1], {t}[::1], {_TUP}, {_TUP}, {_TUP}, int64, "
                     "int64, int64)" for t in _VALUES)),
    (_scatter_grad, tuple(f"void({t}[::1], int64[::1], {t}[::1], {t}[::1], {_TUP}, {_TUP}, "
                          f"{_TUP}, int64, int64, int64)" for t in _FL)),
    (_where, tuple(f"void(boolean[::1], {t}[::1], {t}[::1], {t}[::1], {_TUP}, {_TUP}, {_TUP}, "
                   f"{_TUP})" for t in _VALUES)),
    (_where_grad, tuple(f"void(boolean[::1], {t}[::1], {t}[::1], {t}[::1], {_TUP}, {_TUP}, "
                        f"{t})" for t in _FL)),
    (_compare, tuple(f"void({t}[::1], {t}[::1], boolean[::1], {_TUP}, {_TUP}, {_TUP}, int64)"
                     for t in (*_VALUES, "boolean"))),
    (_one_hot, ("void(int64[::1], int64[::1], int64)",)),
]
gather_kernel = cuda.jit(_gather)
gather_add_kernel = cuda.jit(_gather_add)
scatter_kernel = cuda.jit(_scatter)
scatter_grad_kernel = cuda.jit(_scatter_grad)
where_kernel = cuda.jit(_where)
where_grad_kernel = cuda.jit(_where_grad)
compare_kernel = cuda.jit(_compare)
one_hot_kernel = cuda.jit(_one_hot)


def _pad(name, shape, *stride_sets, dim=0):
    """``shape`` and strides padded in front to MAXDIM axes, and ``dim`` shifted with them."""
    extra = MAXDIM - len(shape)
    if extra < 0:
        raise ValueError(f"cuda {name}: at most {MAXDIM} dims, got shape {tuple(shape)}")
    return ((1,) * extra + tuple(int(s) for s in shape),
            *[(0,) * extra + tuple(int(s) for s in strides) for strides in stride_sets],
            dim + extra)


def _positions(name, x, index, dim):
    """The kernels' (ishape, xstrides, dim, n) for positions of ``index`` into x."""
    ishape, xstrides, kdim = _pad(name, tuple(index.shape),
                                  _strided.contiguous_strides(tuple(x.shape)), dim=dim)
    return ishape, xstrides, kdim, int(x.shape[dim])


def _launch(kernel, size, *args):
    if size:
        blocks, threads = grid_1d(size)
        kernel[blocks, threads](*args)


def _copy(x):
    """A contiguous device copy of x (one strided gather over its own layout)."""
    return _strided.gather(x, 0, tuple(x.shape), _strided.contiguous_strides(tuple(x.shape)))


def gather_forward(x, index, dim):
    require_device("gather_forward", x=x, index=index)
    ishape, xstrides, kdim, n = _positions("gather_forward", x, index, dim)
    out = empty(tuple(index.shape), x.dtype)  # like index
    _launch(gather_kernel, out.size, flat(x), flat(index), flat(out), ishape, xstrides, kdim, n)
    return out, (tuple(x.shape), index, dim)


def gather_backward(dout, cache):
    require_device("gather_backward", dout=dout)
    shape, index, dim = cache
    dx = zeros(shape, dout.dtype)
    ishape, xstrides, kdim = _pad("gather_backward", tuple(index.shape),
                                  _strided.contiguous_strides(shape), dim=dim)
    _launch(gather_add_kernel, dout.size, flat(dout), flat(index), flat(dx), ishape, xstrides,
            kdim, int(shape[dim]))
    return dx, None


def _scatter_plan(name, x_shape, index, src_shape, dim):
    ishape, xstrides, sstrides, kdim = _pad(name, tuple(index.shape),
                                            _strided.contiguous_strides(x_shape),
                                            _strided.contiguous_strides(src_shape), dim=dim)
    return ishape, xstrides, sstrides, kdim, int(x_shape[dim])


def scatter_forward(x, index, src, dim, add=False):
    require_device("scatter_forward", x=x, index=index, src=src)
    plan = _scatter_plan("scatter_forward", tuple(x.shape), index, tuple(src.shape), dim)
    out = _copy(x)
    _launch(scatter_kernel, index.size, flat(src), flat(index), flat(out), *plan, int(add))
    return out, (index, tuple(src.shape), dim, bool(add))


def scatter_backward(dout, cache):
    require_device("scatter_backward", dout=dout)
    index, src_shape, dim, add = cache
    plan = _scatter_plan("scatter_backward", tuple(dout.shape), index, src_shape, dim)
    dx = _copy(dout)
    dsrc = zeros(src_shape, dout.dtype)
    _launch(scatter_grad_kernel, index.size, flat(dout), flat(index), flat(dx), flat(dsrc),
            *plan, int(add))
    return dx, dsrc, None


def _views(name, *arrays):
    """The broadcast output shape and the kernels' merged (shape, strides per operand)."""
    try:
        shape = tuple(np.broadcast_shapes(*(tuple(a.shape) for a in arrays)))
    except ValueError:
        raise ValueError(f"cuda {name}: shapes {[tuple(a.shape) for a in arrays]} do not "
                         "broadcast") from None
    strides = [_strided.broadcast_strides(tuple(a.shape), shape) for a in arrays]
    kshape, kstrides = _strided.plan(shape, *strides)
    return shape, kshape, kstrides


def where_forward(cond, a, b):
    require_device("where_forward", cond=cond, a=a, b=b)
    shape, kshape, (sc, sa, sb) = _views("where_forward", cond, a, b)
    out = empty(shape, a.dtype)
    _launch(where_kernel, out.size, flat(cond), flat(a), flat(b), flat(out), kshape, sc, sa, sb)
    return out, (cond, tuple(a.shape), tuple(b.shape), shape)


def where_backward(dout, cache):
    require_device("where_backward", dout=dout)
    cond, a_shape, b_shape, shape = cache
    _, kshape, (sc, _) = _views("where_backward", cond, dout)
    da, db = empty(shape, dout.dtype), empty(shape, dout.dtype)
    _launch(where_grad_kernel, dout.size, flat(cond), flat(dout), flat(da), flat(db), kshape, sc,
            dout.dtype.type(0))
    return None, sum_to_shape(da, a_shape), sum_to_shape(db, b_shape)


def compare_forward(a, b, op):
    require_device("compare_forward", a=a, b=b)
    if a.dtype != b.dtype:
        raise TypeError(f"cuda compare_forward: operands must share a dtype, received {a.dtype} "
                        f"and {b.dtype} (cast one first)")
    shape, kshape, (sa, sb) = _views("compare_forward", a, b)
    out = empty(shape, np.bool_)
    _launch(compare_kernel, out.size, flat(a), flat(b), flat(out), kshape, sa, sb,
            COMPARE_CODES[op])
    return out, None


def compare_backward(dout, cache):
    return None, None


def one_hot_forward(idx, num_classes):
    require_device("one_hot_forward", idx=idx)
    out = empty((*idx.shape, int(num_classes)), np.int64)  # (..., C)
    _launch(one_hot_kernel, out.size, flat(idx), flat(out), int(num_classes))
    return out, None


def one_hot_backward(dout, cache):
    return (None,)
