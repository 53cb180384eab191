"""Winograd F(2x2, 3x3) for the stride-1, dilation-1 3x3 convolution, forward and backward.

Lavin and Gray's minimal filtering: a 2x2 output tile of a 3x3 correlation is
``Y = A^T [(G g G^T) * (B^T d B)] A`` for the 4x4 input tile ``d`` (tiles overlap by 2),
with the constant matrices below, so one tile costs 16 multiplies per (o, c) pair instead of
36. Summed over the input channels, the elementwise products become 16 independent GEMMs,
one per position xi of the 4x4 transformed tile (dimension letters as in conv2d.py; T the
number of tiles of one image TH*TW, TH = ceil(OH/2), TW = ceil(OW/2)). The batch is split
into images, and each worker of ``_threads`` (one per core, BLAS single-threaded in it) runs
one image's whole pipeline with buffers that stay in its L2 cache::

    U[xi] = (G g G^T)[xi]   (16, O, C)   weight transform (NumPy: O*C*16 values), once
    V[xi] = (B^T d B)[xi]   (16, C, T)   input transform of image n (numba, serial)
    M     = U @ V           (16, O, T)   16 BLAS GEMMs
    out[n] = A^T M A        tile by tile, + bias (+ ReLU), into NCHW

The backward is the exact adjoint of each step (so it is the gradient of the computation
the forward did, which equals the convolution's in exact arithmetic), again per image, with
V recomputed from x rather than kept (it is 4x larger than x)::

    dM = A dY A^T           (16, O, T)   dY masked by r > 0 for the fused ReLU; dbias too
    dU += dM @ V^T          (16, O, C)   16 GEMMs per image, summed in image order at the end
    dV = U^T @ dM           (16, C, T)   16 GEMMs
    dx[n] = B dV B^T        added back tile by tile (overlaps add), padding cut away
    dg = G^T dU G

The transforms are memory-bound passes over image planes (a few KiB each, in L1). Each
plane is zero-padded and split into its even and odd columns, so column 2*tx + j of tile tx
is a unit-stride element of one of them, and every transform runs as short passes of one
output row and two or three input rows (which LLVM vectorises; a loop writing all 16 values
of a tile does not). Output tiles past an odd OH or OW are computed and dropped (forward) or
fed zeros (backward).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from tinymm.kernels.numba_cpu import _threads
from tinymm.kernels.numba_cpu import _workspace as ws

G = np.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0.0, 0.0, 1.0]])  # (4, 3)


@njit(cache=True)
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
def _comb(dst, a, sa, b, sb):
    """dst = sa*a + sb*b elementwise (sa, sb are +-1: exact), over dst's length."""
    for q in range(dst.shape[0]):
        dst[q] = sa * a[q] + sb * b[q]


@njit(cache=True)
def _bt_rows(dst, r0, r1, r2, r3):
    """dst[0..3] = B^T applied down the 4 rows r0..r3 (whole rows at a time)."""
    _comb(dst[0], r0, 1, r2, -1)
    _comb(dst[1], r1, 1, r2, 1)
    _comb(dst[2], r2, 1, r1, -1)
    _comb(dst[3], r1, 1, r3, -1)


# The transforms run as short passes of one output row and two input rows each (a tile row
# at a time, along contiguous views with range indices: see conv2d.py), which LLVM
# vectorises; a loop writing all 16 transformed values per tile does not vectorise.
@njit(cache=True, inline="always")
def _input_transform_plane(x, V, n, c, pt, pl, TH, TW):
    """V[:, c, tiles of image 0] = B^T d B for every 4x4 input tile d of x[n, c]; V (16, C,
    TH*TW) holds one image's tiles. Column 2*tx + j of a tile row is even[tx] (j = 0),
    odd[tx] (1), even[tx + 1] (2) or odd[tx + 1] (3) of the split padded plane."""
    xe, xo = _split_plane(x, n, c, pt, pl, 2 * TH + 2, TW)
    rows = np.empty((8, TW + 1), dtype=x.dtype)  # B^T d of the even, odd columns
    for ty in range(TH):
        _bt_rows(rows[0:4], xe[2 * ty], xe[2 * ty + 1], xe[2 * ty + 2], xe[2 * ty + 3])
        _bt_rows(rows[4:8], xo[2 * ty], xo[2 * ty + 1], xo[2 * ty + 2], xo[2 * ty + 3])
        off = ty * TW
        for k in range(4):  # (B^T d) B along each row k
            even, odd = rows[k], rows[4 + k]
            e0, e2, o1, o3 = even[:TW], even[1:], odd[:TW], odd[1:]
            _comb(V[4 * k, c, off:off + TW], e0, 1, e2, -1)
            _comb(V[4 * k + 1, c, off:off + TW], o1, 1, e2, 1)
            _comb(V[4 * k + 2, c, off:off + TW], e2, 1, o1, -1)
            _comb(V[4 * k + 3, c, off:off + TW], o1, 1, o3, -1)


@njit(cache=True, nogil=True)
def _input_transform(x, n, V, pt, pl, TH, TW):
    """V (16, C, TH*TW) = the transformed tiles of image n of x (N, C, H, W); serial."""
    for c in range(x.shape[1]):
        _input_transform_plane(x, V, n, c, pt, pl, TH, TW)


@njit(cache=True, inline="always")
def _comb3(dst, a, sa, b, sb, c, sc):
    """dst = sa*a + sb*b + sc*c elementwise (signs +-1)."""
    for q in range(dst.shape[0]):
        dst[q] = sa * a[q] + sb * b[q] + sc * c[q]


@njit(cache=True, inline="always")
def _neg(dst, a):
    for q in range(dst.shape[0]):
        dst[q] = -a[q]


@njit(cache=True, inline="always")
def _add_into(dst, src):
    for q in range(dst.shape[0]):
        dst[q] += src[q]


@njit(cache=True, nogil=True)
def _output_transform(M, n, bias, out, relu, TH, TW):
    """out[n, o] = A^T M A + bias (ReLU when asked), a tile row at a time; M (16, O, T).
    The tile row's two output rows are built as even/odd columns, interleaved through a
    (TW, 2) view of a (2*TW,) scratch row, then copied (+ bias, clamp) into out; an odd OH or
    OW drops the last row or column."""
    N, O, OH, OW = out.shape
    for o in range(O):
        b = bias[o]
        s = np.empty((8, TW), dtype=out.dtype)  # A^T M: rows s[j] (i = 0), s[4 + j] (i = 1)
        y = np.empty((2, TW, 2), dtype=out.dtype)  # the two output rows, (tx, column parity)
        for ty in range(TH):
            off = ty * TW
            for j in range(4):
                m0, m1 = M[j, o, off:off + TW], M[4 + j, o, off:off + TW]
                m2, m3 = M[8 + j, o, off:off + TW], M[12 + j, o, off:off + TW]
                _comb3(s[j], m0, 1, m1, 1, m2, 1)
                _comb3(s[4 + j], m1, 1, m2, -1, m3, -1)
            for i in range(min(2, OH - 2 * ty)):
                s0, s1, s2, s3 = s[4 * i], s[4 * i + 1], s[4 * i + 2], s[4 * i + 3]
                yi = y[i]
                for tx in range(TW):  # (A^T M) A
                    yi[tx, 0] = s0[tx] + s1[tx] + s2[tx]
                    yi[tx, 1] = s1[tx] - s2[tx] - s3[tx]
                src = yi.reshape(2 * TW)[:OW]
                dst = out[n, o, 2 * ty + i]  # (OW,)
                for z in range(OW):
                    v = src[z] + b
                    dst[z] = v if v > 0 or not relu else 0


@njit(cache=True, nogil=True, fastmath={"reassoc"})  # reassoc: the dbias sum vectorises
def _grad_output_transform(dout, r, n, dM, partial, relu, TH, TW):
    """dM[:, o, t] = A dY A^T per tile; dY = dout masked by r > 0 with ReLU (zero past the
    output's edge), staged per tile row as (TW, 2) views of (2*TW,) rows; partial[n, o] =
    that image's dbias share, summed in float64."""
    N, O, OH, OW = dout.shape
    for o in range(O):
        acc = 0.0
        g = np.zeros((2, 2 * TW), dtype=dout.dtype)  # the tile row's two dY rows
        split = np.empty((4, TW), dtype=dout.dtype)  # even 0, odd 0, even 1, odd 1
        h = np.empty((8, TW), dtype=dout.dtype)  # A dY: even columns h[k], odd h[4 + k]
        for ty in range(TH):
            for i in range(2):
                gi = g[i]
                if 2 * ty + i >= OH:
                    gi[:] = 0
                else:
                    src, mask = dout[n, o, 2 * ty + i], r[n, o, 2 * ty + i]  # (OW,)
                    for z in range(OW):
                        v = src[z] if not relu or mask[z] > 0 else 0
                        gi[z] = v
                        acc += v
                pairs = gi.reshape(TW, 2)
                even, odd = split[2 * i], split[2 * i + 1]
                for tx in range(TW):
                    even[tx] = pairs[tx, 0]
                    odd[tx] = pairs[tx, 1]
            for p in range(2):  # A dY down the columns, even (p = 0) and odd
                g0, g1 = split[p], split[2 + p]
                h[4 * p][:] = g0
                _comb(h[4 * p + 1], g0, 1, g1, 1)
                _comb(h[4 * p + 2], g0, 1, g1, -1)
                _neg(h[4 * p + 3], g1)
            off = ty * TW
            for k in range(4):  # (A dY) A^T along each row k
                he, ho = h[k], h[4 + k]
                dM[4 * k, o, off:off + TW] = he
                _comb(dM[4 * k + 1, o, off:off + TW], he, 1, ho, 1)
                _comb(dM[4 * k + 2, o, off:off + TW], he, 1, ho, -1)
                _neg(dM[4 * k + 3, o, off:off + TW], ho)
        partial[n, o] = acc


@njit(cache=True, nogil=True)
def _grad_input_transform(dV, dx, n, pt, pl, TH, TW):
    """dx[n, c] = the padding-cropped sum over tiles of B dV B^T, accumulated a tile row at
    a time into the split (even/odd column) padded plane: column j of tile tx is even[tx],
    odd[tx], even[tx + 1], odd[tx + 1], each added by its own pass (tiles overlap by 2)."""
    N, C, H, W = dx.shape
    Hp = 2 * TH + 2
    for c in range(C):
        xe = np.zeros((Hp, TW + 1), dtype=dx.dtype)
        xo = np.zeros((Hp, TW + 1), dtype=dx.dtype)
        e = np.empty((16, TW), dtype=dx.dtype)  # dV B^T: row k column j at e[4k + j]
        f = np.empty((4, TW), dtype=dx.dtype)  # B (dV B^T) for one column j, rows 0..3
        for ty in range(TH):
            off = ty * TW
            for k in range(4):
                w0, w1 = dV[4 * k, c, off:off + TW], dV[4 * k + 1, c, off:off + TW]
                w2, w3 = dV[4 * k + 2, c, off:off + TW], dV[4 * k + 3, c, off:off + TW]
                e[4 * k][:] = w0
                _comb3(e[4 * k + 1], w1, 1, w2, -1, w3, 1)
                _comb3(e[4 * k + 2], w1, 1, w2, 1, w0, -1)
                _neg(e[4 * k + 3], w3)
            for j in range(4):
                b0, b1, b2, b3 = e[j], e[4 + j], e[8 + j], e[12 + j]
                f[0][:] = b0
                _comb3(f[1], b1, 1, b2, -1, b3, 1)
                _comb3(f[2], b1, 1, b2, 1, b0, -1)
                _neg(f[3], b3)
                plane = xe if j % 2 == 0 else xo
                shift = j // 2
                for i in range(4):
                    _add_into(plane[2 * ty + i, shift:shift + TW], f[i])
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


def _scratch(n_workers, shapes, dtype):
    """One list of workspace buffers per worker, of the given shapes."""
    return [[ws.empty(shape, dtype) for shape in shapes] for _ in range(n_workers)]


def forward(x, weight, bias, pt, pl, OH, OW, relu):
    """x (N, C, H, W) contiguous, weight (O, C, 3, 3) -> (out (N, O, OH, OW), U)."""
    N, C = x.shape[:2]
    O = weight.shape[0]
    TH, TW = tiles(OH, OW)
    T = TH * TW  # tiles per image
    Gd = G.astype(x.dtype)
    U = np.ascontiguousarray(
        np.einsum("ia,ocab,jb->ijoc", Gd, weight, Gd).reshape(16, O, C))  # (16, O, C)
    out = ws.empty((N, O, OH, OW), x.dtype)
    _, n_workers = _threads.workers()
    scratch = _scratch(n_workers, [(16, C, T), (16, O, T)], x.dtype)

    def image(worker, n):
        V, M = scratch[worker]
        _input_transform(x, n, V, pt, pl, TH, TW)
        np.matmul(U, V, out=M)  # 16 GEMMs, BLAS single-threaded in this worker
        _output_transform(M, n, bias, out, relu, TH, TW)

    _threads.run_tasks(image, N)
    return out, U


def backward(dout, r, x, U, pt, pl, relu, need_dx=True):
    """Gradients of ``forward``: (dx (N, C, H, W) or None without need_dx, dweight
    (O, C, 3, 3), dbias partials); each image's V is recomputed from x (contiguous) rather
    than kept."""
    N, O, OH, OW = dout.shape
    C = x.shape[1]
    TH, TW = tiles(OH, OW)
    T = TH * TW
    _, n_workers = _threads.workers()
    scratch = _scratch(n_workers, [(16, O, T), (16, C, T), (16, T, C)], dout.dtype)
    # dU per image, summed in image order afterwards (bits independent of the scheduling)
    dUn = ws.empty((N, 16, O, C), dout.dtype)
    partial = np.empty((N, O), dtype=np.float64)
    dx = ws.empty(x.shape, dout.dtype) if need_dx else None
    Ut = U.transpose(0, 2, 1)

    def image(worker, n):
        dM, V, Vt = scratch[worker]
        _grad_output_transform(dout, r, n, dM, partial, relu, TH, TW)
        _input_transform(x, n, V, pt, pl, TH, TW)
        # dU = dM @ V^T contracts both operands along their rows (BLAS's NT form), which
        # OpenBLAS runs at about half the rate of the NN form on V's transposed copy
        np.copyto(Vt, V.transpose(0, 2, 1))  # (16, T, C)
        np.matmul(dM, Vt, out=dUn[n])  # (16, O, C)
        if need_dx:
            np.matmul(Ut, dM, out=V)  # dV, in V's buffer
            _grad_input_transform(V, dx, n, pt, pl, TH, TW)

    _threads.run_tasks(image, N)
    Gd = G.astype(dout.dtype)
    dU = dUn.sum(axis=0).reshape(4, 4, O, C)  # (i, j, o, c)
    dweight = np.einsum("ia,ijoc,jb->ocab", Gd, dU, Gd)  # (O, C, 3, 3)
    return dx, np.ascontiguousarray(dweight), partial
