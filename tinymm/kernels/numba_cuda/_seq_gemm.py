"""A tiled shared-memory GEMM with transpose flags, and a column sum, for the sequence kernels.

The RNN/LSTM wrappers need ``x @ W^T`` (the input projection of every time step at once),
``da^T @ x`` and ``da^T @ h_prev`` (the weight gradients summed over time) and ``da @ W`` (dx):
one routine ``gemm(a, b, out, trans_a, trans_b, accumulate)`` computing
``out (M, P) (+)= op(a) (M, K) @ op(b) (K, P)`` with ``op`` the identity or the transpose.
This is a private helper of rnn.py and lstm.py, kept separate from the matmul kernels of
``matmul.py`` so the sequence kernels do not depend on their launch policy; it is the plain
teaching GEMM, not the register-blocked one.

Tiles. Each block computes a TILE x TILE tile of ``out`` with one thread per output element.
It walks K in steps of TILE: the block first copies a TILE x TILE tile of op(a) and one of
op(b) from global into shared memory (one element per thread, so neighbouring threads read
neighbouring addresses: coalesced), waits at a barrier, then every thread does TILE
multiply-adds from shared memory. Each global element is read by the block once instead of
TILE times. When ``a`` is transposed, the element op(a)[m, k] = a[k, m] that is contiguous in
memory runs along m, so the thread index along the row of the tile reads along m and the
shared tile is written transposed; the tiles have TILE + 1 columns so that those transposed
writes (and the column reads of the multiply loop) fall in different shared-memory banks.
Tiles overhanging the matrix edges load zeros, and only threads inside ``out`` write.
"""

from __future__ import annotations

from numba import cuda

from tinymm.kernels.numba_cuda._device import grid_1d
from tinymm.kernels.numba_cuda._reduce import SIMULATOR

# 16 x 16 = 256 threads per block and two (16, 17) tiles on a GPU; 4 x 4 in the simulator,
# which runs each thread as a Python thread (same code, smaller blocks).
TILE = 4 if SIMULATOR else 16
TILE_PAD = TILE + 1  # one spare column: a tile's column is spread over distinct banks


def _gemm(a, b, out, trans_a, trans_b, accumulate):
    """out (M, P) (+)= op(a) (M, K) @ op(b) (K, P); block (TILE, TILE), one output each."""
    sa = cuda.shared.array((TILE, TILE_PAD), a.dtype)  # sa[m_local, k_local]
    sb = cuda.shared.array((TILE, TILE_PAD), b.dtype)  # sb[k_local, p_local]
    tx = cuda.threadIdx.x
    ty = cuda.threadIdx.y
    row0 = cuda.blockIdx.y * TILE
    col0 = cuda.blockIdx.x * TILE
    M, P = out.shape
    K = a.shape[0] if trans_a else a.shape[1]
    acc = cuda.local.array(1, out.dtype)  # one register of out's dtype
    acc[0] = 0
    for k0 in range(0, K, TILE):
        if trans_a:  # a is (K, M): read along m (contiguous), write the tile transposed
            k, m = k0 + ty, row0 + tx
            sa[tx, ty] = a[k, m] if (k < K and m < M) else 0
        else:  # a is (M, K): read along k
            m, k = row0 + ty, k0 + tx
            sa[ty, tx] = a[m, k] if (m < M and k < K) else 0
        if trans_b:  # b is (P, K): read along k, write transposed
            p, k = col0 + ty, k0 + tx
            sb[tx, ty] = b[p, k] if (p < P and k < K) else 0
        else:  # b is (K, P): read along p
            k, p = k0 + ty, col0 + tx
            sb[ty, tx] = b[k, p] if (k < K and p < P) else 0
        cuda.syncthreads()
        for kk in range(TILE):
            acc[0] += sa[ty, kk] * sb[kk, tx]
        cuda.syncthreads()
    m, p = row0 + ty, col0 + tx
    if m < M and p < P:
        out[m, p] = out[m, p] + acc[0] if accumulate else acc[0]


def _column_sum(a, out, accumulate):
    """out[k] (+)= sum_r a[r, k]: one thread per column, neighbouring threads read neighbours."""
    k = cuda.grid(1)
    R, K = a.shape
    if k < K:
        acc = cuda.local.array(1, out.dtype)
        acc[0] = 0
        for r in range(R):
            acc[0] += a[r, k]
        out[k] = out[k] + acc[0] if accumulate else acc[0]


_GEMM_SIGS = tuple(f"void({t}[:, ::1], {t}[:, ::1], {t}[:, ::1], boolean, boolean, boolean)"
                   for t in ("float32", "float64"))
_COLSUM_SIGS = tuple(f"void({t}[:, ::1], {t}[::1], boolean)" for t in ("float32", "float64"))
PTX_TARGETS = [(_gemm, _GEMM_SIGS), (_column_sum, _COLSUM_SIGS)]

gemm_kernel = cuda.jit(_gemm)
column_sum_kernel = cuda.jit(_column_sum)


def gemm(a, b, out, trans_a=False, trans_b=False, accumulate=False):
    """``out (+)= op(a) @ op(b)`` on the device, all three C-contiguous 2-d device arrays."""
    M, P = out.shape
    if M == 0 or P == 0:
        return out
    grid = ((P + TILE - 1) // TILE, (M + TILE - 1) // TILE)
    gemm_kernel[grid, (TILE, TILE)](a, b, out, bool(trans_a), bool(trans_b), bool(accumulate))
    return out


def column_sum(a, out, accumulate=False):
    """``out (K,) (+)= a (R, K).sum(axis=0)`` on the device."""
    if out.size:
        blocks, threads = grid_1d(out.size)
        column_sum_kernel[blocks, threads](a, out, bool(accumulate))
    return out
