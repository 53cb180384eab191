"""Pooling layers and ``Flatten`` with PyTorch's constructor arguments
(derivation: kernels/reference/pool2d.py)."""

from __future__ import annotations

from tinymm.nn.module import Module
from tinymm.ops.pool2d import AdaptiveAvgPool2d as _AdaptiveAvgOp
from tinymm.ops.pool2d import AvgPool2d as _AvgOp
from tinymm.ops.pool2d import MaxPool2d as _MaxOp
from tinymm.ops.pool2d import flatten


class _Pool2d(Module):
    """What MaxPool2d and AvgPool2d share: PyTorch's (kernel_size, stride=None, padding=0)."""

    op = None  # the ops/pool2d.py Function

    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding

    def forward(self, x):
        return self.op.apply(x, self.kernel_size, stride=self.stride, padding=self.padding,
                             layer=f"{type(self).__name__}({self.extra_repr()})")

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxPool2d(_Pool2d):
    """PyTorch's ``nn.MaxPool2d``: max over kernel_size windows (stride defaults to it).

    Ties send the whole gradient to the first maximum of the window (row-major order).
    """

    op = _MaxOp


class AvgPool2d(_Pool2d):
    """PyTorch's ``nn.AvgPool2d`` (count_include_pad=True: padded zeros count)."""

    op = _AvgOp


class AdaptiveAvgPool2d(Module):
    """PyTorch's ``nn.AdaptiveAvgPool2d``; output_size 1 is global average pooling."""

    def __init__(self, output_size):
        super().__init__()
        self.output_size = output_size

    def forward(self, x):
        return _AdaptiveAvgOp.apply(x, self.output_size,
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
