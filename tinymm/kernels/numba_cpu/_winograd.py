"""Winograd F(2x2, 3x3) for the stride-1, dilation-1 3x3 convolution, forward and backward.

Lavin and Gray's minimal filtering: a 2x2 output tile of a 3x3 correlation is
``Y = A^T [(G g G^T) * (B^T d B)] A`` for the 4x4 input tile ``d`` (tiles overlap by 2),
with the constant matrices below, so one tile costs 16 multiplies per (o, c) pair instead of
36. Summed over the input channels, the elementwise products become 16 independent GEMMs,
one per position xi of the 4x4 transformed tile (dimension letters as in conv2d.py). The
batch is split into images, and each worker of ``_threads`` (one per core, BLAS
single-threaded in it) runs one image's whole pipeline with buffers that stay in its L2
cache::

    U[xi] = (G g G^T)[xi]   (16, O, C)   weight transform (NumPy: O*C*16 values), once
    V[xi] = (B^T d B)[xi]   (16, C, T)   input transform of image n (numba, serial)
    M     = U @ V           (16, O, T)   16 BLAS GEMMs
    out[n] = A^T M A        + bias (+ ReLU), into NCHW

The weight gradient is the exact adjoint of each step (so it is the gradient of the
computation the forward did, which equals the convolution's in exact arithmetic), again per
image, with V recomputed from x rather than kept (it is 4x larger than x); the input
gradient is the full correlation of the masked dY with the flipped weight, which is one
more forward convolution of this file, so it needs no transform kernel of its own (one
compile fewer on a cold start)::

    dM = A dY A^T           (16, O, T)   dY masked by r > 0 for the fused ReLU; dbias too
    dU += dM @ V^T          (16, O, C)   16 GEMMs per image, summed in image order at the end
    dg = G^T dU G
    dx[n] = forward(dY[n], W'[c, o, i, j] = W[o, c, 2 - i, 2 - j], padding 2 - pt, 2 - pl)
            with U' = U[pi(i), pi(j)]^T (``flipped``): input transform of dY, 16 GEMMs
            (16, C, T') and output transform, T' the tiles of the (H, W) plane

Layout: "phase planes". Tile (ty, tx) (TH x TW tiles, TH = ceil(OH/2), TW = ceil(OW/2))
covers rows 2ty..2ty+3 and columns 2tx..2tx+3 of the zero-padded plane, so its element
(i, j) is element (ty + i//2, tx + j//2) of the phase plane of row parity i%2 and column
parity j%2 (the padded plane's rows and columns of that parity). The tiles are numbered
t = ty*TS + tx with a row stride TS = TW + 1, one spare tile per tile row, and the phase
planes use the same row stride, so element (i, j) of every tile is ONE flat shifted view of
a phase plane (shift (i//2)*TS + j//2): every transform is a few long unit-stride passes
over a whole image plane (which LLVM vectorises), not a short pass per tile row. The spare
tile of each row (tx = TW) costs 1/TS extra GEMM columns: the forward drops its outputs and
the backward feeds it a zero dY, so its dM and its share of dU are zero. Output tiles past
an odd OH or OW are computed and dropped (forward) or fed zeros (backward).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from tinymm.kernels.numba_cpu import _threads
from tinymm.kernels.numba_cpu import _workspace as ws

G = np.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0.0, 0.0, 1.0]])  # (4, 3)


@njit(cache=True)
def _comb(dst, a, sa, b, sb):
    """dst = sa*a + sb*b elementwise, over dst's length. The signs are +-1.0 (exact), floats
    so that one compiled helper serves every sign pattern (int constants would compile one
    specialisation per pattern), cast to the arrays' dtype (float32 stays float32)."""
    sa, sb = dst.dtype.type(sa), dst.dtype.type(sb)
    for q in range(dst.shape[0]):
        dst[q] = sa * a[q] + sb * b[q]


@njit(cache=True)
def _comb3(dst, a, sa, b, sb, c, sc):
    """dst = sa*a + sb*b + sc*c elementwise (signs +-1.0, as ``_comb``)."""
    sa, sb, sc = dst.dtype.type(sa), dst.dtype.type(sb), dst.dtype.type(sc)
    for q in range(dst.shape[0]):
        dst[q] = sa * a[q] + sb * b[q] + sc * c[q]


@njit(cache=True)
def _copy(dst, src):
    for q in range(dst.shape[0]):
        dst[q] = src[q]


@njit(cache=True)
def _zero(dst):
    for q in range(dst.shape[0]):
        dst[q] = 0


@njit(cache=True)
def _neg(dst, a):
    for q in range(dst.shape[0]):
        dst[q] = -a[q]


@njit(cache=True)
def _bt4(d0, d1, d2, d3, e0, e1, e2, e3):
    """(d0..d3) = B^T applied to the four flat planes e0..e3 (rows of a tile)."""
    _comb(d0, e0, 1.0, e2, -1.0)
    _comb(d1, e1, 1.0, e2, 1.0)
    _comb(d2, e2, 1.0, e1, -1.0)
    _comb(d3, e1, 1.0, e3, -1.0)


@njit(cache=True)
def _split_rows(x, n, c, pt, pl, TS, planes, row):
    """planes (2, 2, R*TS): x[n, c] zero-padded by (pt, pl) as its four phase planes
    (row parity, column parity), R = planes.shape[2] // TS padded rows per parity; row is a
    (2*TS,) scratch row, zero outside the columns [pl, pl + W) that this writes."""
    H, W = x.shape[2], x.shape[3]
    R = planes.shape[2] // TS
    lo = min(pl, 2 * TS)
    hi = min(max(pl + W, lo), 2 * TS)
    dst = row[lo:hi]  # padded columns of input columns 0 .. hi - lo - 1
    for u in range(2 * R):  # padded row u = input row u - pt
        even = planes[u % 2, 0, (u // 2) * TS:(u // 2 + 1) * TS]  # (TS,)
        odd = planes[u % 2, 1, (u // 2) * TS:(u // 2 + 1) * TS]
        a = u - pt
        if a < 0 or a >= H:
            _zero(even)
            _zero(odd)
            continue
        src = x[n, c, a]
        for q in range(dst.shape[0]):
            dst[q] = src[q]
        for q in range(TS):  # deinterleave: even and odd padded columns
            even[q] = row[2 * q]
            odd[q] = row[2 * q + 1]


@njit(cache=True, nogil=True)
def _input_transform(x, n, V, pt, pl, TH, TS):
    """V (16, C, TH*TS) = B^T d B for every 4x4 input tile d of image n of x (N, C, H, W);
    serial. Per channel: the four phase planes, then B^T down the tile rows (shift TS) as 8
    flat planes R, then B along the tile columns (shift 1)."""
    T = TH * TS
    planes = np.empty((2, 2, (TH + 2) * TS), dtype=x.dtype)
    row = np.zeros(2 * TS, dtype=x.dtype)  # the padding columns stay 0
    R = np.empty((4, 2, T + 1), dtype=x.dtype)  # B^T d, per tile row index i' and parity
    for c in range(x.shape[1]):
        _split_rows(x, n, c, pt, pl, TS, planes, row)
        for p in range(2):  # tile column parity j % 2
            e0, e1 = planes[0, p, :T + 1], planes[1, p, :T + 1]  # rows 0, 1 of each tile
            e2, e3 = planes[0, p, TS:TS + T + 1], planes[1, p, TS:TS + T + 1]  # rows 2, 3
            _bt4(R[0, p], R[1, p], R[2, p], R[3, p], e0, e1, e2, e3)
        for k in range(4):  # (B^T d) B along each tile row k
            _bt4(V[4 * k, c], V[4 * k + 1, c], V[4 * k + 2, c], V[4 * k + 3, c],
                 R[k, 0, :T], R[k, 1, :T], R[k, 0, 1:], R[k, 1, 1:])


@njit(cache=True, nogil=True)
def _output_transform(M, n, bias, out, relu, TH, TS):
    """out[n, o] = A^T M A + bias (ReLU when asked); M (16, O, TH*TS). A^T down the tile
    rows as 8 flat planes S, then A along the columns while interleaving each output row's
    even and odd columns; an odd OH or OW drops the last row or column, the spare tiles are
    never read."""
    N, O, OH, OW = out.shape
    T = TH * TS
    TW = TS - 1
    S = np.empty((2, 4, T), dtype=out.dtype)  # A^T M: output row parity i, column index l
    row = np.empty(2 * TW, dtype=out.dtype)  # one output row, before bias and ReLU
    for o in range(O):
        for j in range(4):
            m0, m1, m2, m3 = M[j, o], M[4 + j, o], M[8 + j, o], M[12 + j, o]
            _comb3(S[0, j], m0, 1.0, m1, 1.0, m2, 1.0)
            _comb3(S[1, j], m1, 1.0, m2, -1.0, m3, -1.0)
        b = bias[o]
        for y in range(OH):
            s = S[y % 2]
            base = (y // 2) * TS
            s0, s1 = s[0, base:base + TW], s[1, base:base + TW]
            s2, s3 = s[2, base:base + TW], s[3, base:base + TW]
            for tx in range(TW):  # (A^T M) A: columns 2tx and 2tx + 1, interleaved
                row[2 * tx] = s0[tx] + s1[tx] + s2[tx]
                row[2 * tx + 1] = s1[tx] - s2[tx] - s3[tx]
            dst = out[n, o, y]  # (OW,)
            for z in range(OW):
                v = row[z] + b
                dst[z] = v if v > 0 or not relu else 0


@njit(cache=True, nogil=True, fastmath={"reassoc"})  # reassoc: the dbias sum vectorises
def _grad_output_transform(dout, r, n, dM, partial, relu, TH, TS, g):
    """dM[:, o] = A dY A^T per tile, dY = dout masked by r > 0 with ReLU (zero past the
    output's edge and on the spare tiles), first split into its four phase planes P (each
    (TH*TS,)); g (1, O, OH, OW) = that masked dY of image n (the input of the dx
    convolution); partial[n, o] = its dbias share, summed in float64."""
    N, O, OH, OW = dout.shape
    T = TH * TS
    P = np.zeros((2, 2, T), dtype=dout.dtype)  # entries never written stay 0 for every o
    Hc = np.empty((2, T), dtype=dout.dtype)  # A dY for one tile row index k, both parities
    row = np.zeros(2 * TS, dtype=dout.dtype)  # one masked dY row; past OW it stays 0
    for o in range(O):
        acc = 0.0
        for y in range(OH):
            src, mask, dst = dout[n, o, y], r[n, o, y], g[0, o, y]  # (OW,)
            for z in range(OW):
                v = src[z] if not relu or mask[z] > 0 else 0
                row[z] = v
                dst[z] = v
                acc += v
            base = (y // 2) * TS
            even, odd = P[y % 2, 0, base:base + TS], P[y % 2, 1, base:base + TS]
            for tx in range(TS - 1):  # deinterleave: even and odd columns
                even[tx] = row[2 * tx]
                odd[tx] = row[2 * tx + 1]
        for k in range(4):  # A dY down the tile rows: row k of A is (1,0) (1,1) (1,-1) (0,-1)
            for p in range(2):
                g0, g1 = P[0, p], P[1, p]
                h = Hc[p]
                if k == 0:
                    _copy(h, g0)
                elif k == 1:
                    _comb(h, g0, 1.0, g1, 1.0)
                elif k == 2:
                    _comb(h, g0, 1.0, g1, -1.0)
                else:
                    _neg(h, g1)
            he, ho = Hc[0], Hc[1]  # (A dY) A^T along the tile columns
            _copy(dM[4 * k, o], he)
            _comb(dM[4 * k + 1, o], he, 1.0, ho, 1.0)
            _comb(dM[4 * k + 2, o], he, 1.0, ho, -1.0)
            _neg(dM[4 * k + 3, o], ho)
        partial[n, o] = acc


def tiles(OH: int, OW: int) -> tuple[int, int]:
    """(TH, TW): 2x2 output tiles down and across."""
    return (OH + 1) // 2, (OW + 1) // 2


def _scratch(n_workers, shapes, dtype):
    """One list of workspace buffers per worker, of the given shapes."""
    return [[ws.empty(shape, dtype) for shape in shapes] for _ in range(n_workers)]


def weight_transform(weight):
    """U (16, O, C) = G g G^T per (o, c), position xi = 4i + j, for weight (O, C, 3, 3)."""
    O, C = weight.shape[:2]
    Gd = G.astype(weight.dtype)
    gg = np.tensordot(np.tensordot(weight, Gd, axes=([3], [1])), Gd, axes=([2], [1]))
    return np.ascontiguousarray(gg.transpose(3, 2, 0, 1)).reshape(16, O, C)  # (i, j, o, c)


def weight_gradient(dU):
    """dg (O, C, 3, 3) = G^T dU G, the adjoint of ``weight_transform``; dU (16, O, C)."""
    O, C = dU.shape[1:]
    Gd = G.astype(dU.dtype)
    d4 = dU.reshape(4, 4, O, C)  # (i, j, o, c)
    dg = np.tensordot(np.tensordot(Gd, d4, axes=([0], [0])), Gd, axes=([1], [0]))
    return np.ascontiguousarray(dg.transpose(1, 2, 0, 3))  # (a, o, c, b) -> (o, c, a, b)


def flipped(U):
    """U' (16, C, O): the transform of the weight W'[c, o, i, j] = W[o, c, 2 - i, 2 - j] (the
    dx convolution's), from U (16, O, C). G J = PI G, with J reversing the three taps and PI
    swapping G's rows 0 and 3, so U'[i, j] = U[pi(i), pi(j)]^T: a permutation, exact."""
    O, C = U.shape[1:]
    perm = [3, 1, 2, 0]
    U4 = U.reshape(4, 4, O, C)[perm][:, perm]  # (i, j, o, c)
    return np.ascontiguousarray(U4.transpose(0, 1, 3, 2)).reshape(16, C, O)


def _convolve_image(src, n, U, bias, dst, relu, pt, pl, TH, TS, V, M):
    """dst[n] = the convolution of image n of src, as forward computes it: input transform
    into V (16, C, T), 16 GEMMs into M (16, O, T), output transform (+ bias, ReLU)."""
    _input_transform(src, n, V, pt, pl, TH, TS)
    np.matmul(U, V, out=M)  # 16 GEMMs, BLAS single-threaded in this worker
    _output_transform(M, n, bias, dst, relu, TH, TS)


def forward(x, weight, bias, pt, pl, OH, OW, relu):
    """x (N, C, H, W) contiguous, weight (O, C, 3, 3) -> (out (N, O, OH, OW), U)."""
    N, C = x.shape[:2]
    O = weight.shape[0]
    TH, TW = tiles(OH, OW)
    TS = TW + 1
    T = TH * TS  # tiles per image, the spare one per tile row included
    U = weight_transform(weight)  # (16, O, C)
    out = ws.empty((N, O, OH, OW), x.dtype)
    _, n_workers = _threads.workers()
    scratch = _scratch(n_workers, [(16, C, T), (16, O, T)], x.dtype)

    def image(worker, n):
        V, M = scratch[worker]
        _convolve_image(x, n, U, bias, out, relu, pt, pl, TH, TS, V, M)

    _threads.run_tasks(image, N)
    return out, U


def backward(dout, r, x, U, pt, pl, relu, need_dx=True):
    """Gradients of ``forward``: (dx (N, C, H, W) or None without need_dx, dweight
    (O, C, 3, 3), dbias partials); each image's V is recomputed from x (contiguous) rather
    than kept. dx is the full correlation of the masked dY with the flipped weight, run as
    one more forward Winograd convolution per image (padding 2 - pt, 2 - pl; pt, pl <= 2)."""
    N, O, OH, OW = dout.shape
    C, H, W = x.shape[1:]
    TH, TW = tiles(OH, OW)
    TS = TW + 1
    T = TH * TS
    TH2, TW2 = tiles(H, W)  # the dx convolution's tiles
    T2 = TH2 * (TW2 + 1)
    _, n_workers = _threads.workers()
    shapes = [(16, O, T), (16, C, T), (16, T, C), (1, O, OH, OW)]
    shapes += [(16, O, T2), (16, C, T2)] if need_dx and T2 != T else []
    scratch = _scratch(n_workers, shapes, dout.dtype)
    # dU per image, summed in image order afterwards (bits independent of the scheduling)
    dUn = ws.empty((N, 16, O, C), dout.dtype)
    partial = np.empty((N, O), dtype=np.float64)
    dx = ws.empty(x.shape, dout.dtype) if need_dx else None
    Uf = flipped(U) if need_dx else None  # (16, C, O)
    zero = np.zeros(C, dtype=dout.dtype)

    def image(worker, n):
        dM, V, Vt, g = scratch[worker][:4]
        V2, M2 = scratch[worker][4:] if len(shapes) > 4 else (dM, V)  # free again after dU
        _grad_output_transform(dout, r, n, dM, partial, relu, TH, TS, g)
        _input_transform(x, n, V, pt, pl, TH, TS)
        # dU = dM @ V^T contracts both operands along their rows (BLAS's NT form), which
        # OpenBLAS runs at about half the rate of the NN form on V's transposed copy
        np.copyto(Vt, V.transpose(0, 2, 1))  # (16, T, C)
        np.matmul(dM, Vt, out=dUn[n])  # (16, O, C)
        if need_dx:
            _convolve_image(g, 0, Uf, zero, dx[n:n + 1], False, 2 - pt, 2 - pl, TH2, TW2 + 1,
                            V2, M2)

    _threads.run_tasks(image, N)
    return dx, weight_gradient(dUn.sum(axis=0)), partial
