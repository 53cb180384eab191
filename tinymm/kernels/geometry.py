"""Conv and pool geometry, in one place: int-or-pair, padding, output sizes, pool windows.

Every backend, op, layer and the Keras front end take their geometry from here. These
functions normalise well-formed arguments; they do not validate user input (the ops do that,
in ``ops/conv2d.py`` and ``ops/pool2d.py``, before anything reaches a kernel).

Along one axis of size H, with kernel k, stride s, dilation d and padding (p_before, p_after),
the kernel's footprint is d*(k-1) + 1 and the output size is

    OH = (H + p_before + p_after - d*(k-1) - 1) // s + 1

Padding is a 4-tuple (pt, pb, pl, pr) inside the kernels: top, bottom, left, right.

"same" padding makes OH = ceil(H / s). The total padding on an axis is then
max((OH - 1)*s + d*(k-1) + 1 - H, 0), the smaller half before (top/left), the larger after:
TensorFlow's rule, which for stride 1 is PyTorch's (total d*(k-1), whatever H is).
"""

from __future__ import annotations

import numpy as np


def pair(value) -> tuple[int, int]:
    """An int or a pair -> (int, int)."""
    if isinstance(value, (tuple, list)):
        return int(value[0]), int(value[1])
    return int(value), int(value)


def output_size(size: int, pad_before: int, pad_after: int, kernel: int, stride: int,
                dilation: int = 1) -> int:
    """OH = (H + pt + pb - d*(k-1) - 1) // s + 1 (may be <= 0 for a bad geometry)."""
    return (size + pad_before + pad_after - dilation * (kernel - 1) - 1) // stride + 1


def same_padding_1d(size: int, kernel: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """(before, after) padding that gives ceil(size / stride) outputs (see the module doc)."""
    out = -(-size // stride)  # ceil
    total = max((out - 1) * stride + dilation * (kernel - 1) + 1 - size, 0)
    return total // 2, total - total // 2


def conv_padding(padding, kernel_size, dilation=1, stride=1, input_size=None
                 ) -> tuple[int, int, int, int]:
    """``padding`` (int, pair, 4-tuple, "same", "valid") -> (pt, pb, pl, pr) in pixels.

    A 4-tuple is already (pt, pb, pl, pr). "same" with a stride above 1 needs the input's
    (H, W) in ``input_size``: the padding then depends on it.
    """
    if isinstance(padding, str):
        if padding == "valid":
            return 0, 0, 0, 0
        (kh, kw), (dh, dw), (sh, sw) = pair(kernel_size), pair(dilation), pair(stride)
        if (sh, sw) != (1, 1) and input_size is None:
            raise ValueError("conv_padding: 'same' with stride > 1 needs the input size")
        H, W = input_size if input_size is not None else (sh, sw)  # any size when stride is 1
        return same_padding_1d(H, kh, sh, dh) + same_padding_1d(W, kw, sw, dw)
    if isinstance(padding, (tuple, list)) and len(padding) == 4:
        return tuple(int(p) for p in padding)
    ph, pw = pair(padding)
    return ph, ph, pw, pw


def conv_geometry(x_shape, w_shape, stride, padding, dilation):
    """(stride, padding 4-tuple, dilation, OH, OW) of a conv2d of x (N, C, H, W) by w (O, C,
    kh, kw), for the kernels of every backend."""
    sh, sw = pair(stride)
    dh, dw = pair(dilation)
    kh, kw = w_shape[2], w_shape[3]
    pt, pb, pl, pr = conv_padding(padding, (kh, kw), (dh, dw), (sh, sw), x_shape[2:4])
    OH = output_size(x_shape[2], pt, pb, kh, sh, dh)
    OW = output_size(x_shape[3], pl, pr, kw, sw, dw)
    return (sh, sw), (pt, pb, pl, pr), (dh, dw), OH, OW


def pool_geometry(x_shape, kernel_size, stride, padding):
    """(kh, kw), (sh, sw), (ph, pw), OH, OW of a 2-d pooling; stride None means the window."""
    kh, kw = pair(kernel_size)
    sh, sw = (kh, kw) if stride is None else pair(stride)
    ph, pw = pair(padding)
    OH = output_size(x_shape[2], ph, ph, kh, sh)
    OW = output_size(x_shape[3], pw, pw, kw, sw)
    return (kh, kw), (sh, sw), (ph, pw), OH, OW


def adaptive_bounds(size: int, out_size: int) -> tuple[np.ndarray, np.ndarray]:
    """PyTorch's adaptive windows: [floor(y*size/out), ceil((y+1)*size/out)) for each y."""
    y = np.arange(out_size)
    return (y * size) // out_size, -((-(y + 1) * size) // out_size)
