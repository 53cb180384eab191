"""GEMM on the GPU: the matrix product every heavy cuda kernel (matmul, linear, conv2d) runs.

Dimension letters: M rows of the result, P its columns, K the summed (reduction) dimension,
and a leading batch dimension (Ba, Bb, Bc). One call computes, for every batch b::

    C[b, m, p] = sum_k opA(A)[b, m, k] * opB(B)[b, k, p]            C (Bc, M, P)

where ``opA(A)`` is A (Ba, M, K) or, with ``trans_a``, the transpose of A (Ba, K, M), and
``opB(B)`` is B (Bb, K, P) or, with ``trans_b``, the transpose of B (Bb, P, K). A batch
dimension of size 1 broadcasts (the same matrix for every b). With ``reduce_batches`` the
batches are summed into one result, ``C[0] = sum_b opA(A)[b] @ opB(B)[b]``: the reduction
simply continues across batches, which is what a weight gradient needs (conv2d's dW sums over
images, matmul's da sums over a broadcast batch) without a (B, M, P) temporary.

Two kernels compute it; both read A and B through shared-memory tiles and both guard every
load and store, so sizes that are not tile multiples read zeros past the edges and write
nothing there.

1. ``tiled`` (the teaching kernel): a TILE x TILE block of threads computes a TILE x TILE
   block of C, one element per thread. Each step loads one TILE x TILE tile of opA(A) and
   one of opB(B) into shared memory (each thread loads one element of each), synchronises,
   and accumulates TILE products from shared memory. Every element fetched from global memory
   is reused TILE times from shared memory, which divides global traffic by TILE.
   TILE = 16: 256 threads per block (8 warps, enough to hide latency while several blocks
   share an SM); two 16 x 17 tiles are 2 KiB (float32), far under the shared-memory limit;
   consecutive threadIdx.x read consecutive columns of B and write consecutive columns of C,
   so those accesses coalesce. The tiles have TILE + 1 columns: a transposed load writes a
   column of the tile, and with 17 words per row consecutive rows fall in different banks,
   so that store has no bank conflicts (with 16 it would be a 16-way conflict).

2. ``regblock`` (the fast kernel): still 256 threads, but a block computes a BM x BN block of
   C and each thread a TM x TN micro-tile of it, held in registers. Per step of the
   reduction a thread reads TM values of A and TN values of B from shared memory and does
   TM*TN multiply-adds, so shared-memory traffic per FMA drops by a factor
   TM*TN/(TM+TN) (2 for 4x4, 4 for 8x8) and each global element is reused BM (or BN) times.
   Thread (ty, tx) owns rows ty + 16 i and columns tx + 16 j (strided, not a contiguous
   4x4 patch): consecutive tx then read consecutive shared-memory words of the B tile
   (no bank conflicts), and write consecutive columns of C (coalesced). The A tile is stored
   k-major (sA[k, m]) so a thread's TM values for one k are one row of the tile, read as a
   broadcast by the 16 threads that share ty. Configurations: 64 x 64 blocks with 4 x 4
   micro-tiles (BK = 16) for mid-sized products, 128 x 128 with 8 x 8 (BK = 8) for large
   ones, where 64 accumulators per thread still fit in registers.

The host function ``gemm`` picks the kernel from the sizes (``variant`` forces one, for
tests) and launches a (ceil(P / BN), ceil(M / BM), batches) grid.
"""

from __future__ import annotations

import numpy as np
from numba import cuda, float32, float64

from tinymm.kernels.numba_cuda._device import SIMULATOR, empty, fill_kernel, grid_1d, require_device

# The teaching kernel's tile: 16 x 16 threads, one C element each; the register-blocked
# kernel's blocks are 16 x 16 threads as well. The simulator runs each thread in Python, so
# there both are 4 x 4 (the same code; its tests then cross more tile edges).
TILE = 4 if SIMULATOR else 16
THREADS = TILE
TILE_PAD = TILE + 1  # tile row length in shared memory (one spare column: no bank conflicts)
MAX_GRID_YZ = 65535  # CUDA's limit on gridDim.y and gridDim.z


def _make_tiled(dtype):
    """The tiled shared-memory kernel for one dtype (shared arrays need a constant dtype)."""

    def gemm_tiled(A, B, C, trans_a, trans_b, reduce_batches):
        sA = cuda.shared.array((TILE, TILE_PAD), dtype)  # sA[m, k]: a tile of opA(A)
        sB = cuda.shared.array((TILE, TILE_PAD), dtype)  # sB[k, p]: a tile of opB(B)
        tx = cuda.threadIdx.x
        ty = cuda.threadIdx.y
        m0 = cuda.blockIdx.y * TILE
        p0 = cuda.blockIdx.x * TILE
        row = m0 + ty  # the C element this thread computes: C[b, row, col]
        col = p0 + tx
        M = C.shape[1]
        P = C.shape[2]
        K = A.shape[1] if trans_a else A.shape[2]
        batches = max(A.shape[0], B.shape[0]) if reduce_batches else 1
        zero = dtype(0)
        for bz in range(cuda.blockIdx.z, C.shape[0], cuda.gridDim.z):
            acc = zero
            for nb in range(batches):
                b = bz + nb
                ia = b if A.shape[0] > 1 else 0  # a batch of size 1 broadcasts
                ib = b if B.shape[0] > 1 else 0
                for k0 in range(0, K, TILE):
                    if trans_a:  # A[ia, k, m]: consecutive tx read consecutive m
                        m = m0 + tx
                        k = k0 + ty
                        sA[tx, ty] = A[ia, k, m] if m < M and k < K else zero
                    else:  # A[ia, m, k]: consecutive tx read consecutive k
                        k = k0 + tx
                        sA[ty, tx] = A[ia, row, k] if row < M and k < K else zero
                    if trans_b:  # B[ib, p, k]: consecutive tx read consecutive k
                        p = p0 + ty
                        k = k0 + tx
                        sB[tx, ty] = B[ib, p, k] if p < P and k < K else zero
                    else:  # B[ib, k, p]: consecutive tx read consecutive p
                        k = k0 + ty
                        sB[ty, tx] = B[ib, k, col] if k < K and col < P else zero
                    cuda.syncthreads()  # the whole tile is loaded before anyone reads it
                    for kk in range(TILE):
                        acc += sA[ty, kk] * sB[kk, tx]
                    cuda.syncthreads()  # everyone is done with the tile before it is replaced
            if row < M and col < P:
                C[bz, row, col] = acc

    return gemm_tiled


@cuda.jit(device=True, inline=True)
def _stage_k_major(tile, X, ix, k0, m0, K, M, src_k_major, t, loads, nt, width, BK, zero):
    """tile[k, m] = op(X)[k0 + k, m0 + m] for a (BK, width) tile, zeros past K and M.

    ``src_k_major``: X[ix] is stored (K, M), contiguous in m; otherwise (M, K), contiguous in
    k. The block's ``nt`` threads each load ``loads`` elements, consecutive ranks ``t``
    reading consecutive addresses of X (coalesced) in either layout.
    """
    for r in range(loads):
        e = t + nt * r
        if src_k_major:
            k = e // width
            m = e % width
            ok = m0 + m < M and k0 + k < K
            tile[k, m] = X[ix, k0 + k, m0 + m] if ok else zero
        else:
            m = e // BK
            k = e % BK
            ok = m0 + m < M and k0 + k < K
            tile[k, m] = X[ix, m0 + m, k0 + k] if ok else zero


@cuda.jit(device=True, inline=True)
def _multiply_tiles(acc, a_frag, b_frag, sA, sB, tx, ty, BK, TM, TN):
    """acc[i, j] += sum_k sA[k, ty + 16 i] sB[k, tx + 16 j]: the micro-tile's BK steps."""
    for kk in range(BK):
        for i in range(TM):
            a_frag[i] = sA[kk, ty + THREADS * i]
        for j in range(TN):
            b_frag[j] = sB[kk, tx + THREADS * j]
        for i in range(TM):
            for j in range(TN):
                acc[i, j] += a_frag[i] * b_frag[j]


@cuda.jit(device=True, inline=True)
def _store_micro_tile(C, acc, bz, m0, p0, tx, ty, TM, TN):
    """C[bz, m0 + ty + 16 i, p0 + tx + 16 j] = acc[i, j] inside C's bounds."""
    for i in range(TM):
        row = m0 + ty + THREADS * i
        if row < C.shape[1]:
            for j in range(TN):
                col = p0 + tx + THREADS * j
                if col < C.shape[2]:
                    C[bz, row, col] = acc[i, j]


def _make_regblock(dtype, BM, BN, BK, TM, TN):
    """The register-blocked kernel: a BM x BN block of C per 16 x 16 threads, TM x TN each."""
    NT = THREADS * THREADS  # 256 threads per block on a GPU
    A_LOADS = (BM * BK) // NT  # elements of the A tile each thread loads
    B_LOADS = (BK * BN) // NT
    BM_PAD = BM + 1  # shared-memory row lengths: constants, as cuda.shared.array needs
    BN_PAD = BN + 1

    def gemm_regblock(A, B, C, trans_a, trans_b, reduce_batches):
        sA = cuda.shared.array((BK, BM_PAD), dtype)  # sA[k, m], k-major: see the docstring
        sB = cuda.shared.array((BK, BN_PAD), dtype)  # sB[k, p]
        acc = cuda.local.array((TM, TN), dtype)  # the thread's micro-tile, in registers
        a_frag = cuda.local.array(TM, dtype)
        b_frag = cuda.local.array(TN, dtype)
        tx = cuda.threadIdx.x
        ty = cuda.threadIdx.y
        t = ty * THREADS + tx  # 0 .. NT - 1, the thread's rank for the cooperative loads
        m0 = cuda.blockIdx.y * BM
        p0 = cuda.blockIdx.x * BN
        M = C.shape[1]
        P = C.shape[2]
        K = A.shape[1] if trans_a else A.shape[2]
        batches = max(A.shape[0], B.shape[0]) if reduce_batches else 1
        zero = dtype(0)
        for bz in range(cuda.blockIdx.z, C.shape[0], cuda.gridDim.z):
            for i in range(TM):
                for j in range(TN):
                    acc[i, j] = zero
            for nb in range(batches):
                b = bz + nb
                ia = b if A.shape[0] > 1 else 0  # a batch of size 1 broadcasts
                ib = b if B.shape[0] > 1 else 0
                for k0 in range(0, K, BK):
                    # A[ia] is (K, M) when transposed; B[ib] is (K, P) unless transposed
                    _stage_k_major(sA, A, ia, k0, m0, K, M, trans_a, t, A_LOADS, NT, BM, BK,
                                   zero)
                    _stage_k_major(sB, B, ib, k0, p0, K, P, not trans_b, t, B_LOADS, NT, BN,
                                   BK, zero)
                    cuda.syncthreads()
                    _multiply_tiles(acc, a_frag, b_frag, sA, sB, tx, ty, BK, TM, TN)
                    cuda.syncthreads()
            _store_micro_tile(C, acc, bz, m0, p0, tx, ty, TM, TN)

    return gemm_regblock


REGBLOCK_CONFIGS = {  # name -> (BM, BN, BK, TM, TN); BM = THREADS TM and BN = THREADS TN
    "regblock64": (THREADS * 4, THREADS * 4, 16, 4, 4),  # 64 x 64 on a GPU
    "regblock128": (THREADS * 8, THREADS * 8, 8, 8, 8),  # 128 x 128 on a GPU
}

_NB = {np.dtype(np.float32): float32, np.dtype(np.float64): float64}
_SIG = "void({t}[:, :, ::1], {t}[:, :, ::1], {t}[:, :, ::1], int64, int64, int64)"
PTX_TARGETS = []
_KERNELS: dict = {}  # (variant, numpy dtype) -> compiled kernel
for _dt, _nbt in _NB.items():
    _fn = _make_tiled(_nbt)
    _fn.__name__ = f"gemm_tiled_{_dt.name}"
    PTX_TARGETS.append((_fn, (_SIG.format(t=_nbt.name),)))
    _KERNELS["tiled", _dt] = cuda.jit(_fn)
    for _name, _cfg in REGBLOCK_CONFIGS.items():
        _fn = _make_regblock(_nbt, *_cfg)
        _fn.__name__ = f"gemm_{_name}_{_dt.name}"
        PTX_TARGETS.append((_fn, (_SIG.format(t=_nbt.name),)))
        _KERNELS[_name, _dt] = cuda.jit(_fn)

VARIANTS = ("tiled", *REGBLOCK_CONFIGS)


def _pick(M: int, P: int, K: int) -> str:
    """The kernel for a product of this size: big blocks only where they fill up."""
    if M >= 128 and P >= 128 and K >= 8:
        return "regblock128"
    if M >= 64 and P >= 64:
        return "regblock64"
    return "tiled"


def gemm(A, B, trans_a: bool = False, trans_b: bool = False, reduce_batches: bool = False,
         out=None, variant: str | None = None):
    """C = opA(A) @ opB(B) per batch (or summed over batches), on device arrays.

    ``A`` and ``B`` are 3-d C-contiguous device arrays of one dtype (see the module docstring
    for the transposes and the broadcasting of a size-1 batch). Returns C (Bc, M, P), written
    into ``out`` when given.
    """
    require_device("gemm", A=A, B=B, out=out)
    if A.ndim != 3 or B.ndim != 3 or A.dtype != B.dtype:
        raise ValueError(f"gemm: expected two 3-d device arrays of one dtype, received "
                         f"{A.dtype}{tuple(A.shape)} and {B.dtype}{tuple(B.shape)}")
    M, K = (A.shape[2], A.shape[1]) if trans_a else (A.shape[1], A.shape[2])
    K2, P = (B.shape[2], B.shape[1]) if trans_b else (B.shape[1], B.shape[2])
    Ba, Bb = A.shape[0], B.shape[0]
    if K != K2 or (Ba != Bb and 1 not in (Ba, Bb)):
        raise ValueError(f"gemm: opA {(Ba, M, K)} and opB {(Bb, K2, P)} do not multiply")
    batches = 1 if reduce_batches else max(Ba, Bb)
    if out is None:
        out = empty((batches, M, P), A.dtype)
    elif tuple(out.shape) != (batches, M, P) or out.dtype != A.dtype:
        raise ValueError(f"gemm: out must be {A.dtype}{(batches, M, P)}, received "
                         f"{out.dtype}{tuple(out.shape)}")
    if M == 0 or P == 0 or batches == 0:
        return out
    if K == 0 or (reduce_batches and max(Ba, Bb) == 0):
        blocks, threads = grid_1d(out.size)
        fill_kernel[blocks, threads](out.reshape(out.size), out.dtype.type(0))  # empty sum
        return out
    variant = variant or _pick(M, P, K)
    kernel = _KERNELS[variant, np.dtype(A.dtype)]
    bm, bn = (TILE, TILE) if variant == "tiled" else REGBLOCK_CONFIGS[variant][:2]
    grid = ((P + bn - 1) // bn, (M + bm - 1) // bm, min(batches, MAX_GRID_YZ))
    if grid[1] > MAX_GRID_YZ:
        raise ValueError(f"gemm: M = {M} rows need {grid[1]} row blocks, more than CUDA's "
                         f"{MAX_GRID_YZ}; split the product")
    kernel[grid, (THREADS, THREADS)](A, B, out, int(trans_a), int(trans_b), int(reduce_batches))
    return out
