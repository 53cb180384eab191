"""``conv_transpose2d``: PyTorch's transposed convolution, composed from the conv2d kernels.

Dimension letters: N batch, C input channels, O output channels, H/W input, kh/kw kernel,
OH/OW output. weight is (C, O, kh, kw), PyTorch's layout for a transposed convolution.

A transposed convolution is the gradient of a convolution with respect to its input. Take
``conv2d(y, weight)`` with y (N, O, OH, OW) and the same weight read as a conv2d weight
(C out-channels, O in-channels): it maps y to (N, C, H, W), and its input gradient for an
upstream gradient x is exactly ``conv_transpose2d(x, weight)``. So the forward runs the
conv2d kernels' forward on a zero y of the output's shape (to get the kernel's cache) and
then their backward with x as the upstream gradient; its dx is the result. With
``OH = (H - 1) sh - pt - pb + dh (kh - 1) + output_padding + 1`` the padding of that
conv2d is the transposed one's, and output_padding rows/columns are the extra ones at the
bottom/right that the convolution's striding never reaches.

Backward, from the upstream gradient g (N, O, OH, OW): since the map is linear in x and is
the adjoint of conv2d(., weight), ``dx = conv2d(g, weight)``; ``dweight`` is the weight
gradient of that same conv2d with x as its upstream gradient; ``dbias = g.sum((0, 2, 3))``.
"""

from __future__ import annotations

import numpy as np

from tinymm.autograd import ArrayFunction
from tinymm.devices import is_device_array
from tinymm.ops._checks import check_float, check_pair, check_same_dtype


def _output_size(op, x_shape, w_shape, stride, padding, output_padding, dilation):
    sizes = []
    for axis in range(2):
        size = ((x_shape[2 + axis] - 1) * stride[axis] - 2 * padding[axis]
                + dilation[axis] * (w_shape[2 + axis] - 1) + output_padding[axis] + 1)
        if output_padding[axis] >= max(stride[axis], dilation[axis]):
            raise ValueError(f"{op}: output_padding must be smaller than stride or dilation, "
                             f"got output_padding {output_padding}, stride {stride}, "
                             f"dilation {dilation}")
        if size < 1:
            raise ValueError(f"{op}: the output would be empty (size {size} along axis "
                             f"{2 + axis}) for input {tuple(x_shape)}, weight {tuple(w_shape)}"
                             f", padding {padding}; use less padding")
        sizes.append(size)
    return tuple(sizes)


def _check(op, x, weight, bias, stride, padding, output_padding, groups, dilation):
    both = f"input {tuple(x.shape)}, weight {tuple(weight.shape)}"
    if groups != 1:
        raise ValueError(f"{op}: the ConvTranspose2d op is ungrouped, got groups={groups!r}; "
                         "conv_transpose2d(..., groups=) composes it over the groups")
    if weight.ndim != 4:
        raise ValueError(f"{op}: weight must be 4-d (in_channels, out_channels, kH, kW), got "
                         f"{both}")
    if x.ndim != 4:
        raise ValueError(f"{op}: input must be 4-d (N, C, H, W), got {both}")
    if x.shape[1] != weight.shape[0]:
        raise ValueError(f"{op}: input has {x.shape[1]} channels but the weight expects "
                         f"in_channels = {weight.shape[0]} ({both})")
    if bias is not None and bias.shape != (weight.shape[1],):
        raise ValueError(f"{op}: bias must have shape ({weight.shape[1]},) (one per output "
                         f"channel), got {bias.shape}")
    check_float(op, "input", x)
    check_same_dtype(op, input=x, weight=weight, bias=bias)
    stride = check_pair(op, "stride", stride, 1)
    padding = check_pair(op, "padding", padding, 0)
    output_padding = check_pair(op, "output_padding", output_padding, 0)
    dilation = check_pair(op, "dilation", dilation, 1)
    size = _output_size(op, x.shape, weight.shape, stride, padding, output_padding, dilation)
    return stride, padding, dilation, size


class ConvTranspose2d(ArrayFunction):
    """The conv2d kernels run as described in the module docstring."""

    @staticmethod
    def forward(ctx, x, weight, bias, stride=1, padding=0, output_padding=0, groups=1,
                dilation=1, op="conv_transpose2d"):
        stride, padding, dilation, size = _check(op, x, weight, bias, stride, padding,
                                                 output_padding, groups, dilation)
        pads = (padding[0], padding[0], padding[1], padding[1])
        b = ctx.backend
        y = b.full((x.shape[0], weight.shape[1]) + size, 0, x.dtype)  # (N, O, OH, OW)
        _, cache = b.conv2d_forward(y, weight, None, stride=stride, padding=pads,
                                    dilation=dilation)
        x = _contiguous(x)
        out = b.conv2d_backward(x, cache)[0]
        if bias is not None:
            out = b.add_forward(out, bias.reshape(1, -1, 1, 1))[0]  # (N, O, OH, OW)
        ctx.save_for_backward(x, weight, bias is not None, (stride, pads, dilation))
        return out

    @staticmethod
    def backward(ctx, grad):
        x, weight, has_bias, (stride, pads, dilation) = ctx.saved
        b = ctx.backend
        grad = _contiguous(grad)
        dx, cache = b.conv2d_forward(grad, weight, None, stride=stride, padding=pads,
                                     dilation=dilation)  # (N, C, H, W)
        dweight = b.conv2d_backward(x, cache, need_dx=False)[1]  # (C, O, kh, kw)
        dbias = b.sum_forward(grad, axis=(0, 2, 3))[0] if has_bias else None  # (O,)
        return dx, dweight, dbias


def _contiguous(a):
    """A C-contiguous array where ``a`` lives (device arrays always are)."""
    return a if is_device_array(a) else np.ascontiguousarray(a)


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0,  # noqa: A002
                     output_padding=0, groups=1, dilation=1):
    """PyTorch's ``F.conv_transpose2d``: input (N, C, H, W), weight (C, O/groups, kH, kW),
    bias (O,) or None; returns (N, O, OH, OW). groups > 1 runs each channel group on its own
    (ops/grouped.py)."""
    if groups != 1:
        from tinymm.ops.grouped import grouped

        return grouped("conv_transpose2d", lambda xs, ws, bs: conv_transpose2d(
            xs, ws, bs, stride, padding, output_padding, 1, dilation), input, weight, bias,
            groups, transposed=True)
    return ConvTranspose2d.apply(input, weight, bias, stride=stride, padding=padding,
                                 output_padding=output_padding, groups=groups,
                                 dilation=dilation)
