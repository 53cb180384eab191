"""CUDA max, average and adaptive average pooling (derivation: kernels/reference/pool2d.py).

Dimension letters: N batch, C channels, H/W input, kh/kw window, sh/sw stride, ph/pw padding,
OH/OW output. Every forward kernel runs one thread per output element, every backward one
thread per *input* element, which gathers from the windows that contain it. A gather writes
each dx element from exactly one thread, so overlapping windows need no atomics and the
sums are deterministic.

* Max forward scans its window in row-major order and keeps the first maximum (a later
  element must be strictly greater, and a NaN beats any number: NumPy's argmax, the
  reference's tie rule); a padded cell counts as -inf, so the first cell of the window is
  the starting candidate even when it is padding, exactly as the reference's argmax over the
  -inf-padded window. The winner's window-flat index goes to the cache.
* Max backward: input (a, b) (padded coordinates) receives dout of every window (y, z) that
  contains it and whose recorded winner is that cell.
* Average: windows of kh*kw cells, padding counted as zeros (count_include_pad=True).
* Adaptive average: window rows [floor(y H / OH), ceil((y + 1) H / OH)), columns likewise;
  the backward walks only the output rows (and columns) whose windows can contain the cell:
  from the first y with ceil((y + 1) H / OH) > h while floor(y H / OH) <= h.
"""

from __future__ import annotations

import math

from numba import cuda

from tinymm.kernels.geometry import pair, pool_geometry
from tinymm.kernels.numba_cuda._device import empty, grid_1d, require_device
from tinymm.kernels.numba_cuda._dtypes import per_dtype


@cuda.jit(device=True, inline=True)
def _unravel(t, rows, cols):
    """(plane, row, col) of flat index t in a (planes, rows, cols) array."""
    return t // (cols * rows), (t // cols) % rows, t % cols


@cuda.jit(device=True, inline=True)
def _windows_over(a, k, s, O):
    """range bounds (lo, hi) of the outputs y whose window [y s, y s + k) holds padded index a."""
    return max(0, (a - k) // s + 1), min(O - 1, a // s) + 1


@cuda.jit(device=True, inline=True)
def _adaptive_start(y, size, O):
    """floor(y size / O): the first input index of adaptive window y."""
    return (y * size) // O


@cuda.jit(device=True, inline=True)
def _adaptive_end(y, size, O):
    """ceil((y + 1) size / O): one past the last input index of adaptive window y."""
    return -((-(y + 1) * size) // O)


def _max_forward(x, out, arg, lowest, H, W, kh, kw, sh, sw, ph, pw, OH, OW):
    # lowest: -inf in x's dtype (a Python -inf literal would be float64 arithmetic)
    t = cuda.grid(1)
    if t < out.size:
        plane, y, z = _unravel(t, OH, OW)  # plane = n * C + c
        best = lowest
        where = 0
        for i in range(kh):
            h = y * sh + i - ph
            for j in range(kw):
                w = z * sw + j - pw
                if 0 <= h < H and 0 <= w < W:
                    v = x[(plane * H + h) * W + w]
                    if v > best or (v != v and best == best):  # first maximum; NaN wins
                        best = v
                        where = i * kw + j
        out[t] = best
        arg[t] = where


def _max_backward(dout, arg, dx, zero, H, W, kh, kw, sh, sw, ph, pw, OH, OW):
    t = cuda.grid(1)
    if t < dx.size:
        plane, h, w = _unravel(t, H, W)
        a = h + ph  # padded coordinates of this input cell
        b = w + pw
        acc = zero
        y_lo, y_hi = _windows_over(a, kh, sh, OH)
        z_lo, z_hi = _windows_over(b, kw, sw, OW)
        for y in range(y_lo, y_hi):
            i = a - y * sh
            for z in range(z_lo, z_hi):
                j = b - z * sw
                o = (plane * OH + y) * OW + z
                if arg[o] == i * kw + j:
                    acc += dout[o]
        dx[t] = acc


def _avg_forward(x, out, H, W, kh, kw, sh, sw, ph, pw, OH, OW, scale):
    t = cuda.grid(1)
    if t < out.size:
        plane, y, z = _unravel(t, OH, OW)
        acc = scale - scale
        for i in range(kh):
            h = y * sh + i - ph
            if 0 <= h < H:
                for j in range(kw):
                    w = z * sw + j - pw
                    if 0 <= w < W:
                        acc += x[(plane * H + h) * W + w]
        out[t] = acc * scale


def _avg_backward(dout, dx, H, W, kh, kw, sh, sw, ph, pw, OH, OW, scale):
    t = cuda.grid(1)
    if t < dx.size:
        plane, h, w = _unravel(t, H, W)
        a = h + ph
        b = w + pw
        acc = scale - scale
        y_lo, y_hi = _windows_over(a, kh, sh, OH)
        z_lo, z_hi = _windows_over(b, kw, sw, OW)
        for y in range(y_lo, y_hi):
            for z in range(z_lo, z_hi):
                acc += dout[(plane * OH + y) * OW + z]
        dx[t] = acc * scale


def _make_adaptive_forward(dtype):
    zero = dtype(0)

    def adaptive_forward(x, out, H, W, OH, OW):
        t = cuda.grid(1)
        if t < out.size:
            plane, y, z = _unravel(t, OH, OW)
            top = _adaptive_start(y, H, OH)
            bottom = _adaptive_end(y, H, OH)
            left = _adaptive_start(z, W, OW)
            right = _adaptive_end(z, W, OW)
            acc = zero
            for h in range(top, bottom):
                for w in range(left, right):
                    acc += x[(plane * H + h) * W + w]
            out[t] = acc / dtype((bottom - top) * (right - left))  # the area in x's dtype

    return adaptive_forward


def _make_adaptive_backward(dtype):
    zero = dtype(0)

    def adaptive_backward(dout, dx, H, W, OH, OW):
        t = cuda.grid(1)
        if t < dx.size:
            plane, h, w = _unravel(t, H, W)
            acc = zero
            y = (h * OH) // H  # the last window that starts at or before h
            while y > 0 and _adaptive_end(y - 1, H, OH) > h:  # back while y - 1 ends past h
                y -= 1
            while y < OH and _adaptive_start(y, H, OH) <= h:
                bottom = _adaptive_end(y, H, OH)
                if h < bottom:
                    height = bottom - _adaptive_start(y, H, OH)
                    z = (w * OW) // W
                    while z > 0 and _adaptive_end(z - 1, W, OW) > w:
                        z -= 1
                    while z < OW and _adaptive_start(z, W, OW) <= w:
                        right = _adaptive_end(z, W, OW)
                        if w < right:
                            area = dtype(height * (right - _adaptive_start(z, W, OW)))
                            acc += dout[(plane * OH + y) * OW + z] / area
                        z += 1
                y += 1
            dx[t] = acc

    return adaptive_backward


_G10 = ", ".join(["int64"] * 10)  # H, W, kh, kw, sh, sw, ph, pw, OH, OW
_FL = ("float32", "float64")
PTX_TARGETS = [
    (_max_forward, tuple(f"void({t}[::1], {t}[::1], int64[::1], {t}, {_G10})" for t in _FL)),
    (_max_backward, tuple(f"void({t}[::1], int64[::1], {t}[::1], {t}, {_G10})" for t in _FL)),
    (_avg_forward, tuple(f"void({t}[::1], {t}[::1], {_G10}, {t})" for t in _FL)),
    (_avg_backward, tuple(f"void({t}[::1], {t}[::1], {_G10}, {t})" for t in _FL)),
]
_ADAPTIVE = "void({t}[::1], {t}[::1], int64, int64, int64, int64)"  # in, out, H, W, OH, OW
adaptive_forward_kernels, _forward_targets = per_dtype(_make_adaptive_forward, _ADAPTIVE)
adaptive_backward_kernels, _backward_targets = per_dtype(_make_adaptive_backward, _ADAPTIVE)
PTX_TARGETS += _forward_targets + _backward_targets
max_forward_kernel = cuda.jit(_max_forward)
max_backward_kernel = cuda.jit(_max_backward)
avg_forward_kernel = cuda.jit(_avg_forward)
avg_backward_kernel = cuda.jit(_avg_backward)


def _launch(kernel, n, *args):
    if n:
        blocks, threads = grid_1d(n)
        kernel[blocks, threads](*args)


def _flat(a):
    return a.reshape(a.size)


def max_pool2d_forward(x, kernel_size, stride=None, padding=0):
    require_device("max_pool2d_forward", x=x)
    (kh, kw), (sh, sw), (ph, pw), OH, OW = pool_geometry(tuple(x.shape), kernel_size, stride,
                                                         padding)
    N, C, H, W = x.shape
    out = empty((N, C, OH, OW), x.dtype)
    arg = empty((N, C, OH, OW), "int64")  # window-flat index of each first maximum
    geometry = (H, W, kh, kw, sh, sw, ph, pw, OH, OW)
    _launch(max_forward_kernel, out.size, _flat(x), _flat(out), _flat(arg),
            x.dtype.type(-math.inf), *geometry)
    return out, (arg, tuple(x.shape), geometry)


def max_pool2d_backward(dout, cache):
    require_device("max_pool2d_backward", dout=dout)
    arg, x_shape, geometry = cache
    dx = empty(x_shape, dout.dtype)
    _launch(max_backward_kernel, dx.size, _flat(dout), _flat(arg), _flat(dx),
            dout.dtype.type(0), *geometry)
    return (dx,)


def avg_pool2d_forward(x, kernel_size, stride=None, padding=0):
    require_device("avg_pool2d_forward", x=x)
    (kh, kw), (sh, sw), (ph, pw), OH, OW = pool_geometry(tuple(x.shape), kernel_size, stride,
                                                         padding)
    N, C, H, W = x.shape
    out = empty((N, C, OH, OW), x.dtype)
    geometry = (H, W, kh, kw, sh, sw, ph, pw, OH, OW)
    scale = x.dtype.type(1.0 / (kh * kw))
    _launch(avg_forward_kernel, out.size, _flat(x), _flat(out), *geometry, scale)
    return out, (tuple(x.shape), geometry, scale)


def avg_pool2d_backward(dout, cache):
    require_device("avg_pool2d_backward", dout=dout)
    x_shape, geometry, scale = cache
    dx = empty(x_shape, dout.dtype)
    _launch(avg_backward_kernel, dx.size, _flat(dout), _flat(dx), *geometry,
            dout.dtype.type(scale))
    return (dx,)


def adaptive_avg_pool2d_forward(x, output_size):
    require_device("adaptive_avg_pool2d_forward", x=x)
    N, C, H, W = x.shape
    OH, OW = pair(output_size)
    out = empty((N, C, OH, OW), x.dtype)
    _launch(adaptive_forward_kernels[x.dtype], out.size, _flat(x), _flat(out), H, W, OH, OW)
    return out, (tuple(x.shape), (OH, OW))


def adaptive_avg_pool2d_backward(dout, cache):
    require_device("adaptive_avg_pool2d_backward", dout=dout)
    x_shape, (OH, OW) = cache
    H, W = x_shape[2], x_shape[3]
    dx = empty(x_shape, dout.dtype)
    _launch(adaptive_backward_kernels[dout.dtype], dx.size, _flat(dout), _flat(dx), H, W, OH,
            OW)
    return (dx,)
