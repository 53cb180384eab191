"""Numba 2-d pooling (derivation: kernels/reference/pool2d.py).

Dimension letters: N batch, C channels, H/W input, OH/OW output, kh/kw window, sh/sw stride,
ph/pw padding. Every kernel is parallel over the N*C planes (prange): a plane is a few KiB,
so each task works inside L1, reads its input plane once and writes its output plane once,
and no two tasks touch the same memory.

Max pooling saves no argmax array: the backward recomputes each window's winner from x (the
same first-maximum scan, so the same element), which costs one more read of x but saves
writing and re-reading an index array as large as the output. The input gradient of a plane
is zeroed and filled in the same task, so it never leaves the cache between the two steps.
Outputs and input gradients come from the workspace cache (``_workspace.py``): dx of a
(32, 64, 32, 32) map is 8 MB, and faulting fresh pages for it would cost ~1.8 ms per call.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from tinymm.kernels.numba_cpu import _workspace as ws
from tinymm.kernels.numba_cpu._util import contiguous
from tinymm.kernels.reference.pool2d import adaptive_bounds, pool_geometry, pool_pair


@njit(cache=True, inline="always")
def _window_argmax(plane, y, z, kh, kw, sh, sw, ph, pw):
    """(row, col) in the unpadded plane of the window's first maximum (NaN wins, as torch)."""
    H, W = plane.shape
    best = plane[0, 0]
    best_a = -1
    best_b = -1
    for i in range(kh):
        a = y * sh - ph + i
        if a < 0 or a >= H:
            continue
        for j in range(kw):
            b = z * sw - pw + j
            if b < 0 or b >= W:
                continue
            v = plane[a, b]
            if best_a < 0 or v > best or v != v:
                best = v
                best_a = a
                best_b = b
                if v != v:
                    return best_a, best_b
    return best_a, best_b


@njit(cache=True, parallel=True)
def _max_pool_forward(x, out, kh, kw, sh, sw, ph, pw):
    N, C, OH, OW = out.shape
    for task in prange(N * C):
        n = task // C
        c = task - n * C
        plane = x[n, c]
        for y in range(OH):
            for z in range(OW):
                a, b = _window_argmax(plane, y, z, kh, kw, sh, sw, ph, pw)
                out[n, c, y, z] = plane[a, b]


@njit(cache=True, inline="always")
def _first_max4(v00, v01, v10, v11):
    """(index 0..3, value) of the first maximum of a 2x2 window in row-major order; a NaN
    wins and stays. Written with non-short-circuit ``&``/``|`` so LLVM emits selects, not
    branches: on random data the branches would mispredict about half the time."""
    best = v00
    which = 0
    take = (best == best) & ((v01 > best) | (v01 != v01))
    best = v01 if take else best
    which = 1 if take else which
    take = (best == best) & ((v10 > best) | (v10 != v10))
    best = v10 if take else best
    which = 2 if take else which
    take = (best == best) & ((v11 > best) | (v11 != v11))
    best = v11 if take else best
    which = 3 if take else which
    return which, best


@njit(cache=True, inline="always")
def _first_max4_index(v00, v01, v10, v11):
    """Index 0..3 of the first maximum of a 2x2 window (a NaN wins), in integer arithmetic.

    The backward stores through an address computed from this index; written with selects,
    LLVM turns them back into branches that mispredict about half the time on random data
    (15.6 ms vs 3.3 ms for conv B's map, one thread). ``(1 - e0) * (1 + (1 - e1) * (1 + (1
    - e2)))`` is 0 if e0, else 1 if e1, else 2 if e2, else 3: the first flag that is set.
    """
    a = v00 if v00 >= v01 else v01
    b = v10 if v10 >= v11 else v11
    m = a if a >= b else b  # the maximum when there is no NaN
    e0 = np.int64(v00 == m)
    e1 = np.int64(v01 == m)
    e2 = np.int64(v10 == m)
    which_max = (1 - e0) * (1 + (1 - e1) * (1 + (1 - e2)))
    n0 = np.int64(v00 != v00)
    n1 = np.int64(v01 != v01)
    n2 = np.int64(v10 != v10)
    n3 = np.int64(v11 != v11)
    which_nan = (1 - n0) * (1 + (1 - n1) * (1 + (1 - n2)))  # the first NaN
    return which_max + (n0 | n1 | n2 | n3) * (which_nan - which_max)


@njit(cache=True, parallel=True)
def _max_pool_2x2_forward(x, out):
    """The encoder's case (2x2 window, stride 2, no padding), window unrolled; row views keep
    every index zero-based (no wrap-around checks)."""
    N, C, OH, OW = out.shape
    for task in prange(N * C):
        n = task // C
        c = task - n * C
        for y in range(OH):
            top = x[n, c, 2 * y]  # (W,)
            bottom = x[n, c, 2 * y + 1]  # (W,)
            dst = out[n, c, y]  # (OW,)
            for z in range(OW):
                v00, v01 = top[2 * z], top[2 * z + 1]
                v10, v11 = bottom[2 * z], bottom[2 * z + 1]
                dst[z] = _first_max4(v00, v01, v10, v11)[1]


@njit(cache=True, parallel=True)
def _max_pool_2x2_backward(dout, x, dx3):
    """2x2 / stride 2 / no padding: every input element belongs to at most one window, so
    each window zeroes its four dx values and then stores dout at its winner through one
    computed flat index: no zeroing pass, no scatter-add, no branches. dx3 is dx viewed as
    (N, C, H*W); trailing odd rows/columns (in no window) get 0."""
    N, C, OH, OW = dout.shape
    H, W = x.shape[2], x.shape[3]
    for task in prange(N * C):
        n = task // C
        c = task - n * C
        plane = dx3[n, c]  # (H*W,)
        if 2 * OH < H or 2 * OW < W:
            for q in range(H * W):
                plane[q] = 0
        for y in range(OH):
            top = x[n, c, 2 * y]  # (W,)
            bottom = x[n, c, 2 * y + 1]  # (W,)
            g = dout[n, c, y]  # (OW,)
            dtop = plane[2 * y * W:(2 * y + 1) * W]  # (W,)
            dbottom = plane[(2 * y + 1) * W:(2 * y + 2) * W]  # (W,)
            for z in range(OW):
                which = _first_max4_index(top[2 * z], top[2 * z + 1], bottom[2 * z],
                                          bottom[2 * z + 1])
                dtop[2 * z] = 0
                dtop[2 * z + 1] = 0
                dbottom[2 * z] = 0
                dbottom[2 * z + 1] = 0
                plane[(2 * y + (which >> 1)) * W + 2 * z + (which & 1)] = g[z]


@njit(cache=True, parallel=True)
def _max_pool_backward(dout, x, dx, kh, kw, sh, sw, ph, pw):
    N, C, OH, OW = dout.shape
    H, W = x.shape[2], x.shape[3]
    for task in prange(N * C):
        n = task // C
        c = task - n * C
        plane = x[n, c]
        for a in range(H):
            for b in range(W):
                dx[n, c, a, b] = 0
        for y in range(OH):
            for z in range(OW):
                a, b = _window_argmax(plane, y, z, kh, kw, sh, sw, ph, pw)
                dx[n, c, a, b] += dout[n, c, y, z]


@njit(cache=True, parallel=True)
def _avg_pool_forward(x, out, kh, kw, sh, sw, ph, pw):
    N, C, OH, OW = out.shape
    H, W = x.shape[2], x.shape[3]
    scale = 1.0 / (kh * kw)  # count_include_pad: padded zeros count
    for task in prange(N * C):
        n = task // C
        c = task - n * C
        for y in range(OH):
            for z in range(OW):
                acc = 0.0
                for i in range(kh):
                    a = y * sh - ph + i
                    if a < 0 or a >= H:
                        continue
                    for j in range(kw):
                        b = z * sw - pw + j
                        if b >= 0 and b < W:
                            acc += x[n, c, a, b]
                out[n, c, y, z] = acc * scale


@njit(cache=True, parallel=True)
def _avg_pool_backward(dout, dx, kh, kw, sh, sw, ph, pw):
    N, C, OH, OW = dout.shape
    H, W = dx.shape[2], dx.shape[3]
    scale = 1.0 / (kh * kw)
    for task in prange(N * C):
        n = task // C
        c = task - n * C
        for a in range(H):
            for b in range(W):
                dx[n, c, a, b] = 0
        for y in range(OH):
            for z in range(OW):
                share = dout[n, c, y, z] * scale
                for i in range(kh):
                    a = y * sh - ph + i
                    if a < 0 or a >= H:
                        continue
                    for j in range(kw):
                        b = z * sw - pw + j
                        if b >= 0 and b < W:
                            dx[n, c, a, b] += share


@njit(cache=True, parallel=True)
def _adaptive_avg_forward(x, out, top, bottom, left, right):
    N, C, OH, OW = out.shape
    for task in prange(N * C):
        n = task // C
        c = task - n * C
        for y in range(OH):
            for z in range(OW):
                acc = 0.0
                for a in range(top[y], bottom[y]):
                    for b in range(left[z], right[z]):  # contiguous
                        acc += x[n, c, a, b]
                out[n, c, y, z] = acc / ((bottom[y] - top[y]) * (right[z] - left[z]))


@njit(cache=True, parallel=True)
def _adaptive_avg_backward(dout, dx, top, bottom, left, right):
    N, C, OH, OW = dout.shape
    H, W = dx.shape[2], dx.shape[3]
    for task in prange(N * C):
        n = task // C
        c = task - n * C
        for a in range(H):
            for b in range(W):
                dx[n, c, a, b] = 0
        for y in range(OH):
            for z in range(OW):
                share = dout[n, c, y, z] / ((bottom[y] - top[y]) * (right[z] - left[z]))
                for a in range(top[y], bottom[y]):
                    for b in range(left[z], right[z]):
                        dx[n, c, a, b] += share


def max_pool2d_forward(x, kernel_size, stride=None, padding=0):
    x = contiguous(x)
    (kh, kw), (sh, sw), (ph, pw), OH, OW = pool_geometry(x.shape, kernel_size, stride, padding)
    N, C = x.shape[:2]
    out = ws.empty((N, C, OH, OW), x.dtype)  # (N, C, OH, OW)
    if (kh, kw, sh, sw, ph, pw) == (2, 2, 2, 2, 0, 0):
        _max_pool_2x2_forward(x, out)
    else:
        _max_pool_forward(x, out, kh, kw, sh, sw, ph, pw)
    return out, (x, (kh, kw, sh, sw, ph, pw))


def max_pool2d_backward(dout, cache):
    x, geometry = cache
    dx = ws.empty(x.shape, dout.dtype)  # (N, C, H, W)
    if geometry == (2, 2, 2, 2, 0, 0):
        N, C, H, W = x.shape
        _max_pool_2x2_backward(contiguous(dout), x, dx.reshape(N, C, H * W))
    else:
        _max_pool_backward(contiguous(dout), x, dx, *geometry)
    return (dx,)


def avg_pool2d_forward(x, kernel_size, stride=None, padding=0):
    x = contiguous(x)
    (kh, kw), (sh, sw), (ph, pw), OH, OW = pool_geometry(x.shape, kernel_size, stride, padding)
    N, C = x.shape[:2]
    out = ws.empty((N, C, OH, OW), x.dtype)  # (N, C, OH, OW)
    _avg_pool_forward(x, out, kh, kw, sh, sw, ph, pw)
    return out, (x.shape, (kh, kw, sh, sw, ph, pw))


def avg_pool2d_backward(dout, cache):
    x_shape, geometry = cache
    dx = ws.empty(x_shape, dout.dtype)  # (N, C, H, W)
    _avg_pool_backward(contiguous(dout), dx, *geometry)
    return (dx,)


def _bounds(H, W, OH, OW):
    top, bottom = adaptive_bounds(H, OH)
    left, right = adaptive_bounds(W, OW)
    return top, bottom, left, right  # int64 arrays (OH,), (OH,), (OW,), (OW,)


def adaptive_avg_pool2d_forward(x, output_size):
    x = contiguous(x)
    N, C, H, W = x.shape
    OH, OW = pool_pair(output_size, "output_size")
    out = np.empty((N, C, OH, OW), dtype=x.dtype)  # (N, C, OH, OW)
    _adaptive_avg_forward(x, out, *_bounds(H, W, OH, OW))
    return out, (x.shape, (OH, OW))


def adaptive_avg_pool2d_backward(dout, cache):
    x_shape, (OH, OW) = cache
    dx = ws.empty(x_shape, dout.dtype)  # (N, C, H, W)
    _adaptive_avg_backward(contiguous(dout), dx, *_bounds(x_shape[2], x_shape[3], OH, OW))
    return (dx,)
