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

The tree is written out inside each kernel rather than in a ``cuda.jit(device=True)`` helper:
numba-cuda compiles a device function for the *current* GPU, so a kernel that calls one cannot
be compiled to PTX on a machine without a CUDA driver, which is how the tests check kernels.
A real GPU and the simulator both run this shared-memory tree (the simulator implements no
warp shuffles); on a GPU the last five rounds could use ``cuda.shfl_down_sync`` inside a warp
instead of barriers, which these kernels do not do.
"""

from __future__ import annotations

import os

# The simulator runs every thread as a Python thread, so under NUMBA_ENABLE_CUDASIM=1 the
# row-wise and sequence kernels launch small blocks to keep tests quick; the code is the same.
SIMULATOR = os.environ.get("NUMBA_ENABLE_CUDASIM") == "1"
THREADS_PER_ROW = 8 if SIMULATOR else 128  # threads per row-wise block: a power of two
