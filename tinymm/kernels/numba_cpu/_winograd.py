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

The backward is the exact adjoint of each step (so it is the gradient of the computation
the forward did, which equals the convolution's in exact arithmetic), again per image, with
V recomputed from x rather than kept (it is 4x larger than x)::

    dM = A dY A^T           (16, O, T)   dY masked by r > 0 for the fused ReLU; dbias too
    dU += dM @ V^T          (16, O, C)   16 GEMMs per image, summed in image order at the end
    dV = U^T @ dM           (16, C, T)   16 GEMMs
    dx[n] = B dV B^T        added back (tiles overlap), padding cut away
    dg = G^T dU G

Layout: "phase planes". Tile (ty, tx) (TH x TW tiles, TH = ceil(OH/2), TW = ceil(OW/2))
covers rows 2ty..2ty+3 and columns 2tx..2tx+3 of the zero-padded plane, so its element
(i, j) is element (ty + i//2, tx + j//2) of the phase plane of row parity i%2 and column
parity j%2 (the padded plane's rows and columns of that parity). The tiles are numbered
t = ty*TS + tx with a row stride TS = TW + 1, one spare tile per tile row, and the phase
planes use the same row stride, so element (i, j) of every tile is ONE flat shifted view of
a phase plane (shift (i//2)*TS + j//2): every transform is a few long unit-stride passes
over a whole image plane (which LLVM vectorises), not a short pass per tile row. The spare
tile of each row (tx = TW) costs 1/TS extra GEMM columns: the forward drops its outputs and
the backward feeds it a zero dY, so its dM, dV and its share of dU and dx are zero. Output
tiles past an odd OH or OW are computed and dropped (forward) or fed zeros (backward).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from tinymm.kernels.numba_cpu import _threads
from tinymm.kernels.numba_cpu import _workspace as ws

G = np.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0.0, 0.0, 1.0]])  # (4, 3)


# The transforms' constant matrices as tables of terms, so that each pass of a kernel is ONE
# loop over its output planes: output plane k of a pass is the sum over its terms m of
# sign[k, m] * (row src[k, m] of the pass's source planes, at shift[k, m] in the unit the
# pass names). A compiled loop costs compile time at every place it is written (LLVM
# optimises each copy), not per plane it runs over; and every index expression costs too,
# so the tables hold the row numbers ready (the kernels compute no // or % at all). The
# loops over a table's rows take their trip counts from the scratch arrays' shapes, which
# are known only at run time: with a constant trip count (range(8)) LLVM unrolls the loop
# fully, one optimised copy of the inner loop per table row, and compiling costs about
# three times as much. Planes
# with fewer nonzero terms name a source row that holds zeros (adding 0 is exact, and no
# 0 * inf = NaN can appear). The signs are float32 (exact), so float32 kernels stay float32
# and float64 ones are promoted exactly. Rows of B^T, A^T (index a, i) and of B, A:
_BT = [[(0, 1), (2, -1)], [(1, 1), (2, 1)], [(2, 1), (1, -1)], [(1, 1), (3, -1)]]
_AT = [[(0, 1), (1, 1), (2, 1)], [(1, 1), (2, -1), (3, -1)]]
_B = [[(0, 1)], [(1, 1), (2, -1), (3, 1)], [(1, 1), (2, 1), (0, -1)], [(3, -1)]]
_A = [[(0, 1)], [(0, 1), (1, 1)], [(0, 1), (1, -1)], [(1, -1)]]


def _table(rows, terms, zero_row):
    """(src (K, terms) int64, sign (K, terms) float32, shift (K, terms) int64) from rows: a
    list of [(source row, sign, shift)], padded with (zero_row, 1, 0)."""
    padded = [list(row) + [(zero_row, 1, 0)] * (terms - len(row)) for row in rows]
    src = np.array([[t[0] for t in row] for row in padded], dtype=np.int64)
    sign = np.array([[t[1] for t in row] for row in padded], dtype=np.float32)
    shift = np.array([[t[2] for t in row] for row in padded], dtype=np.int64)
    return src, sign, shift


# input transform: R[2a + p] = sum_i B^T[a, i] (phase plane 2*(i % 2) + p, shift (i // 2)*TS);
# V[4a + b] = sum_j B^T[b, j] (R[2a + j % 2], shift j // 2)
IN_R = _table([[(2 * (i % 2) + k % 2, s, i // 2) for i, s in _BT[k // 2]] for k in range(8)],
              2, 0)
IN_V = _table([[(2 * (k // 4) + j % 2, s, j // 2) for j, s in _BT[k % 4]] for k in range(16)],
              2, 0)
# output transform: S[4i + j] = sum_a A^T[i, a] M[4a + j]
OUT_S = _table([[(4 * a + k % 4, s, 0) for a, s in _AT[k // 4]] for k in range(8)], 3, 0)
# grad output transform (P[4] and Hc[2] hold zeros): Hc[p] = sum_i A[k, i] P[2i + p] for
# row 2k + p of GO_H; dM[4k + b] = sum_j A[b, j] Hc[j]
GO_H = _table([[(2 * i + k % 2, s, 0) for i, s in _A[k // 2]] for k in range(8)], 2, 4)
GO_M = _table([[(j, s, 0) for j, s in _A[b]] for b in range(4)], 2, 2)
# grad input transform (dV[16] and Ep[8] hold zeros): E[4a + j] = sum_b B[j, b] dV[4a + b];
# F[2i + p] = sum_a B[i, a] Ep[2a + p]
GI_E = _table([[(4 * (k // 4) + b, s, 0) for b, s in _B[k % 4]] for k in range(16)], 3, 16)
GI_F = _table([[(2 * a + k % 2, s, 0) for a, s in _B[k // 2]] for k in range(8)], 3, 8)


@njit(cache=True, nogil=True)
def _input_transform(x, n, V, pt, pl, TH, TS, planes, row, zero_row, R):
    """V (16, C, TH*TS) = B^T d B for every 4x4 input tile d of image n of x (N, C, H, W);
    serial. Scratch: planes (4, (TH + 2)*TS), R (8, TH*TS + 1), and row, zero_row (2*TS,)
    zeroed by the caller (row's padding columns are never written). Per channel: x[n, c]
    zero-padded by (pt, pl) as its four phase planes (plane 2*(row parity) + column parity,
    TH + 2 padded rows per parity), then B^T down the tile rows (IN_R) as 8 flat planes R,
    then B along the tile columns (IN_V)."""
    H, W = x.shape[2], x.shape[3]
    T = TH * TS
    lo = pl if pl < 2 * TS else 2 * TS  # padded columns [lo, hi) hold input columns
    hi = pl + W if pl + W > lo else lo
    hi = hi if hi < 2 * TS else 2 * TS
    inside = row[lo:hi]
    r_src, r_sign, r_shift = IN_R
    v_src, v_sign, v_shift = IN_V
    for c in range(x.shape[1]):
        for u in range(2 * (TH + 2)):  # padded row u = input row u - pt
            a = u - pt
            src = zero_row
            if 0 <= a < H:
                xrow = x[n, c, a, :hi - lo]
                for q in range(inside.shape[0]):
                    inside[q] = xrow[q]
                src = row
            base = (u >> 1) * TS
            even = planes[2 * (u & 1), base:base + TS]  # (TS,)
            odd = planes[2 * (u & 1) + 1, base:base + TS]
            for q in range(TS):  # deinterleave: even and odd padded columns
                even[q] = src[2 * q]
                odd[q] = src[2 * q + 1]
        for k in range(R.shape[0]):  # 8 rows of IN_R, a trip count known at run time only
            s0, s1 = r_shift[k, 0] * TS, r_shift[k, 1] * TS
            e0, e1 = planes[r_src[k, 0], s0:s0 + T + 1], planes[r_src[k, 1], s1:s1 + T + 1]
            w0, w1, dst = r_sign[k, 0], r_sign[k, 1], R[k]
            for q in range(T + 1):
                dst[q] = w0 * e0[q] + w1 * e1[q]
        for k in range(V.shape[0]):  # 16 rows of IN_V
            s0, s1 = v_shift[k, 0], v_shift[k, 1]
            e0, e1 = R[v_src[k, 0], s0:s0 + T], R[v_src[k, 1], s1:s1 + T]
            w0, w1, dst = v_sign[k, 0], v_sign[k, 1], V[k, c]
            for q in range(T):
                dst[q] = w0 * e0[q] + w1 * e1[q]


@njit(cache=True, nogil=True)
def _output_transform(M, n, bias, out, relu, TH, TS, S, row):
    """out[n, o] = A^T M A + bias (ReLU when asked); M (16, O, TH*TS). Scratch: S (8,
    TH*TS), row (2*(TS - 1),). A^T down the tile rows as 8 flat planes S[4i + j] (OUT_S),
    then A along the columns while interleaving each output row's even and odd columns; an
    odd OH or OW drops the last row or column, the spare tiles are never read."""
    N, O, OH, OW = out.shape
    T = TH * TS
    TW = TS - 1
    src, sign, _ = OUT_S
    for o in range(O):
        for k in range(S.shape[0]):  # 8 rows of OUT_S, a trip count known at run time only
            m0, m1, m2 = M[src[k, 0], o], M[src[k, 1], o], M[src[k, 2], o]
            w0, w1, w2, dst = sign[k, 0], sign[k, 1], sign[k, 2], S[k]
            for q in range(T):
                dst[q] = w0 * m0[q] + w1 * m1[q] + w2 * m2[q]
        b = bias[o]
        for y in range(OH):
            base = (y >> 1) * TS
            i = 4 * (y & 1)
            s0, s1 = S[i, base:base + TW], S[i + 1, base:base + TW]  # (TW,)
            s2, s3 = S[i + 2, base:base + TW], S[i + 3, base:base + TW]
            for tx in range(TW):  # (A^T M) A: columns 2tx and 2tx + 1, interleaved
                row[2 * tx] = s0[tx] + s1[tx] + s2[tx]
                row[2 * tx + 1] = s1[tx] - s2[tx] - s3[tx]
            dst = out[n, o, y]  # (OW,)
            for z in range(OW):
                v = row[z] + b
                dst[z] = v if v > 0 or not relu else 0


@njit(cache=True, nogil=True, fastmath={"reassoc"})  # reassoc: the dbias sum vectorises
def _grad_output_transform(dout, r, n, dM, partial, relu, TH, TS, P, Hc, row):
    """dM[:, o] = A dY A^T per tile, dY = dout masked by r > 0 with ReLU (zero past the
    output's edge and on the spare tiles), first split into its four phase planes P[2i + j]
    (each (TH*TS,)); partial[n, o] = that image's dbias share, summed in float64. Scratch:
    P (5, TH*TS), Hc (3, TH*TS) and row (2*TS,) zeroed by the caller: P[4] and Hc[2] are
    the zero rows of GO_H and GO_M, and the entries never written stay 0 for every o and
    every image."""
    N, O, OH, OW = dout.shape
    h_src, h_sign, _ = GO_H
    m_src, m_sign, _ = GO_M
    for o in range(O):
        acc = 0.0
        for y in range(OH):
            src, mask = dout[n, o, y], r[n, o, y]  # (OW,)
            for z in range(OW):
                v = src[z] if not relu or mask[z] > 0 else 0
                row[z] = v
                acc += v
            base = (y >> 1) * TS
            even, odd = P[2 * (y & 1), base:base + TS], P[2 * (y & 1) + 1, base:base + TS]
            for tx in range(TS - 1):  # deinterleave: even and odd columns
                even[tx] = row[2 * tx]
                odd[tx] = row[2 * tx + 1]
        for k in range(P.shape[0] - 1):  # 4; trip counts known at run time only
            for p in range(Hc.shape[0] - 1):  # 2: A dY down the tile rows, then (A dY) A^T
                # along the tile columns
                g0, g1 = P[h_src[2 * k + p, 0]], P[h_src[2 * k + p, 1]]
                w0, w1, h = h_sign[2 * k + p, 0], h_sign[2 * k + p, 1], Hc[p]
                for q in range(h.shape[0]):
                    h[q] = w0 * g0[q] + w1 * g1[q]
            for b in range(P.shape[0] - 1):  # 4
                h0, h1 = Hc[m_src[b, 0]], Hc[m_src[b, 1]]
                w0, w1, dst = m_sign[b, 0], m_sign[b, 1], dM[4 * k + b, o]
                for q in range(dst.shape[0]):
                    dst[q] = w0 * h0[q] + w1 * h1[q]
        partial[n, o] = acc


@njit(cache=True, nogil=True)
def _grad_input_transform(dV, dx, n, pt, pl, TH, TS, E, Ep, F, Q, row):
    """dx[n, c] = the padding-cropped sum over tiles of B dV B^T; dV (17, C, TH*TS), its row
    16 zeros (GI_E's zero row). Scratch, zeroed by the caller where it is a zero row or a
    border that is never written: E (16, TH*TS + 2) (columns 0 and -1), Ep (9, TH*TS + 1)
    (Ep[8]), F (8, TH*TS + 1 + 2*TS) (TS columns on each side), Q (4, (TH + 2)*TS) (past
    TH*TS + 1 + TS), and row (2*TS,). Per channel: dV B^T along the tile columns (GI_E; E[4a
    + j] in E's middle), the two column parities' shares added at their shift of 1 (Ep[2a +
    p] = E[4a + p] + E[4a + p + 2]), B down the tile rows (GI_F; F[2i + p] in F's middle),
    the shares of tile rows i and i + 2 added into phase plane 2i + p of dx's padded plane
    (Q) at shifts 0 and TS, then the phase planes interleaved back into dx's rows."""
    N, C, H, W = dx.shape
    T = TH * TS
    start = pl if pl < 2 * TS else 2 * TS  # dx's columns are padded columns start..
    hi = 2 * TS - pl if 2 * TS - pl > 0 else 0
    hi = hi if hi < W else W
    e_src, e_sign, _ = GI_E
    f_src, f_sign, _ = GI_F
    for c in range(C):
        for k in range(E.shape[0]):  # 16 rows of GI_E, a trip count known at run time only
            e0, e1, e2 = dV[e_src[k, 0], c], dV[e_src[k, 1], c], dV[e_src[k, 2], c]
            w0, w1, w2, dst = e_sign[k, 0], e_sign[k, 1], e_sign[k, 2], E[k, 1:T + 1]
            for q in range(T):
                dst[q] = w0 * e0[q] + w1 * e1[q] + w2 * e2[q]
        for k in range(Ep.shape[0] - 1):  # 8
            j = 4 * (k >> 1) + (k & 1)
            e0, e1, dst = E[j, 1:T + 2], E[j + 2, :T + 1], Ep[k]
            for q in range(T + 1):
                dst[q] = e0[q] + e1[q]
        for k in range(F.shape[0]):  # 8 rows of GI_F
            e0, e1, e2 = Ep[f_src[k, 0]], Ep[f_src[k, 1]], Ep[f_src[k, 2]]
            w0, w1, w2, dst = f_sign[k, 0], f_sign[k, 1], f_sign[k, 2], F[k, TS:TS + T + 1]
            for q in range(T + 1):
                dst[q] = w0 * e0[q] + w1 * e1[q] + w2 * e2[q]
        for k in range(Q.shape[0]):  # 4
            f0, f1, dst = F[k, TS:2 * TS + T + 1], F[k + 4, :T + 1 + TS], Q[k, :T + 1 + TS]
            for q in range(T + 1 + TS):
                dst[q] = f0[q] + f1[q]
        for a in range(H):  # interleave the padded row a + pt and cut the padding away
            u = a + pt
            dst = dx[n, c, a]  # (W,)
            h = hi if u < 2 * (TH + 2) else 0
            if h > 0:
                base = (u >> 1) * TS
                even = Q[2 * (u & 1), base:base + TS]
                odd = Q[2 * (u & 1) + 1, base:base + TS]
                for q in range(TS):
                    row[2 * q] = even[q]
                    row[2 * q + 1] = odd[q]
                src = row[start:]
                for b in range(h):
                    dst[b] = src[b]
            for b in range(h, W):
                dst[b] = 0


def tiles(OH: int, OW: int) -> tuple[int, int]:
    """(TH, TW): 2x2 output tiles down and across."""
    return (OH + 1) // 2, (OW + 1) // 2


def _scratch(n_workers, shapes, dtype):
    """One list of workspace buffers per worker, of the given shapes."""
    return [[ws.empty(shape, dtype) for shape in shapes] for _ in range(n_workers)]


def _zeroed(n_workers, shapes, dtype):
    """As ``_scratch``, zero-filled: the kernels' ZERO planes and never-written borders."""
    return [[np.zeros(shape, dtype) for shape in shapes] for _ in range(n_workers)]


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
    scratch = _scratch(n_workers, [(16, C, T), (16, O, T), (4, (TH + 2) * TS), (8, T + 1),
                                   (8, T), (2 * TW,)], x.dtype)
    zeroed = _zeroed(n_workers, [(2 * TS,), (2 * TS,)], x.dtype)

    def image(worker, n):
        V, M, planes, R, S, out_row = scratch[worker]
        row, zero_row = zeroed[worker]
        _input_transform(x, n, V, pt, pl, TH, TS, planes, row, zero_row, R)
        np.matmul(U, V, out=M)  # 16 GEMMs, BLAS single-threaded in this worker
        _output_transform(M, n, bias, out, relu, TH, TS, S, out_row)

    _threads.run_tasks(image, N)
    return out, U


def backward(dout, r, x, U, pt, pl, relu, need_dx=True):
    """Gradients of ``forward``: (dx (N, C, H, W) or None without need_dx, dweight
    (O, C, 3, 3), dbias partials); each image's V is recomputed from x (contiguous) rather
    than kept."""
    N, O, OH, OW = dout.shape
    C = x.shape[1]
    TH, TW = tiles(OH, OW)
    TS = TW + 1
    T = TH * TS
    dt = dout.dtype
    _, n_workers = _threads.workers()
    scratch = _scratch(n_workers, [(16, O, T), (17, C, T), (16, T, C), (4, (TH + 2) * TS),
                                   (8, T + 1)], dt)
    for buffers in scratch:
        buffers[1][16] = 0  # V's row 16: the zero row of GI_E
    zeroed = _zeroed(n_workers, [(5, T), (3, T), (2 * TS,), (2 * TS,), (2 * TS,), (16, T + 2),
                                 (9, T + 1), (8, T + 1 + 2 * TS), (4, (TH + 2) * TS),
                                 (2 * TS,)], dt)
    # dU per image, summed in image order afterwards (bits independent of the scheduling)
    dUn = ws.empty((N, 16, O, C), dt)
    partial = np.empty((N, O), dtype=np.float64)
    dx = ws.empty(x.shape, dt) if need_dx else None
    Ut = U.transpose(0, 2, 1)

    def image(worker, n):
        dM, V17, Vt, planes, R = scratch[worker]
        P, Hc, dy_row, row, zero_row, E, Ep, F, Q, dx_row = zeroed[worker]
        V = V17[:16]  # (16, C, T)
        _grad_output_transform(dout, r, n, dM, partial, relu, TH, TS, P, Hc, dy_row)
        _input_transform(x, n, V, pt, pl, TH, TS, planes, row, zero_row, R)
        # dU = dM @ V^T contracts both operands along their rows (BLAS's NT form), which
        # OpenBLAS runs at about half the rate of the NN form on V's transposed copy
        np.copyto(Vt, V.transpose(0, 2, 1))  # (16, T, C)
        np.matmul(dM, Vt, out=dUn[n])  # (16, O, C)
        if need_dx:
            np.matmul(Ut, dM, out=V)  # dV, in V's buffer
            _grad_input_transform(V17, dx, n, pt, pl, TH, TS, E, Ep, F, Q, dx_row)

    _threads.run_tasks(image, N)
    return dx, weight_gradient(dUn.sum(axis=0)), partial
