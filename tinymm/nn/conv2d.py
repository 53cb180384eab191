"""``Conv2d``: PyTorch's layer (derivation: kernels/reference/conv2d.py).

tinymm extension: ``activation="relu"`` runs the fused conv2d + bias + ReLU op (one kernel
pass for the epilogue, one graph node); ``activation=None`` is the plain convolution, to be
followed by ``nn.ReLU()`` as in PyTorch. Both give the same outputs and gradients.
"""

from __future__ import annotations

import numpy as np

from tinymm.nn import init
from tinymm.nn.module import Module
from tinymm.ops.conv2d import Conv2d as _Conv2dOp
from tinymm.ops.conv2d import Conv2dReLU as _Conv2dReLUOp
from tinymm.ops.conv2d import check_pair, conv2d, conv2d_options
from tinymm.ops.grouped import check_groups
from tinymm.ops.shape import pad
from tinymm.tensor import as_tensor

_ACTIVATIONS = {None: _Conv2dOp, "relu": _Conv2dReLUOp}
_PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


class Conv2d(Module):
    """PyTorch's ``nn.Conv2d``: weight (out_channels, in_channels / groups, kH, kW), bias
    (out,).

    Default initialisation as PyTorch: weight ~ kaiming_uniform(a=sqrt(5)), i.e.
    U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with fan_in = in_channels / groups * kH * kW, and the
    same bound for the bias. Input (N, in_channels, H, W), output (N, out_channels, OH, OW).
    ``groups`` > 1 convolves each channel group on its own (ops/grouped.py); padding_mode
    "reflect", "replicate" or "circular" pads with F.pad, then convolves unpadded, as PyTorch.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 dilation=1, groups: int = 1, bias: bool = True, padding_mode: str = "zeros",
                 dtype=np.float32, activation: str | None = None):
        super().__init__()
        name = f"Conv2d({in_channels}, {out_channels})"
        if not (isinstance(in_channels, int) and isinstance(out_channels, int)
                and in_channels > 0 and out_channels > 0):
            raise ValueError(f"{name}: in_channels and out_channels must be positive ints")
        if activation not in _ACTIVATIONS:
            raise ValueError(f"{name}: activation must be None or 'relu', got {activation!r}")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = check_pair(name, "kernel_size", kernel_size, 1)
        self.stride, self.padding, self.dilation = conv2d_options(name, stride, padding,
                                                                  dilation)
        self.activation = activation
        self.groups = check_groups(name, groups, in_channels, out_channels)
        if padding_mode not in _PADDING_MODES:
            raise ValueError(f"{name}: padding_mode must be one of {_PADDING_MODES}, got "
                             f"{padding_mode!r}")
        self.padding_mode = padding_mode
        kh, kw = self.kernel_size
        init.default_weight_and_bias(self, (out_channels, in_channels // groups, kh, kw),
                                     out_channels, bias, dtype)

    def _name(self) -> str:
        return f"Conv2d({self.extra_repr()})"

    def forward(self, x):
        padding = self.padding
        if self.padding_mode != "zeros":  # pad by indexing first, then convolve unpadded
            x = pad(as_tensor(x), self._mode_padding(), mode=self.padding_mode)
            padding = (0, 0)
        if self.groups != 1:
            out = conv2d(x, self.weight, self.bias, self.stride, padding, self.dilation,
                         self.groups)
            return out.relu() if self.activation == "relu" else out
        op = _ACTIVATIONS[self.activation]
        return op.apply(x, self.weight, self.bias, stride=self.stride, padding=padding,
                        dilation=self.dilation, layer=self._name())

    def _mode_padding(self) -> tuple:
        """F.pad's (left, right, top, bottom) for padding_mode: the padding on both sides, or
        for "same" the total dilation * (k - 1) with the extra pixel after, as PyTorch."""
        if self.padding == "valid":
            return (0, 0, 0, 0)
        if self.padding == "same":
            totals = [d * (k - 1) for d, k in zip(self.dilation, self.kernel_size)]
            (th, tw) = totals
            return (tw // 2, tw - tw // 2, th // 2, th - th // 2)
        ph, pw = self.padding
        return (pw, pw, ph, ph)

    def extra_repr(self) -> str:
        text = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}")
        if self.padding not in ((0, 0), "valid"):
            text += f", padding={self.padding!r}" if isinstance(self.padding, str) else \
                f", padding={self.padding}"
        if self.dilation != (1, 1):
            text += f", dilation={self.dilation}"
        if self.groups != 1:
            text += f", groups={self.groups}"
        if self.padding_mode != "zeros":
            text += f", padding_mode={self.padding_mode!r}"
        if self.bias is None:
            text += ", bias=False"
        if self.activation is not None:
            text += f", activation={self.activation!r}"
        return text
