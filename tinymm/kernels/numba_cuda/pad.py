"""CUDA constant padding (derivation: kernels/reference/pad.py).

No kernel of its own: the output is ``full`` of the value, then x is written into the
interior view of it by the strided scatter (``_strided``: base = the interior's first
element, strides = the output's), one thread per x element; the backward gathers the same
view of dout into a contiguous dx. Two launches forward, one backward.
"""

from __future__ import annotations

from tinymm.kernels.numba_cuda._device import full, require_device
from tinymm.kernels.numba_cuda._strided import contiguous_strides, gather, scatter


def pad_forward(x, widths, value=0.0):
    require_device("pad_forward", x=x)
    out_shape = tuple(int(n) + int(b) + int(a) for n, (b, a) in zip(x.shape, widths))
    out = full(out_shape, value, x.dtype)
    strides = contiguous_strides(out_shape)
    base = sum(int(b) * s for (b, _), s in zip(widths, strides))
    scatter(x, out, base, strides)
    return out, (base, tuple(x.shape), strides)


def pad_backward(dout, cache):
    require_device("pad_backward", dout=dout)
    base, shape, strides = cache
    return (gather(dout, base, shape, strides),)
