"""2-d convolution (PyTorch's ``conv2d``, really a cross-correlation): derivation.

Dimension letters (used in every shape comment of this file):
N batch, C input channels (C_in), O output channels (C_out), H/W input height/width,
kh/kw kernel height/width, OH/OW output height/width, K = C*kh*kw the length of one
receptive field, L = OH*OW the number of output pixels per image.
Layout is PyTorch's: x (N, C, H, W), weight (O, C, kh, kw), bias (O,), out (N, O, OH, OW).

Geometry. Stride (sh, sw), dilation (dh, dw), and zero padding of pt rows on top, pb at the
bottom, pl columns on the left and pr on the right (PyTorch pads symmetrically for an int or
a pair; ``"same"`` puts the odd extra row/column at the bottom/right; ``"valid"`` is 0).
The kernel's footprint is dh*(kh-1)+1 rows, so::

    OH = (H + pt + pb - dh*(kh-1) - 1) // sh + 1
    OW = (W + pl + pr - dw*(kw-1) - 1) // sw + 1

Forward, with xp the zero-padded input (xp[n, c, pt + h, pl + w] = x[n, c, h, w])::

    out[n, o, y, z] = bias[o]
                      + sum_{c, i, j} weight[o, c, i, j] * xp[n, c, y*sh + i*dh, z*sw + j*dw]

Backward, from dout[n, o, y, z] = dL/dout[n, o, y, z]. Each input element xp[n, c, a, b]
meets weight[o, c, i, j] at every output (y, z) with y*sh + i*dh = a and z*sw + j*dw = b::

    dbias[o]         = sum_{n, y, z} dout[n, o, y, z]
    dweight[o,c,i,j] = sum_{n, y, z} dout[n, o, y, z] * xp[n, c, y*sh + i*dh, z*sw + j*dw]
    dxp[n, c, a, b]  = sum_{o, i, j} dout[n, o, y, z] * weight[o, c, i, j]
                       over the (y, z) with y*sh + i*dh = a, z*sw + j*dw = b
    dx               = dxp with the padding cut away

``dweight`` is a correlation of the input with the output gradient. For stride 1, dilation
1, ``dxp[n, c, a, b] = sum_{o,i,j} dout[n, o, a - i, b - j] * weight[o, c, i, j]``: a *full*
correlation of dout with the kernel flipped in both spatial axes and transposed in (o, c),
i.e. a transposed convolution (with stride s, dout is first dilated by s).

The im2col view turns all three into matrix products. Unfold every receptive field into a
column::

    col[n, (c, i, j), (y, z)] = xp[n, c, y*sh + i*dh, z*sw + j*dw]    col (N, K, L)
    W2 = weight.reshape(O, K)                                          W2  (O, K)

    out[n]  = W2 @ col[n] + bias[:, None]                              (O, L) per image
    dW2     = sum_n dout[n] @ col[n]^T                                 (O, K)
    dcol[n] = W2^T @ dout[n]                                           (K, L)
    dxp     = col2im(dcol): add every dcol[n, (c, i, j), (y, z)] back into
              dxp[n, c, y*sh + i*dh, z*sw + j*dw] (the adjoint of the unfolding)

The fused conv2d+bias+ReLU op (``conv2d_relu``) returns ``r = max(out, 0)``; its backward
first masks the upstream gradient, ``dout = dr * (r > 0)`` (PyTorch's choice at 0), then
runs the conv backward above.

The fused conv2d + bias + ReLU + 2x2 max-pool op (``conv2d_relu_max_pool2d``, the seed
encoder's conv2 -> ReLU -> MaxPool2d(2)) returns ``p = max_pool2d(r, 2)``, stride 2, no
padding, floor mode (an odd OH or OW drops the last row or column of r). Its backward is
the chain of the two backwards: ``dr`` = dp routed to each window's first maximum (zero
elsewhere: max_pool2d_backward), then the conv2d_relu backward above. One node instead of
two lets a backend make the pool from its conv's output tiles without storing r (the Numba
Winograd path does).

The code below transcribes the im2col view: ``_im2col`` fills ``col`` with one strided
slice of ``xp`` per kernel offset (i, j), and ``_col2im`` adds them back.
"""

from __future__ import annotations

import numpy as np

from tinymm.kernels.geometry import conv_geometry
from tinymm.kernels.reference.pool2d import max_pool2d_backward, max_pool2d_forward


def _im2col(xp, kh, kw, stride, dilation, OH, OW):
    N, C = xp.shape[:2]
    (sh, sw), (dh, dw) = stride, dilation
    col = np.empty((N, C, kh, kw, OH, OW), dtype=xp.dtype)  # (N, C, kh, kw, OH, OW)
    for i in range(kh):
        for j in range(kw):
            rows = slice(i * dh, i * dh + sh * (OH - 1) + 1, sh)
            cols = slice(j * dw, j * dw + sw * (OW - 1) + 1, sw)
            col[:, :, i, j] = xp[:, :, rows, cols]  # xp[n, c, y*sh + i*dh, z*sw + j*dw]
    return col.reshape(N, C * kh * kw, OH * OW)  # (N, K, L)


def _col2im(dcol, xp_shape, kh, kw, stride, dilation, OH, OW):
    N, C = xp_shape[:2]
    (sh, sw), (dh, dw) = stride, dilation
    dcol = dcol.reshape(N, C, kh, kw, OH, OW)  # (N, C, kh, kw, OH, OW)
    dxp = np.zeros(xp_shape, dtype=dcol.dtype)  # (N, C, H + pt + pb, W + pl + pr)
    for i in range(kh):
        for j in range(kw):
            rows = slice(i * dh, i * dh + sh * (OH - 1) + 1, sh)
            cols = slice(j * dw, j * dw + sw * (OW - 1) + 1, sw)
            dxp[:, :, rows, cols] += dcol[:, :, i, j]  # the adjoint of _im2col's copy
    return dxp


def conv2d_forward(x, weight, bias=None, stride=1, padding=0, dilation=1):
    stride, pads, dilation, OH, OW = conv_geometry(x.shape, weight.shape, stride, padding,
                                                   dilation)
    pt, pb, pl, pr = pads
    N, C, H, W = x.shape
    O, _, kh, kw = weight.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)))  # (N, C, H + pt + pb, W + pl + pr)
    col = _im2col(xp, kh, kw, stride, dilation, OH, OW)  # (N, K, L)
    W2 = weight.reshape(O, C * kh * kw)  # (O, K)
    out = W2 @ col  # (N, O, L): out[n] = W2 @ col[n]
    if bias is not None:
        out = out + bias[:, None]  # (N, O, L)
    out = out.reshape(N, O, OH, OW)  # (N, O, OH, OW)
    cache = (col, weight, bias is not None, x.shape, xp.shape, pads, stride, dilation)
    return out, cache


def conv2d_backward(dout, cache, need_dx=True):
    col, weight, has_bias, x_shape, xp_shape, pads, stride, dilation = cache
    pt, pb, pl, pr = pads
    N, C, H, W = x_shape
    O, _, kh, kw = weight.shape
    OH, OW = dout.shape[2:]
    dout2 = dout.reshape(N, O, OH * OW)  # (N, O, L)
    W2 = weight.reshape(O, C * kh * kw)  # (O, K)
    dW2 = np.einsum("nol,nkl->ok", dout2, col)  # (O, K): sum_n dout[n] @ col[n]^T
    dweight = dW2.reshape(weight.shape)  # (O, C, kh, kw)
    dbias = dout.sum(axis=(0, 2, 3)) if has_bias else None  # (O,)
    if not need_dx:  # the input needs no gradient (an image): no dcol, no col2im
        return None, dweight, dbias
    dcol = W2.T @ dout2  # (N, K, L): dcol[n] = W2^T @ dout[n]
    dxp = _col2im(dcol, xp_shape, kh, kw, stride, dilation, OH, OW)  # (N, C, Hp, Wp)
    dx = dxp[:, :, pt:pt + H, pl:pl + W]  # (N, C, H, W): cut the padding away
    return np.ascontiguousarray(dx), dweight, dbias


def conv2d_relu_forward(x, weight, bias=None, stride=1, padding=0, dilation=1):
    out, conv_cache = conv2d_forward(x, weight, bias, stride, padding, dilation)
    r = np.maximum(out, 0)  # (N, O, OH, OW): r = max(out, 0)
    return r, (conv_cache, r)


def conv2d_relu_backward(dr, cache, need_dx=True):
    conv_cache, r = cache
    dout = dr * (r > 0)  # (N, O, OH, OW): the ReLU mask first
    return conv2d_backward(dout, conv_cache, need_dx)


def conv2d_relu_max_pool2d_forward(x, weight, bias=None, stride=1, padding=0, dilation=1):
    r, conv_cache = conv2d_relu_forward(x, weight, bias, stride, padding, dilation)
    p, pool_cache = max_pool2d_forward(r, 2)  # (N, O, OH // 2, OW // 2)
    return p, (conv_cache, pool_cache)


def conv2d_relu_max_pool2d_backward(dp, cache, need_dx=True):
    conv_cache, pool_cache = cache
    (dr,) = max_pool2d_backward(dp, pool_cache)  # (N, O, OH, OW): dp at each window's winner
    return conv2d_relu_backward(dr, conv_cache, need_dx)
