"""CUDA conv2d and the fused conv2d + ReLU (derivation: kernels/reference/conv2d.py).

Dimension letters as in the derivation: N batch, C input channels, O output channels, H/W,
kh/kw, OH/OW, K = C*kh*kw, L = OH*OW. The im2col view, with the GEMM of ``_gemm.py``:

* ``_im2col``: one thread per element of ``col`` (N, K, L): thread (n, k, l) with
  k = (c, i, j) and l = (y, z) reads x[n, c, y*sh + i*dh - pt, z*sw + j*dw - pl], or 0 where
  that falls in the padding (the padded input is never built). Consecutive threads write
  consecutive l, so the stores coalesce.
* forward: ``out[n] = W2 @ col[n]`` for every image in one batched GEMM (W2 (O, K) shared by
  the batch), then ``_epilogue`` adds the bias and applies the ReLU in one pass over out.
* backward: ``_relu_mask`` (fused op only) zeroes dout where r <= 0; ``dW2 = sum_n dout[n]
  col[n]^T`` is one GEMM whose reduction runs over (n, l) (``reduce_batches``, no per-image
  temporaries); ``dcol[n] = W2^T dout[n]`` is one batched GEMM; ``_col2im`` is a *gather*:
  one thread per input element (n, c, h, w) sums dcol over the kernel offsets (i, j) whose
  output position y = (h + pt - i*dh) / sh (and z likewise) is a whole number in range.
  Every dx element is written by exactly one thread: no atomics, deterministic sums.
  ``dbias`` sums dout over (N, L) with the reduction kernels.
"""

from __future__ import annotations

from numba import cuda

from tinymm.kernels.geometry import conv_geometry
from tinymm.kernels.numba_cuda._device import empty, grid_1d, require_device
from tinymm.kernels.numba_cuda._gemm import gemm
from tinymm.kernels.numba_cuda.pool2d import max_pool2d_backward, max_pool2d_forward
from tinymm.kernels.numba_cuda.reduction import sum_forward


def _im2col(x, col, C, H, W, kh, kw, sh, sw, pt, pl, dh, dw, OH, OW):
    # x (N, C, H, W), col (N, K, L) both flat
    t = cuda.grid(1)
    if t < col.size:
        L = OH * OW
        K = C * kh * kw
        l = t % L
        k = (t // L) % K
        n = t // (L * K)
        y = l // OW
        z = l - y * OW
        c = k // (kh * kw)
        i = (k // kw) % kh
        j = k % kw
        h = y * sh + i * dh - pt
        w = z * sw + j * dw - pl
        if 0 <= h < H and 0 <= w < W:
            col[t] = x[((n * C + c) * H + h) * W + w]
        else:
            col[t] = 0


def _col2im(dcol, dx, zero, C, H, W, kh, kw, sh, sw, pt, pl, dh, dw, OH, OW):
    # dcol (N, K, L), dx (N, C, H, W) both flat; one thread per dx element
    t = cuda.grid(1)
    if t < dx.size:
        w = t % W
        h = (t // W) % H
        c = (t // (W * H)) % C
        n = t // (W * H * C)
        L = OH * OW
        K = C * kh * kw
        acc = zero  # typed 0 of the array dtype
        for i in range(kh):
            a = h + pt - i * dh  # padded row that offset i would read from: a = y*sh
            if a >= 0 and a % sh == 0 and a // sh < OH:
                y = a // sh
                for j in range(kw):
                    b = w + pl - j * dw
                    if b >= 0 and b % sw == 0 and b // sw < OW:
                        z = b // sw
                        k = (c * kh + i) * kw + j
                        acc += dcol[(n * K + k) * L + y * OW + z]
        dx[t] = acc


def _epilogue(out, bias, L, has_bias, relu):
    # out (N, O, L) flat, in place: out += bias[o]; out = max(out, 0)
    t = cuda.grid(1)
    if t < out.size:
        v = out[t]
        if has_bias:
            v += bias[(t // L) % bias.size]
        if relu and v <= 0:
            v = 0  # NaN <= 0 is False: NaN passes through, as max(NaN, 0) in the reference
        out[t] = v


def _relu_mask(dr, r, dout):
    t = cuda.grid(1)
    if t < dout.size:
        dout[t] = dr[t] if r[t] > 0 else 0


_I = ", ".join(["int64"] * 13)
_FL = ("float32", "float64")
PTX_TARGETS = [
    (_im2col, tuple(f"void({t}[::1], {t}[::1], {_I})" for t in _FL)),
    (_col2im, tuple(f"void({t}[::1], {t}[::1], {t}, {_I})" for t in _FL)),
    (_epilogue, tuple(f"void({t}[::1], {t}[::1], int64, int64, int64)" for t in _FL)),
    (_relu_mask, tuple(f"void({t}[::1], {t}[::1], {t}[::1])" for t in _FL)),
]
im2col_kernel = cuda.jit(_im2col)
col2im_kernel = cuda.jit(_col2im)
epilogue_kernel = cuda.jit(_epilogue)
relu_mask_kernel = cuda.jit(_relu_mask)


def _forward(op, x, weight, bias, stride, padding, dilation, relu):
    require_device(op, x=x, weight=weight, bias=bias)
    (sh, sw), (pt, pb, pl, pr), (dh, dw), OH, OW = conv_geometry(
        tuple(x.shape), tuple(weight.shape), stride, padding, dilation)
    N, C, H, W = x.shape
    O, _, kh, kw = weight.shape
    K, L = C * kh * kw, OH * OW
    geometry = (C, H, W, kh, kw, sh, sw, pt, pl, dh, dw, OH, OW)
    col = empty((N, K, L), x.dtype)  # (N, K, L)
    if col.size:
        blocks, threads = grid_1d(col.size)
        im2col_kernel[blocks, threads](x.reshape(x.size), col.reshape(col.size), *geometry)
    out = gemm(weight.reshape(1, O, K), col)  # (N, O, L): W2 @ col[n] for every n
    if out.size and (bias is not None or relu):
        blocks, threads = grid_1d(out.size)
        b = bias if bias is not None else out.reshape(out.size)  # unread without a bias
        epilogue_kernel[blocks, threads](out.reshape(out.size), b, L, int(bias is not None),
                                         int(relu))
    out = out.reshape(N, O, OH, OW)
    cache = (col, weight, bias is not None, tuple(x.shape), geometry, out if relu else None)
    return out, cache


def _backward(op, dout, cache, need_dx=True):
    require_device(op, dout=dout)
    col, weight, has_bias, x_shape, geometry, r = cache
    N, C, H, W = x_shape
    O, _, kh, kw = weight.shape
    K, L = C * kh * kw, geometry[-2] * geometry[-1]
    if r is not None:  # the fused ReLU: dout = dr * (r > 0)
        masked = empty(tuple(dout.shape), dout.dtype)
        if masked.size:
            blocks, threads = grid_1d(masked.size)
            relu_mask_kernel[blocks, threads](dout.reshape(dout.size), r.reshape(r.size),
                                              masked.reshape(masked.size))
        dout = masked
    dout3 = dout.reshape(N, O, L)  # (N, O, L)
    dweight = gemm(dout3, col, trans_b=True, reduce_batches=True)  # (1, O, K): sum_n d col^T
    dbias = sum_forward(dout3, axis=(0, 2))[0] if has_bias else None  # (O,)
    if not need_dx:  # the input needs no gradient: no dcol GEMM, no col2im
        return None, dweight.reshape(tuple(weight.shape)), dbias
    dcol = gemm(weight.reshape(1, O, K), dout3, trans_a=True)  # (N, K, L): W2^T @ dout[n]
    dx = empty(x_shape, dout.dtype)  # (N, C, H, W)
    if dx.size:
        blocks, threads = grid_1d(dx.size)
        col2im_kernel[blocks, threads](dcol.reshape(dcol.size), dx.reshape(dx.size),
                                       dx.dtype.type(0), *geometry)
    return dx, dweight.reshape(tuple(weight.shape)), dbias


def conv2d_forward(x, weight, bias=None, stride=1, padding=0, dilation=1):
    return _forward("conv2d_forward", x, weight, bias, stride, padding, dilation, relu=False)


def conv2d_backward(dout, cache, need_dx=True):
    return _backward("conv2d_backward", dout, cache, need_dx)


def conv2d_relu_forward(x, weight, bias=None, stride=1, padding=0, dilation=1):
    return _forward("conv2d_relu_forward", x, weight, bias, stride, padding, dilation, relu=True)


def conv2d_relu_backward(dr, cache, need_dx=True):
    return _backward("conv2d_relu_backward", dr, cache, need_dx)


def conv2d_relu_max_pool2d_forward(x, weight, bias=None, stride=1, padding=0, dilation=1):
    """The conv2d_relu kernels, then the 2x2 max-pool ones, on the device (one node)."""
    require_device("conv2d_relu_max_pool2d_forward", x=x, weight=weight, bias=bias)
    r, conv_cache = conv2d_relu_forward(x, weight, bias, stride, padding, dilation)
    pooled, pool_cache = max_pool2d_forward(r, 2)
    return pooled, (conv_cache, pool_cache)


def conv2d_relu_max_pool2d_backward(dpool, cache, need_dx=True):
    require_device("conv2d_relu_max_pool2d_backward", dpool=dpool)
    conv_cache, pool_cache = cache
    (dr,) = max_pool2d_backward(dpool, pool_cache)
    return conv2d_relu_backward(dr, conv_cache, need_dx)
