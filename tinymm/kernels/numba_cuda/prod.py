"""CUDA product reduction, torch.prod (derivation: kernels/reference/prod.py).

x is read as (O, R, I) in place (row-major, no copy). Two layouts:

* I > 1, or short lines (R < LINE_BLOCK): one thread per output (o, i) walks its R elements:
  the forward multiplies them in order; the backward writes the exclusive prefix products
  into dx on a forward walk, then multiplies in dout and the suffix products on a backward
  walk. Neighbouring threads read neighbouring i, so for I > 1 the walks read coalesced.
* I = 1 with R >= LINE_BLOCK (a row product, and the full product, axis None: one line of
  every element): one block per line. Forward: each thread multiplies a strided share of
  the line (consecutive threads read consecutive elements), then a shared-memory tree
  halves the partial products down to one (no warp shuffles, so the simulator runs the same
  code); the product is taken in tree order, so it may differ from the reference's
  left-to-right order by rounding. Backward: the inclusive prefix and suffix products of
  every line are two block scans (scan.py's ``cumprod_lines``), and one thread per element
  writes dx[r] = dout * prefix[r - 1] * suffix[r + 1] (1 past either end).

Both backwards divide by nothing, so every zero case comes out as PyTorch defines it.
"""

from __future__ import annotations

import numpy as np
from numba import cuda, float32, float64, int64

from tinymm.kernels.numba_cuda._device import SIMULATOR, empty, flat, grid_1d, require_device
from tinymm.kernels.numba_cuda.scan import cumprod_lines

LINE_BLOCK = 8 if SIMULATOR else 256  # a power of two: a line block's threads


def _prod(x, out, n, inner, one):
    j = cuda.grid(1)  # = o * inner + i
    if j < out.size:
        base = (j // inner) * n * inner + j % inner
        p = one
        for r in range(n):
            p *= x[base + r * inner]
        out[j] = p


def _prod_grad(dout, x, dx, n, inner, one):
    j = cuda.grid(1)
    if j < dout.size:
        base = (j // inner) * n * inner + j % inner
        p = one
        for r in range(n):  # dx[r] = x[0] ... x[r - 1]
            dx[base + r * inner] = p
            p *= x[base + r * inner]
        s = dout[j]
        for r in range(n - 1, -1, -1):  # dx[r] *= dout x[r + 1] ... x[R - 1]
            dx[base + r * inner] *= s
            s *= x[base + r * inner]


def _make_line_prod(nbtype):
    def line_prod(x, out, n):
        # x (lines * n,) flat; out (lines,): one block per line
        partial = cuda.shared.array(LINE_BLOCK, nbtype)
        t = cuda.threadIdx.x
        line = cuda.blockIdx.x
        p = nbtype(1)
        for r in range(t, n, LINE_BLOCK):
            p *= x[line * n + r]
        partial[t] = p
        cuda.syncthreads()
        half = LINE_BLOCK // 2
        while half > 0:
            if t < half:
                partial[t] *= partial[t + half]
            cuda.syncthreads()
            half //= 2
        if t == 0:
            out[line] = partial[0]

    return line_prod


def _line_grad(dout, prefix, suffix, dx, n, one):
    # dx[l, r] = dout[l] * prefix[l, r - 1] * suffix[l, r + 1], all flat (lines * n,)
    e = cuda.grid(1)
    if e < dx.size:
        line = e // n
        r = e - line * n
        before = prefix[e - 1] if r > 0 else one
        after = suffix[e + 1] if r < n - 1 else one
        dx[e] = dout[line] * before * after


_TYPES = ("float32", "float64", "int64")
PTX_TARGETS = [
    (_prod, tuple(f"void({t}[::1], {t}[::1], int64, int64, {t})" for t in _TYPES)),
    (_prod_grad, tuple(f"void({t}[::1], {t}[::1], {t}[::1], int64, int64, {t})"
                       for t in _TYPES[:2])),
    (_line_grad, tuple(f"void({t}[::1], {t}[::1], {t}[::1], {t}[::1], int64, {t})"
                       for t in _TYPES[:2])),
]
_LINE_PROD = {}
for _nbt in (float32, float64, int64):
    _fn = _make_line_prod(_nbt)
    _fn.__name__ = f"line_prod_{_nbt.name}"
    PTX_TARGETS.append((_fn, (f"void({_nbt.name}[::1], {_nbt.name}[::1], int64)",)))
    _LINE_PROD[np.dtype(_nbt.name)] = cuda.jit(_fn)
prod_kernel = cuda.jit(_prod)
prod_grad_kernel = cuda.jit(_prod_grad)
line_grad_kernel = cuda.jit(_line_grad)


def _geometry(shape, axis):
    """(O * I outputs, R, I) of the (O, R, I) view."""
    if axis is None:
        size = 1
        for n in shape:
            size *= n
        return 1, size, 1
    inner = 1
    for n in shape[axis + 1:]:
        inner *= n
    outer = 1
    for n in shape[:axis]:
        outer *= n
    return outer * inner, shape[axis], inner


def prod_forward(x, axis=None, keepdim=False):
    require_device("prod_forward", x=x)
    shape = tuple(x.shape)
    outputs, n, inner = _geometry(shape, axis)
    if axis is None:
        out_shape = (1,) * len(shape) if keepdim else ()
    else:
        out_shape = shape[:axis] + ((1,) if keepdim else ()) + shape[axis + 1:]
    out = empty(out_shape, x.dtype)
    if inner == 1 and n >= LINE_BLOCK:  # a block per line
        _LINE_PROD[x.dtype][outputs, LINE_BLOCK](flat(x), flat(out), n)
    else:
        blocks, threads = grid_1d(outputs)
        prod_kernel[blocks, threads](flat(x), flat(out), n, inner, x.dtype.type(1))
    return out, (x, axis)


def prod_backward(dout, cache):
    require_device("prod_backward", dout=dout)
    x, axis = cache
    _, n, inner = _geometry(tuple(x.shape), axis)
    dx = empty(tuple(x.shape), x.dtype)
    if dx.size and inner == 1 and n >= LINE_BLOCK:  # two block scans, a thread per element
        lines = flat(x).reshape(dx.size // n, n)
        prefix = cumprod_lines(lines, reverse=False)
        suffix = cumprod_lines(lines, reverse=True)
        blocks, threads = grid_1d(dx.size)
        line_grad_kernel[blocks, threads](flat(dout), flat(prefix), flat(suffix), flat(dx), n,
                                          x.dtype.type(1))
    elif dx.size:
        blocks, threads = grid_1d(dout.size)
        prod_grad_kernel[blocks, threads](flat(dout), flat(x), flat(dx), n, inner,
                                          x.dtype.type(1))
    return (dx,)
