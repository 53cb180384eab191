"""Pooling ops and ``flatten`` (derivation: kernels/reference/pool2d.py).

Dimension letters: N batch, C channels, H/W input, kh/kw window. Each op validates its
arguments here (4-d NCHW input, positive window and stride, PyTorch's padding <= window/2,
a window that fits the padded input) so the kernels only see well-formed geometry.
"""

from __future__ import annotations

import numpy as np

from tinymm.ops._checks import check_dim, check_float, check_pair
from tinymm.ops._kernel import KernelFunction


def _check_input(op: str, x) -> None:
    if x.ndim != 4:
        hint = (" (a single image? add the batch axis with x.unsqueeze(0))"
                if x.ndim == 3 else "")
        raise ValueError(f"{op}: input must be 4-d (N, C, H, W), got shape {x.shape}{hint}")
    check_float(op, "input", x)


def pool2d_geometry(op: str, x_shape, kernel_size, stride, padding):
    """Validate a pooling call; return (kh, kw), (sh, sw), (ph, pw) as ints."""
    kh, kw = check_pair(op, "kernel_size", kernel_size, 1)
    sh, sw = (kh, kw) if stride is None else check_pair(op, "stride", stride, 1)
    ph, pw = check_pair(op, "padding", padding, 0)
    if 2 * ph > kh or 2 * pw > kw:
        raise ValueError(f"{op}: padding {(ph, pw)} must be at most half the window "
                         f"{(kh, kw)} (PyTorch's rule), got input {tuple(x_shape)}")
    if x_shape[2] + 2 * ph < kh or x_shape[3] + 2 * pw < kw:
        raise ValueError(f"{op}: the window {(kh, kw)} is larger than the padded input "
                         f"{(x_shape[2] + 2 * ph, x_shape[3] + 2 * pw)} (input "
                         f"{tuple(x_shape)}); use a smaller window or a larger input")
    return (kh, kw), (sh, sw), (ph, pw)


class _Pool2d(KernelFunction):
    """A pooling op: its one gradient is for x (none for the window arguments)."""

    @classmethod
    def backward(cls, ctx, grad):
        (dx,) = super().backward(ctx, grad)
        return dx, None


class _WindowPool2d(_Pool2d):
    @classmethod
    def forward(cls, ctx, x, kernel_size, stride=None, padding=0, layer=None):
        layer = layer or cls.kernel
        _check_input(layer, x)
        kernel, stride, padding = pool2d_geometry(layer, x.shape, kernel_size, stride, padding)
        return cls.run(ctx, x, kernel, stride=stride, padding=padding)  # (N, C, OH, OW)


class MaxPool2d(_WindowPool2d):
    kernel = "max_pool2d"


class AvgPool2d(_WindowPool2d):
    kernel = "avg_pool2d"


class AdaptiveAvgPool2d(_Pool2d):
    kernel = "adaptive_avg_pool2d"

    @classmethod
    def forward(cls, ctx, x, output_size, layer=None):
        layer = layer or cls.kernel
        _check_input(layer, x)
        OH, OW = check_pair(layer, "output_size", output_size, 1)
        if OH > x.shape[2] or OW > x.shape[3]:
            raise ValueError(f"{layer}: output_size {(OH, OW)} is larger than the input's "
                             f"spatial size {x.shape[2:]} (input {x.shape}); it must not "
                             f"exceed it")
        return cls.run(ctx, x, (OH, OW))  # (N, C, OH, OW)


def _ceil_extra(n: int, k: int, s: int, p: int) -> int:
    """The -inf cells ceil_mode adds after the input along one dim: PyTorch's output size
    ceil((n + 2p - k) / s) + 1, less one when the last window would start in the right
    padding, minus what the floor rule already covers."""
    out = -(-(n + 2 * p - k) // s) + 1
    if (out - 1) * s >= n + p:
        out -= 1
    return max(0, (out - 1) * s + k - (n + 2 * p))


def _pool_size(n: int, k: int, s: int, p: int, d: int, ceil_mode: bool) -> int:
    """PyTorch's pooling output size along one dim (window k dilated by d); in ceil_mode the
    last window must start inside the input or its left padding."""
    span = d * (k - 1) + 1
    out = (-(-(n + 2 * p - span) // s) if ceil_mode else (n + 2 * p - span) // s) + 1
    if ceil_mode and (out - 1) * s >= n + p:
        out -= 1
    return out


def _windows(op: str, x, kernel_size, stride, padding, dilation, ceil_mode):
    """The geometry of a pooling call with dilation and ceil_mode: per dim, the window taps'
    rows in the padded input (OH, kh) and (OW, kw), the padding, the cells to add after the
    padded input, and the stride."""
    _check_input(op, x)
    (kh, kw), (sh, sw), (ph, pw) = pool2d_geometry(op, x.shape, kernel_size, stride, padding)
    dh, dw = check_pair(op, "dilation", dilation, 1)
    H, W = x.shape[2], x.shape[3]
    OH, OW = _pool_size(H, kh, sh, ph, dh, ceil_mode), _pool_size(W, kw, sw, pw, dw, ceil_mode)
    if OH < 1 or OW < 1:
        raise ValueError(f"{op}: the dilated window ({dh * (kh - 1) + 1}, {dw * (kw - 1) + 1}) "
                         f"is larger than the padded input {(H + 2 * ph, W + 2 * pw)}")
    rows = np.arange(OH)[:, None] * sh + np.arange(kh)[None, :] * dh  # (OH, kh), padded coords
    cols = np.arange(OW)[:, None] * sw + np.arange(kw)[None, :] * dw  # (OW, kw)
    extra = (max(0, int(rows.max()) + 1 - (H + 2 * ph)),
             max(0, int(cols.max()) + 1 - (W + 2 * pw)))
    return rows, cols, (ph, pw), extra, (sh, sw)


def _max_pool_gathered(op: str, x, kernel_size, stride, padding, dilation, ceil_mode):
    """max_pool2d over gathered windows (dilation, indices): each output is the first maximum
    of its window's taps, its gradient routed there (the gather's backward); the index is
    that tap's flat position h * W + w in the input, as ``return_indices`` gives."""
    from tinymm.ops.shape import pad
    from tinymm.tensor import from_numpy

    rows, cols, (ph, pw), (eh, ew), _ = _windows(op, x, kernel_size, stride, padding,
                                                 dilation, ceil_mode)
    N, C, H, W = x.shape
    (OH, kh), (OW, kw) = rows.shape, cols.shape
    padded = pad(x, (pw, pw + ew, ph, ph + eh), value=float("-inf"))
    taps = padded[:, :, rows[:, :, None, None], cols[None, None, :, :]]  # (N, C, OH, kh, OW, kw)
    taps = taps.permute(0, 1, 2, 4, 3, 5).reshape(N, C, OH, OW, kh * kw)
    out, k = taps.max(dim=-1)  # (N, C, OH, OW): values and the first maximum's tap
    flat = (rows - ph)[:, None, :, None] * W + (cols - pw)[None, :, None, :]  # (OH, OW, kh, kw)
    table = from_numpy(flat.reshape(1, 1, OH, OW, kh * kw)).to(x.device)
    indices = table.expand(N, C, OH, OW, kh * kw).gather(-1, k.unsqueeze(-1)).squeeze(-1)
    return out, indices


def max_pool2d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode: bool = False,
               return_indices: bool = False, layer=None):
    """PyTorch's ``F.max_pool2d`` (stride defaults to kernel_size; padding pads with -inf);
    ceil_mode pads the bottom and right with -inf so the last partial windows count.
    ``dilation`` spaces the window's taps; ``return_indices`` also returns each maximum's
    flat index h * W + w in its input plane (for ``max_unpool2d``)."""
    op = layer or "max_pool2d"
    if check_pair(op, "dilation", dilation, 1) != (1, 1) or return_indices:
        out, indices = _max_pool_gathered(op, x, kernel_size, stride, padding, dilation,
                                          ceil_mode)
        return (out, indices) if return_indices else out
    if ceil_mode:
        from tinymm.ops.shape import pad

        _check_input(op, x)
        (kh, kw), (sh, sw), (ph, pw) = pool2d_geometry(op, x.shape, kernel_size, stride,
                                                       padding)
        extra_h = _ceil_extra(x.shape[2], kh, sh, ph)
        extra_w = _ceil_extra(x.shape[3], kw, sw, pw)
        if extra_h or extra_w:
            x = pad(x, (0, extra_w, 0, extra_h), value=float("-inf"))
    return MaxPool2d.apply(x, kernel_size, stride=stride, padding=padding, layer=layer)


def avg_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
               count_include_pad: bool = True, divisor_override=None, layer=None):
    """PyTorch's ``F.avg_pool2d`` with count_include_pad=True (its default; without padding
    count_include_pad=False is the same); ``divisor_override`` divides the window sums by
    that number instead of the window size."""
    op = layer or "avg_pool2d"
    padded = check_pair(op, "padding", padding, 0) != (0, 0)
    if ceil_mode or (padded and not count_include_pad):
        return _avg_pool_divided(op, x, kernel_size, stride, padding, ceil_mode,
                                 count_include_pad, divisor_override)
    out = AvgPool2d.apply(x, kernel_size, stride=stride, padding=padding, layer=layer)
    if divisor_override is None:
        return out
    kh, kw = check_pair(op, "kernel_size", kernel_size, 1)
    return out * (kh * kw / divisor_override)


def _avg_divisors(rows, cols, size, padding, kernel, count_include_pad: bool) -> np.ndarray:
    """(OH, OW) divisors of PyTorch's avg_pool2d: the window clipped to the padded input
    (count_include_pad) or to the input itself; rows/cols are the windows' first taps."""
    parts = []
    for start, n, p, k in zip((rows, cols), size, padding, kernel):
        start = start - p  # (O,) in input coordinates
        end = np.minimum(start + k, n + p)
        if not count_include_pad:
            start, end = np.maximum(start, 0), np.minimum(end, n)
        parts.append(end - start)
    return np.outer(parts[0], parts[1])


def _avg_pool_divided(op: str, x, kernel_size, stride, padding, ceil_mode,
                      count_include_pad, divisor_override):
    """avg_pool2d with ceil_mode or count_include_pad=False: window sums over the input
    padded with zeros, each divided by PyTorch's divisor for its window."""
    from tinymm.ops.shape import pad
    from tinymm.tensor import from_numpy

    rows, cols, (ph, pw), (eh, ew), strides = _windows(op, x, kernel_size, stride, padding, 1,
                                                       ceil_mode)
    (OH, kh), (OW, kw) = rows.shape, cols.shape
    padded = pad(x, (pw, pw + ew, ph, ph + eh), value=0.0)
    sums = AvgPool2d.apply(padded, (kh, kw), stride=strides, padding=0,
                           layer=op)[:, :, :OH, :OW] * (kh * kw)  # (N, C, OH, OW)
    if divisor_override is not None:
        return sums / divisor_override
    divisor = _avg_divisors(rows[:, 0], cols[:, 0], x.shape[2:], (ph, pw), (kh, kw),
                            count_include_pad)
    return sums / from_numpy(divisor.astype(x.dtype)).to(x.device)


def max_unpool2d(input, indices, kernel_size, stride=None, padding=0,  # noqa: A002
                 output_size=None, layer=None):
    """PyTorch's ``F.max_unpool2d``: zeros of the pooled-from size with each input value
    written at its index (h * W + w in its plane, as ``max_pool2d(return_indices=True)``
    gives); its gradient reads the upstream gradient back at those indices."""
    from tinymm.tensor import as_tensor

    op = layer or "max_unpool2d"
    x, indices = as_tensor(input), as_tensor(indices)
    _check_input(op, x)
    if tuple(indices.shape) != tuple(x.shape) or indices.dtype.kind not in "iu":
        raise ValueError(f"{op}: indices must be an integer tensor of the input's shape "
                         f"{tuple(x.shape)}, got {indices.dtype} {tuple(indices.shape)}")
    (kh, kw), (sh, sw) = check_pair(op, "kernel_size", kernel_size, 1), (
        check_pair(op, "kernel_size", kernel_size, 1) if stride is None
        else check_pair(op, "stride", stride, 1))
    ph, pw = check_pair(op, "padding", padding, 0)
    N, C, H, W = x.shape
    size = ((H - 1) * sh - 2 * ph + kh, (W - 1) * sw - 2 * pw + kw)
    if output_size is not None:
        size = tuple(int(n) for n in tuple(output_size)[-2:])
    flat = indices.reshape(N, C, H * W)
    if flat.numel() and (int(flat.min()) < 0 or int(flat.max()) >= size[0] * size[1]):
        raise ValueError(f"{op}: found an invalid max index {int(flat.max())} (or "
                         f"{int(flat.min())}); the output {size} holds {size[0] * size[1]} "
                         f"cells per plane")
    out = x.new_zeros(N, C, size[0] * size[1])
    return out.scatter(2, flat, x.reshape(N, C, H * W)).reshape(N, C, *size)


def adaptive_avg_pool2d(x, output_size, layer=None):
    """PyTorch's ``F.adaptive_avg_pool2d``; output_size 1 is global average pooling. An entry
    None keeps that input size, and an output larger than the input (each output cell the
    mean of the cells its window covers, PyTorch's rule) goes through the same averaging as
    interpolate's "area" mode (ops/interpolate.py)."""
    sizes = tuple(output_size) if isinstance(output_size, (tuple, list)) else \
        (output_size, output_size)
    if len(sizes) == 2 and getattr(x, "ndim", 0) == 4 and (
            None in sizes or any(isinstance(m, int) and m > n for m, n in zip(sizes,
                                                                          x.shape[2:]))):
        from tinymm.ops.interpolate import interpolate

        size = tuple(n if m is None else check_pair(layer or "adaptive_avg_pool2d",
                                                    "output_size", m, 1)[0]
                     for m, n in zip(sizes, x.shape[2:]))
        return interpolate(x, size=size, mode="area")
    return AdaptiveAvgPool2d.apply(x, output_size, layer=layer)


def flatten(x, start_dim: int = 0, end_dim: int = -1):
    """PyTorch's ``torch.flatten``: merge dims start_dim..end_dim (a reshape, no copy)."""
    from tinymm.tensor import as_tensor

    x = as_tensor(x)
    start = check_dim("flatten", "start_dim", start_dim, x.ndim)
    if start > check_dim("flatten", "end_dim", end_dim, x.ndim):
        raise ValueError(f"flatten: start_dim={start_dim} comes after end_dim={end_dim} for "
                         f"an input of shape {x.shape}")
    return x.flatten(start_dim, end_dim)
