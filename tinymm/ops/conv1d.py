"""``F.conv1d`` on the conv2d kernels: a 1-d convolution of x (N, C, L) with weight
(O, C, K) is the 2-d convolution of the height-1 image x (N, C, 1, L) with the (O, C, 1, K)
kernel (stride (1, s), padding (0, p), dilation (1, d)), so it shares conv2d's kernels and
backward (derivation: kernels/reference/conv2d.py). Output (N, O, OL), or (O, OL) for an
unbatched (C, L) input. groups > 1 composes the ungrouped convolution (ops/grouped.py).
"""

from __future__ import annotations

import numbers

from tinymm.ops._checks import check_float
from tinymm.ops.conv2d import Conv2d
from tinymm.tensor import as_tensor


def single(op: str, name: str, value, smallest: int) -> int:
    """An int option given as an int or a 1-tuple (PyTorch accepts both), >= ``smallest``."""
    if isinstance(value, (tuple, list)) and len(value) == 1:
        value = value[0]
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < smallest:
        raise ValueError(f"{op}: {name} must be an int >= {smallest} (or a 1-tuple), got "
                         f"{value!r}")
    return int(value)


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups: int = 1,  # noqa: A002
           layer: str | None = None):
    op = layer or "conv1d"
    x, w = as_tensor(input), as_tensor(weight)
    if groups != 1:  # each channel group on its own (ops/grouped.py)
        from tinymm.ops.grouped import grouped

        return grouped(op, lambda xs, ws, bs: conv1d(xs, ws, bs, stride, padding, dilation,
                                                     layer=layer), x, w, bias, groups)
    if x.ndim not in (2, 3) or w.ndim != 3:
        raise ValueError(f"{op}: expected input (N, C, L) or (C, L) and weight (O, C, K), got "
                         f"input {tuple(x.shape)} and weight {tuple(w.shape)}")
    check_float(op, "input", x.array)
    unbatched = x.ndim == 2
    x = x.unsqueeze(0) if unbatched else x  # (N, C, L)
    if x.shape[1] != w.shape[1]:
        raise ValueError(f"{op}: input has {x.shape[1]} channels but weight {tuple(w.shape)} "
                         f"expects {w.shape[1]}")
    pad = padding if isinstance(padding, str) else (0, single(op, "padding", padding, 0))
    out = Conv2d.apply(x.unsqueeze(2), w.unsqueeze(2), bias,
                       stride=(1, single(op, "stride", stride, 1)), padding=pad,
                       dilation=(1, single(op, "dilation", dilation, 1)), layer=op)
    out = out.squeeze(2)  # (N, O, OL)
    return out.squeeze(0) if unbatched else out
