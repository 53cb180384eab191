"""Numba 2-d convolution (derivation and the im2col view: kernels/reference/conv2d.py).

Dimension letters: N batch, C input channels, O output channels, H/W input, OH/OW output,
kh/kw kernel, K = C*kh*kw, L = OH*OW, P = N*L (output pixels of the whole batch).

The arithmetic is three GEMMs (forward W2 @ col, backward dW2 = dout @ col^T and
dcol = W2^T @ dout) and they go to NumPy's BLAS (OpenBLAS sgemm/dgemm, called from Python):
on this machine a Numba-written GEMM reaches a fraction of OpenBLAS's GFLOP/s. Everything
else is memory-bound and written here as parallel Numba passes with contiguous inner loops:

* ``_im2col``: x (N, C, H, W) -> col (K, P), "channel-major": row k = (c, i, j) holds that
  kernel offset's input pixel for every output pixel of the batch, so the forward is ONE
  GEMM ``W2 (O, K) @ col (K, P)`` of the largest possible N (one big GEMM beats N small
  ones), and ``dW2 = dout2 (O, P) @ col^T`` is one GEMM too. Each (k, n) task writes L
  contiguous values, copying a contiguous run of an input row per output row (stride 1).
* ``_epilogue``: the GEMM result (O, P) -> out (N, O, OH, OW), adding the bias and (fused
  conv+ReLU) clamping at 0 in the same pass that transposes to NCHW: one read, one write.
* ``_grad_prologue``: dout (N, O, L) -> dout2 (O, P), masked by r > 0 for the fused ReLU,
  with the per-(n, o) partial sums of dbias in float64, again one pass.
* ``_col2im``: dcol (K, P) -> dx, parallel over (n, c) planes; each task owns its dx plane
  (no write races), zeroes it and adds the kh*kw shifted rows into it (the plane stays in L1).

Large buffers (col, the GEMM results, dout2, dcol, out, dx) come from the workspace cache in
``_workspace.py``: reused across calls of the same shape, so the ~0.9 us per 4 KiB page cost
of first touch is paid once, not on every call (conv B's col alone is 38 MB).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from tinymm.kernels.numba_cpu import _workspace as ws
from tinymm.kernels.numba_cpu._util import contiguous
from tinymm.kernels.reference.conv2d import conv_geometry


@njit(cache=True, inline="always")
def _column_range(offset, stride, size, n_out):
    """[lo, hi): the output columns z whose input column z*stride + offset is in [0, size)."""
    lo = 0
    if offset < 0:
        lo = (-offset + stride - 1) // stride
    hi = 0
    if size - 1 - offset >= 0:
        hi = (size - 1 - offset) // stride + 1
    lo = min(lo, n_out)
    hi = min(max(hi, lo), n_out)
    return lo, hi


@njit(cache=True, parallel=True)
def _im2col(x, col, kh, kw, sh, sw, pt, pl, dh, dw, OH, OW):
    N, C, H, W = x.shape
    L = OH * OW
    K = C * kh * kw
    for task in prange(K * N):
        k = task // N
        n = task - k * N
        c = k // (kh * kw)
        i = (k - c * kh * kw) // kw
        j = k - c * kh * kw - i * kw
        offset = j * dw - pl  # input column = z*sw + offset
        lo, hi = _column_range(offset, sw, W, OW)
        for y in range(OH):
            start = n * L + y * OW  # (K, P) column of output pixel (n, y, 0)
            a = y * sh - pt + i * dh  # input row
            if a < 0 or a >= H:
                for z in range(OW):
                    col[k, start + z] = 0
                continue
            for z in range(lo):
                col[k, start + z] = 0
            if sw == 1:  # contiguous on both sides: a vectorised copy
                for z in range(lo, hi):
                    col[k, start + z] = x[n, c, a, z + offset]
            else:
                for z in range(lo, hi):
                    col[k, start + z] = x[n, c, a, z * sw + offset]
            for z in range(hi, OW):
                col[k, start + z] = 0


@njit(cache=True, parallel=True)
def _col2im(dcol, dx, kh, kw, sh, sw, pt, pl, dh, dw, OH, OW):
    N, C, H, W = dx.shape
    L = OH * OW
    for task in prange(N * C):
        n = task // C
        c = task - n * C
        for a in range(H):
            for b in range(W):
                dx[n, c, a, b] = 0
        for i in range(kh):
            for j in range(kw):
                k = (c * kh + i) * kw + j
                offset = j * dw - pl
                lo, hi = _column_range(offset, sw, W, OW)
                for y in range(OH):
                    a = y * sh - pt + i * dh
                    if a < 0 or a >= H:
                        continue
                    start = n * L + y * OW
                    if sw == 1:  # contiguous on both sides: vectorised
                        for z in range(lo, hi):
                            dx[n, c, a, z + offset] += dcol[k, start + z]
                    else:
                        for z in range(lo, hi):
                            dx[n, c, a, z * sw + offset] += dcol[k, start + z]


@njit(cache=True, parallel=True)
def _epilogue(gemm_out, bias, out, relu):
    N, O, L = out.shape
    for task in prange(N * O):
        n = task // O
        o = task - n * O
        b = bias[o]
        start = n * L
        if relu:
            for p in range(L):
                v = gemm_out[o, start + p] + b
                out[n, o, p] = v if v > 0 else 0
        else:
            for p in range(L):
                out[n, o, p] = gemm_out[o, start + p] + b


@njit(cache=True, parallel=True, fastmath={"reassoc"})  # reassoc: the dbias sum vectorises
def _grad_prologue(dout, r, dout2, partial, relu):
    N, O, L = dout.shape
    for task in prange(N * O):
        n = task // O
        o = task - n * O
        start = n * L
        acc = 0.0  # float64 partial sum of dbias
        if relu:
            for p in range(L):
                g = dout[n, o, p] if r[n, o, p] > 0 else 0
                dout2[o, start + p] = g
                acc += g
        else:
            for p in range(L):
                g = dout[n, o, p]
                dout2[o, start + p] = g
                acc += g
        partial[n, o] = acc


def _forward(x, weight, bias, stride, padding, dilation, relu):
    x = contiguous(x)
    (sh, sw), pads, (dh, dw), OH, OW = conv_geometry(x.shape, weight.shape, stride, padding,
                                                     dilation)
    pt, pb, pl, pr = pads
    N, C, H, W = x.shape
    O, _, kh, kw = weight.shape
    K, L = C * kh * kw, OH * OW
    col = ws.empty((K, N * L), x.dtype)  # (K, P)
    _im2col(x, col, kh, kw, sh, sw, pt, pl, dh, dw, OH, OW)
    W2 = contiguous(weight).reshape(O, K)  # (O, K)
    gemm_out = ws.empty((O, N * L), x.dtype)  # (O, P)
    np.matmul(W2, col, out=gemm_out)  # BLAS
    b = bias if bias is not None else np.zeros(O, dtype=x.dtype)
    out = ws.empty((N, O, L), x.dtype)  # (N, O, L)
    _epilogue(gemm_out, contiguous(b), out, relu)
    del gemm_out  # back to the workspace for the next call
    out = out.reshape(N, O, OH, OW)  # (N, O, OH, OW)
    geometry = (sh, sw, pt, pl, dh, dw, OH, OW)
    cache = (col, W2, bias is not None, x.shape, weight.shape, geometry, out if relu else None)
    return out, cache


def _backward(dout, cache, relu):
    col, W2, has_bias, x_shape, w_shape, geometry, r = cache
    sh, sw, pt, pl, dh, dw, OH, OW = geometry
    N, C, H, W = x_shape
    O, _, kh, kw = w_shape
    K, L = C * kh * kw, OH * OW
    dout3 = contiguous(dout).reshape(N, O, L)  # (N, O, L)
    r3 = r.reshape(N, O, L) if relu else dout3  # (N, O, L); unused without ReLU
    dout2 = ws.empty((O, N * L), dout.dtype)  # (O, P)
    partial = np.empty((N, O), dtype=np.float64)  # dbias per image
    _grad_prologue(dout3, r3, dout2, partial, relu)
    dW2 = dout2 @ col.T  # (O, K), BLAS
    dcol = ws.empty((K, N * L), dout.dtype)  # (K, P)
    np.matmul(W2.T, dout2, out=dcol)  # BLAS
    del dout2
    dx = ws.empty((N, C, H, W), dout.dtype)  # (N, C, H, W)
    _col2im(dcol, dx, kh, kw, sh, sw, pt, pl, dh, dw, OH, OW)
    dbias = partial.sum(axis=0).astype(dout.dtype) if has_bias else None  # (O,)
    return dx, dW2.reshape(w_shape), dbias


def conv2d_forward(x, weight, bias=None, stride=1, padding=0, dilation=1):
    return _forward(x, weight, bias, stride, padding, dilation, False)


def conv2d_backward(dout, cache):
    return _backward(dout, cache, False)


def conv2d_relu_forward(x, weight, bias=None, stride=1, padding=0, dilation=1):
    return _forward(x, weight, bias, stride, padding, dilation, True)


def conv2d_relu_backward(dr, cache):
    return _backward(dr, cache, True)
