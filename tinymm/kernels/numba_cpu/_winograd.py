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

With ``pool`` (the fused conv2d + ReLU + 2x2 max-pool, conv2d.py) a 2x2 output tile is one
pool window: ``_output_transform_pool`` writes each tile's ReLU'd maximum and its int8
first-maximum index instead of the tile, and the backward's dM comes from the pooled
gradient and those winners (``_pooled_grad_tiles``) instead of the grad output transform.

Compiled kernels, each compiled once per dtype (every array they take is C-contiguous, every
scalar an int64 or a bool): ``_to_tiles`` (the input transform and the grad output
transform, which have the same passes), ``_output_transform`` or ``_output_transform_pool``
(both calling ``_down_tile_rows``, their shared A^T pass), ``_pooled_grad_tiles`` with the
pool, and ``_grad_input_transform``. Their cost at the first run (an empty Numba cache) is
set by how many loops are written in them, since LLVM optimises each written copy of a loop:
each pass of ``_to_tiles`` is one loop driven by a table of terms (below), the other kernels
write A's and B's few terms out in a loop per pass, and nothing in them allocates.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from tinymm.kernels.numba_cpu import _threads
from tinymm.kernels.numba_cpu import _workspace as ws
from tinymm.kernels.numba_cpu._recurrent import numpy_small_gemm_bound

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
# and float64 ones are promoted exactly. Rows of B^T (index a, i) and of A:
_BT = [[(0, 1), (2, -1)], [(1, 1), (2, 1)], [(2, 1), (1, -1)], [(1, 1), (3, -1)]]
_A = [[(0, 1)], [(0, 1), (1, 1)], [(0, 1), (1, -1)], [(1, -1)]]


def _table(rows, terms, zero_row):
    """(src (K, terms) int64, sign (K, terms) float32, shift (K, terms) int64) from rows: a
    list of [(source row, sign, shift)], padded with (zero_row, 1, 0)."""
    padded = [list(row) + [(zero_row, 1, 0)] * (terms - len(row)) for row in rows]
    src = np.array([[t[0] for t in row] for row in padded], dtype=np.int64)
    sign = np.array([[t[1] for t in row] for row in padded], dtype=np.float32)
    shift = np.array([[t[2] for t in row] for row in padded], dtype=np.int64)
    return src, sign, shift


# A (4, 2), the rows of the pooled backward's A dY A^T (A^T's transpose)
_A_MATRIX = np.array([[1, 0], [1, 1], [1, -1], [0, -1]], dtype=np.float32)

# input transform: R[2a + p] = sum_i B^T[a, i] (phase plane 2*(i % 2) + p, shift (i // 2)*TS);
# V[4a + b] = sum_j B^T[b, j] (R[2a + j % 2], shift j // 2)
IN_R = _table([[(2 * (i % 2) + k % 2, s, i // 2) for i, s in _BT[k // 2]] for k in range(8)],
              2, 0)
IN_V = _table([[(2 * (k // 4) + j % 2, s, j // 2) for j, s in _BT[k % 4]] for k in range(16)],
              2, 0)
# grad output transform (phase plane 4 and R[8] hold zeros): R[2k + p] = sum_i A[k, i]
# (phase plane 2i + p); dM[4k + b] = sum_j A[b, j] R[2k + j]
GO_R = _table([[(2 * i + k % 2, s, 0) for i, s in _A[k // 2]] for k in range(8)], 2, 4)
GO_V = _table([[(2 * (k // 4) + j, s, 0) for j, s in _A[k % 4]] for k in range(16)], 2, 8)


@njit(cache=True, nogil=True, fastmath={"reassoc"})  # reassoc: the dbias sum vectorises
def _to_tiles(src, mask, n, V, partial, grad, relu, pt, pl, TH, TS, planes, P, R):
    """The two transforms from an image's planes to its tiles, one compiled kernel (they
    share their passes); serial, over the planes of image n of src (N, P, ., .):

    * grad False, the input transform: V (16, C, TH*TS) = B^T d B for every 4x4 input tile
      d of x = src (N, C, H, W) zero-padded by (pt, pl) (mask, partial, relu unused).
    * grad True, the grad output transform: V = dM (16, O, TH*TS) = A dY A^T per 2x2 tile,
      dY = dout = src (N, O, OH, OW) masked by mask > 0 with ReLU (zero past the output's
      edge and on the spare tiles); partial[n, o] = that image's dbias share, float64.

    In blocks of P.shape[0] planes: first each plane's rows are copied (dY masked) into
    P[plane in block], its padded plane with the rows of each parity apart (P[., p] holds
    padded rows p, p + 2, ..., each 2*TS wide); then, per plane, one flat pass per row parity
    splits P's even and odd columns into the four phase planes (plane 2*(row parity) +
    column parity), the row pass (IN_R or GO_R) makes R's 8 rows, and the column pass (IN_V
    or GO_V) V. The copies of a whole block come first because reading values back right
    after they were stored at another alignment (a vector load spanning several recent
    stores) stalls the core until the stores complete; a block later they have. Scratch, all
    zeroed by the caller and, for the grad transform, used by no other call: planes (5,
    (TH + 2)*TS), P (block, 2, (TH + 2)*2*TS), R (9, TH*TS + 1); planes[4] and R[8] are
    GO_R's and GO_V's zero rows, and P's entries outside x's (or dY's) rows and columns are
    never written, so the padding, the columns past OW and the rows past OH stay 0."""
    H, W = src.shape[2], src.shape[3]
    C = src.shape[1]
    T = TH * TS
    L = (TH + 2) * TS  # phase-plane length
    lo = pl if pl < 2 * TS else 2 * TS  # padded columns [lo, hi) of a row hold x's columns
    hi = pl + W if pl + W > lo else lo
    hi = hi if hi < 2 * TS else 2 * TS
    off = 0 if grad else pt  # src row a is padded row a + off
    first = lo if not grad else 0
    width = hi - lo if not grad else W
    r_src, r_sign, r_shift = GO_R if grad else IN_R
    v_src, v_sign, v_shift = GO_V if grad else IN_V
    keep_all = not relu  # the grad transform without a ReLU: every dY value passes
    block = P.shape[0]
    for c0 in range(0, C, block):
        c1 = c0 + block if c0 + block < C else C
        for c in range(c0, c1):
            acc = 0.0
            for a in range(H):
                u = a + off
                if u >= 2 * (TH + 2):
                    break
                start = (u >> 1) * 2 * TS + first
                dst = P[c - c0, u & 1, start:start + width]
                srow = src[n, c, a]
                if grad:  # the mask as a product (the reference's dr * (r > 0)): it
                    mrow = mask[n, c, a]  # vectorises, a select does not
                    for z in range(width):
                        v = srow[z] * ((mrow[z] > 0) | keep_all)
                        dst[z] = v
                        acc += v
                else:
                    for z in range(width):
                        dst[z] = srow[z]
            if grad:
                partial[n, c] = acc
        for c in range(c0, c1):
            for p in range(2):  # padded rows of parity p: even and odd columns apart
                rows, even, odd = P[c - c0, p], planes[2 * p], planes[2 * p + 1]
                for q in range(L):
                    even[q] = rows[2 * q]
                    odd[q] = rows[2 * q + 1]
            for k in range(R.shape[0] - 1):  # 8 table rows, a trip count known at run time
                s0, s1 = r_shift[k, 0] * TS, r_shift[k, 1] * TS
                e0 = planes[r_src[k, 0], s0:s0 + T + 1]
                e1 = planes[r_src[k, 1], s1:s1 + T + 1]
                w0, w1, dst = r_sign[k, 0], r_sign[k, 1], R[k]
                for q in range(T + 1):
                    dst[q] = w0 * e0[q] + w1 * e1[q]
            for k in range(V.shape[0]):  # 16 table rows
                s0, s1 = v_shift[k, 0], v_shift[k, 1]
                e0, e1 = R[v_src[k, 0], s0:s0 + T], R[v_src[k, 1], s1:s1 + T]
                w0, w1, dst = v_sign[k, 0], v_sign[k, 1], V[k, c]
                for q in range(T):
                    dst[q] = w0 * e0[q] + w1 * e1[q]


@njit(cache=True, nogil=True)
def _down_tile_rows(M, o, S):
    """S[4i + j] = sum_a A^T[i, a] M[4a + j, o]: A^T down the tile rows of output channel o,
    as 8 flat planes of TH*TS, for both output transforms; S (8, TH*TS). A^T's rows are
    1 1 1 0 and 0 1 -1 -1, written as additions (the sums of the +-1 products, in order)."""
    T = S.shape[1]
    for j in range(S.shape[0] // 2):  # 4 columns j, a trip count known at run time only
        m0, m1, m2, m3 = M[j, o], M[4 + j, o], M[8 + j, o], M[12 + j, o]
        top, bottom = S[j], S[4 + j]
        for q in range(T):
            top[q] = m0[q] + m1[q] + m2[q]
            bottom[q] = m1[q] - m2[q] - m3[q]


@njit(cache=True, nogil=True)
def _output_transform(M, n, bias, out, relu, TS, S, row):
    """out[n, o] = A^T M A + bias (ReLU when asked); M (16, O, TH*TS). Scratch: S (8,
    TH*TS), row (2*(TS - 1),). A^T down the tile rows as 8 flat planes S[4i + j], then A
    along the columns while interleaving each output row's even and odd columns into row,
    then bias and ReLU from row into out (LLVM vectorises the two loops; the interleave
    written straight into out with the ReLU's selects runs as scalars); an odd OH or OW drops
    the last row or column, the spare tiles are never read."""
    N, O, OH, OW = out.shape
    TW = TS - 1
    for o in range(O):
        _down_tile_rows(M, o, S)
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


@njit(cache=True, nogil=True)
def _output_transform_pool(M, n, bias, pooled, which, TS, S):
    """The 2x2 / stride-2 max-pool of ReLU(A^T M A + bias), without the conv output: a 2x2
    output tile IS one pool window, so each tile's four outputs are made (as in
    ``_output_transform``), their maximum goes to pooled[n, o, ty, tx] and the index 0..3 of
    the first maximum (row-major in the window, as max-pool's) to which[n, o, ty, tx] (int8).
    pooled (N, O, OH // 2, OW // 2): an odd OH or OW leaves the last tile row or column out,
    as the pool's floor mode drops the conv output's last row or column. Scratch: S (8,
    TH*TS)."""
    N, O, PH, PW = pooled.shape
    for o in range(O):
        _down_tile_rows(M, o, S)
        b = bias[o]
        for ty in range(PH):
            base = ty * TS
            s0, s1 = S[0, base:base + PW], S[1, base:base + PW]  # (PW,): tile row 0 ...
            s2, s3 = S[2, base:base + PW], S[3, base:base + PW]
            s4, s5 = S[4, base:base + PW], S[5, base:base + PW]  # ... and tile row 1
            s6, s7 = S[6, base:base + PW], S[7, base:base + PW]
            dst, win = pooled[n, o, ty], which[n, o, ty]  # (PW,)
            for tx in range(PW):
                v00 = s0[tx] + s1[tx] + s2[tx] + b
                v01 = s1[tx] - s2[tx] - s3[tx] + b
                v10 = s4[tx] + s5[tx] + s6[tx] + b
                v11 = s5[tx] - s6[tx] - s7[tx] + b
                v00 = v00 if v00 > 0 else 0  # the ReLU, as _output_transform's (NaN -> 0:
                v01 = v01 if v01 > 0 else 0  # so the window holds no NaN)
                v10 = v10 if v10 > 0 else 0
                v11 = v11 if v11 > 0 else 0
                a = v00 if v00 >= v01 else v01
                c = v10 if v10 >= v11 else v11
                m = a if a >= c else c
                # the first maximum, row-major: 0 if v00 == m, else 1 if v01, else 2 if v10,
                # else 3, in integer arithmetic (as pool2d.first_max4_index, without NaN)
                e0 = np.int64(v00 == m)
                e1 = np.int64(v01 == m)
                e2 = np.int64(v10 == m)
                win[tx] = (1 - e0) * (1 + (1 - e1) * (1 + (1 - e2)))
                dst[tx] = m


@njit(cache=True, nogil=True, fastmath={"reassoc"})  # reassoc: the dbias sum vectorises
def _pooled_grad_tiles(dpool, pooled, which, n, dM, partial, TS, Y, E):
    """dM (16, O, T) = A dY A^T per tile for the pooled forward: dY, the gradient at the conv
    output, is dpool routed to each window's recorded winner and masked by the ReLU (times
    pooled > 0, the winner's output, as the reference's dr * (r > 0)), so a tile's dY holds
    one nonzero at which = 2i + j.

    Per output channel, three flat passes (LLVM vectorises them; the masks are products with
    0/1, as selects did not vectorise):

    * the masked gradient and the winners (as floats) into E's rows, over the pooled plane,
      with the dbias share partial[n, o] (float64);
    * the gradient split by winner into four planes Y[., 2i + j] (T,), one pool row at a
      time: pool window (ty, tx) is tile ty*TS + tx, and the tiles no window covers (each
      row's spare tile, an odd OH's or OW's last row or column of tiles) are never written
      and stay 0. The rows read floats only: LLVM sizes its vectors by the narrowest type in
      a loop, and with the int8 winners a 16-wide row ran as scalars;
    * dM[4a + b] = sum_{i, j} A[a, i] A[b, j] Y[., 2i + j], A applied along i and then
      along j, four planes per pass (a fifth of the arithmetic of the 16 x 4 matrix; with
      one nonzero per tile every sum is exact).

    The third pass of channel o runs after the second of channel o + 1, from the other half
    of Y, so that it reads values stored a channel earlier, not stores still in flight.
    Scratch: Y (2, 4, T), zeroed by the caller, and E (2, PH*PW)."""
    N, O, PH, PW = dpool.shape
    T = dM.shape[2]
    P = PH * PW
    eg, ew = E[0], E[1]  # masked gradient, winner index (as a float)
    for o in range(O + 1):
        if o < O:  # first pass of channel o into Y[o % 2]
            g_f = dpool[n, o].reshape(-1)  # (P,)
            p_f = pooled[n, o].reshape(-1)
            w_f = which[n, o].reshape(-1)
            acc = 0.0
            for s in range(P):
                g = g_f[s] * (p_f[s] > 0)
                eg[s] = g
                ew[s] = w_f[s]
                acc += g
            partial[n, o] = acc
            y = Y[o & 1]
            y0, y1, y2, y3 = y[0], y[1], y[2], y[3]
            for ty in range(PH):
                base = ty * TS
                g_row, w_row = eg[ty * PW:ty * PW + PW], ew[ty * PW:ty * PW + PW]  # (PW,)
                d0, d1 = y0[base:base + PW], y1[base:base + PW]
                d2, d3 = y2[base:base + PW], y3[base:base + PW]
                for tx in range(PW):
                    g = g_row[tx]
                    w = w_row[tx]
                    d0[tx] = g * (w == 0)
                    d1[tx] = g * (w == 1)
                    d2[tx] = g * (w == 2)
                    d3[tx] = g * (w == 3)
        if o > 0:  # second pass of channel o - 1: dM = (A (x) A) dY, by its two factors
            y = Y[(o - 1) & 1]
            y0, y1, y2, y3 = y[0], y[1], y[2], y[3]  # dY[2i + j]
            for a in range(4):  # rows 4a..4a + 3 (four output planes per loop: dM's planes
                # lie a multiple of 4 KiB apart, and 16 store streams in one loop thrash L1)
                sa, sb = _A_MATRIX[a, 0], _A_MATRIX[a, 1]
                m0, m1 = dM[4 * a, o - 1], dM[4 * a + 1, o - 1]
                m2, m3 = dM[4 * a + 2, o - 1], dM[4 * a + 3, o - 1]
                for q in range(T):
                    # e_j = sum_i A[a, i] dY[2i + j]; dM[4a + b] = sum_j A[b, j] e_j, A's rows
                    # 1 0 / 1 1 / 1 -1 / 0 -1
                    e0 = sa * y0[q] + sb * y2[q]
                    e1 = sa * y1[q] + sb * y3[q]
                    m0[q] = e0
                    m1[q] = e0 + e1
                    m2[q] = e0 - e1
                    m3[q] = -e1


@njit(cache=True, nogil=True)
def _grad_input_transform(dVp, dx, n, pt, pl, TH, TS, Ep, Q, row):
    """dx[n, c] = the padding-cropped sum over tiles of B dV B^T, B's rows 1 0 0 0 / 0 1 -1 1
    / -1 1 1 0 / 0 0 0 -1; dV (16, C, TH*TS) is dVp[:, :, 1:-1], between zero guard columns.
    Per channel, two flat passes and the interleave:

    * E = dV B^T along the tile columns: column j of tile t lands on column parity j % 2 of
      tile t + j // 2, so Ep[2a + p][t] = E[a, p](t) + E[a, p + 2](t - 1), for t = 0..T
      (TH*TS + 1 entries; the guards give the zero shares past either end);
    * B down the tile rows likewise, rows i and i + 2 of a tile landing on row parity i % 2
      of tile rows t and t + 1: Q[2*(i % 2) + p][t] = F[i, p](t) + F[i + 2, p](t - TS), for
      t < T + 1 + TS, the rest of Q never written;
    * the four phase planes Q interleaved back into dx's rows, the padding cut away.

    Each sum is written out in the order of the terms of B (exactly as the tables of terms
    summed them) and stored once: no zeroing and no read-modify-write per channel. Scratch:
    Ep (8, 2*TS + TH*TS + 1), its TS-wide zero guards either side of the TH*TS + 1 entries,
    and Q (4, (TH + 2)*TS), both zeroed by the caller; row (2*TS,)."""
    N, C, H, W = dx.shape
    T = TH * TS
    start = pl if pl < 2 * TS else 2 * TS  # dx's columns are padded columns start..
    hi = 2 * TS - pl if 2 * TS - pl > 0 else 0
    hi = hi if hi < W else W
    for c in range(C):
        for a in range(Ep.shape[0] // 2):  # tile row a: dV[4a + b] at tile t, index t + 1
            d0, d1 = dVp[4 * a, c], dVp[4 * a + 1, c]
            d2, d3 = dVp[4 * a + 2, c], dVp[4 * a + 3, c]
            even, odd = Ep[2 * a, TS:TS + T + 1], Ep[2 * a + 1, TS:TS + T + 1]
            for t in range(T + 1):  # E[a, j](t) = sum_b B[j, b] dV[4a + b](t)
                even[t] = d0[t + 1] + ((d1[t] + d2[t]) - d0[t])
                odd[t] = ((d1[t + 1] - d2[t + 1]) + d3[t + 1]) + -d3[t]
        for p in range(2):  # column parity p: Ep[2a + p](t) at index TS + t
            f0, f1, f2, f3 = Ep[p], Ep[2 + p], Ep[4 + p], Ep[6 + p]
            top, bottom = Q[p, :T + 1 + TS], Q[2 + p, :T + 1 + TS]
            for t in range(T + 1 + TS):  # F[i, p](t) = sum_a B[i, a] Ep[2a + p](t)
                top[t] = f0[TS + t] + ((f1[t] + f2[t]) - f0[t])
                bottom[t] = ((f1[TS + t] - f2[TS + t]) + f3[TS + t]) + -f3[t]
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


STAGING_PLANES = 4  # planes ``_to_tiles`` copies before it reads the first of them back


def _staging(planes: int, TH: int, TS: int) -> tuple:
    """The shape of ``_to_tiles``' P: up to STAGING_PLANES padded planes, rows by parity."""
    return (max(1, min(planes, STAGING_PLANES)), 2, (TH + 2) * 2 * TS)


def _zeroed(n_workers, shapes, dtype):
    """As ``_scratch``, zero-filled: the kernels' ZERO planes and never-written borders."""
    return [[np.zeros(shape, dtype) for shape in shapes] for _ in range(n_workers)]


def _g_times(a0, a1, a2, half):
    """G (a0, a1, a2)^T, G's rows 1 0 0 / .5 .5 .5 / .5 -.5 .5 / 0 0 1 (arrays: elementwise)."""
    return a0, half * (a0 + a1 + a2), half * (a0 - a1 + a2), a2


def _gt_times(d0, d1, d2, d3, half):
    """G^T (d0, d1, d2, d3)^T, the adjoint of ``_g_times``."""
    return d0 + half * (d1 + d2), half * (d1 - d2), half * (d1 + d2) + d3


def weight_transform(weight):
    """U (16, O, C) = G g G^T per (o, c), position xi = 4i + j, for weight (O, C, 3, 3), in
    weight's dtype: G's rows applied as whole (O, C) planes (NumPy, a few dozen passes over
    O*C values; no compiled kernel to add to the first run's compile time)."""
    O, C = weight.shape[:2]
    half = weight.dtype.type(0.5)
    g = weight.transpose(2, 3, 0, 1)  # (a, b, o, c)
    gg = [_g_times(g[0, b], g[1, b], g[2, b], half) for b in range(3)]  # gg[b][i]: (G g)[i, b]
    U = np.empty((4, 4, O, C), weight.dtype)
    for i in range(4):
        U[i] = _g_times(gg[0][i], gg[1][i], gg[2][i], half)  # row i of (G g) G^T
    return U.reshape(16, O, C)


def weight_gradient(dU):
    """dg (O, C, 3, 3) = G^T dU G, the adjoint of ``weight_transform``; dU (16, O, C)."""
    O, C = dU.shape[1:]
    half = dU.dtype.type(0.5)
    d4 = dU.reshape(4, 4, O, C)  # (i, j, o, c)
    rows = [_gt_times(d4[i, 0], d4[i, 1], d4[i, 2], d4[i, 3], half) for i in range(4)]
    dg = np.empty((3, 3, O, C), dU.dtype)  # (a, b, o, c)
    for b in range(3):
        dg[:, b] = _gt_times(rows[0][b], rows[1][b], rows[2][b], rows[3][b], half)
    return np.ascontiguousarray(dg.transpose(2, 3, 0, 1))


def dU_reads_v_transposed(O: int, C: int, T: int) -> bool:
    """Does the backward's per-image dU (16 GEMMs (O, T) @ (T, C)) read V (16, C, T) as the
    transposed operand of BLAS's NT form (True), or a (16, T, C) copy of V^T in the NN form
    (False)? A packing gemm transposes B as it packs it, so there the copy only adds a pass
    over V; OpenBLAS's small-matrix kernels (``_recurrent.numpy_small_gemm_bound``) read the
    operands in place and run the NT form slower than the NN form (benchmarks/RESULTS.md, stops
    29 and 30): the copy for a product they take, and wherever NumPy's BLAS is not an
    OpenBLAS that names its core."""
    bound = numpy_small_gemm_bound()
    return bound is not None and O * C * T > bound


def forward(x, weight, bias, pt, pl, OH, OW, relu, pool=False):
    """x (N, C, H, W) contiguous, weight (O, C, 3, 3) -> (out (N, O, OH, OW), U); with
    ``pool`` (relu too) -> ((pooled (N, O, OH // 2, OW // 2), which int8 of that shape), U):
    the 2x2 / stride-2 max-pool of the ReLU output, made by ``_output_transform_pool`` from
    the tiles, the conv output never written."""
    N, C = x.shape[:2]
    O = weight.shape[0]
    TH, TW = tiles(OH, OW)
    TS = TW + 1
    T = TH * TS  # tiles per image, the spare one per tile row included
    U = weight_transform(weight)  # (16, O, C)
    if pool:
        out = ws.empty((N, O, OH // 2, OW // 2), x.dtype)
        which = ws.empty(out.shape, np.int8)
    else:
        out = ws.empty((N, O, OH, OW), x.dtype)
    _, n_workers = _threads.workers()
    scratch = _scratch(n_workers, [(16, C, T), (16, O, T), (8, T), (2 * TW,)], x.dtype)
    zeroed = _zeroed(n_workers, [(5, (TH + 2) * TS), (9, T + 1), _staging(C, TH, TS)], x.dtype)
    unused = np.empty((1, 1), dtype=np.float64)  # partial: the grad transform's only

    def image(worker, n):
        V, M, S, out_row = scratch[worker]
        planes, R, P = zeroed[worker]
        _to_tiles(x, x, n, V, unused, False, relu, pt, pl, TH, TS, planes, P, R)
        np.matmul(U, V, out=M)  # 16 GEMMs, BLAS single-threaded in this worker
        if pool:
            _output_transform_pool(M, n, bias, out, which, TS, S)
        else:
            _output_transform(M, n, bias, out, relu, TS, S, out_row)

    _threads.run_tasks(image, N)
    return ((out, which) if pool else out), U


def backward(dout, r, x, U, pt, pl, relu, need_dx=True, pool=None):
    """Gradients of ``forward``: (dx (N, C, H, W) or None without need_dx, dweight
    (O, C, 3, 3), dbias partials); each image's V is recomputed from x (contiguous) rather
    than kept. With ``pool`` = (pooled, which, OH, OW), forward's pooled output, its winner
    indices and the conv output's size: dout is the pooled output's gradient, and each
    image's dM comes from it by ``_pooled_grad_tiles`` (r and relu unused)."""
    N, O, OH, OW = dout.shape
    if pool is not None:
        pooled, which, OH, OW = pool
    C = x.shape[1]
    TH, TW = tiles(OH, OW)
    TS = TW + 1
    T = TH * TS
    dt = dout.dtype
    _, n_workers = _threads.workers()
    # V (16, C, T) and then dV, between zero guard columns (16, C, T + 2), share a buffer
    nt = dU_reads_v_transposed(O, C, T)
    scratch = _scratch(n_workers, [(16, O, T), (16 * C * (T + 2),)] + ([] if nt else [(16, T, C)]),
                       dt)
    staging = _staging(max(C, O), TH, TS)
    zeroed = _zeroed(n_workers, [(5, (TH + 2) * TS), (9, T + 1), staging,
                                 (5, (TH + 2) * TS), (9, T + 1), staging,
                                 (8, 2 * TS + T + 1), (4, (TH + 2) * TS), (2 * TS,)], dt)
    if pool is not None:
        PH, PW = dout.shape[2:]
        pool_scratch = [y + e for y, e in zip(_zeroed(n_workers, [(2, 4, T)], dt),
                                              _scratch(n_workers, [(2, PH * PW)], dt))]
    # dU per image, summed in image order afterwards (bits independent of the scheduling)
    dUn = ws.empty((N, 16, O, C), dt)
    partial = np.empty((N, O), dtype=np.float64)
    dx = ws.empty(x.shape, dt) if need_dx else None
    Ut = U.transpose(0, 2, 1)

    def image(worker, n):
        dM, shared = scratch[worker][:2]
        planes, R, P, g_planes, g_R, g_P, Ep, Q, dx_row = zeroed[worker]
        V = shared[:16 * C * T].reshape(16, C, T)
        if pool is not None:
            _pooled_grad_tiles(dout, pooled, which, n, dM, partial, TS, *pool_scratch[worker])
        else:
            _to_tiles(dout, r, n, dM, partial, True, relu, pt, pl, TH, TS, g_planes, g_P, g_R)
        _to_tiles(x, x, n, V, partial, False, relu, pt, pl, TH, TS, planes, P, R)
        # dU = dM @ V^T contracts both operands along their rows: BLAS's NT form, or the NN
        # form on a copy of V^T (dU_reads_v_transposed)
        if nt:
            np.matmul(dM, V.transpose(0, 2, 1), out=dUn[n])  # (16, O, C)
        else:
            Vt = scratch[worker][2]
            np.copyto(Vt, V.transpose(0, 2, 1))  # (16, T, C)
            np.matmul(dM, Vt, out=dUn[n])
        if need_dx:
            dVp = shared.reshape(16, C, T + 2)  # V is dead: dV between zero guards
            dVp[:, :, 0] = 0
            dVp[:, :, T + 1] = 0
            np.matmul(Ut, dM, out=dVp[:, :, 1:T + 1])  # BLAS writes the strided rows
            _grad_input_transform(dVp, dx, n, pt, pl, TH, TS, Ep, Q, dx_row)

    _threads.run_tasks(image, N)
    return dx, weight_gradient(dUn.sum(axis=0)), partial
