"""Image rearrangements as PyTorch's: ``pixel_shuffle``, ``pixel_unshuffle``, ``unfold``
(im2col) and ``fold`` (col2im).

Dimension letters: N batch, C channels, H/W height/width, r the upscale factor, kh/kw kernel,
K = C*kh*kw the length of one patch, L = OH*OW the number of patches.

    pixel_shuffle:   out[n, c, h*r + i, w*r + j] = x[n, c*r*r + i*r + j, h, w]
    pixel_unshuffle: its inverse
    unfold:          out[n, c*kh*kw + i*kw + j, y*OW + z] = xp[n, c, y*sh + i*dh, z*sw + j*dw]
    fold:            the adjoint of unfold: every patch entry is added back where it came
                     from (overlaps sum), the padding is cut away

``unfold`` is a conv2d whose weight (K, C, kh, kw) is the identity on (c, i, j), so the conv2d
kernels compute it and its gradient; ``fold`` is then the transposed convolution with that
weight (ops/conv_transpose.py), whose gradient is unfold again.
"""

from __future__ import annotations

import numpy as np

from tinymm.ops._checks import check_float, check_pair
from tinymm.ops.conv2d import conv2d
from tinymm.ops.conv_transpose import conv_transpose2d
from tinymm.tensor import as_tensor, from_numpy


def _factor(op: str, name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{op}: {name} must be a positive int, got {value!r}")
    return int(value)


def _batched(op: str, x, ndim_min: int = 3):
    if x.ndim < ndim_min:
        raise ValueError(f"{op}: expected an input (*, C, H, W) of at least {ndim_min} dims, "
                         f"got shape {tuple(x.shape)}")
    lead = tuple(x.shape[:-3])
    return lead, x.reshape(-1, *x.shape[-3:])


def pixel_shuffle(input, upscale_factor: int):  # noqa: A002 - PyTorch's argument names
    """(*, C*r*r, H, W) -> (*, C, H*r, W*r)."""
    op = "pixel_shuffle"
    r = _factor(op, "upscale_factor", upscale_factor)
    lead, x = _batched(op, as_tensor(input))
    B, Cr, H, W = x.shape
    if Cr % (r * r):
        raise ValueError(f"{op}: the channel count {Cr} must be divisible by upscale_factor^2 "
                         f"= {r * r}")
    C = Cr // (r * r)
    out = x.reshape(B, C, r, r, H, W).permute(0, 1, 4, 2, 5, 3)  # (B, C, H, r, W, r)
    return out.reshape(*lead, C, H * r, W * r)


def pixel_unshuffle(input, downscale_factor: int):  # noqa: A002
    """(*, C, H*r, W*r) -> (*, C*r*r, H, W)."""
    op = "pixel_unshuffle"
    r = _factor(op, "downscale_factor", downscale_factor)
    lead, x = _batched(op, as_tensor(input))
    B, C, Hr, Wr = x.shape
    if Hr % r or Wr % r:
        raise ValueError(f"{op}: height {Hr} and width {Wr} must be divisible by "
                         f"downscale_factor {r}")
    H, W = Hr // r, Wr // r
    out = x.reshape(B, C, H, r, W, r).permute(0, 1, 3, 5, 2, 4)  # (B, C, r, r, H, W)
    return out.reshape(*lead, C * r * r, H, W)


def _identity_weight(C: int, kernel, dtype):
    kh, kw = kernel
    w = np.zeros((C * kh * kw, C, kh, kw), dtype=dtype)  # (K, C, kh, kw)
    for c in range(C):
        for i in range(kh):
            for j in range(kw):
                w[c * kh * kw + i * kw + j, c, i, j] = 1
    return from_numpy(w)


def _float_input(op: str, input, ndims, layout: str):  # noqa: A002
    x = as_tensor(input)
    check_float(op, "input", x.array)
    if x.ndim not in ndims:
        raise ValueError(f"{op}: expected {layout} input, got shape {tuple(x.shape)}")
    return x


def unfold(input, kernel_size, dilation=1, padding=0, stride=1):  # noqa: A002
    """PyTorch's ``F.unfold``: (N, C, H, W) -> (N, C*kh*kw, L)."""
    op = "unfold"
    x = _float_input(op, input, (3, 4), "a 4-d (N, C, H, W) or 3-d (C, H, W)")
    kernel = check_pair(op, "kernel_size", kernel_size, 1)
    batched = x if x.ndim == 4 else x.unsqueeze(0)
    eye = _identity_weight(x.shape[-3], kernel, x.dtype).to(x.device)  # (K, C, kh, kw)
    cols = conv2d(batched, eye, None,
                  stride=check_pair(op, "stride", stride, 1),
                  padding=check_pair(op, "padding", padding, 0),
                  dilation=check_pair(op, "dilation", dilation, 1))  # (N, K, OH, OW)
    cols = cols.reshape(cols.shape[0], cols.shape[1], -1)  # (N, K, L)
    return cols if x.ndim == 4 else cols.squeeze(0)


def fold(input, output_size, kernel_size, dilation=1, padding=0, stride=1):  # noqa: A002
    """PyTorch's ``F.fold``: (N, C*kh*kw, L) -> (N, C, *output_size), overlaps summed."""
    op = "fold"
    x = _float_input(op, input, (2, 3), "a 3-d (N, C*kh*kw, L) or 2-d")
    kh, kw = check_pair(op, "kernel_size", kernel_size, 1)
    (H, W), (sh, sw) = check_pair(op, "output_size", output_size, 1), check_pair(
        op, "stride", stride, 1)
    (ph, pw), (dh, dw) = check_pair(op, "padding", padding, 0), check_pair(
        op, "dilation", dilation, 1)
    OH = (H + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    OW = (W + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    batched = x if x.ndim == 3 else x.unsqueeze(0)
    K, L = batched.shape[1], batched.shape[2]
    if K % (kh * kw) or OH < 1 or OW < 1 or L != OH * OW:
        raise ValueError(f"{op}: input {tuple(x.shape)} does not fit output_size {(H, W)}, "
                         f"kernel_size {(kh, kw)}: dimension 1 must be a multiple of "
                         f"{kh * kw} and dimension 2 must be the number of patches "
                         f"{max(OH, 0) * max(OW, 0)}")
    extra = (H + 2 * ph - dh * (kh - 1) - 1 - (OH - 1) * sh,
             W + 2 * pw - dw * (kw - 1) - 1 - (OW - 1) * sw)
    weight = _identity_weight(K // (kh * kw), (kh, kw), x.dtype).to(x.device)  # (K, C, kh, kw)
    out = conv_transpose2d(batched.reshape(batched.shape[0], K, OH, OW), weight, None,
                           stride=(sh, sw), padding=(ph, pw), output_padding=extra,
                           dilation=(dh, dw))  # (N, C, H, W)
    return out if x.ndim == 3 else out.squeeze(0)
