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


def _ceil_pad(op: str, x, kernel_size, stride, padding, ceil_mode: bool, value: float):
    """x with ceil_mode's extra rows and columns of ``value`` after the input (none without
    ceil_mode), the window geometry, and whether any were added."""
    from tinymm.ops.shape import pad

    _check_input(op, x)
    (kh, kw), (sh, sw), (ph, pw) = pool2d_geometry(op, x.shape, kernel_size, stride, padding)
    extra_h = _ceil_extra(x.shape[2], kh, sh, ph) if ceil_mode else 0
    extra_w = _ceil_extra(x.shape[3], kw, sw, pw) if ceil_mode else 0
    if extra_h or extra_w:
        x = pad(x, (0, extra_w, 0, extra_h), value=value)
    return x, ((kh, kw), (sh, sw), (ph, pw)), bool(extra_h or extra_w)


def max_pool2d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode: bool = False,
               return_indices: bool = False, layer=None):
    """PyTorch's ``F.max_pool2d`` (stride defaults to kernel_size; padding pads with -inf);
    ceil_mode pads the bottom and right with -inf so the last partial windows count."""
    op = layer or "max_pool2d"
    if check_pair(op, "dilation", dilation, 1) != (1, 1) or return_indices:
        raise ValueError(f"{op}: dilation > 1 and return_indices=True are not supported in "
                         f"tinymm (either one), got dilation={dilation!r}, "
                         f"return_indices={return_indices}")
    if ceil_mode:
        x = _ceil_pad(op, x, kernel_size, stride, padding, True, float("-inf"))[0]
    return MaxPool2d.apply(x, kernel_size, stride=stride, padding=padding, layer=layer)


def _window_counts(n: int, k: int, s: int, p: int, out: int, count_pad: bool):
    """Along one dim, PyTorch's avg_pool divisor per output j: the window [j s - p, +k)
    clipped to the padded input [-p, n + p), then (count_include_pad=False) to [0, n)."""
    start = np.arange(out) * s - p  # (out,)
    end = np.minimum(start + k, n + p)
    if not count_pad:
        start, end = np.maximum(start, 0), np.minimum(end, n)
    return (end - start).astype(np.float64)  # (out,)


def avg_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
               count_include_pad: bool = True, divisor_override=None, layer=None):
    """PyTorch's ``F.avg_pool2d``. The kernel averages over whole windows of the zero-padded
    input (count_include_pad=True); ceil_mode appends zero rows and columns so the last
    partial windows count, and the result is rescaled by kh kw / divisor, the divisor being
    PyTorch's: the window clipped to the padded input, to the input itself when
    count_include_pad=False, or ``divisor_override``."""
    from tinymm.tensor import from_numpy

    H, W = x.shape[2:] if x.ndim == 4 else (0, 0)
    x, geometry, extended = _ceil_pad(layer or "avg_pool2d", x, kernel_size, stride, padding,
                                      ceil_mode, 0.0)  # zeros add nothing to the sums
    (kh, kw), (sh, sw), (ph, pw) = geometry
    out = AvgPool2d.apply(x, kernel_size, stride=stride, padding=padding, layer=layer)
    exact = count_include_pad or (ph, pw) == (0, 0)
    if divisor_override is None and exact and not extended:
        return out  # (N, C, OH, OW): every window's divisor is kh kw
    OH, OW = out.shape[2:]
    if divisor_override is not None:
        divisor = np.full((OH, OW), float(divisor_override))
    else:
        divisor = np.outer(_window_counts(H, kh, sh, ph, OH, count_include_pad),
                           _window_counts(W, kw, sw, pw, OW, count_include_pad))  # (OH, OW)
    scale = (kh * kw / divisor).astype(out.dtype)
    return out * from_numpy(scale).to(out.device)  # (a counted copy to a GPU)


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
