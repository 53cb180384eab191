"""Launch constants shared by the row-wise cuda kernels, and the block-reduction pattern they use.

Block reduction. A block of ``blockDim.x`` threads (a power of two) reduces one value per
thread to one value for the whole block: each thread writes its value into a shared-memory
slot, then a tree halves the number of active threads each round (slot ``tid`` combines with
slot ``tid + stride``), with a barrier between rounds so no thread reads a slot before it is
written. After log2(blockDim.x) rounds slot 0 holds the result, which every thread reads; a
last barrier keeps the next reduction from overwriting slot 0 before everyone has read it.
Every thread of the block must reach every barrier, so kernels never return early from inside
a block: a thread without data contributes the identity (the row's first element for a max,
0 for a sum) instead.

The tree is written once, as the inlined device functions below (``block_sum``,
``block_max``, ``block_sum2``); ``cuda.compile_ptx`` compiles a kernel together with the device
functions it calls, so the PTX tests cover them. Each starts with the barrier that makes every
thread's slot visible and leaves the result in slot 0. A real GPU and the simulator both run
this shared-memory tree (the simulator implements no warp shuffles); on a GPU the last five
rounds could use ``cuda.shfl_down_sync`` inside a warp instead of barriers, which these
kernels do not do.
"""

from __future__ import annotations

from numba import cuda

from tinymm.kernels.numba_cuda._device import SIMULATOR

# The simulator runs every thread as a Python thread, so under NUMBA_ENABLE_CUDASIM=1 the
# row-wise and sequence kernels launch small blocks to keep tests quick; the code is the same.
THREADS_PER_ROW = 8 if SIMULATOR else 128  # threads per row-wise block: a power of two


@cuda.jit(device=True, inline=True)
def _tree(sm, tid, nt, take_max):
    """Barrier, then the halving tree over sm[0:nt] (nt a power of two): slot 0 becomes the
    maximum (``take_max``, a constant at every call site) or the sum."""
    cuda.syncthreads()
    stride = nt // 2
    while stride > 0:
        if tid < stride:
            if take_max:
                if sm[tid + stride] > sm[tid]:
                    sm[tid] = sm[tid + stride]
            else:
                sm[tid] += sm[tid + stride]
        cuda.syncthreads()
        stride //= 2


@cuda.jit(device=True, inline=True)
def block_sum(sm, tid, nt):
    """Barrier, then sm[0] = sum of sm[0:nt] by the halving tree."""
    _tree(sm, tid, nt, False)


@cuda.jit(device=True, inline=True)
def block_max(sm, tid, nt):
    """Barrier, then sm[0] = max of sm[0:nt] by the halving tree."""
    _tree(sm, tid, nt, True)


@cuda.jit(device=True, inline=True)
def block_sum2(sm, tid, nt):
    """Barrier, then both rows of the (2, nt) ``sm`` summed into sm[0, 0] and sm[1, 0]."""
    cuda.syncthreads()
    stride = nt // 2
    while stride > 0:
        if tid < stride:
            sm[0, tid] += sm[0, tid + stride]
            sm[1, tid] += sm[1, tid + stride]
        cuda.syncthreads()
        stride //= 2
