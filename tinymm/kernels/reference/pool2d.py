"""2-d pooling (max, average, adaptive average), PyTorch's semantics: derivation.

Dimension letters: N batch, C channels, H/W input height/width, kh/kw window, sh/sw stride,
ph/pw padding (on both sides), OH/OW output height/width. Layout NCHW; pooling acts on each
(n, c) plane independently. As for convolution (kernels/reference/conv2d.py)::

    OH = (H + 2*ph - kh) // sh + 1        OW = (W + 2*pw - kw) // sw + 1

with the stride defaulting to the window size (non-overlapping windows) and PyTorch's rule
that the padding is at most half the window. Window (y, z) covers padded rows
y*sh .. y*sh + kh - 1 and columns z*sw .. z*sw + kw - 1.

Max pooling pads with -inf (a padded cell never wins)::

    out[n, c, y, z]  = max_{i, j} xp[n, c, y*sh + i, z*sw + j]
    dxp[n, c, a, b]  = sum_{(y, z) whose argmax is (a, b)} dout[n, c, y, z]

The max is piecewise linear: its derivative is 1 at the winning element and 0 elsewhere.
Ties: the gradient goes to ONE element, the first maximum in row-major window order
(PyTorch's choice too), so the input gradient sums to the output gradient exactly.
Overlapping windows (stride < window) may pick the same element: its gradients add up.

Average pooling pads with zeros and divides by the full window size kh*kw (PyTorch's
default ``count_include_pad=True``)::

    out[n, c, y, z]  = (1 / (kh*kw)) sum_{i, j} xp[n, c, y*sh + i, z*sw + j]
    dxp[n, c, a, b]  = (1 / (kh*kw)) sum_{(y, z) whose window holds (a, b)} dout[n, c, y, z]

Adaptive average pooling to (OH, OW) uses window rows [floor(y*H/OH), ceil((y+1)*H/OH)) and
the same for columns (windows of varying size, PyTorch's rule); to (1, 1) it is the global
average: ``out[n, c] = mean_{a, b} x[n, c, a, b]``, ``dx[n, c, a, b] = dout[n, c] / (H*W)``.

The code views the padded input as windows (N, C, OH, OW, kh, kw) with
``sliding_window_view`` and reduces over the last two axes; backward scatters window
gradients back with ``np.add.at`` (which adds correctly where windows overlap).
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from tinymm.kernels.geometry import adaptive_bounds, pair, pool_geometry


def _windows(xp, kh, kw, sh, sw, OH, OW):
    view = sliding_window_view(xp, (kh, kw), axis=(2, 3))  # (N, C, Hp-kh+1, Wp-kw+1, kh, kw)
    return view[:, :, ::sh, ::sw][:, :, :OH, :OW]  # (N, C, OH, OW, kh, kw)


def _window_index_grids(kh, kw, sh, sw, OH, OW):
    """Padded-plane row and column of every (y, z, i, j) window cell."""
    rows = (np.arange(OH) * sh)[:, None, None, None] + np.arange(kh)[None, None, :, None]
    cols = (np.arange(OW) * sw)[None, :, None, None] + np.arange(kw)[None, None, None, :]
    return np.broadcast_to(rows, (OH, OW, kh, kw)), np.broadcast_to(cols, (OH, OW, kh, kw))


def max_pool2d_forward(x, kernel_size, stride=None, padding=0):
    (kh, kw), (sh, sw), (ph, pw), OH, OW = pool_geometry(x.shape, kernel_size, stride, padding)
    N, C, H, W = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=-np.inf)
    windows = _windows(xp, kh, kw, sh, sw, OH, OW).reshape(N, C, OH, OW, kh * kw)
    argmax = windows.argmax(axis=-1)  # (N, C, OH, OW): first maximum in window order
    out = np.take_along_axis(windows, argmax[..., None], axis=-1)[..., 0]  # (N, C, OH, OW)
    cache = (argmax, x.shape, (kh, kw), (sh, sw), (ph, pw))
    return np.ascontiguousarray(out), cache


def max_pool2d_backward(dout, cache):
    argmax, x_shape, (kh, kw), (sh, sw), (ph, pw) = cache
    N, C, H, W = x_shape
    OH, OW = dout.shape[2:]
    i, j = np.divmod(argmax, kw)  # (N, C, OH, OW): the winner's window row and column
    a = np.arange(OH)[:, None] * sh + i  # (N, C, OH, OW): padded row of the winner
    b = np.arange(OW)[None, :] * sw + j  # (N, C, OH, OW): padded column of the winner
    n = np.arange(N)[:, None, None, None]
    c = np.arange(C)[None, :, None, None]
    dxp = np.zeros((N, C, H + 2 * ph, W + 2 * pw), dtype=dout.dtype)
    np.add.at(dxp, (n, c, a, b), dout)  # overlapping windows may pick one element twice
    return (np.ascontiguousarray(dxp[:, :, ph:ph + H, pw:pw + W]),)


def avg_pool2d_forward(x, kernel_size, stride=None, padding=0):
    (kh, kw), (sh, sw), (ph, pw), OH, OW = pool_geometry(x.shape, kernel_size, stride, padding)
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))  # zeros count in the average
    windows = _windows(xp, kh, kw, sh, sw, OH, OW)  # (N, C, OH, OW, kh, kw)
    out = windows.sum(axis=(-2, -1)) / (kh * kw)  # (N, C, OH, OW)
    cache = (x.shape, (kh, kw), (sh, sw), (ph, pw))
    return out.astype(x.dtype), cache


def avg_pool2d_backward(dout, cache):
    x_shape, (kh, kw), (sh, sw), (ph, pw) = cache
    N, C, H, W = x_shape
    OH, OW = dout.shape[2:]
    rows, cols = _window_index_grids(kh, kw, sh, sw, OH, OW)  # (OH, OW, kh, kw) each
    share = np.broadcast_to((dout / (kh * kw))[..., None, None], (N, C, OH, OW, kh, kw))
    dxp = np.zeros((N, C, H + 2 * ph, W + 2 * pw), dtype=dout.dtype)
    np.add.at(dxp, (slice(None), slice(None), rows, cols), share)
    return (np.ascontiguousarray(dxp[:, :, ph:ph + H, pw:pw + W]),)


def adaptive_avg_pool2d_forward(x, output_size):
    N, C, H, W = x.shape
    OH, OW = pair(output_size)
    top, bottom = adaptive_bounds(H, OH)
    left, right = adaptive_bounds(W, OW)
    out = np.empty((N, C, OH, OW), dtype=x.dtype)  # (N, C, OH, OW)
    for y in range(OH):
        for z in range(OW):
            out[:, :, y, z] = x[:, :, top[y]:bottom[y], left[z]:right[z]].mean(axis=(2, 3))
    return out, (x.shape, (OH, OW))


def adaptive_avg_pool2d_backward(dout, cache):
    x_shape, (OH, OW) = cache
    N, C, H, W = x_shape
    top, bottom = adaptive_bounds(H, OH)
    left, right = adaptive_bounds(W, OW)
    dx = np.zeros(x_shape, dtype=dout.dtype)  # (N, C, H, W)
    for y in range(OH):
        for z in range(OW):
            count = (bottom[y] - top[y]) * (right[z] - left[z])
            dx[:, :, top[y]:bottom[y], left[z]:right[z]] += (
                dout[:, :, y, z][:, :, None, None] / count)
    return (dx,)
