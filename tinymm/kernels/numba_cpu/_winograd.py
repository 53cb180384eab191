"""Winograd F(2x2, 3x3) for the stride-1, dilation-1 3x3 convolution, forward and backward.

Lavin and Gray's minimal filtering: a 2x2 output tile of a 3x3 correlation is
``Y = A^T [(G g G^T) * (B^T d B)] A`` for the 4x4 input tile ``d`` (tiles overlap by 2),
with the constant matrices below, so one tile costs 16 multiplies per (o, c) pair instead of
36. Summed over the input channels, the elementwise products become 16 independent GEMMs,
one per position xi of the 4x4 transformed tile (dimension letters as in conv2d.py; T the
number of tiles N*TH*TW, TH = ceil(OH/2), TW = ceil(OW/2))::

    U[xi] = (G g G^T)[xi]   (16, O, C)   weight transform (NumPy: O*C*16 values)
    V[xi] = (B^T d B)[xi]   (16, C, T)   input transform (numba, parallel over (n, c))
    M     = U @ V           (16, O, T)   16 BLAS GEMMs
    out   = A^T M A         tile by tile, + bias (+ ReLU), into NCHW (numba, over (n, o))

The backward is the exact adjoint of each step (so it is the gradient of the computation
the forward did, which equals the convolution's in exact arithmetic)::

    dM = A dY A^T           (16, O, T)   dY masked by r > 0 for the fused ReLU; dbias too
    dV = U^T @ dM           (16, C, T)   16 GEMMs
    dU = dM @ V^T           (16, O, C)   16 GEMMs, issued as (V @ dM^T)^T
    dx = B dV B^T           added back tile by tile (overlaps add), padding cut away
    dg = G^T dU G

The transforms are memory-bound passes; each (n, c) or (n, o) task works on one image plane
(a few KiB, in L1). Zero padding is applied by copying the plane into a zeroed, padded
scratch plane, so the tile loops have no bounds checks; output tiles past an odd OH or OW
are computed and dropped (forward) or fed zeros (backward).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from tinymm.kernels.numba_cpu import _workspace as ws

G = np.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0.0, 0.0, 1.0]])  # (4, 3)


@njit(cache=True, inline="always")
def _bt(a0, a1, a2, a3):
    """B^T applied to a 4-vector."""
    return a0 - a2, a1 + a2, a2 - a1, a1 - a3


@njit(cache=True, inline="always")
def _at(a0, a1, a2, a3):
    """A^T applied to a 4-vector."""
    return a0 + a1 + a2, a1 - a2 - a3


@njit(cache=True, inline="always")
def _a(g0, g1):
    """A applied to a 2-vector."""
    return g0, g0 + g1, g0 - g1, -g1


@njit(cache=True, inline="always")
def _split_plane(x, n, c, pt, pl, Hp, TW):
    """x[n, c] zero-padded by (pt, pl) into (Hp, 2*TW + 2), kept as its even and odd columns:
    two (Hp, TW + 1) contiguous planes, so column 2*tx + j of a tile is a unit-stride load."""
    xe = np.zeros((Hp, TW + 1), dtype=x.dtype)
    xo = np.zeros((Hp, TW + 1), dtype=x.dtype)
    H, W = x.shape[2], x.shape[3]
    for a in range(min(H, Hp - pt)):
        src = x[n, c, a]
        for b in range(min(W, 2 * TW + 2 - pl)):
            q = b + pl
            if q % 2 == 0:
                xe[a + pt, q // 2] = src[b]
            else:
                xo[a + pt, q // 2] = src[b]
    return xe, xo


@njit(cache=True, inline="always")
def _streams(A, c, off, TW):
    """The 16 rows A[xi, c, off:off + TW] of one tile row (contiguous 1-d views)."""
    return (A[0, c, off:off + TW], A[1, c, off:off + TW], A[2, c, off:off + TW],
            A[3, c, off:off + TW], A[4, c, off:off + TW], A[5, c, off:off + TW],
            A[6, c, off:off + TW], A[7, c, off:off + TW], A[8, c, off:off + TW],
            A[9, c, off:off + TW], A[10, c, off:off + TW], A[11, c, off:off + TW],
            A[12, c, off:off + TW], A[13, c, off:off + TW], A[14, c, off:off + TW],
            A[15, c, off:off + TW])


# Inner loops index 1-d contiguous views with range indices (see conv2d.py on why), so LLVM
# vectorises them over tx.
@njit(cache=True, parallel=True)
def _input_transform(x, V, pt, pl, TH, TW):
    """V[:, c, t] = B^T d B for every 4x4 input tile d of x (N, C, H, W); V (16, C, T)."""
    N, C = x.shape[0], x.shape[1]
    for task in prange(N * C):
        n = task // C
        c = task - n * C
        xe, xo = _split_plane(x, n, c, pt, pl, 2 * TH + 2, TW)
        for ty in range(TH):
            e0, e1, e2, e3 = xe[2 * ty], xe[2 * ty + 1], xe[2 * ty + 2], xe[2 * ty + 3]
            o0, o1, o2, o3 = xo[2 * ty], xo[2 * ty + 1], xo[2 * ty + 2], xo[2 * ty + 3]
            f0, f1, f2, f3 = e0[1:], e1[1:], e2[1:], e3[1:]  # column 2*tx + 2
            g0, g1, g2, g3 = o0[1:], o1[1:], o2[1:], o3[1:]  # column 2*tx + 3
            v = _streams(V, c, (n * TH + ty) * TW, TW)
            for tx in range(TW):
                a00, a10, a20, a30 = _bt(e0[tx], e1[tx], e2[tx], e3[tx])  # B^T d, column 0
                a01, a11, a21, a31 = _bt(o0[tx], o1[tx], o2[tx], o3[tx])
                a02, a12, a22, a32 = _bt(f0[tx], f1[tx], f2[tx], f3[tx])
                a03, a13, a23, a33 = _bt(g0[tx], g1[tx], g2[tx], g3[tx])
                v[0][tx], v[1][tx], v[2][tx], v[3][tx] = _bt(a00, a01, a02, a03)  # (.) B
                v[4][tx], v[5][tx], v[6][tx], v[7][tx] = _bt(a10, a11, a12, a13)
                v[8][tx], v[9][tx], v[10][tx], v[11][tx] = _bt(a20, a21, a22, a23)
                v[12][tx], v[13][tx], v[14][tx], v[15][tx] = _bt(a30, a31, a32, a33)


@njit(cache=True, parallel=True)
def _output_transform(M, bias, out, relu, TH, TW):
    """out[n, o] = A^T M A + bias (ReLU when asked), a row of tiles at a time; M (16, O, T).
    A tile row's two output rows go to even/odd (TW,) scratch rows, then + bias and the ReLU
    clamp while interleaving them into out (an odd OH or OW drops the last row or column)."""
    N, O, OH, OW = out.shape
    for task in prange(N * O):
        n = task // O
        o = task - n * O
        b = bias[o]
        scratch = np.empty((4, TW), dtype=out.dtype)
        ye0, yo0, ye1, yo1 = scratch[0], scratch[1], scratch[2], scratch[3]
        for ty in range(TH):
            m = _streams(M, o, (n * TH + ty) * TW, TW)
            for tx in range(TW):
                s00, s10 = _at(m[0][tx], m[4][tx], m[8][tx], m[12][tx])  # A^T M, column 0
                s01, s11 = _at(m[1][tx], m[5][tx], m[9][tx], m[13][tx])
                s02, s12 = _at(m[2][tx], m[6][tx], m[10][tx], m[14][tx])
                s03, s13 = _at(m[3][tx], m[7][tx], m[11][tx], m[15][tx])
                ye0[tx], yo0[tx] = _at(s00, s01, s02, s03)  # (.) A
                ye1[tx], yo1[tx] = _at(s10, s11, s12, s13)
            for i in range(min(2, OH - 2 * ty)):
                even, odd = scratch[2 * i], scratch[2 * i + 1]
                dst = out[n, o, 2 * ty + i]  # (OW,)
                for z in range(OW):
                    v = (even[z // 2] if z % 2 == 0 else odd[z // 2]) + b
                    dst[z] = v if v > 0 or not relu else 0


@njit(cache=True, parallel=True)
def _grad_output_transform(dout, r, dM, partial, relu, TH, TW):
    """dM[:, o, t] = A dY A^T per tile; dY = dout masked by r > 0 with ReLU, zero past the
    output's edge, staged a tile row at a time as even/odd (TW,) scratch rows; partial[n, o]
    = that image's dbias share, summed in float64."""
    N, O, OH, OW = dout.shape
    for task in prange(N * O):
        n = task // O
        o = task - n * O
        acc = 0.0
        scratch = np.zeros((4, TW), dtype=dout.dtype)
        ge0, go0, ge1, go1 = scratch[0], scratch[1], scratch[2], scratch[3]
        for ty in range(TH):
            for i in range(2):
                even, odd = scratch[2 * i], scratch[2 * i + 1]
                if 2 * ty + i >= OH:
                    even[:] = 0
                    odd[:] = 0
                    continue
                src = dout[n, o, 2 * ty + i]  # (OW,)
                mask = r[n, o, 2 * ty + i]
                for z in range(OW):
                    g = src[z] if not relu or mask[z] > 0 else 0
                    acc += g
                    if z % 2 == 0:
                        even[z // 2] = g
                    else:
                        odd[z // 2] = g
            d = _streams(dM, o, (n * TH + ty) * TW, TW)
            for tx in range(TW):
                h00, h10, h20, h30 = _a(ge0[tx], ge1[tx])  # A dY, column 0
                h01, h11, h21, h31 = _a(go0[tx], go1[tx])
                d[0][tx], d[1][tx], d[2][tx], d[3][tx] = _a(h00, h01)  # (.) A^T
                d[4][tx], d[5][tx], d[6][tx], d[7][tx] = _a(h10, h11)
                d[8][tx], d[9][tx], d[10][tx], d[11][tx] = _a(h20, h21)
                d[12][tx], d[13][tx], d[14][tx], d[15][tx] = _a(h30, h31)
        partial[n, o] = acc


@njit(cache=True, inline="always")
def _b(w0, w1, w2, w3):
    """B applied to a 4-vector (the adjoint of ``_bt``)."""
    return w0, w1 - w2 + w3, w1 + w2 - w0, -w3


@njit(cache=True, parallel=True)
def _grad_input_transform(dV, dx, pt, pl, TH, TW):
    """dx[n, c] = the padding-cropped sum over tiles of B dV B^T. Tiles overlap by 2 rows
    (added row by row) and 2 columns: a tile's columns 2, 3 go to scratch rows first and are
    added to the next tile's columns 0, 1 in a second pass, so no loop carries a dependency."""
    N, C, H, W = dx.shape
    Hp = 2 * TH + 2
    for task in prange(N * C):
        n = task // C
        c = task - n * C
        xe = np.zeros((Hp, TW + 1), dtype=dx.dtype)  # even / odd padded columns
        xo = np.zeros((Hp, TW + 1), dtype=dx.dtype)
        right = np.empty((8, TW), dtype=dx.dtype)  # columns 2, 3 of the 4 rows
        for ty in range(TH):
            v = _streams(dV, c, (n * TH + ty) * TW, TW)
            e0, e1, e2, e3 = xe[2 * ty], xe[2 * ty + 1], xe[2 * ty + 2], xe[2 * ty + 3]
            o0, o1, o2, o3 = xo[2 * ty], xo[2 * ty + 1], xo[2 * ty + 2], xo[2 * ty + 3]
            for tx in range(TW):
                b00, b01, b02, b03 = _b(v[0][tx], v[1][tx], v[2][tx], v[3][tx])  # dV B^T
                b10, b11, b12, b13 = _b(v[4][tx], v[5][tx], v[6][tx], v[7][tx])
                b20, b21, b22, b23 = _b(v[8][tx], v[9][tx], v[10][tx], v[11][tx])
                b30, b31, b32, b33 = _b(v[12][tx], v[13][tx], v[14][tx], v[15][tx])
                c00, c10, c20, c30 = _b(b00, b10, b20, b30)  # B (.), column 0
                c01, c11, c21, c31 = _b(b01, b11, b21, b31)
                c02, c12, c22, c32 = _b(b02, b12, b22, b32)
                c03, c13, c23, c33 = _b(b03, b13, b23, b33)
                e0[tx] += c00
                e1[tx] += c10
                e2[tx] += c20
                e3[tx] += c30
                o0[tx] += c01
                o1[tx] += c11
                o2[tx] += c21
                o3[tx] += c31
                right[0, tx], right[1, tx], right[2, tx], right[3, tx] = c02, c12, c22, c32
                right[4, tx], right[5, tx], right[6, tx], right[7, tx] = c03, c13, c23, c33
            for k in range(4):
                fe, fo = xe[2 * ty + k, 1:], xo[2 * ty + k, 1:]
                re, ro = right[k], right[4 + k]
                for tx in range(TW):
                    fe[tx] += re[tx]
                    fo[tx] += ro[tx]
        for a in range(H):
            dst = dx[n, c, a]
            if a + pt >= Hp:
                dst[:] = 0
                continue
            for b in range(W):
                q = b + pl
                dst[b] = 0 if q >= 2 * TW + 2 else (xe[a + pt, q // 2] if q % 2 == 0
                                                     else xo[a + pt, q // 2])


def tiles(OH: int, OW: int) -> tuple[int, int]:
    return (OH + 1) // 2, (OW + 1) // 2


def forward(x, weight, bias, pt, pl, OH, OW, relu):
    """x (N, C, H, W) contiguous, weight (O, C, 3, 3) -> (out (N, O, OH, OW), V, U)."""
    N, C = x.shape[:2]
    O = weight.shape[0]
    TH, TW = tiles(OH, OW)
    T = N * TH * TW
    Gd = G.astype(x.dtype)
    U = np.ascontiguousarray(
        np.einsum("ia,ocab,jb->ijoc", Gd, weight, Gd).reshape(16, O, C))  # (16, O, C)
    V = ws.empty((16, C, T), x.dtype)  # (16, C, T)
    _input_transform(x, V, pt, pl, TH, TW)
    M = ws.empty((16, O, T), x.dtype)  # (16, O, T)
    np.matmul(U, V, out=M)  # 16 BLAS GEMMs
    out = ws.empty((N, O, OH, OW), x.dtype)
    _output_transform(M, bias, out, relu, TH, TW)
    return out, V, U


def backward(dout, r, V, U, x_shape, pt, pl, relu):
    """Gradients of ``forward``: (dx (N, C, H, W), dweight (O, C, 3, 3), dbias partials)."""
    N, O, OH, OW = dout.shape
    C = x_shape[1]
    TH, TW = tiles(OH, OW)
    T = N * TH * TW
    dM = ws.empty((16, O, T), dout.dtype)  # (16, O, T)
    partial = np.empty((N, O), dtype=np.float64)
    _grad_output_transform(dout, r, dM, partial, relu, TH, TW)
    dUt = ws.empty((16, C, O), dout.dtype)
    np.matmul(V, dM.transpose(0, 2, 1), out=dUt)  # (16, C, O) = dU^T
    dV = ws.empty((16, C, T), dout.dtype)  # (16, C, T)
    np.matmul(U.transpose(0, 2, 1), dM, out=dV)
    del dM
    dx = ws.empty(x_shape, dout.dtype)
    _grad_input_transform(dV, dx, pt, pl, TH, TW)
    Gd = G.astype(dout.dtype)
    dU = dUt.reshape(4, 4, C, O)  # (i, j, c, o)
    dweight = np.einsum("ia,ijco,jb->ocab", Gd, dU, Gd)  # (O, C, 3, 3)
    return dx, np.ascontiguousarray(dweight), partial
