"""``nn.ConvTranspose2d``: PyTorch's layer over ops/conv_transpose.py (the derivation is
there)."""

from __future__ import annotations

import numpy as np

from tinymm.nn import init
from tinymm.nn.module import Module
from tinymm.ops._checks import check_pair
from tinymm.ops.conv_transpose import ConvTranspose2d as _ConvTranspose2dOp
from tinymm.ops.conv_transpose import conv_transpose2d
from tinymm.ops.grouped import check_groups


class ConvTranspose2d(Module):
    """PyTorch's ``nn.ConvTranspose2d``: weight (in_channels, out_channels / groups, kH, kW),
    bias (out_channels,), both U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with PyTorch's fan_in =
    out_channels / groups * kH * kW (the weight's dimension 1 times the kernel).
    padding_mode='zeros' only, as PyTorch."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 output_padding=0, groups: int = 1, bias: bool = True, dilation=1,
                 padding_mode: str = "zeros", dtype=np.float32):
        super().__init__()
        name = f"ConvTranspose2d({in_channels}, {out_channels})"
        if not (isinstance(in_channels, int) and isinstance(out_channels, int)
                and in_channels > 0 and out_channels > 0):
            raise ValueError(f"{name}: in_channels and out_channels must be positive ints")
        if padding_mode != "zeros":
            raise ValueError(f"{name}: only padding_mode='zeros' is supported for "
                             f"ConvTranspose2d (as PyTorch), got {padding_mode!r}")
        check_groups(name, groups, in_channels, out_channels)
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size = check_pair(name, "kernel_size", kernel_size, 1)
        self.stride = check_pair(name, "stride", stride, 1)
        self.padding = check_pair(name, "padding", padding, 0)
        self.output_padding = check_pair(name, "output_padding", output_padding, 0)
        self.dilation = check_pair(name, "dilation", dilation, 1)
        kh, kw = self.kernel_size
        init.default_weight_and_bias(self, (in_channels, out_channels // groups, kh, kw),
                                     out_channels, bias, dtype)

    def _output_padding(self, x, output_size):
        """PyTorch's rule: the output_padding that makes the output ``output_size``."""
        if output_size is None:
            return self.output_padding
        wanted = tuple(output_size)[-2:]
        extra = []
        for axis in range(2):
            smallest = ((x.shape[2 + axis] - 1) * self.stride[axis] - 2 * self.padding[axis]
                        + self.dilation[axis] * (self.kernel_size[axis] - 1) + 1)
            if not smallest <= wanted[axis] < smallest + self.stride[axis]:
                raise ValueError(f"ConvTranspose2d({self.extra_repr()}): output_size "
                                 f"{tuple(output_size)} is not reachable from input "
                                 f"{tuple(x.shape)}: each of its last two sizes must be in "
                                 f"[{smallest}, {smallest + self.stride[axis]})")
            extra.append(wanted[axis] - smallest)
        return tuple(extra)

    def forward(self, input, output_size=None):  # noqa: A002 - PyTorch's argument names
        if self.groups != 1:
            return conv_transpose2d(input, self.weight, self.bias, self.stride, self.padding,
                                    self._output_padding(input, output_size), self.groups,
                                    self.dilation)
        return _ConvTranspose2dOp.apply(
            input, self.weight, self.bias, stride=self.stride, padding=self.padding,
            output_padding=self._output_padding(input, output_size), dilation=self.dilation,
            op=f"ConvTranspose2d({self.extra_repr()})")

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}")
