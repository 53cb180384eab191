"""``Conv1d``: PyTorch's layer, run on the conv2d kernels (``ops/conv1d.py`` says how)."""

from __future__ import annotations

import numpy as np

from tinymm.nn import init
from tinymm.nn.module import Module
from tinymm.ops.conv1d import conv1d, single
from tinymm.ops.grouped import check_groups
from tinymm.ops.shape import pad
from tinymm.tensor import as_tensor


class Conv1d(Module):
    """PyTorch's ``nn.Conv1d``: weight (out_channels, in_channels / groups, K), bias (out,),
    the same default initialisation as Conv2d (fan_in = in_channels / groups * K). Input
    (N, C, L) or (C, L); padding_mode "reflect", "replicate" or "circular" pads with F.pad
    before the convolution."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 dilation=1, groups: int = 1, bias: bool = True, padding_mode: str = "zeros",
                 dtype=np.float32):
        super().__init__()
        name = f"Conv1d({in_channels}, {out_channels})"
        if not (isinstance(in_channels, int) and isinstance(out_channels, int)
                and in_channels > 0 and out_channels > 0):
            raise ValueError(f"{name}: in_channels and out_channels must be positive ints")
        self.groups = check_groups(name, groups, in_channels, out_channels)
        if padding_mode not in ("zeros", "reflect", "replicate", "circular"):
            raise ValueError(f"{name}: padding_mode must be 'zeros', 'reflect', 'replicate' or "
                             f"'circular', got {padding_mode!r}")
        if padding_mode != "zeros" and isinstance(padding, str):
            raise ValueError(f"{name}: padding_mode={padding_mode!r} needs an int padding, got "
                             f"{padding!r}")
        self.padding_mode = padding_mode
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size = (single(name, "kernel_size", kernel_size, 1),)
        self.stride = (single(name, "stride", stride, 1),)
        self.dilation = (single(name, "dilation", dilation, 1),)
        self.padding = padding if isinstance(padding, str) else \
            (single(name, "padding", padding, 0),)
        k = self.kernel_size[0]
        init.default_weight_and_bias(self, (out_channels, in_channels // groups, k),
                                     out_channels, bias, dtype)

    def forward(self, x):
        padding = self.padding
        if self.padding_mode != "zeros":  # pad by indexing first, then convolve unpadded
            x = pad(as_tensor(x), (padding[0], padding[0]), mode=self.padding_mode)
            padding = 0
        return conv1d(x, self.weight, self.bias, self.stride, padding, self.dilation,
                      self.groups, layer=f"Conv1d({self.extra_repr()})")

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}")
