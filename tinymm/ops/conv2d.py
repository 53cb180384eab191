"""Conv2d ops: ``conv2d``, the fused ``conv2d_relu`` and ``conv2d_relu_max_pool2d``
(derivation: kernels/reference/conv2d.py).

Dimension letters: N batch, C input channels, O output channels, H/W input, kh/kw kernel.
Both ops take PyTorch's arguments (stride, padding, dilation as an int or a pair; padding
also "same", "valid" or four-sided (top, bottom, left, right)), validate them here and hand the
kernels a normalised geometry:
stride (sh, sw), padding (pt, pb, pl, pr), dilation (dh, dw). ``conv2d`` followed by
``relu`` computes what ``conv2d_relu`` does in one op (the unfused pair is kept for teaching:
the tutorial shows both give the same gradients); the fused one saves a full pass over the
output and the separate ReLU node. ``conv2d_relu_max_pool2d`` adds the 2x2 / stride-2 max-pool
that follows in the seed encoder (conv2 -> ReLU -> pool1) to the same node, so a backend can
make the pool from the conv's own output tiles (the Numba Winograd path does).
"""

from __future__ import annotations

import numpy as np

from tinymm.kernels.geometry import conv_padding, output_size
from tinymm.ops._checks import check_float, check_pair, check_same_dtype
from tinymm.ops._kernel import KernelFunction


def conv2d_options(op: str, stride, padding, dilation, same_any_stride: bool = False):
    """Validate conv2d's stride, padding and dilation; return them normalised.

    stride and dilation become pairs; padding becomes a pair, a 4-tuple (pt, pb, pl, pr), or
    stays "same" / "valid". PyTorch allows "same" only with stride 1; ``same_any_stride``
    (the Keras front end) lifts that rule (see kernels/geometry.py for what "same" pads).
    """
    stride = check_pair(op, "stride", stride, 1)
    dilation = check_pair(op, "dilation", dilation, 1)
    if isinstance(padding, str):
        if padding not in ("same", "valid"):
            raise ValueError(f"{op}: padding must be an int, a pair, a 4-tuple (top, bottom, "
                             f"left, right), 'same' or 'valid', got {padding!r}")
        if padding == "same" and stride != (1, 1) and not same_any_stride:
            raise ValueError(f"{op}: padding='same' needs stride 1 (PyTorch's rule), got "
                             f"stride {stride}; use an explicit padding with stride > 1")
        return stride, padding, dilation
    if isinstance(padding, (tuple, list)) and len(padding) == 4:
        if not all(isinstance(p, (int, np.integer)) and not isinstance(p, bool) and p >= 0
                   for p in padding):
            raise ValueError(f"{op}: a 4-tuple padding (top, bottom, left, right) must hold "
                             f"ints >= 0, got {padding!r}")
        return stride, tuple(int(p) for p in padding), dilation
    return stride, check_pair(op, "padding", padding, 0), dilation


def conv2d_geometry(op: str, x_shape, w_shape, stride, padding, dilation):
    """Validate a conv2d call's shapes and options; return the kernels' normalised geometry.

    ``op`` names the caller in every message (``conv2d`` or a layer such as
    ``Conv2d(3, 32, kernel_size=(3, 3))``).
    """
    both = f"input {tuple(x_shape)}, weight {tuple(w_shape)}"
    if len(w_shape) != 4:
        raise ValueError(f"{op}: weight must be 4-d (out_channels, in_channels, kH, kW), got "
                         f"{both}")
    if len(x_shape) != 4:
        hint = (" (a single image? add the batch axis with x.unsqueeze(0))"
                if len(x_shape) == 3 else "")
        raise ValueError(f"{op}: input must be 4-d (N, C, H, W), got {both}{hint}")
    if x_shape[1] != w_shape[1]:
        raise ValueError(f"{op}: input has {x_shape[1]} channels but the weight expects "
                         f"in_channels = {w_shape[1]} ({both}); pass an input with "
                         f"{w_shape[1]} channels or build the layer with in_channels="
                         f"{x_shape[1]}")
    if min(w_shape) < 1:
        raise ValueError(f"{op}: weight has an empty dimension ({both})")
    (sh, sw), padding, (dh, dw) = conv2d_options(op, stride, padding, dilation,
                                                 same_any_stride=True)
    kh, kw = w_shape[2], w_shape[3]
    pads = conv_padding(padding, (kh, kw), (dh, dw), (sh, sw), x_shape[2:4])
    pt, pb, pl, pr = pads
    OH = output_size(x_shape[2], pt, pb, kh, sh, dh)
    OW = output_size(x_shape[3], pl, pr, kw, sw, dw)
    if OH < 1 or OW < 1:
        raise ValueError(
            f"{op}: the kernel ({kh}x{kw}, dilation {(dh, dw)}: footprint "
            f"{dh * (kh - 1) + 1}x{dw * (kw - 1) + 1}) is larger than the padded input "
            f"({x_shape[2] + pt + pb}x{x_shape[3] + pl + pr}) ({both}); use a larger input, "
            f"more padding or a smaller kernel")
    return (sh, sw), pads, (dh, dw)


def _check(op, x, weight, bias, stride, padding, dilation):
    geometry = conv2d_geometry(op, x.shape, weight.shape, stride, padding, dilation)
    if bias is not None and bias.shape != (weight.shape[0],):
        raise ValueError(f"{op}: bias must have shape ({weight.shape[0]},) (one per output "
                         f"channel of weight {weight.shape}), got {bias.shape}")
    check_float(op, "input", x)
    check_same_dtype(op, input=x, weight=weight, bias=bias)
    return geometry


class Conv2d(KernelFunction):
    """Gradients dx, dweight, dbias (None without a bias) from the backward kernel; dx is not
    computed (None) when the input needs no gradient, as for the images at a network's
    first convolution (PyTorch's ``ctx.needs_input_grad``)."""

    kernel = "conv2d"

    @classmethod
    def backward(cls, ctx, grad):
        return getattr(ctx.backend, f"{cls.kernel}_backward")(
            grad, *ctx.saved, need_dx=ctx.needs_input_grad[0])

    @classmethod
    def forward(cls, ctx, x, weight, bias, stride=1, padding=0, dilation=1, layer=None):
        stride, pads, dilation = _check(layer or cls.kernel, x, weight, bias, stride, padding,
                                        dilation)
        return cls.run(ctx, x, weight, bias, stride=stride, padding=pads,
                       dilation=dilation)  # (N, O, OH, OW)


class Conv2dReLU(Conv2d):
    """max(conv2d, 0) in one node: the conv2d_relu kernels."""

    kernel = "conv2d_relu"


class Conv2dReLUMaxPool2d(Conv2d):
    """max_pool2d(max(conv2d, 0), 2) in one node: the conv2d_relu_max_pool2d kernels (the
    pool's window and stride 2, no padding, floor mode)."""

    kernel = "conv2d_relu_max_pool2d"

    @classmethod
    def forward(cls, ctx, x, weight, bias, stride=1, padding=0, dilation=1, layer=None):
        op = layer or cls.kernel
        stride, pads, dilation = _check(op, x, weight, bias, stride, padding, dilation)
        OH = output_size(x.shape[2], pads[0], pads[1], weight.shape[2], stride[0], dilation[0])
        OW = output_size(x.shape[3], pads[2], pads[3], weight.shape[3], stride[1], dilation[1])
        if OH < 2 or OW < 2:
            raise ValueError(f"{op}: the conv output ({OH}x{OW}) is smaller than the 2x2 pool "
                             f"window (input {tuple(x.shape)}, weight {tuple(weight.shape)})")
        return cls.run(ctx, x, weight, bias, stride=stride, padding=pads,
                       dilation=dilation)  # (N, O, OH // 2, OW // 2)


def _pytorch_rules(op, x, weight, stride, padding, dilation) -> None:
    """The functional API follows PyTorch, where padding="same" needs stride 1."""
    try:
        conv2d_options(op, stride, padding, dilation)
    except ValueError as error:
        raise ValueError(f"{error} (input {tuple(x.shape)}, weight {tuple(weight.shape)})"
                         ) from None


def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups: int = 1):
    """PyTorch's ``F.conv2d``: x (N, C, H, W), weight (O, C/groups, kH, kW), bias (O,) or None;
    groups > 1 convolves each channel group on its own (ops/grouped.py)."""
    if groups != 1:
        from tinymm.ops.grouped import grouped

        return grouped("conv2d", lambda xs, ws, bs: conv2d(xs, ws, bs, stride, padding,
                                                           dilation), x, weight, bias, groups)
    _pytorch_rules("conv2d", x, weight, stride, padding, dilation)
    return Conv2d.apply(x, weight, bias, stride=stride, padding=padding, dilation=dilation)


def conv2d_relu(x, weight, bias=None, stride=1, padding=0, dilation=1):
    """``relu(conv2d(x, weight, bias, ...))`` as one fused op (one pass for bias + ReLU)."""
    _pytorch_rules("conv2d_relu", x, weight, stride, padding, dilation)
    return Conv2dReLU.apply(x, weight, bias, stride=stride, padding=padding, dilation=dilation)


def conv2d_relu_max_pool2d(x, weight, bias=None, stride=1, padding=0, dilation=1):
    """``max_pool2d(relu(conv2d(x, weight, bias, ...)), 2)`` as one fused op: the same values
    and gradients (ties go to the window's first maximum), without the conv output as a
    tensor of its own."""
    _pytorch_rules("conv2d_relu_max_pool2d", x, weight, stride, padding, dilation)
    return Conv2dReLUMaxPool2d.apply(x, weight, bias, stride=stride, padding=padding,
                                     dilation=dilation)
