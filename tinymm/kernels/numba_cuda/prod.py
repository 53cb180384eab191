"""CUDA product reduction, torch.prod (derivation: kernels/reference/prod.py).

x is read as (O, R, I) in place (row-major, no copy). One thread per output (o, i) walks
its R elements: the forward multiplies them in order; the backward writes the exclusive
prefix products into dx on a forward walk, then multiplies in dout and the suffix products
on a backward walk, so every zero case comes out as PyTorch defines it, with no division.
Neighbouring threads read neighbouring i, so the walks read coalesced for I > 1; a full
reduction (axis None: O = I = 1) is one thread, for the small tensors it is used on.
"""

from __future__ import annotations

from numba import cuda

from tinymm.kernels.numba_cuda._device import empty, flat, grid_1d, require_device


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


_TYPES = ("float32", "float64", "int64")
PTX_TARGETS = [
    (_prod, tuple(f"void({t}[::1], {t}[::1], int64, int64, {t})" for t in _TYPES)),
    (_prod_grad, tuple(f"void({t}[::1], {t}[::1], {t}[::1], int64, int64, {t})"
                       for t in _TYPES[:2])),
]
prod_kernel = cuda.jit(_prod)
prod_grad_kernel = cuda.jit(_prod_grad)


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
    blocks, threads = grid_1d(outputs)
    prod_kernel[blocks, threads](flat(x), flat(out), n, inner, x.dtype.type(1))
    return out, (x, axis)


def prod_backward(dout, cache):
    require_device("prod_backward", dout=dout)
    x, axis = cache
    _, n, inner = _geometry(tuple(x.shape), axis)
    dx = empty(tuple(x.shape), x.dtype)
    if dx.size:
        blocks, threads = grid_1d(dout.size)
        prod_grad_kernel[blocks, threads](flat(dout), flat(x), flat(dx), n, inner,
                                          x.dtype.type(1))
    return (dx,)
