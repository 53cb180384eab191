"""Winograd F(4x4, 3x3) for the stride-1, dilation-1 3x3 convolution, forward and backward.

Minimal filtering (Lavin and Gray): a 4x4 output tile of a 3x3 correlation is
``Y = A^T [(G g G^T) * (B^T d B)] A`` for the 6x6 input tile ``d`` (tiles overlap by 2),
with the constant matrices below, so a tile costs 36 multiplies per (o, c) pair instead of
the 144 of a direct (or im2col) convolution. Summed over the input channels, the elementwise
products become 36 independent GEMMs, one per position xi of the transformed tile (dimension
letters as in conv2d.py). The batch is split into images, and each worker of ``_threads``
(one per core, BLAS single-threaded in it) runs one image's whole pipeline::

    U[xi] = (G g G^T)[xi]   (36, O, C)   weight transform (one float64 GEMM), once
    V[xi] = (B^T d B)[xi]   (36, C, T)   input transform of image n (numba, serial)
    M     = U @ V           (36, O, T)   36 BLAS GEMMs
    out[n] = A^T M A        + bias (+ ReLU), into NCHW

The backward is the exact adjoint of each step (so it is the gradient of the computation the
forward did, which equals the convolution's in exact arithmetic), again per image, with V
recomputed from x rather than kept (it is about 2.5 times larger than x)::

    dM = A dY A^T           (36, O, T)   dY masked by r > 0 for the fused ReLU; dbias too
    dU += dM @ V^T          (36, O, C)   per image, summed in image order at the end
    dV = U^T @ dM           (36, C, T)
    dx[n] = B dV B^T        added back (tiles overlap), padding cut away
    dg = G^T dU G

F(4x4) rounds more than a direct convolution: its transforms have entries up to 8, and in
float32 its outputs differ from an exact convolution by about 1e-6 of their largest value,
against about 1e-7 for im2col (tests/test_conv2d.py checks both against the reference).

Layout: "phase planes". Tile (ty, tx) (TH x TW tiles, TH = ceil(OH/4), TW = ceil(OW/4))
covers rows 4ty..4ty + 5 and columns 4tx..4tx + 5 of the zero-padded plane, so its element
(i, j) is element (ty + i//4, tx + j//4) of phase plane 4*(i % 4) + (j % 4) (the padded
plane's rows of residue i % 4 and columns of residue j % 4). The tiles are numbered
t = ty*TS + tx with a row stride TS = TW + 1, one spare tile per tile row, and the phase
planes use the same row stride, so element (i, j) of every tile is ONE flat shifted view of a
phase plane (shift (i//4)*TS + j//4, as i//4 and j//4 are 0 or 1). The spare tile of each
row (tx = TW) costs 1/TS extra GEMM columns: the forward drops its outputs and the backward
feeds it a zero dY, so its dM, dV and its share of dU and dx are zero. Output tiles past OH
or OW are computed and dropped (forward) or fed zeros (backward).

Lanes: every per-image buffer holds one lane of Lc = T + TS + 1 entries per channel (its T
tiles, then room for the shifts), channel c's tile t at entry c*Lc + t, so that one pass of
a transform runs over the lanes of a block of BLOCK channels at once: long unit-stride
loops, which LLVM vectorises (one lane is only 72 floats on a 32 x 32 image, and a loop that
short spends much of its time outside its vector body). The GEMMs read the lanes' first T
entries, rows Lc apart (``lanes``).

Passes: each transform applies a 1-d matrix down the tile rows and then across the tile
columns. A pass (``_dense_pass``) is a set of groups, each a small matrix applied to six
source planes (at shifts in the pass's unit) to make a few output planes, by ``_grouped``;
the forward's input transform is B^T down (the 16 phase planes -> R, 24 planes) and across
(R -> V, 36), its output transform A^T down (M -> S, 24) and across (S -> Z, 16: Z[4i + j]
holds output (i, j) of every tile). The backward's are their adjoints: A across and down
(dY's phase planes, which are Z's layout -> dS -> dM), and for dx, B across (dV -> E) and
the across shifts added back (E -> dR), then B down (dR -> F) and the down shifts (F -> the
phase planes of dx). Rows are moved between NCHW planes and phase planes through a staging
buffer holding the rows of each residue side by side (``_deinterleave``, ``_interleave``;
with stride 2 for the pool windows, two to a tile row).

With ``pool`` (the fused conv2d + ReLU + 2x2 max-pool, conv2d.py) the 2x2 pool windows tile
each 4x4 output tile, 2 x 2 of them: ``_output_pool`` writes each window's ReLU'd maximum
and its int8 first-maximum index instead of the outputs, and the backward's dY planes come
from the pooled gradient and those winners (``_pooled_grad_tiles``), the rest as without the
pool.

The compiled kernels (each once per dtype; every array they take is C-contiguous, every
scalar an int64 or a bool) are ``_input_tiles``, ``_output`` or ``_output_pool``,
``_grad_tiles`` or ``_pooled_grad_tiles`` and ``_grad_input_tiles``, and their helpers
``_grouped``, ``_deinterleave`` and ``_interleave``. Their cost at the first run (an empty
Numba cache) is set by how many loops are written in them, since LLVM optimises each
written copy of a loop: every pass runs the one loop of ``_grouped``,
and the passes' tables are arguments (run-time trip counts: constant ones would have LLVM
unroll the loops into many copies). The row loops slice a view per row: indexing the arrays
in place with unsigned offsets (which LLVM also vectorises) tripled their compile time.
Nothing in them allocates.
"""

from __future__ import annotations

from fractions import Fraction
from typing import NamedTuple

import numpy as np
from numba import njit

from tinymm.kernels.numba_cpu import _threads
from tinymm.kernels.numba_cpu import _workspace as ws
from tinymm.kernels.numba_cpu._recurrent import numpy_small_gemm_bound


def _matrix(rows) -> np.ndarray:
    """A float64 matrix from rows of exact rationals written as strings ("-5/2")."""
    return np.array([[float(Fraction(v)) for v in row] for row in rows])


# B^T (6, 6), G (6, 3), A^T (4, 6): Toom-Cook at the interpolation points 0, 1, -1, 1/2, -2
# and infinity, which Barabasz et al. ("Error analysis and improving the accuracy of Winograd
# convolution", 2020) found more accurate than Lavin and Gray's 0, +-1, +-2 (here about 1e-6
# of the output's scale in float32 instead of 3e-6). Every entry of B^T and A^T is a dyadic
# rational (exact in float32); G's thirds and fifteenths act on the weights only, in float64.
# tests/test_conv2d.py checks the triple against the correlation it computes.
BT = _matrix([[1, "-3/2", -2, "3/2", 1, 0], [0, -1, "1/2", "5/2", 1, 0],
              [0, 1, "-5/2", "1/2", 1, 0], [0, -2, -1, 2, 1, 0],
              [0, "1/2", -1, "-1/2", 1, 0], [0, 1, "-3/2", -2, "3/2", 1]])
G = _matrix([[1, 0, 0], ["1/3", "1/3", "1/3"], ["-1/3", "1/3", "-1/3"],
             ["-16/15", "-8/15", "-4/15"], ["1/15", "-2/15", "4/15"], [0, 0, 1]])
AT = _matrix([[1, 1, 1, 1, 1, 0], [0, 1, -1, "1/2", -2, 0], [0, 1, 1, "1/4", 4, 0],
              [0, 1, -1, "1/8", -8, 1]])
m, a = AT.shape  # output tile size, input tile size
GG = np.kron(G, G)  # (36, 9): row a*i + j holds G[i, r] G[j, s] at column 3*r + s
BLOCK = 8  # channels per block of the transforms: a block's buffers stay in the core's cache


def _dense_pass(mat, groups, zero=None):
    """A pass: mat (K, J) and groups = [(J sources (plane, shift), K output planes)], as the
    arrays (mat float32, src (G, 6) int64, shifts (G, 6) int64, out (G, K) int64), with
    J < 6 sources padded to 6 by the source buffer's zero plane ``zero`` (and zero columns
    of mat): one loop body in ``_grouped`` serves every pass."""
    mat = np.asarray(mat, dtype=np.float64)
    pad = a - mat.shape[1]
    groups = [(list(srcs) + [(zero, 0)] * pad, outs) for srcs, outs in groups]
    return (np.ascontiguousarray(np.pad(mat, ((0, 0), (0, pad))), dtype=np.float32),
            np.array([[p for p, _ in srcs] for srcs, _ in groups], dtype=np.int64),
            np.array([[s for _, s in srcs] for srcs, _ in groups], dtype=np.int64),
            np.array([outs for _, outs in groups], dtype=np.int64))


# the zero planes that pad the sources of the passes with fewer than 6 (each buffer's last
# plane, zeroed by the caller and never written): dY's phase planes and dS (A has 4
# columns), E and F (the shift passes add 2 planes)
ZERO_DY, ZERO_DS, ZERO_E, ZERO_F = m * m, m * a, a * a, a * m
_ADD = [[1.0, 1.0]]  # the shift passes: an output plane is the sum of two shifted planes


class Plan(NamedTuple):
    """The passes (module docstring), each as ``_dense_pass`` arrays."""
    in_down: tuple  # R[m*r + p] = sum_i B^T[r, i] (phase plane m*(i % m) + p, i // m rows down)
    in_across: tuple  # V[a*r + c] = sum_j B^T[c, j] (R[m*r + j % m], j // m tiles on)
    out_down: tuple  # S[a*i + j] = sum_r A^T[i, r] M[a*r + j]
    out_across: tuple  # Z[m*i + k] = sum_j A^T[k, j] S[a*i + j]
    grad_across: tuple  # dS[a*i + j] = sum_k A[j, k] dZ[m*i + k]
    grad_down: tuple  # dM[a*r + j] = sum_i A[r, i] dS[a*i + j]
    dx_across: tuple  # E[a*r + j] = sum_c B[j, c] dV[a*r + c]
    dx_across_shift: tuple  # dR[m*r + p] = E[a*r + p] + E[a*r + p + m] one tile back
    dx_down: tuple  # F[m*i + p] = sum_r B[i, r] dR[m*r + p]
    dx_down_shift: tuple  # phase plane m*s + p = F[m*s + p] + F[m*(s + m) + p] one row back


def _plan() -> Plan:
    A, B = AT.T, BT.T
    return Plan(
        _dense_pass(BT, [([(m * (i % m) + p, i // m) for i in range(a)],
                          [m * r + p for r in range(a)]) for p in range(m)]),
        _dense_pass(BT, [([(m * r + j % m, j // m) for j in range(a)],
                          [a * r + c for c in range(a)]) for r in range(a)]),
        _dense_pass(AT, [([(a * r + j, 0) for r in range(a)], [a * i + j for i in range(m)])
                         for j in range(a)]),
        _dense_pass(AT, [([(a * i + j, 0) for j in range(a)], [m * i + k for k in range(m)])
                         for i in range(m)]),
        _dense_pass(A, [([(m * i + k, 0) for k in range(m)], [a * i + j for j in range(a)])
                        for i in range(m)], ZERO_DY),
        _dense_pass(A, [([(a * i + j, 0) for i in range(m)], [a * r + j for r in range(a)])
                        for j in range(a)], ZERO_DS),
        _dense_pass(B, [([(a * r + c, 0) for c in range(a)], [a * r + j for j in range(a)])
                        for r in range(a)]),
        _dense_pass(_ADD, [([(a * r + p, 0), (a * r + p + m, -1) if p + m < a else (ZERO_E, 0)],
                            [m * r + p]) for r in range(a) for p in range(m)], ZERO_E),
        _dense_pass(B, [([(m * r + p, 0) for r in range(a)], [m * i + p for i in range(a)])
                        for p in range(m)]),
        _dense_pass(_ADD, [([(m * s + p, 0),
                             (m * (s + m) + p, -1) if s + m < a else (ZERO_F, 0)],
                            [m * s + p]) for s in range(m) for p in range(m)], ZERO_F))


PLAN = _plan()


@njit(cache=True, nogil=True, inline="always")  # inlined: no compiled copy per literal j
def _src_row(src, rows, shifts, j, base, unit, length):
    """Source j of a group: src's plane rows[j] from base + shifts[j]*unit, length entries."""
    lo = base + shifts[j] * unit
    return src[rows[j], lo:lo + length]


@njit(cache=True, nogil=True, no_cpython_wrapper=True)
def _grouped(dense, src, src_base, unit, dst, dst_base, length):
    """One pass (``_dense_pass``): group g applies the pass's matrix (K x 6) to src's planes
    src[g] at shifts shifts[g] (in the pass's unit) from src_base, into dst's planes out[g]
    at dst_base, for length entries, one output plane at a time: dst[out[g][i], dst_base + q]
    = sum_j mat[i, j] * src[src[g][j], src_base + shifts[g][j]*unit + q]. The sources and
    coefficients are locals, so that LLVM vectorises the loop over q (a loop over j inside it
    would run as scalars); a block's sources stay in L1 across the K planes. Callers pass
    every integer as an int64 variable: Numba compiles a separate copy of a function for each
    literal constant argument (a 0 or a 1 written in the call)."""
    mat, rows, shifts, drows = dense
    for g in range(rows.shape[0]):
        r, s = rows[g], shifts[g]
        x0 = _src_row(src, r, s, 0, src_base, unit, length)
        x1 = _src_row(src, r, s, 1, src_base, unit, length)
        x2 = _src_row(src, r, s, 2, src_base, unit, length)
        x3 = _src_row(src, r, s, 3, src_base, unit, length)
        x4 = _src_row(src, r, s, 4, src_base, unit, length)
        x5 = _src_row(src, r, s, 5, src_base, unit, length)
        for i in range(mat.shape[0]):
            y = dst[drows[g, i], dst_base:dst_base + length]
            c0, c1, c2, c3, c4, c5 = mat[i, 0], mat[i, 1], mat[i, 2], mat[i, 3], mat[i, 4], \
                mat[i, 5]
            for q in range(length):
                y[q] = (c0 * x0[q] + c1 * x1[q] + c2 * x2[q] + c3 * x3[q] + c4 * x4[q]
                        + c5 * x5[q])


@njit(cache=True, nogil=True, no_cpython_wrapper=True)
def _deinterleave(P, planes, length):
    """planes[k*i + j, f] = P[i, k*f + j] for f < length, k = P's rows (4, or 2 for the pool
    windows of a tile): the staged rows P (k, k*length), row i holding the rows of residue i
    (mod k) of every lane side by side, split into the k*k planes by their columns' residue
    j. One long loop per row of P, its stride written as a constant, so that LLVM vectorises
    it."""
    if P.shape[0] == 4:
        for i in range(4):
            for f in range(length):
                planes[4 * i, f] = P[i, 4 * f]
                planes[4 * i + 1, f] = P[i, 4 * f + 1]
                planes[4 * i + 2, f] = P[i, 4 * f + 2]
                planes[4 * i + 3, f] = P[i, 4 * f + 3]
    else:
        for i in range(2):
            for f in range(length):
                planes[2 * i, f] = P[i, 2 * f]
                planes[2 * i + 1, f] = P[i, 2 * f + 1]


@njit(cache=True, nogil=True, no_cpython_wrapper=True)
def _interleave(planes, P, length):
    """``_deinterleave``'s inverse: P[i, k*f + j] = planes[k*i + j, f] for f < length."""
    if P.shape[0] == 4:
        for i in range(4):
            for f in range(length):
                P[i, 4 * f] = planes[4 * i, f]
                P[i, 4 * f + 1] = planes[4 * i + 1, f]
                P[i, 4 * f + 2] = planes[4 * i + 2, f]
                P[i, 4 * f + 3] = planes[4 * i + 3, f]
    else:
        for i in range(2):
            for f in range(length):
                P[i, 2 * f] = planes[2 * i, f]
                P[i, 2 * f + 1] = planes[2 * i + 1, f]


@njit(cache=True, nogil=True, no_cpython_wrapper=True)
def _output_block(M, o0, nb, Lc, out_down, out_across, S, Z):
    """Z (16, nb*Lc) = A^T M A for the lanes of output channels o0..o0 + nb - 1: A^T down (M
    -> S, 24 planes), then across (S -> Z)."""
    zero, one = np.int64(0), np.int64(1)  # not literals: see _grouped
    _grouped(out_down, M, o0 * Lc, one, S, zero, nb * Lc)
    _grouped(out_across, S, zero, one, Z, zero, nb * Lc)


@njit(cache=True, nogil=True, no_cpython_wrapper=True)
def _grad_block(planes, o0, nb, Lc, grad_across, grad_down, S, dM):
    """dM's lanes of output channels o0..o0 + nb - 1 = A dY A^T from dY's phase planes (17,
    nb*Lc, the last one 0: ZERO_DY): A across (planes -> S, 24 planes and a last one kept 0,
    ZERO_DS), then down (S -> dM)."""
    zero, one = np.int64(0), np.int64(1)  # not literals: see _grouped
    _grouped(grad_across, planes, zero, one, S, zero, nb * Lc)
    _grouped(grad_down, S, zero, one, dM, o0 * Lc, nb * Lc)


@njit(cache=True, nogil=True)
def _input_tiles(x, n, V, pt, pl, TH, TS, in_down, in_across, P, planes, R):
    """V (36, C*Lc + 1) = B^T d B for every input tile d of x[n] (C, H, W) zero-padded by
    (pt, pl). In blocks of B channels (B from P's shape): x's rows are staged in P (4,
    4*B*Lc), padded row u of the block's channel c at P[u % 4, 4*(c*Lc + (u // 4)*TS) + its
    padded column] (a tile row of TS tiles spans 4*TS columns); ``_deinterleave`` splits them
    into the phase planes (16, B*Lc + TS + 1), and the two passes through R (24, B*Lc + TS +
    1) make the block's lanes of V (entries past a lane's T tiles hold values no GEMM reads).
    P and planes: zeroed by the caller and written by no other call, so the padding, the
    columns and rows past x and the planes' tails stay 0 (every block writes the same
    entries of its lanes)."""
    zero, one = np.int64(0), np.int64(1)  # not literals: see _grouped
    C, H, W = x.shape[1], x.shape[2], x.shape[3]
    Lc = TH * TS + TS + 1
    B = P.shape[1] // (m * Lc)
    width = W if W < m * TS - pl else m * TS - pl  # x's columns inside the planes
    for c0 in range(0, C, B):
        nb = B if C - c0 > B else C - c0
        for c in range(nb):
            for y in range(H):
                u = y + pt  # padded row; tiles read rows up to 4*TH + 1
                if u >= m * (TH + 1):
                    break
                off = m * (c * Lc + (u >> 2) * TS) + pl
                dst, src = P[u & 3, off:off + width], x[n, c0 + c, y]
                for b in range(width):
                    dst[b] = src[b]
        _deinterleave(P, planes, nb * Lc)
        _grouped(in_down, planes, zero, TS, R, zero, nb * Lc)
        _grouped(in_across, R, zero, one, V, c0 * Lc, nb * Lc)


@njit(cache=True, nogil=True, fastmath={"reassoc"})  # reassoc: the dbias sum vectorises
def _grad_tiles(dout, r, n, dM, partial, relu, TS, grad_across, grad_down, P, planes, S):
    """dM (36, O*Lc) = A dY A^T per tile, dY = dout[n] (O, OH, OW), masked by r > 0 with ReLU
    (as a product, the reference's dr * (r > 0): it vectorises, a select does not);
    partial[n, o] = that image's dbias share, float64. In blocks of B output channels (from
    P's shape): dY's rows are staged in P (4, 4*B*Lc) as x's in ``_input_tiles`` (no
    padding) and split into the phase planes (17, B*Lc: plane 4i + j holds output (i, j) of
    every tile, Z's layout); then the adjoints of the output transform's passes through S
    (25, B*Lc), by ``_grad_block``. P: zeroed by the caller and written by no other call (0
    past the output's edge, on the spare tiles and past each lane's T tiles, so dM is 0
    there)."""
    O, OH, OW = dout.shape[1], dout.shape[2], dout.shape[3]
    Lc = dM.shape[1] // O
    B = P.shape[1] // (m * Lc)
    keep_all = not relu
    for o0 in range(0, O, B):
        nb = B if O - o0 > B else O - o0
        for o in range(nb):
            acc = 0.0
            for y in range(OH):
                off = m * (o * Lc + (y >> 2) * TS)
                dst, src, mask = P[y & 3, off:off + OW], dout[n, o0 + o, y], r[n, o0 + o, y]
                for b in range(OW):
                    v = src[b] * ((mask[b] > 0) | keep_all)
                    dst[b] = v
                    acc += v
            partial[n, o0 + o] = acc
        _deinterleave(P, planes, nb * Lc)
        _grad_block(planes, o0, nb, Lc, grad_across, grad_down, S, dM)


@njit(cache=True, nogil=True)
def _output(M, n, bias, out, relu, TS, out_down, out_across, S, Z, Q):
    """out[n, o] = A^T M A + bias (ReLU when asked); M (36, O*Lc). In blocks of B output
    channels (from S's shape): the two passes through S (24, B*Lc) into Z (16, B*Lc),
    ``_interleave`` into Q (4, 4*B*Lc), the rows of the output tiles side by side (as
    ``_input_tiles`` stages x), then Q's rows with the bias (and ReLU) into out's (outputs
    past OH or OW dropped, the spare tiles never read)."""
    O, OH, OW = out.shape[1], out.shape[2], out.shape[3]
    Lc = M.shape[1] // O
    B = S.shape[1] // Lc
    for o0 in range(0, O, B):
        nb = B if O - o0 > B else O - o0
        _output_block(M, o0, nb, Lc, out_down, out_across, S, Z)
        _interleave(Z, Q, nb * Lc)
        for o in range(nb):
            bo = bias[o0 + o]
            for y in range(OH):
                off = m * (o * Lc + (y >> 2) * TS)
                src, dst = Q[y & 3, off:off + OW], out[n, o0 + o, y]
                for b in range(OW):
                    v = src[b] + bo
                    dst[b] = v if v > 0 or not relu else 0


@njit(cache=True, nogil=True)
def _output_pool(M, n, bias, pooled, which, TS, out_down, out_across, S, Z, P, Q):
    """The 2x2 / stride-2 max-pool of ReLU(A^T M A + bias), without the conv output: the pool
    windows tile each 4x4 output tile, window (wi, wj) covering its outputs 2wi..2wi + 1 by
    2wj..2wj + 1. In blocks of output channels as ``_output``: Z, then per window of the tile
    one flat pass over a lane for its maximum (P[w], w = 2wi + wj) and the index 0..3 of its
    first maximum, row-major, as max-pool's (P[4 + w], as a float); ``_interleave`` into Q (4,
    2*B*Lc), the pool rows of each residue side by side (maxima in rows 0-1, winners in rows
    2-3), then Q's rows into pooled and which (N, O, OH // 2, OW // 2; int8): an odd OH or OW
    leaves the conv output's last row or column out, as the pool's floor mode does."""
    O, PH, PW = pooled.shape[1], pooled.shape[2], pooled.shape[3]
    Lc = M.shape[1] // O
    B = S.shape[1] // Lc
    for o0 in range(0, O, B):
        nb = B if O - o0 > B else O - o0
        _output_block(M, o0, nb, Lc, out_down, out_across, S, Z)
        for o in range(nb):
            bo = bias[o0 + o]
            for w in range(4):
                k0, lo = m * 2 * (w >> 1) + 2 * (w & 1), o * Lc  # plane of output (0, 0)
                z00, z01 = Z[k0, lo:lo + Lc], Z[k0 + 1, lo:lo + Lc]
                z10, z11 = Z[k0 + m, lo:lo + Lc], Z[k0 + m + 1, lo:lo + Lc]
                top_row, win_row = P[w, lo:lo + Lc], P[4 + w, lo:lo + Lc]
                for f in range(Lc):
                    v00, v01 = z00[f] + bo, z01[f] + bo
                    v10, v11 = z10[f] + bo, z11[f] + bo
                    v00 = v00 if v00 > 0 else 0  # the ReLU, as _output's (NaN -> 0: so the
                    v01 = v01 if v01 > 0 else 0  # window holds no NaN)
                    v10 = v10 if v10 > 0 else 0
                    v11 = v11 if v11 > 0 else 0
                    e = v00 if v00 >= v01 else v01
                    g = v10 if v10 >= v11 else v11
                    top = e if e >= g else g
                    # the first maximum, row-major: 0 if v00 == top, else 1 if v01, else 2 if
                    # v10, else 3 (as pool2d.first_max4_index, without NaN)
                    win_row[f] = (v00 != top) * (1 + (v01 != top) * (1 + (v10 != top)))
                    top_row[f] = top
        _interleave(P[:4], Q[:2], nb * Lc)  # the maxima
        _interleave(P[4:], Q[2:], nb * Lc)  # the winners
        for o in range(nb):
            for py in range(PH):
                off = 2 * (o * Lc + (py >> 1) * TS)
                top_row, win_row = Q[py & 1, off:off + PW], Q[2 + (py & 1), off:off + PW]
                dst, win = pooled[n, o0 + o, py], which[n, o0 + o, py]
                for b in range(PW):
                    dst[b] = top_row[b]
                    win[b] = np.int8(win_row[b])


@njit(cache=True, nogil=True, fastmath={"reassoc"})  # reassoc: the dbias sum vectorises
def _pooled_grad_tiles(dpool, pooled, which, n, dM, partial, TS, grad_across, grad_down, Pg,
                       Gw, planes, S):
    """dM (36, O*Lc) = A dY A^T per tile for the pooled forward: dY, the gradient at the conv
    output, is dpool routed to each window's recorded winner and masked by the ReLU (times
    pooled > 0, the winner's output, as the reference's dr * (r > 0)). In blocks of B output
    channels (from S's shape): the masked gradient and the winners (as floats) are staged in
    Pg (4, 2*B*Lc), rows 0-1 and 2-3, as ``_output_pool`` wrote them, with the dbias shares
    partial[n, o] (float64), and split by ``_deinterleave`` into the window planes Gw (8, B*Lc:
    window w = 2wi + wj's gradient in plane w, its winner in plane 4 + w); one flat pass per
    window writes its four outputs' phase planes (the winner's with the gradient, the others
    0), and ``_grad_block`` makes dM as in ``_grad_tiles``. Pg: zeroed by the caller and
    written by no other call, so outputs no window covers get 0."""
    O, PH, PW = dpool.shape[1], dpool.shape[2], dpool.shape[3]
    Lc = dM.shape[1] // O
    B = S.shape[1] // Lc
    for o0 in range(0, O, B):
        nb = B if O - o0 > B else O - o0
        for o in range(nb):
            acc = 0.0
            for py in range(PH):
                off = 2 * (o * Lc + (py >> 1) * TS)
                g_row, w_row = Pg[py & 1, off:off + PW], Pg[2 + (py & 1), off:off + PW]
                d, p, w = dpool[n, o0 + o, py], pooled[n, o0 + o, py], which[n, o0 + o, py]
                for b in range(PW):
                    g = d[b] * (p[b] > 0)
                    g_row[b] = g
                    w_row[b] = w[b]
                    acc += g
            partial[n, o0 + o] = acc
        _deinterleave(Pg[:2], Gw[:4], nb * Lc)  # the gradients
        _deinterleave(Pg[2:], Gw[4:], nb * Lc)  # the winners
        for w in range(4):
            k0, L = m * 2 * (w >> 1) + 2 * (w & 1), nb * Lc
            g_row, w_row = Gw[w, :L], Gw[4 + w, :L]
            d00, d01 = planes[k0, :L], planes[k0 + 1, :L]
            d10, d11 = planes[k0 + m, :L], planes[k0 + m + 1, :L]
            for f in range(L):
                g, win = g_row[f], w_row[f]
                d00[f] = g * (win == 0)
                d01[f] = g * (win == 1)
                d10[f] = g * (win == 2)
                d11[f] = g * (win == 3)
        _grad_block(planes, o0, nb, Lc, grad_across, grad_down, S, dM)


@njit(cache=True, nogil=True)
def _grad_input_tiles(dVp, dx, n, pt, pl, TH, TS, dx_across, dx_across_shift, dx_down,
                      dx_down_shift, E, Rp, F, planes, P):
    """dx[n, c] = the padding-cropped sum over tiles of B dV B^T. dVp (36, C*Lc + 1) holds
    tile t of channel c at c*Lc + 1 + t, and 0 at c*Lc, at c*Lc + T + 1..c*Lc + Lc - 1 and at
    the end. In blocks of B channels (from P's shape): E = B dV across (E (37, B*Lc + 1), E's
    entry e at dVp's c0*Lc + e), its shifts added back into Rp (24, TS + B*Lc): the block's
    channel c's dR(q) at Rp[c*Lc + TS + q] for q <= T, and the zeros around dV make Rp 0 at
    the TS entries before each lane's values (the first lane's are zeroed by the caller and
    never written); then F = B dR down (F (25, TS + B*Lc)), its shifts (0 and one tile row
    back, reading those zeros for q < TS) into the phase planes (16, B*Lc), ``_interleave``
    into P (4, 4*B*Lc), laid out as ``_input_tiles`` stages x, and P's rows into dx's, the
    padding cut away (columns and rows past the planes get 0). E's and F's last planes
    (ZERO_E, ZERO_F): zeroed by the caller and never written."""
    zero, one = np.int64(0), np.int64(1)  # not literals: see _grouped
    C, H, W = dx.shape[1], dx.shape[2], dx.shape[3]
    Lc = TH * TS + TS + 1
    B = P.shape[1] // (m * Lc)
    width = W if W < m * TS - pl else m * TS - pl
    for c0 in range(0, C, B):
        nb = B if C - c0 > B else C - c0
        _grouped(dx_across, dVp, c0 * Lc, one, E, zero, nb * Lc + 1)
        _grouped(dx_across_shift, E, one, one, Rp, TS, nb * Lc)
        _grouped(dx_down, Rp, zero, one, F, zero, TS + nb * Lc)
        _grouped(dx_down_shift, F, TS, TS, planes, zero, nb * Lc)
        _interleave(planes, P, nb * Lc)
        for c in range(nb):
            for y in range(H):
                u = y + pt
                dst = dx[n, c0 + c, y]
                h = width if u < m * (TH + 1) else 0  # the row's columns inside the planes
                if h > 0:
                    off = m * (c * Lc + (u >> 2) * TS) + pl
                    src = P[u & 3, off:off + h]
                    for b in range(h):
                        dst[b] = src[b]
                for b in range(h, W):
                    dst[b] = 0


def tiles(OH: int, OW: int) -> tuple[int, int]:
    """(TH, TW): 4x4 output tiles down and across."""
    return -(-OH // m), -(-OW // m)


def lanes(buf, channels: int, Lc: int, T: int):
    """The (K, channels, T) view of the GEMMs on a flat (K, channels*Lc + ...) buffer: the
    first T entries of each channel's lane (rows Lc apart, which BLAS takes as its leading
    dimension). Never a copy."""
    return np.reshape(buf[:, :channels * Lc], (buf.shape[0], channels, Lc), copy=False)[:, :, :T]


def _scratch(n_workers, shapes, dtype):
    """One list of workspace buffers per worker, of the given shapes."""
    return [[ws.empty(shape, dtype) for shape in shapes] for _ in range(n_workers)]


def _zeroed(n_workers, shapes, dtype):
    """As ``_scratch``, zero-filled: the kernels' never-written borders."""
    return [[np.zeros(shape, dtype) for shape in shapes] for _ in range(n_workers)]


def weight_transform(weight):
    """U (36, O, C) = G g G^T per (o, c), position xi = 6i + j, for weight (O, C, 3, 3): one
    float64 GEMM with GG (G holds thirds and fifteenths), returned in weight's dtype. Called
    with BLAS single-threaded (``forward``): OpenBLAS's own threads would spin on the cores
    the workers need."""
    O, C = weight.shape[:2]
    U = GG @ weight.reshape(O * C, 9).T.astype(np.float64)
    return U.astype(weight.dtype).reshape(a * a, O, C)


def weight_gradient(dU):
    """dg (O, C, 3, 3) = G^T dU G, the adjoint of ``weight_transform``; dU (36, O, C)."""
    O, C = dU.shape[1:]
    dg = dU.reshape(a * a, O * C).T.astype(np.float64) @ GG
    return dg.astype(dU.dtype).reshape(O, C, 3, 3)


def dU_reads_v_transposed(O: int, C: int, T: int) -> bool:
    """Does the backward's per-image dU (36 GEMMs (O, T) @ (T, C)) read V (36, C, T) as the
    transposed operand of BLAS's NT form (True), or a (36, T, C) copy of V^T in the NN form
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
    the 2x2 / stride-2 max-pool of the ReLU output, made by ``_output_pool`` from the tiles,
    the conv output never written."""
    N, C = x.shape[:2]
    O = weight.shape[0]
    TH, TW = tiles(OH, OW)
    TS = TW + 1
    T = TH * TS  # tiles per image, the spare one per tile row included
    Lc = T + TS + 1
    cb, ob = min(BLOCK, C), min(BLOCK, O)  # channels per block, input and output
    if pool:
        out = ws.empty((N, O, OH // 2, OW // 2), x.dtype)
        which = ws.empty(out.shape, np.int8)
    else:
        out = ws.empty((N, O, OH, OW), x.dtype)
    _, n_workers = _threads.workers()
    scratch = _scratch(n_workers, [(a * a, C * Lc + 1), (a * m, cb * Lc + TS + 1),
                                   (m * a, ob * Lc), (m * m, ob * Lc), (a * a, O * Lc)]
                       + ([(8, ob * Lc), (4, 2 * ob * Lc)] if pool else [(m, m * ob * Lc)]),
                       x.dtype)
    for M in (s[4] for s in scratch):  # lanes past T tiles, never written by the GEMMs: 0
        np.reshape(M, (a * a, O, Lc), copy=False)[:, :, T:] = 0
    zeroed = _zeroed(n_workers, [(m, m * cb * Lc), (m * m, cb * Lc + TS + 1)], x.dtype)

    def image(worker, n):
        V, R, S, Z, M = scratch[worker][:5]
        P, planes = zeroed[worker]
        _input_tiles(x, n, V, pt, pl, TH, TS, PLAN.in_down, PLAN.in_across, P, planes, R)
        np.matmul(U, lanes(V, C, Lc, T), out=lanes(M, O, Lc, T))  # 36 GEMMs
        if pool:
            _output_pool(M, n, bias, out, which, TS, PLAN.out_down, PLAN.out_across, S, Z,
                         *scratch[worker][5:])
        else:
            _output(M, n, bias, out, relu, TS, PLAN.out_down, PLAN.out_across, S, Z,
                    scratch[worker][5])

    with _threads.single_threaded_blas():  # the weight transform too (weight_transform)
        U = weight_transform(weight)  # (36, O, C)
        _threads.run_tasks(image, N)
    return ((out, which) if pool else out), U


def backward(dout, r, x, U, pt, pl, relu, need_dx=True, pool=None):
    """Gradients of ``forward``: (dx (N, C, H, W) or None without need_dx, dweight
    (O, C, 3, 3), dbias partials); each image's V is recomputed from x (contiguous) rather
    than kept, in forward's lanes. With ``pool`` = (pooled, which, OH, OW), forward's pooled
    output, its winner indices and the conv output's size: dout is the pooled output's
    gradient, and each image's dY comes from it by ``_pooled_grad_tiles`` (r and relu
    unused)."""
    N, O, OH, OW = dout.shape
    if pool is not None:
        pooled, which, OH, OW = pool
    C = x.shape[1]
    TH, TW = tiles(OH, OW)
    TS = TW + 1
    T = TH * TS
    Lc = T + TS + 1
    dt = dout.dtype
    _, n_workers = _threads.workers()
    cb, ob = min(BLOCK, C), min(BLOCK, O)
    nt = dU_reads_v_transposed(O, C, T)
    # V and then dV (each lane's T tiles one entry on, between zeros) share a buffer
    scratch = _scratch(n_workers, [(a * a, O * Lc), (a * a, C * Lc + 1), (a * m, cb * Lc + TS + 1),
                                   (m * m, cb * Lc), (m, m * cb * Lc), (8, ob * Lc)]
                       + ([] if nt else [(a * a, T, C)]), dt)
    # with a last plane 0 each (ZERO_DS, ZERO_DY, ZERO_E, ZERO_F): S, dY's planes, E, F
    zeroed = _zeroed(n_workers, [(m, m * cb * Lc), (m * m, cb * Lc + TS + 1), (a * m, TS + cb * Lc),
                                 (4, 2 * ob * Lc) if pool is not None else (m, m * ob * Lc),
                                 (m * a + 1, ob * Lc), (m * m + 1, ob * Lc),
                                 (a * a + 1, cb * Lc + 1), (a * m + 1, TS + cb * Lc)], dt)
    # dU per image, summed in image order afterwards (bits independent of the scheduling)
    dUn = ws.empty((N, a * a, O, C), dt)
    partial = np.empty((N, O), dtype=np.float64)
    dx = ws.empty(x.shape, dt) if need_dx else None
    Ut = U.transpose(0, 2, 1)

    def image(worker, n):
        dM, V, R, dx_planes, dx_P, windows = scratch[worker][:6]
        P, planes, Rp, g_P, S, g_planes, E, F = zeroed[worker]
        if pool is not None:
            _pooled_grad_tiles(dout, pooled, which, n, dM, partial, TS, PLAN.grad_across,
                               PLAN.grad_down, g_P, windows, g_planes, S)
        else:
            _grad_tiles(dout, r, n, dM, partial, relu, TS, PLAN.grad_across, PLAN.grad_down,
                        g_P, g_planes, S)
        _input_tiles(x, n, V, pt, pl, TH, TS, PLAN.in_down, PLAN.in_across, P, planes, R)
        dM3, V3 = lanes(dM, O, Lc, T), lanes(V, C, Lc, T)
        # dU = dM @ V^T contracts both operands along their rows: BLAS's NT form, or the NN
        # form on a copy of V^T (dU_reads_v_transposed)
        if nt:
            np.matmul(dM3, V3.transpose(0, 2, 1), out=dUn[n])  # (36, O, C)
        else:
            Vt = scratch[worker][6]
            np.copyto(Vt, V3.transpose(0, 2, 1))  # (36, T, C)
            np.matmul(dM3, Vt, out=dUn[n])
        if need_dx:  # V is dead: dV of lane c at c*Lc + 1.., zeros around it
            V[:, C * Lc] = 0
            dV = np.reshape(V[:, :C * Lc], (a * a, C, Lc), copy=False)
            dV[:, :, 0] = 0
            dV[:, :, T + 1:] = 0
            np.matmul(Ut, dM3, out=dV[:, :, 1:T + 1])  # BLAS writes the strided rows
            _grad_input_tiles(V, dx, n, pt, pl, TH, TS, PLAN.dx_across, PLAN.dx_across_shift,
                              PLAN.dx_down, PLAN.dx_down_shift, E, Rp, F, dx_planes, dx_P)

    with _threads.single_threaded_blas():  # the weight gradient too (weight_transform)
        _threads.run_tasks(image, N)
        dweight = weight_gradient(dUn.sum(axis=0))
    return dx, dweight, partial
