"""Numba 2-d convolution (derivation and the im2col view: kernels/reference/conv2d.py).

Dimension letters: N batch, C input channels, O output channels, H/W input, OH/OW output,
kh/kw kernel, K = C*kh*kw, L = OH*OW, P = N*L (output pixels of the whole batch).

The arithmetic is three GEMMs (forward W2 @ col, backward dW2 = dout @ col^T and
dcol = W2^T @ dout) and they go to NumPy's BLAS (OpenBLAS sgemm/dgemm, called from Python):
a Numba-written GEMM reaches a fraction of OpenBLAS's GFLOP/s. Everything
else is memory-bound and written here as parallel Numba passes with contiguous inner loops:

* ``_im2col``: x (N, C, H, W) -> col (K, P), "channel-major": row k = (c, i, j) holds that
  kernel offset's input pixel for every output pixel of the batch, so the forward is ONE
  GEMM ``W2 (O, K) @ col (K, P)`` of the largest possible N (one big GEMM beats N small
  ones), and ``dW2 = dout2 (O, P) @ col^T`` is one GEMM too (issued as its transpose
  ``col @ dout2^T``, which OpenBLAS runs steadily). Small-K shapes such as conv A (K = 27)
  use the same GEMMs: hand-written Numba paths for them were slower than BLAS once OpenMP
  workers wait passively (tinymm/__init__.py; see benchmarks/RESULTS.md, "Design measurements").
  Each (k, n) task writes L
  contiguous values, copying a contiguous run of an input row per output row (stride 1).
* ``_epilogue``: the GEMM result (O, P) -> out (N, O, OH, OW), adding the bias and (fused
  conv+ReLU) clamping at 0 in the same pass that transposes to NCHW: one read, one write.
* ``_grad_prologue``: dout (N, O, L) -> dout2 (O, P), masked by r > 0 for the fused ReLU,
  with the per-(n, o) partial sums of dbias in float64, again one pass.
* ``_col2im``: dcol (K, P) -> dx, parallel over (n, c) planes; each task owns its dx plane
  (no write races), zeroes it and adds the kh*kw shifted rows into it (the plane stays in L1).

Stride-1 convolutions whose output is as wide as the input (OW == W, "same"-style padding,
both convolutions of the seed model) run one image per worker instead (``_flat_images``
below): each image's im2col, GEMM and bias+ReLU, and its backward, stay in one worker's
cache, BLAS single-threaded there, with no (K, P) buffer; ``PER_IMAGE = False`` sends them
through the whole-batch path above (the A/B baseline, and the path of every other geometry).

By default, 3x3 / stride-1 / dilation-1 convolutions with at least WINOGRAD_MIN_C input
channels (conv B of the seed model) take the Winograd F(4x4, 3x3) path of ``_winograd.py``
(4x fewer multiplies, the same results to rounding); every other shape takes an im2col
path. ``TINYMM_WINOGRAD=0`` in the environment (or ``WINOGRAD = False``) keeps every shape on
im2col: the path the reference derives, and the A/B baseline. Its transform kernels add
to the first run's compile time (an empty Numba cache); the cold start's compile helper then
takes the convolutions (``tinymm.app.compile_notice.helper_stems``).

Large buffers (col, the GEMM results, dout2, dcol, out, dx) come from the workspace cache in
``_workspace.py``: reused across calls of the same shape, so the page-fault cost
of first touch is paid once, not on every call (conv B's col alone is 38 MB).
"""

from __future__ import annotations

import os

import numpy as np
from numba import njit, prange

from tinymm.kernels.geometry import conv_geometry
from tinymm.kernels.numba_cpu import _threads, _winograd
from tinymm.kernels.numba_cpu import _workspace as ws
from tinymm.kernels.numba_cpu._util import contiguous
from tinymm.kernels.numba_cpu.pool2d import max_pool2d_backward, max_pool2d_forward

# Inner loops run over views with zero-based indices (``dst = col[k, a:b]`` then
# ``for q in range(dst.shape[0])``): Numba supports negative indices, so an index computed
# as ``start + p`` gets a wrap-around check that stops LLVM from vectorising the loop; a
# ``range`` index into a view is provably non-negative (the measured difference on conv B's
# im2col: benchmarks/RESULTS.md, "Design measurements").


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


@njit(cache=True, inline="always")
def _fill_zero(dst):
    for q in range(dst.shape[0]):
        dst[q] = 0


@njit(cache=True, inline="always")
def _copy(dst, src):
    for q in range(dst.shape[0]):
        dst[q] = src[q]


@njit(cache=True, inline="always")
def _add(dst, src):
    for q in range(dst.shape[0]):
        dst[q] += src[q]


@njit(cache=True, inline="always")
def _flat_rows(k, kh, kw, pt, pl, dh, dw, H, W, y0, y1):
    """For kernel offset k of the flat geometry, over output rows [y0, y1): (c, shift, y_lo,
    y_hi, p_lo, p_hi, lo, hi). Output pixel p = y*W + z reads input pixel p + shift of plane
    c; rows [y_lo, y_hi) have their input row inside; pixels [p_lo, p_hi) their flat source
    index inside the plane; columns [lo, hi) of a row did not wrap around a row edge."""
    c = k // (kh * kw)
    i = (k - c * kh * kw) // kw
    j = k - c * kh * kw - i * kw
    row_shift = i * dh - pt
    offset = j * dw - pl
    shift = row_shift * W + offset
    y_lo = min(max(y0, -row_shift), y1)  # output rows whose input row is inside
    y_hi = max(min(y1, H - row_shift), y_lo)
    p_lo = min(max(y_lo * W, -shift), y_hi * W)  # keep the flat source index inside the plane
    p_hi = max(min(y_hi * W, H * W - shift), p_lo)
    lo, hi = _column_range(offset, 1, W, W)
    return c, shift, y_lo, y_hi, p_lo, p_hi, lo, hi


@njit(cache=True, inline="always")
def _im2col_rows_task(x3, col, k, n, kh, kw, pt, pl, dh, dw, H, W, y0, y1):
    """Stride 1 and OW == W ("same"-style padding): one flat shifted copy per (k, n), for the
    output rows [y0, y1) (col[k, n*Lb:(n+1)*Lb] with Lb = (y1 - y0)*W).

    Output pixel p = y*W + z reads input pixel p + shift with shift = (i*dh - pt)*W + j*dw -
    pl, so a whole block of rows is ONE contiguous copy; afterwards the few columns whose
    input column fell off the left/right edge (they wrapped into the neighbouring row) are
    zeroed. x3 is x viewed as (N, C, H*W).
    """
    c, shift, y_lo, y_hi, p_lo, p_hi, lo, hi = _flat_rows(k, kh, kw, pt, pl, dh, dw, H, W, y0,
                                                          y1)
    Lb = (y1 - y0) * W
    base = y0 * W  # pixel p is block[p - base]
    block = col[k, n * Lb:(n + 1) * Lb]  # (Lb,)
    _fill_zero(block[:p_lo - base])
    _copy(block[p_lo - base:p_hi - base], x3[n, c, p_lo + shift:p_hi + shift])  # the long copy
    _fill_zero(block[p_hi - base:])
    for y in range(y_lo - y0, y_hi - y0):  # columns that wrapped around a row edge
        _fill_zero(block[y * W:y * W + lo])
        _fill_zero(block[y * W + hi:(y + 1) * W])


@njit(cache=True, inline="always")
def _im2col_general_task(x, col, k, n, kh, kw, sh, sw, pt, pl, dh, dw, OH, OW):
    """Any geometry: the (k, n) block one output row segment at a time."""
    H, W = x.shape[2], x.shape[3]
    L = OH * OW
    c = k // (kh * kw)
    i = (k - c * kh * kw) // kw
    j = k - c * kh * kw - i * kw
    offset = j * dw - pl  # input column = z*sw + offset
    lo, hi = _column_range(offset, sw, W, OW)
    first = lo * sw + offset
    block = col[k, n * L:(n + 1) * L]  # (L,): this image's pixels of row k
    for y in range(OH):
        row = block[y * OW:(y + 1) * OW]  # (OW,)
        a = y * sh - pt + i * dh  # input row
        if a < 0 or a >= H:
            _fill_zero(row)
            continue
        _fill_zero(row[:lo])
        if hi > lo and sw == 1:  # contiguous view: vectorised copy
            _copy(row[lo:hi], x[n, c, a, first:first + hi - lo])
        elif hi > lo:
            _copy(row[lo:hi], x[n, c, a, first:first + (hi - lo - 1) * sw + 1:sw])
        _fill_zero(row[hi:])


@njit(cache=True, parallel=True)
def _im2col_flat(x, col, kh, kw, pt, pl, dh, dw, OH):
    """x (N, C, H, W) -> col (K, P) for stride 1 and OW == W; one task per (k, n) block."""
    N, C, H, W = x.shape
    K = C * kh * kw
    x3 = x.reshape(N, C, H * W)
    for task in prange(K * N):
        k = task // N
        n = task - k * N
        _im2col_rows_task(x3, col, k, n, kh, kw, pt, pl, dh, dw, H, W, 0, OH)


@njit(cache=True, parallel=True)
def _im2col_general(x, col, kh, kw, sh, sw, pt, pl, dh, dw, OH, OW):
    """x (N, C, H, W) -> col (K, P), any geometry; one task per (k, n) block."""
    N, C = x.shape[0], x.shape[1]
    K = C * kh * kw
    for task in prange(K * N):
        k = task // N
        n = task - k * N
        _im2col_general_task(x, col, k, n, kh, kw, sh, sw, pt, pl, dh, dw, OH, OW)


def _im2col(x, col, kh, kw, sh, sw, pt, pl, dh, dw, OH, OW):
    """x (N, C, H, W) -> col (K, P). Two compiled kernels, so a program compiles only the
    geometry it uses (the flat one for stride-1 "same"-width convolutions)."""
    if sh == 1 and sw == 1 and OW == x.shape[3]:
        _im2col_flat(x, col, kh, kw, pt, pl, dh, dw, OH)
    else:
        _im2col_general(x, col, kh, kw, sh, sw, pt, pl, dh, dw, OH, OW)


@njit(cache=True, inline="always")
def _col2im_rows_task(dcol, dx3, n, c, kh, kw, pt, pl, dh, dw, H, W, y0, y1):
    """Adjoint of ``_im2col_rows_task`` for one (n, c) plane and the output rows [y0, y1):
    zero the wrapped columns of its dcol rows (gradients of padding, discarded; dcol is
    scratch) and add each row block into the plane with one contiguous flat loop. The plane
    is zeroed first when y0 == 0, so the row blocks of a plane are added in order, the first
    starting at row 0. dx3 is dx viewed as (N, C, H*W)."""
    Lb = (y1 - y0) * W
    base = y0 * W
    plane = dx3[n, c]  # (H*W,)
    if y0 == 0:
        _fill_zero(plane)
    for k in range(c * kh * kw, (c + 1) * kh * kw):
        _, shift, y_lo, y_hi, p_lo, p_hi, lo, hi = _flat_rows(k, kh, kw, pt, pl, dh, dw, H, W,
                                                              y0, y1)
        block = dcol[k, n * Lb:(n + 1) * Lb]  # (Lb,)
        for y in range(y_lo - y0, y_hi - y0):
            _fill_zero(block[y * W:y * W + lo])
            _fill_zero(block[y * W + hi:(y + 1) * W])
        _add(plane[p_lo + shift:p_hi + shift], block[p_lo - base:p_hi - base])


@njit(cache=True, inline="always")
def _col2im_general_task(dcol, dx, n, c, kh, kw, sh, sw, pt, pl, dh, dw, OH, OW):
    """Any geometry, one (n, c) plane: zero it and add the kh*kw shifted (strided) row
    segments back; the plane stays in L1 throughout."""
    H, W = dx.shape[2], dx.shape[3]
    L = OH * OW
    for a in range(H):
        _fill_zero(dx[n, c, a])
    for i in range(kh):
        for j in range(kw):
            k = (c * kh + i) * kw + j
            offset = j * dw - pl
            lo, hi = _column_range(offset, sw, W, OW)
            if hi <= lo:
                continue
            first = lo * sw + offset
            block = dcol[k, n * L:(n + 1) * L]  # (L,)
            for y in range(OH):
                a = y * sh - pt + i * dh
                if a < 0 or a >= H:
                    continue
                if sw == 1:  # contiguous view: vectorised
                    _add(dx[n, c, a, first:first + hi - lo], block[y * OW + lo:y * OW + hi])
                else:
                    _add(dx[n, c, a, first:first + (hi - lo - 1) * sw + 1:sw],
                         block[y * OW + lo:y * OW + hi])


@njit(cache=True, parallel=True)
def _col2im_flat(dcol, dx, kh, kw, pt, pl, dh, dw, OH):
    """dcol (K, P) -> dx (N, C, H, W) for stride 1 and OW == W; each (n, c) task owns its
    dx plane (no races)."""
    N, C, H, W = dx.shape
    dx3 = dx.reshape(N, C, H * W)
    for task in prange(N * C):
        n = task // C
        c = task - n * C
        _col2im_rows_task(dcol, dx3, n, c, kh, kw, pt, pl, dh, dw, H, W, 0, OH)


@njit(cache=True, parallel=True)
def _col2im_general(dcol, dx, kh, kw, sh, sw, pt, pl, dh, dw, OH, OW):
    """dcol (K, P) -> dx (N, C, H, W), any geometry; each (n, c) task owns its dx plane."""
    N, C = dx.shape[0], dx.shape[1]
    for task in prange(N * C):
        n = task // C
        c = task - n * C
        _col2im_general_task(dcol, dx, n, c, kh, kw, sh, sw, pt, pl, dh, dw, OH, OW)


def _col2im(dcol, dx, kh, kw, sh, sw, pt, pl, dh, dw, OH, OW):
    """dcol (K, P) -> dx; the flat or the general kernel, as ``_im2col`` chooses."""
    if sh == 1 and sw == 1 and OW == dx.shape[3]:
        _col2im_flat(dcol, dx, kh, kw, pt, pl, dh, dw, OH)
    else:
        _col2im_general(dcol, dx, kh, kw, sh, sw, pt, pl, dh, dw, OH, OW)


@njit(cache=True, parallel=True)
def _epilogue(gemm_out, bias, out, relu):
    N, O, L = out.shape
    for task in prange(N * O):
        n = task // O
        o = task - n * O
        b = bias[o]
        src = gemm_out[o, n * L:(n + 1) * L]  # (L,)
        dst = out[n, o]  # (L,)
        if relu:
            for p in range(L):
                v = src[p] + b
                dst[p] = 0 if v <= 0 else v  # NaN <= 0 is False: NaN passes, as np.maximum
        else:
            for p in range(L):
                dst[p] = src[p] + b


@njit(cache=True, parallel=True, fastmath={"reassoc"})  # reassoc: the dbias sum vectorises
def _grad_prologue(dout, r, dout2, partial, relu):
    N, O, L = dout.shape
    for task in prange(N * O):
        n = task // O
        o = task - n * O
        src = dout[n, o]  # (L,)
        mask = r[n, o]  # (L,)
        dst = dout2[o, n * L:(n + 1) * L]  # (L,)
        acc = 0.0  # float64 partial sum of dbias
        if relu:
            for p in range(L):
                g = src[p] if mask[p] > 0 else 0
                dst[p] = g
                acc += g
        else:
            for p in range(L):
                g = src[p]
                dst[p] = g
                acc += g
        partial[n, o] = acc


# ------------------------------------------------------------ one image per worker
# For the flat geometry (stride 1, OW == W) the batch is split into images, and each worker
# of ``_threads`` (OpenBLAS single-threaded in it, one worker per core) runs one image's
# whole pipeline with buffers that stay in its L2 cache:
#   forward:  per row block [y0, y1) of the output: col_b = im2col(x[n], rows y0..y1)
#             (K, Lb); gemm_b = W2 @ col_b (O, Lb); out[n][:, y0*W:y1*W] = gemm_b + bias,
#             ReLU
#   backward: g_n = dout[n] masked by r[n] > 0 (and its dbias share); col_n = im2col(x[n])
#             again (K, L); dW_n = col_n @ g_n^T (summed over n in order at the end, so the
#             result does not depend on which worker took which image); per row block:
#             dcol_b = W2^T @ g_n[:, block] (K, Lb); dx[n] += col2im(dcol_b)
# The row blocks keep each block's col/dcol at most COL_BLOCK_BYTES: OpenBLAS ran the
# forward and dcol GEMMs of conv B faster on two (K, 512) blocks than on one (K, 1024)
# matrix (benchmarks/RESULTS.md); dW keeps the whole image (no gain from blocks there).
# Unlike the whole-batch path below it, nothing of size (K, N*L) or (O, N*L) goes to memory
# and back (conv B's are 38 and 8 MB), the backward recomputes col_n instead of keeping it,
# and the Numba and BLAS stages never hand the cores to each other's thread pools.
COL_BLOCK_BYTES = 640 * 1024


def _row_blocks(K, OH, W, itemsize):
    """[(y0, y1)]: OH output rows in as few near-equal blocks as keep a (K, rows*W) block at
    most COL_BLOCK_BYTES (one row at least)."""
    count = min(OH, max(1, -(-K * OH * W * itemsize // COL_BLOCK_BYTES)))
    return [(b * OH // count, (b + 1) * OH // count) for b in range(count)]


def _block_view(flat, rows, Lb):
    """The first rows*Lb elements of a flat scratch buffer as a contiguous (rows, Lb)."""
    return flat[:rows * Lb].reshape(rows, Lb)


@njit(cache=True, nogil=True)
def _im2col_image(x, n, col, kh, kw, pt, pl, dh, dw, y0, y1):
    """x[n] -> col (K, (y1 - y0)*W), the output rows [y0, y1) of the flat geometry; serial
    (the caller runs images in parallel)."""
    N, C, H, W = x.shape
    x3 = x[n].reshape(1, C, H * W)
    for k in range(col.shape[0]):
        _im2col_rows_task(x3, col, k, 0, kh, kw, pt, pl, dh, dw, H, W, y0, y1)


@njit(cache=True, nogil=True)
def _col2im_image(dcol, dx, n, kh, kw, pt, pl, dh, dw, y0, y1):
    """dx[n] += the col2im of dcol (K, (y1 - y0)*W), output rows [y0, y1) of the flat
    geometry (dx[n] zeroed first when y0 == 0); serial. dcol is scratch (edges zeroed)."""
    N, C, H, W = dx.shape
    dx3 = dx[n].reshape(1, C, H * W)
    for c in range(C):
        _col2im_rows_task(dcol, dx3, 0, c, kh, kw, pt, pl, dh, dw, H, W, y0, y1)


@njit(cache=True, nogil=True)
def _bias_relu_image(src, out, n, p0, bias, relu):
    """out[n][:, p0:p0 + Lb] = src (O, Lb) + bias, clamped at 0 with ReLU (NaN passes, as
    np.maximum)."""
    plane = out[n]
    for o in range(src.shape[0]):
        row = src[o]
        dst = plane[o, p0:p0 + row.shape[0]]
        b = bias[o]
        for p in range(row.shape[0]):
            v = row[p] + b
            dst[p] = 0 if relu and v <= 0 else v


@njit(cache=True, nogil=True, fastmath={"reassoc"})  # reassoc: the dbias sum vectorises
def _grad_mask_image(dout, r, n, g, partial, relu):
    """g (O, L) = dout[n] masked by r[n] > 0 with ReLU; partial[n, o] its float64 sums."""
    for o in range(g.shape[0]):
        src, mask, dst = dout[n, o], r[n, o], g[o]
        acc = 0.0
        for p in range(dst.shape[0]):
            v = src[p] if not relu or mask[p] > 0 else 0
            dst[p] = v
            acc += v
        partial[n, o] = acc


def _flat_images(x, W2, b, kh, kw, pt, pl, dh, dw, OH, relu):
    """Forward of the flat geometry, one image per worker: out (N, O, L)."""
    N, O, K = x.shape[0], W2.shape[0], W2.shape[1]
    W = x.shape[3]
    out = ws.empty((N, O, OH * W), x.dtype)
    blocks = _row_blocks(K, OH, W, x.dtype.itemsize)
    Lb = max(y1 - y0 for y0, y1 in blocks) * W
    _, n_workers = _threads.workers()
    scratch = [(ws.empty((K * Lb,), x.dtype), ws.empty((O * Lb,), x.dtype))
               for _ in range(n_workers)]

    def image(worker, n):
        col_flat, gemm_flat = scratch[worker]
        for y0, y1 in blocks:
            col = _block_view(col_flat, K, (y1 - y0) * W)  # (K, Lb)
            gemm = _block_view(gemm_flat, O, (y1 - y0) * W)  # (O, Lb)
            _im2col_image(x, n, col, kh, kw, pt, pl, dh, dw, y0, y1)
            np.matmul(W2, col, out=gemm)
            _bias_relu_image(gemm, out, n, y0 * W, b, relu)

    _threads.run_tasks(image, N)
    return out


def _flat_images_backward(dout3, r3, x, W2, kh, kw, pt, pl, dh, dw, OH, relu, need_dx):
    """Backward of ``_flat_images``: (dx or None without need_dx, dW2 (O, K), partial (N, O)
    float64 dbias sums)."""
    N, O, L = dout3.shape
    K, W = W2.shape[1], x.shape[3]
    dt = dout3.dtype
    blocks = _row_blocks(K, OH, W, dt.itemsize)
    Lb = max(y1 - y0 for y0, y1 in blocks) * W
    _, n_workers = _threads.workers()
    scratch = [(ws.empty((K, L), dt), ws.empty((O, L), dt), ws.empty((K * Lb,), dt))
               for _ in range(n_workers)]
    # dW2^T per image, summed in image order afterwards: the same bits whichever worker
    # took which image
    dWt = ws.empty((N, K, O), dt)
    partial = np.empty((N, O), dtype=np.float64)
    dx = ws.empty(x.shape, dt) if need_dx else None
    W2t = W2.T

    def image(worker, n):
        col, g, dcol_flat = scratch[worker]
        _grad_mask_image(dout3, r3, n, g, partial, relu)
        _im2col_image(x, n, col, kh, kw, pt, pl, dh, dw, 0, OH)
        np.matmul(col, g.T, out=dWt[n])
        if need_dx:
            for y0, y1 in blocks:
                dcol = _block_view(dcol_flat, K, (y1 - y0) * W)  # (K, Lb)
                np.matmul(W2t, g[:, y0 * W:y1 * W], out=dcol)
                _col2im_image(dcol, dx, n, kh, kw, pt, pl, dh, dw, y0, y1)

    _threads.run_tasks(image, N)
    return dx, np.ascontiguousarray(dWt.sum(axis=0).T), partial


# The Winograd F(4x4, 3x3) path (_winograd.py) runs 3x3 / stride 1 / dilation 1
# convolutions with at least WINOGRAD_MIN_C input channels (below it, as for conv A's C = 3,
# the 36 GEMMs of depth C are too thin and im2col's one GEMM of depth 9C wins). It does 4x
# fewer multiplies than im2col; its transforms are memory-bound passes like im2col's copies.
# WINOGRAD = False (TINYMM_WINOGRAD=0) keeps every shape on im2col (the A/B baseline).
WINOGRAD = os.environ.get("TINYMM_WINOGRAD", "1") != "0"
# PER_IMAGE: flat-geometry convolutions (stride 1, OW == W) run one image per worker
# (``_flat_images``); False sends them through the whole-batch im2col path (the A/B baseline).
PER_IMAGE = True
WINOGRAD_MIN_C = 8


def uses_winograd(x_shape, w_shape, stride, dilation) -> bool:
    """Whether a convolution of these shapes and geometry takes the Winograd path."""
    return (WINOGRAD and w_shape[2] == 3 and w_shape[3] == 3 and tuple(stride) == (1, 1)
            and tuple(dilation) == (1, 1) and x_shape[1] >= WINOGRAD_MIN_C)


def _forward(x, weight, bias, stride, padding, dilation, relu):
    x = contiguous(x)
    (sh, sw), pads, (dh, dw), OH, OW = conv_geometry(x.shape, weight.shape, stride, padding,
                                                     dilation)
    pt, pb, pl, pr = pads
    N, C, H, W = x.shape
    if uses_winograd(x.shape, weight.shape, (sh, sw), (dh, dw)):
        O = weight.shape[0]
        b = contiguous(bias) if bias is not None else np.zeros(O, dtype=x.dtype)
        out, U = _winograd.forward(x, contiguous(weight), b, pt, pl, OH, OW, relu)
        return out, ("winograd", x, U, bias is not None, (pt, pl), out if relu else None)
    O, _, kh, kw = weight.shape
    K, L = C * kh * kw, OH * OW
    geometry = (sh, sw, pt, pl, dh, dw, OH, OW)
    if PER_IMAGE and sh == 1 and sw == 1 and OW == W:
        W2 = contiguous(weight).reshape(O, K)  # (O, K)
        b = contiguous(bias) if bias is not None else np.zeros(O, dtype=x.dtype)
        out = _flat_images(x, W2, b, kh, kw, pt, pl, dh, dw, OH, relu).reshape(N, O, OH, OW)
        return out, ("images", x, W2, bias is not None, weight.shape, geometry,
                     out if relu else None)
    col = ws.empty((K, N * L), x.dtype)  # (K, P)
    _im2col(x, col, kh, kw, sh, sw, pt, pl, dh, dw, OH, OW)
    W2 = contiguous(weight).reshape(O, K)  # (O, K)
    b = contiguous(bias) if bias is not None else np.zeros(O, dtype=x.dtype)
    out = ws.empty((N, O, L), x.dtype)  # (N, O, L)
    gemm_out = ws.empty((O, N * L), x.dtype)  # (O, P)
    _threads.matmul(W2, col, gemm_out)  # BLAS single-threaded, split over the workers
    _epilogue(gemm_out, b, out, relu)
    del gemm_out  # back to the workspace for the next call
    out = out.reshape(N, O, OH, OW)  # (N, O, OH, OW)
    cache = ("im2col", col, W2, bias is not None, x.shape, weight.shape, geometry,
             out if relu else None)
    return out, cache


def _backward(dout, cache, relu, need_dx):
    if cache[0] == "winograd":
        _, x, U, has_bias, (pt, pl), r = cache
        dout = contiguous(dout)
        dx, dweight, partial = _winograd.backward(dout, r if relu else dout, x, U, pt, pl,
                                                  relu, need_dx)
        return dx, dweight, partial.sum(axis=0).astype(dout.dtype) if has_bias else None
    if cache[0] == "images":
        _, x, W2, has_bias, w_shape, (_, _, pt, pl, dh, dw, OH, OW), r = cache
        N, O = dout.shape[:2]
        dout3 = contiguous(dout).reshape(N, O, OH * OW)
        r3 = r.reshape(N, O, OH * OW) if relu else dout3
        dx, dW2, partial = _flat_images_backward(dout3, r3, x, W2, w_shape[2], w_shape[3], pt,
                                                 pl, dh, dw, OH, relu, need_dx)
        dbias = partial.sum(axis=0).astype(dout.dtype) if has_bias else None
        return dx, dW2.reshape(w_shape), dbias
    _, col, W2, has_bias, x_shape, w_shape, geometry, r = cache
    sh, sw, pt, pl, dh, dw, OH, OW = geometry
    N, C, H, W = x_shape
    O, _, kh, kw = w_shape
    K, L = C * kh * kw, OH * OW
    dout3 = contiguous(dout).reshape(N, O, L)  # (N, O, L)
    r3 = r.reshape(N, O, L) if relu else dout3  # (N, O, L); unused without ReLU
    dout2 = ws.empty((O, N * L), dout.dtype)  # (O, P)
    partial = np.empty((N, O), dtype=np.float64)  # dbias per image
    _grad_prologue(dout3, r3, dout2, partial, relu)
    # dW2 = dout2 @ col^T, computed as its transpose col @ dout2^T (K, O): OpenBLAS ran the
    # (O, P) @ (P, K) form erratically for conv B and the (K, P) @ (P, O) form steadily
    # (benchmarks/RESULTS.md, "Design measurements")
    dW2T = _threads.matmul(col, dout2.T, np.empty((K, O), dout.dtype))  # (K, O), BLAS
    dW2 = np.ascontiguousarray(dW2T.T)  # (O, K)
    dbias = partial.sum(axis=0).astype(dout.dtype) if has_bias else None  # (O,)
    if not need_dx:  # the input needs no gradient: no dcol GEMM, no col2im
        return None, dW2.reshape(w_shape), dbias
    dcol = ws.empty((K, N * L), dout.dtype)  # (K, P)
    _threads.matmul(W2.T, dout2, dcol)  # BLAS single-threaded, split over the workers
    del dout2
    dx = ws.empty((N, C, H, W), dout.dtype)  # (N, C, H, W)
    _col2im(dcol, dx, kh, kw, sh, sw, pt, pl, dh, dw, OH, OW)
    return dx, dW2.reshape(w_shape), dbias


def conv2d_forward(x, weight, bias=None, stride=1, padding=0, dilation=1):
    return _forward(x, weight, bias, stride, padding, dilation, False)


def conv2d_backward(dout, cache, need_dx=True):
    return _backward(dout, cache, False, need_dx)


def conv2d_relu_forward(x, weight, bias=None, stride=1, padding=0, dilation=1):
    return _forward(x, weight, bias, stride, padding, dilation, True)


def conv2d_relu_backward(dr, cache, need_dx=True):
    return _backward(dr, cache, True, need_dx)


def conv2d_relu_max_pool2d_forward(x, weight, bias=None, stride=1, padding=0, dilation=1):
    """max_pool2d(relu(conv2d), 2). On the Winograd path the pool windows tile each 4x4
    output tile: the pool is made from the tiles (``_winograd.forward`` with pool), so neither the
    conv output nor its ReLU is written, and the backward reads the pooled output and its
    int8 winners (a sixteenth and a sixty-fourth of the conv output's bytes in float32)
    instead of the conv output and its gradient. Other shapes: the conv2d_relu kernels, then
    the max-pool ones."""
    x = contiguous(x)
    (sh, sw), pads, (dh, dw), OH, OW = conv_geometry(x.shape, weight.shape, stride, padding,
                                                     dilation)
    if uses_winograd(x.shape, weight.shape, (sh, sw), (dh, dw)):
        pt, _, pl, _ = pads
        b = contiguous(bias) if bias is not None else np.zeros(weight.shape[0], dtype=x.dtype)
        (pooled, which), U = _winograd.forward(x, contiguous(weight), b, pt, pl, OH, OW,
                                               True, pool=True)
        return pooled, ("winograd", x, U, bias is not None, (pt, pl), (pooled, which, OH, OW))
    r, conv_cache = conv2d_relu_forward(x, weight, bias, stride, padding, dilation)
    pooled, pool_cache = max_pool2d_forward(r, 2)
    return pooled, ("composed", conv_cache, pool_cache)


def conv2d_relu_max_pool2d_backward(dpool, cache, need_dx=True):
    if cache[0] == "composed":
        _, conv_cache, pool_cache = cache
        (dr,) = max_pool2d_backward(dpool, pool_cache)
        return conv2d_relu_backward(dr, conv_cache, need_dx)
    _, x, U, has_bias, (pt, pl), pool = cache
    dpool = contiguous(dpool)
    dx, dweight, partial = _winograd.backward(dpool, None, x, U, pt, pl, True, need_dx,
                                              pool=pool)
    return dx, dweight, partial.sum(axis=0).astype(dpool.dtype) if has_bias else None
