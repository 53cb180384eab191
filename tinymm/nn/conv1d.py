"""``Conv1d``: PyTorch's layer, run on the conv2d kernels (``ops/conv1d.py`` says how)."""

from __future__ import annotations

import math

import numpy as np

from tinymm.nn import init
from tinymm.nn.module import Module, Parameter
from tinymm.ops.conv1d import conv1d, single


class Conv1d(Module):
    """PyTorch's ``nn.Conv1d``: weight (out_channels, in_channels, K), bias (out,), the same
    default initialisation as Conv2d (fan_in = in_channels * K). Input (N, C, L) or (C, L)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 dilation=1, groups: int = 1, bias: bool = True, padding_mode: str = "zeros",
                 dtype=np.float32):
        super().__init__()
        name = f"Conv1d({in_channels}, {out_channels})"
        if not (isinstance(in_channels, int) and isinstance(out_channels, int)
                and in_channels > 0 and out_channels > 0):
            raise ValueError(f"{name}: in_channels and out_channels must be positive ints")
        if groups != 1 or padding_mode != "zeros":
            raise ValueError(f"{name}: only groups=1 and padding_mode='zeros' are supported, got "
                             f"groups={groups}, padding_mode={padding_mode!r}")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size = (single(name, "kernel_size", kernel_size, 1),)
        self.stride = (single(name, "stride", stride, 1),)
        self.dilation = (single(name, "dilation", dilation, 1),)
        self.padding = padding if isinstance(padding, str) else \
            (single(name, "padding", padding, 0),)
        k = self.kernel_size[0]
        self.weight = Parameter(np.empty((out_channels, in_channels, k), dtype=dtype))
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if bias:
            self.bias = Parameter(np.empty(out_channels, dtype=dtype))
            init.default_bias_(self.bias, in_channels * k)
        else:
            self.register_parameter("bias", None)

    def forward(self, x):
        return conv1d(x, self.weight, self.bias, self.stride, self.padding, self.dilation,
                      layer=f"Conv1d({self.extra_repr()})")

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}")
