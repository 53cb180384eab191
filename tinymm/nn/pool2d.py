"""Pooling layers and ``Flatten`` with PyTorch's constructor arguments
(derivation: kernels/reference/pool2d.py)."""

from __future__ import annotations

from tinymm.nn.module import Module
from tinymm.ops.pool2d import (
    adaptive_avg_pool2d,
    avg_pool2d,
    flatten,
    max_pool2d,
    max_unpool2d,
)


class _Pool2d(Module):
    """What MaxPool2d and AvgPool2d share: PyTorch's (kernel_size, stride=None, padding=0)."""

    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxPool2d(_Pool2d):
    """PyTorch's ``nn.MaxPool2d``: max over kernel_size windows (stride defaults to it);
    ceil_mode counts the last partial windows, dilation spaces the taps, return_indices
    also returns the maxima's flat indices for ``MaxUnpool2d`` (ops/pool2d.py).

    Ties send the whole gradient to the first maximum of the window (row-major order).
    """

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1,
                 return_indices: bool = False, ceil_mode: bool = False):
        super().__init__(kernel_size, stride, padding)
        self.dilation, self.return_indices, self.ceil_mode = dilation, return_indices, ceil_mode

    def forward(self, x):
        return max_pool2d(x, self.kernel_size, self.stride, self.padding, self.dilation,
                          self.ceil_mode, self.return_indices,
                          layer=f"MaxPool2d({self.extra_repr()})")


class AvgPool2d(_Pool2d):
    """PyTorch's ``nn.AvgPool2d`` (count_include_pad=True: padded zeros count; ceil_mode:
    the last partial windows count, each divided by its window clipped to the padded
    input, as PyTorch)."""

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
                 count_include_pad: bool = True, divisor_override=None):
        super().__init__(kernel_size, stride, padding)
        self.ceil_mode, self.count_include_pad = ceil_mode, count_include_pad
        self.divisor_override = divisor_override

    def forward(self, x):
        return avg_pool2d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                          self.count_include_pad, self.divisor_override,
                          layer=f"AvgPool2d({self.extra_repr()})")


class MaxUnpool2d(_Pool2d):
    """PyTorch's ``nn.MaxUnpool2d``: ``forward(input, indices, output_size=None)`` writes
    each value at its index from ``MaxPool2d(return_indices=True)``, zeros elsewhere."""

    def forward(self, input, indices, output_size=None):  # noqa: A002 - PyTorch's name
        return max_unpool2d(input, indices, self.kernel_size, self.stride, self.padding,
                            output_size, layer=f"MaxUnpool2d({self.extra_repr()})")


class AdaptiveAvgPool2d(Module):
    """PyTorch's ``nn.AdaptiveAvgPool2d``; output_size 1 is global average pooling."""

    def __init__(self, output_size):
        super().__init__()
        self.output_size = output_size

    def forward(self, x):
        return adaptive_avg_pool2d(x, self.output_size,
                                   layer=f"AdaptiveAvgPool2d({self.extra_repr()})")

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class Flatten(Module):
    """PyTorch's ``nn.Flatten``: (N, C, H, W) -> (N, C*H*W) with the defaults."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        super().__init__()
        self.start_dim = start_dim
        self.end_dim = end_dim

    def forward(self, x):
        return flatten(x, self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"
