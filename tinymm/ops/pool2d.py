"""Pooling ops and ``flatten`` (derivation: kernels/reference/pool2d.py).

Dimension letters: N batch, C channels, H/W input, kh/kw window. Each op validates its
arguments here (4-d NCHW input, positive window and stride, PyTorch's padding <= window/2,
a window that fits the padded input) so the kernels only see well-formed geometry.
"""

from __future__ import annotations

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


def max_pool2d(x, kernel_size, stride=None, padding=0):
    """PyTorch's ``F.max_pool2d`` (stride defaults to kernel_size; padding pads with -inf)."""
    return MaxPool2d.apply(x, kernel_size, stride=stride, padding=padding)


def avg_pool2d(x, kernel_size, stride=None, padding=0):
    """PyTorch's ``F.avg_pool2d`` with count_include_pad=True (its default)."""
    return AvgPool2d.apply(x, kernel_size, stride=stride, padding=padding)


def adaptive_avg_pool2d(x, output_size):
    """PyTorch's ``F.adaptive_avg_pool2d``; output_size 1 is global average pooling."""
    return AdaptiveAvgPool2d.apply(x, output_size)


def flatten(x, start_dim: int = 0, end_dim: int = -1):
    """PyTorch's ``torch.flatten``: merge dims start_dim..end_dim (a reshape, no copy)."""
    from tinymm.tensor import as_tensor

    x = as_tensor(x)
    start = check_dim("flatten", "start_dim", start_dim, x.ndim)
    if start > check_dim("flatten", "end_dim", end_dim, x.ndim):
        raise ValueError(f"flatten: start_dim={start_dim} comes after end_dim={end_dim} for "
                         f"an input of shape {x.shape}")
    return x.flatten(start_dim, end_dim)
