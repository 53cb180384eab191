"""Numba 2-d pooling (derivation: kernels/reference/pool2d.py).

Dimension letters: N batch, C channels, H/W input, OH/OW output, kh/kw window, sh/sw stride,
ph/pw padding. The max-pool kernels (the encoder's hot path) are serial (``nogil``) loops
over a range of the N*C planes, and ``_over_planes`` hands contiguous ranges to the thread
pool's workers (``_threads.run_tasks``, dynamic, as the convolutions' per-image kernels): a
plane is a few KiB, so each task works inside L1, reads its input plane once and writes its
output plane once, and no two tasks touch the same memory. A serial kernel compiles in about
a third of the time of the same loop as a Numba ``prange`` (measured: benchmarks/RESULTS.md),
and a worker that was descheduled takes fewer ranges instead of holding the others at a
barrier. The 2x2 / stride-2 case takes an unrolled, branch-free path in its own kernels.
Average and adaptive average pooling share one serial window-mean kernel pair (clipped window
bounds and divisors are computed in Python): they are not on a hot path.

The 2x2 forward also records each window's winner as an int8 index 0..3 (a quarter of the
output's bytes in float32): computed from the four values the maximum reads, it vectorises
with the maximum and costs next to nothing there, while the backward then reads neither x nor
recomputes the winner (the scalar part of the old backward). Other geometries save no index:
their backward recomputes each window's winner from x (the same first-maximum scan, so the
same element). The input gradient of a plane is zeroed and filled in the same task, so it
never leaves the cache between the two steps.
Outputs, winner indices and input gradients come from the workspace cache
(``_workspace.py``): dx of a (32, 64, 32, 32) map is 8 MB, and faulting fresh pages for it on
every call costs about as much as the pooling itself.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from tinymm.kernels.geometry import adaptive_bounds, pair, pool_geometry
from tinymm.kernels.numba_cpu import _threads
from tinymm.kernels.numba_cpu import _workspace as ws
from tinymm.kernels.numba_cpu._util import contiguous


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


@njit(cache=True, inline="always")
def _max4(v00, v01, v10, v11):
    """The maximum of a 2x2 window, a NaN winning, as selects (LLVM: max instructions)."""
    best = v00
    best = v01 if (best == best) & ((v01 > best) | (v01 != v01)) else best
    best = v10 if (best == best) & ((v10 > best) | (v10 != v10)) else best
    best = v11 if (best == best) & ((v11 > best) | (v11 != v11)) else best
    return best


@njit(cache=True, inline="always")
def _first_max4_index(v00, v01, v10, v11):
    """Index 0..3 of the first maximum of a 2x2 window (a NaN wins), in integer arithmetic.

    The forward records it and the backward stores through an address computed from it;
    written with selects, LLVM turns them back into branches that mispredict about half the
    time on random data (the measured cost: benchmarks/RESULTS.md, "Design measurements").
    ``(1 - e0) * (1 + (1 - e1) * (1 + (1 - e2)))`` is 0 if e0, else 1 if e1, else 2 if e2,
    else 3: the first flag that is set.
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


@njit(cache=True, nogil=True)
def _max_pool_2x2_forward(x, out, which, t0, t1):
    """The encoder's 2x2 / stride 2 / no padding: window unrolled, row views. Each window's
    maximum goes to out and the index 0..3 of its first maximum (row-major in the window) to
    which (int8), both pure functions of the four loaded values, so the loop vectorises."""
    N, C, OH, OW = out.shape
    for task in range(t0, t1):
        n = task // C
        c = task - n * C
        plane = x[n, c]  # (H, W)
        for y in range(OH):
            dst = out[n, c, y]  # (OW,)
            w = which[n, c, y]  # (OW,)
            top = plane[2 * y]  # (W,)
            bottom = plane[2 * y + 1]  # (W,)
            for z in range(OW):
                v00, v01 = top[2 * z], top[2 * z + 1]
                v10, v11 = bottom[2 * z], bottom[2 * z + 1]
                w[z] = _first_max4_index(v00, v01, v10, v11)
                dst[z] = _max4(v00, v01, v10, v11)


@njit(cache=True, nogil=True)
def _max_pool_general_forward(x, out, kh, kw, sh, sw, ph, pw, t0, t1):
    N, C, OH, OW = out.shape
    for task in range(t0, t1):
        n = task // C
        c = task - n * C
        plane = x[n, c]  # (H, W)
        for y in range(OH):
            dst = out[n, c, y]  # (OW,)
            for z in range(OW):
                a, b = _window_argmax(plane, y, z, kh, kw, sh, sw, ph, pw)
                dst[z] = plane[a, b]


@njit(cache=True, nogil=True)
def _max_pool_2x2_backward(dout, which, dx, t0, t1):
    """Route dout to each window's winner as the forward recorded it (2x2 / stride 2 / no
    padding): every input element is in at most one window, so each plane is zeroed and
    dout stored at its winners through one computed flat index: no scatter-add, no
    branches, and no read of x."""
    N, C, OH, OW = dout.shape
    H, W = dx.shape[2], dx.shape[3]
    dx3 = dx.reshape(N, C, H * W)
    for task in range(t0, t1):
        n = task // C
        c = task - n * C
        flat = dx3[n, c]  # (H*W,)
        for q in range(H * W):
            flat[q] = 0
        for y in range(OH):
            g = dout[n, c, y]  # (OW,)
            w = which[n, c, y]  # (OW,)
            for z in range(OW):
                k = w[z]
                flat[(2 * y + (k >> 1)) * W + 2 * z + (k & 1)] = g[z]


@njit(cache=True, nogil=True)
def _max_pool_general_backward(dout, x, dx, kh, kw, sh, sw, ph, pw, t0, t1):
    """Any geometry: zero the plane, then add dout at each window's recomputed winner
    (overlapping windows may share a winner)."""
    N, C, OH, OW = dout.shape
    H, W = x.shape[2], x.shape[3]
    dx3 = dx.reshape(N, C, H * W)
    for task in range(t0, t1):
        n = task // C
        c = task - n * C
        plane = x[n, c]  # (H, W)
        flat = dx3[n, c]  # (H*W,)
        for q in range(H * W):
            flat[q] = 0
        for y in range(OH):
            g = dout[n, c, y]  # (OW,)
            for z in range(OW):
                a, b = _window_argmax(plane, y, z, kh, kw, sh, sw, ph, pw)
                flat[a * W + b] += g[z]


PLANES_SPLIT_BYTES = 1 << 18  # input bytes from which the planes are shared between workers
PIECES_PER_WORKER = 4  # more pieces than workers: a descheduled worker does fewer of them


def _over_planes(kernel, planes, nbytes, *args):
    """kernel(*args, t0, t1) over the planes [0, planes) of a pooling: one call in this
    thread for small maps, else near-equal contiguous pieces handed out to the thread pool's
    workers (``_threads.run_ranges``). Each plane is written by one task, so the result does
    not depend on the split."""
    _, n_workers = _threads.workers()
    pieces = min(planes, n_workers * PIECES_PER_WORKER)
    if nbytes < PLANES_SPLIT_BYTES or pieces < 2 or not _threads.pooled(pieces):
        kernel(*args, 0, planes)
        return
    _threads.run_ranges(lambda worker, t0, t1: kernel(*args, t0, t1), planes, pieces)


def _is_2x2(kh, kw, sh, sw, ph, pw) -> bool:
    """The geometry with its own compiled kernels (a program compiles only what it uses)."""
    return kh == 2 and kw == 2 and sh == 2 and sw == 2 and ph == 0 and pw == 0


@njit(cache=True, fastmath={"reassoc"})  # reassoc: the window sum vectorises
def _window_mean_forward(x, out, top, bottom, left, right, div_h, div_w):
    """Average pooling of every kind: window (y, z) covers rows [top[y], bottom[y]) and
    columns [left[z], right[z]) of the unpadded input (already clipped), and its sum is
    divided by div_h[y] * div_w[z] (kh*kw for avg_pool2d: padded zeros count; the window's
    own size for adaptive pooling). Serial: these layers are not on a hot path, and a
    serial kernel compiles in a fraction of a parallel one's time."""
    N, C, OH, OW = out.shape
    for n in range(N):
        for c in range(C):
            for y in range(OH):
                for z in range(OW):
                    acc = 0.0
                    for a in range(top[y], bottom[y]):
                        row = x[n, c, a, left[z]:right[z]]
                        for b in range(row.shape[0]):
                            acc += row[b]
                    out[n, c, y, z] = acc / (div_h[y] * div_w[z])


@njit(cache=True)
def _window_mean_backward(dout, dx, top, bottom, left, right, div_h, div_w):
    N, C, OH, OW = dout.shape
    H, W = dx.shape[2], dx.shape[3]
    for n in range(N):
        for c in range(C):
            for a in range(H):
                for b in range(W):
                    dx[n, c, a, b] = 0
            for y in range(OH):
                for z in range(OW):
                    share = dout[n, c, y, z] / (div_h[y] * div_w[z])
                    for a in range(top[y], bottom[y]):
                        row = dx[n, c, a, left[z]:right[z]]
                        for b in range(row.shape[0]):
                            row[b] += share


def max_pool2d_forward(x, kernel_size, stride=None, padding=0):
    x = contiguous(x)
    (kh, kw), (sh, sw), (ph, pw), OH, OW = pool_geometry(x.shape, kernel_size, stride, padding)
    N, C = x.shape[:2]
    out = ws.empty((N, C, OH, OW), x.dtype)  # (N, C, OH, OW)
    if _is_2x2(kh, kw, sh, sw, ph, pw):
        which = ws.empty((N, C, OH, OW), np.int8)  # each window's winner, 0..3
        _over_planes(_max_pool_2x2_forward, N * C, x.nbytes, x, out, which)
        return out, ("2x2", x.shape, which)
    _over_planes(_max_pool_general_forward, N * C, x.nbytes, x, out, kh, kw, sh, sw, ph, pw)
    return out, ("general", x, (kh, kw, sh, sw, ph, pw))


def max_pool2d_backward(dout, cache):
    if cache[0] == "2x2":
        _, x_shape, which = cache
        dx = ws.empty(x_shape, dout.dtype)  # (N, C, H, W)
        _over_planes(_max_pool_2x2_backward, dx.shape[0] * dx.shape[1], dx.nbytes,
                     contiguous(dout), which, dx)
        return (dx,)
    _, x, geometry = cache
    dx = ws.empty(x.shape, dout.dtype)  # (N, C, H, W)
    _over_planes(_max_pool_general_backward, x.shape[0] * x.shape[1], x.nbytes,
                 contiguous(dout), x, dx, *geometry)
    return (dx,)


def _avg_windows(H, W, kh, kw, sh, sw, ph, pw, OH, OW):
    """Clipped window bounds and divisors of avg_pool2d (count_include_pad=True)."""
    top = np.clip(np.arange(OH) * sh - ph, 0, H)
    bottom = np.clip(np.arange(OH) * sh - ph + kh, 0, H)
    left = np.clip(np.arange(OW) * sw - pw, 0, W)
    right = np.clip(np.arange(OW) * sw - pw + kw, 0, W)
    return top, bottom, left, right, np.full(OH, kh), np.full(OW, kw)  # int64 (OH,)/(OW,)


def _adaptive_windows(H, W, OH, OW):
    top, bottom = adaptive_bounds(H, OH)
    left, right = adaptive_bounds(W, OW)
    return top, bottom, left, right, bottom - top, right - left  # int64 (OH,)/(OW,)


def _mean_pool(x, windows):
    """(N, C, OH, OW) means over the windows (top, bottom, left, right, divisors), and the
    cache of ``_mean_pool_backward``."""
    N, C = x.shape[:2]
    out = np.empty((N, C, len(windows[0]), len(windows[2])), dtype=x.dtype)
    _window_mean_forward(x, out, *windows)
    return out, (x.shape, windows)


def _mean_pool_backward(dout, cache):
    x_shape, windows = cache
    dx = ws.empty(x_shape, dout.dtype)  # (N, C, H, W)
    _window_mean_backward(contiguous(dout), dx, *windows)
    return (dx,)


def avg_pool2d_forward(x, kernel_size, stride=None, padding=0):
    x = contiguous(x)
    (kh, kw), (sh, sw), (ph, pw), OH, OW = pool_geometry(x.shape, kernel_size, stride, padding)
    H, W = x.shape[2:]
    windows = _avg_windows(H, W, kh, kw, sh, sw, ph, pw, OH, OW)
    return _mean_pool(x, windows)


def avg_pool2d_backward(dout, cache):
    return _mean_pool_backward(dout, cache)


def adaptive_avg_pool2d_forward(x, output_size):
    x = contiguous(x)
    H, W = x.shape[2:]
    OH, OW = pair(output_size)
    windows = _adaptive_windows(H, W, OH, OW)
    return _mean_pool(x, windows)


def adaptive_avg_pool2d_backward(dout, cache):
    return _mean_pool_backward(dout, cache)
