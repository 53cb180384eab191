"""Keras's other convolutions (re-exported by ``keras.layers``): ``DepthwiseConv2D``,
``SeparableConv2D``, ``Conv2DTranspose`` and ``Conv1DTranspose``, channels-last, on tinymm's
conv2d op.

Dimension letters: N batch, H/W height/width, C input channels, M depth multiplier,
F filters, kH/kW kernel size, s stride.

- DepthwiseConv2D: depthwise_kernel (kH, kW, C, M); output channel c M + m convolves input
  channel c with kernel[:, :, c, m]. It runs as one conv2d whose (C M, C, kH, kW) weight is
  zero except W[c M + m, c] = kernel[:, :, c, m] (built by an einsum with a fixed one-hot
  tensor, so the gradient reaches the depthwise kernel only).
- SeparableConv2D: the depthwise step, then a 1x1 pointwise_kernel (1, 1, C M, F) and the
  bias (F,).
- Conv2DTranspose: kernel (kH, kW, F, C). The transpose of a stride-s convolution: the
  input is dilated (s - 1 zeros between pixels), fully padded (k - 1 each side) and
  correlated with the spatially flipped kernel, giving (H - 1) s + k rows; "valid" keeps
  them all, "same" keeps H s rows from offset floor(max(k - s, 0) / 2) (zeros past the end).
"""

from __future__ import annotations

import numpy as np

from tinymm import nn
from tinymm.keras.engine import fmt_shape
from tinymm.keras.layers import Activated, conv_length, known_dim, need_rank, pair_option
from tinymm.kernels.geometry import conv_padding
from tinymm.ops.conv2d import Conv2d as Conv2dOp
from tinymm.ops.einsum import einsum
from tinymm.ops.shape import pad
from tinymm.tensor import from_numpy


class _Conv(Activated):
    """Options and shapes shared by the three layers."""

    has_kernel = True

    def __init__(self, kernel_size, strides=(1, 1), padding: str = "valid", activation=None,
                 use_bias: bool = True, dilation_rate=(1, 1), **kwargs):
        super().__init__(activation, **kwargs)
        kind = type(self).__name__
        padding = padding.lower()
        if padding not in ("valid", "same"):
            raise ValueError(f"{kind}: padding must be 'valid' or 'same', got {padding!r}")
        self.kernel_size = pair_option(kernel_size, "kernel_size", kind)
        self.strides = pair_option(strides, "strides", kind)
        self.dilation_rate = pair_option(dilation_rate, "dilation_rate", kind)
        self.padding, self.use_bias = padding, bool(use_bias)

    def _check(self, input_shape) -> int:
        who = f"{type(self).__name__} '{self.name}'"
        need_rank(who, input_shape, 4, "(N, H, W, C), channels-last")
        return known_dim(who, input_shape, -1, "channel (last)")

    def _spatial(self, input_shape, channels: int):
        sizes = [conv_length(d, k, s, r, self.padding) for d, k, s, r in zip(
            input_shape[1:3], self.kernel_size, self.strides, self.dilation_rate)]
        if any(d is not None and d <= 0 for d in sizes):
            raise ValueError(f"{type(self).__name__} '{self.name}': a {self.kernel_size} kernel "
                             f"does not fit in the input {fmt_shape(input_shape)} with "
                             "padding='valid'")
        return (input_shape[0], *sizes, channels)

    def _weight(self, name: str, shape, fan_in: int, fan_out: int):
        """A glorot_uniform weight in Keras's layout, with Keras's fans for it."""
        limit = np.sqrt(6.0 / (fan_in + fan_out))
        w = nn.Parameter(nn.init.generator.uniform(-limit, limit, shape).astype(self.dtype))
        self.module.register_parameter(name, w)
        return w

    def _depthwise(self, x, kernel):
        """x (N, C, H, W) convolved per channel with kernel (kH, kW, C, M) -> (N, C M, H', W')."""
        kH, kW, C, M = kernel.shape
        select = np.zeros((C * M, C, M), dtype=x.dtype)
        for c in range(C):
            select[c * M:(c + 1) * M, c, :] = np.eye(M)
        weight = einsum("ocm,ijcm->ocij", from_numpy(select), kernel)
        return Conv2dOp.apply(x, weight, None, stride=self.strides,
                              padding=self._padding(x), dilation=self.dilation_rate,
                              layer=f"{type(self).__name__} '{self.name}'")

    def _padding(self, x):
        if self.padding == "valid":
            return (0, 0, 0, 0)
        return conv_padding("same", self.kernel_size, self.dilation_rate, self.strides,
                            x.shape[2:4])  # (top, bottom, left, right)

    def get_config(self) -> dict:
        return {**super().get_config(), "kernel_size": list(self.kernel_size),
                "strides": list(self.strides), "padding": self.padding,
                "use_bias": self.use_bias, "dilation_rate": list(self.dilation_rate)}


def without_kernel_keys(config: dict) -> dict:
    """The config without ``kernel_regularizer``/``kernel_constraint`` when unset: Keras's
    depthwise and separable convolutions name theirs after their kernels and refuse these."""
    for key in ("kernel_regularizer", "kernel_constraint"):
        if config.get(key, 0) is None:
            del config[key]
    return config


class DepthwiseConv2D(_Conv):
    def __init__(self, kernel_size, strides=(1, 1), padding: str = "valid",
                 depth_multiplier: int = 1, activation=None, use_bias: bool = True,
                 dilation_rate=(1, 1), **kwargs):
        super().__init__(kernel_size, strides, padding, activation, use_bias, dilation_rate,
                         **kwargs)
        self.depth_multiplier = int(depth_multiplier)

    def compute_output_shape(self, input_shape):
        return self._spatial(input_shape, self._check(input_shape) * self.depth_multiplier)

    def build(self, input_shape) -> None:
        C, M = self._check(input_shape), self.depth_multiplier
        kH, kW = self.kernel_size
        self.module = nn.Module()
        self.depthwise_kernel = self._weight("depthwise_kernel", (kH, kW, C, M), kH * kW * M,
                                             kH * kW * C)
        if self.use_bias:
            self.bias = self.add_weight("bias", (C * M,), "zeros")
        super().build(input_shape)

    def call(self, x):
        y = self._depthwise(x.permute(0, 3, 1, 2), self.depthwise_kernel)  # (N, C M, H', W')
        y = y.permute(0, 2, 3, 1)  # (N, H', W', C M)
        return self.activation(y + self.bias if self.use_bias else y)

    constraint_args = ()  # Keras's depthwise_constraint: not supported

    def get_config(self) -> dict:
        return without_kernel_keys({**super().get_config(),
                                    "depth_multiplier": self.depth_multiplier})


class SeparableConv2D(_Conv):
    def __init__(self, filters: int, kernel_size, strides=(1, 1), padding: str = "valid",
                 depth_multiplier: int = 1, activation=None, use_bias: bool = True,
                 dilation_rate=(1, 1), **kwargs):
        super().__init__(kernel_size, strides, padding, activation, use_bias, dilation_rate,
                         **kwargs)
        self.filters, self.depth_multiplier = int(filters), int(depth_multiplier)

    def compute_output_shape(self, input_shape):
        self._check(input_shape)
        return self._spatial(input_shape, self.filters)

    def build(self, input_shape) -> None:
        C, M, F = self._check(input_shape), self.depth_multiplier, self.filters
        kH, kW = self.kernel_size
        self.module = nn.Module()
        self.depthwise_kernel = self._weight("depthwise_kernel", (kH, kW, C, M), kH * kW * M,
                                             kH * kW * C)
        self.pointwise_kernel = self._weight("pointwise_kernel", (1, 1, C * M, F), C * M, F)
        if self.use_bias:
            self.bias = self.add_weight("bias", (F,), "zeros")
        super().build(input_shape)

    def call(self, x):
        y = self._depthwise(x.permute(0, 3, 1, 2), self.depthwise_kernel)  # (N, C M, H', W')
        y = y.permute(0, 2, 3, 1) @ self.pointwise_kernel[0, 0]  # (N, H', W', F)
        return self.activation(y + self.bias if self.use_bias else y)

    constraint_args = ()  # Keras's depthwise/pointwise constraints: not supported

    def get_config(self) -> dict:
        return without_kernel_keys({**super().get_config(), "filters": self.filters,
                                    "depth_multiplier": self.depth_multiplier})


class Conv2DTranspose(_Conv):
    def __init__(self, filters: int, kernel_size, strides=(1, 1), padding: str = "valid",
                 output_padding=None, activation=None, use_bias: bool = True,
                 dilation_rate=(1, 1), **kwargs):
        super().__init__(kernel_size, strides, padding, activation, use_bias, dilation_rate,
                         **kwargs)
        if output_padding is not None or self.dilation_rate != (1, 1):
            raise ValueError("Conv2DTranspose: output_padding and dilation_rate > 1 are not "
                             "supported by tinymm.keras")
        self.filters = int(filters)

    def _length(self, size, k: int, s: int):
        if size is None:
            return None
        return size * s if self.padding == "same" else (size - 1) * s + k

    def compute_output_shape(self, input_shape):
        self._check(input_shape)
        sizes = [self._length(d, k, s) for d, k, s in zip(input_shape[1:3], self.kernel_size,
                                                           self.strides)]
        return (input_shape[0], *sizes, self.filters)

    def build(self, input_shape) -> None:
        C, F = self._check(input_shape), self.filters
        kH, kW = self.kernel_size
        self.module = nn.Module()
        self.kernel = self._weight("kernel", (kH, kW, F, C), kH * kW * C, kH * kW * F)
        if self.use_bias:
            self.bias = self.add_weight("bias", (F,), "zeros")
        super().build(input_shape)

    def _dilate(self, x):
        """(N, C, H, W) -> (N, C, (H-1) s + 1, (W-1) s + 1) with s - 1 zeros between pixels."""
        (sh, sw), (N, C, H, W) = self.strides, x.shape
        if (sh, sw) == (1, 1):
            return x
        spread = pad(x.reshape(N, C, H, 1, W, 1), [0, sw - 1, 0, 0, 0, sh - 1])
        return spread.reshape(N, C, H * sh, W * sw)[:, :, :(H - 1) * sh + 1, :(W - 1) * sw + 1]

    def _kernel_2d(self):
        return self.kernel  # (kH, kW, F, C)

    def call(self, x):
        kH, kW = self.kernel_size
        H, W = x.shape[1], x.shape[2]
        z = self._dilate(x.permute(0, 3, 1, 2))  # (N, C, H'', W'')
        flipped = self._kernel_2d().index_select(0, from_numpy(np.arange(kH)[::-1].copy()))
        flipped = flipped.index_select(1, from_numpy(np.arange(kW)[::-1].copy()))
        weight = flipped.permute(2, 3, 0, 1)  # (F, C, kH, kW), spatially flipped
        y = Conv2dOp.apply(z, weight, None, stride=(1, 1), padding=(kH - 1, kH - 1, kW - 1,
                                                                      kW - 1),
                           dilation=(1, 1), layer=f"Conv2DTranspose '{self.name}'")
        if self.padding == "same":  # keep H s rows from floor(max(k - s, 0) / 2)
            y = self._crop(y, H, W)
        y = y.permute(0, 2, 3, 1)  # (N, H', W', F)
        return self.activation(y + self.bias if self.use_bias else y)

    def _crop(self, y, H: int, W: int):
        (kH, kW), (sh, sw) = self.kernel_size, self.strides
        top, left = max(kH - sh, 0) // 2, max(kW - sw, 0) // 2
        Ho, Wo = H * sh, W * sw
        extra_h, extra_w = max(top + Ho - y.shape[2], 0), max(left + Wo - y.shape[3], 0)
        if extra_h or extra_w:
            y = pad(y, [0, extra_w, 0, extra_h])
        return y[:, :, top:top + Ho, left:left + Wo]

    def get_config(self) -> dict:
        return {**super().get_config(), "filters": self.filters}


def _height_one(value) -> tuple:
    """A 1-d option (an int or one int) as the (1, value) pair of a height-1 image."""
    return (1, value[0] if isinstance(value, (list, tuple)) else value)


class Conv1DTranspose(Conv2DTranspose):
    """Conv2DTranspose over (N, T, C) as a height-1 image: kernel (k, F, C) in Keras's
    layout, used as (1, k, F, C)."""

    def __init__(self, filters: int, kernel_size, strides=1, padding: str = "valid",
                 output_padding=None, activation=None, use_bias: bool = True,
                 dilation_rate=1, **kwargs):
        super().__init__(filters, _height_one(kernel_size), _height_one(strides), padding,
                         output_padding, activation, use_bias, _height_one(dilation_rate),
                         **kwargs)

    def _check(self, input_shape) -> int:
        who = f"Conv1DTranspose '{self.name}'"
        need_rank(who, input_shape, 3, "(N, T, C), channels-last")
        return known_dim(who, input_shape, -1, "channel (last)")

    def compute_output_shape(self, input_shape):
        self._check(input_shape)
        k, s = self.kernel_size[1], self.strides[1]
        return (input_shape[0], self._length(input_shape[1], k, s), self.filters)

    def build(self, input_shape) -> None:
        C, F, k = self._check(input_shape), self.filters, self.kernel_size[1]
        self.module = nn.Module()
        self.kernel = self._weight("kernel", (k, F, C), k * C, k * F)
        if self.use_bias:
            self.bias = self.add_weight("bias", (F,), "zeros")
        Activated.build(self, input_shape)

    def _kernel_2d(self):
        return self.kernel.reshape(1, *self.kernel.shape)

    def call(self, x):
        N, T, C = x.shape
        return super().call(x.reshape(N, 1, T, C)).reshape(N, -1, self.filters)

    def get_config(self) -> dict:
        config = super().get_config()
        for key in ("kernel_size", "strides", "dilation_rate"):
            if key in config:
                config[key] = [config[key][1]] if isinstance(config[key], (list, tuple)) \
                    else config[key]
        return config


CONV_LAYERS = {cls.__name__: cls for cls in (DepthwiseConv2D, SeparableConv2D,
                                             Conv2DTranspose, Conv1DTranspose)}
__all__ = sorted(CONV_LAYERS)
