"""Block-wide reductions in shared memory, shared by the row-wise cuda kernels.

A block of ``blockDim.x`` threads (a power of two) reduces one value per thread to one value
for the whole block: each thread writes its value into a shared-memory slot, then a tree halves
the number of active threads each round (slot ``tid`` combines with slot ``tid + stride``),
with a barrier between rounds so no thread reads a slot before it is written. After
log2(blockDim.x) rounds slot 0 holds the result, which every thread reads; a last barrier
keeps the next reduction from overwriting slot 0 before everyone has read it.

Every thread of the block must call these functions (they contain barriers), so callers never
return early from inside a block: a thread without data contributes the identity (-inf for a
max, 0 for a sum) instead. A real GPU and the simulator both run this shared-memory tree (the
simulator implements no warp shuffles); on a GPU the last five rounds could use
``cuda.shfl_down_sync`` within a warp instead of barriers, which this module does not do.
"""

from __future__ import annotations

import os

from numba import cuda

# The simulator runs every thread as a Python thread, so under NUMBA_ENABLE_CUDASIM=1 the
# sequence/softmax kernels launch small blocks to keep tests quick; the code path is the same.
SIMULATOR = os.environ.get("NUMBA_ENABLE_CUDASIM") == "1"
THREADS_PER_ROW = 8 if SIMULATOR else 128  # threads per row-wise block: a power of two


@cuda.jit(device=True)
def block_sum(sm, value):
    """The sum of ``value`` over the block's threads (``sm``: shared, blockDim.x slots)."""
    tid = cuda.threadIdx.x
    sm[tid] = value
    cuda.syncthreads()
    stride = cuda.blockDim.x // 2
    while stride > 0:
        if tid < stride:
            sm[tid] += sm[tid + stride]
        cuda.syncthreads()
        stride //= 2
    total = sm[0]
    cuda.syncthreads()
    return total


@cuda.jit(device=True)
def block_max(sm, value):
    """The maximum of ``value`` over the block's threads (``sm``: shared, blockDim.x slots)."""
    tid = cuda.threadIdx.x
    sm[tid] = value
    cuda.syncthreads()
    stride = cuda.blockDim.x // 2
    while stride > 0:
        if tid < stride and sm[tid + stride] > sm[tid]:
            sm[tid] = sm[tid + stride]
        cuda.syncthreads()
        stride //= 2
    total = sm[0]
    cuda.syncthreads()
    return total
