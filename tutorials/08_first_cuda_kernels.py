# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # 08 · Your first CUDA kernels: a grid, a guard, tiles, a reduction, a fused softmax
#
# tinymm's GPU backend (`tinymm/kernels/numba_cuda/`) is written in Python with numba-cuda:
# a function decorated with `cuda.jit` is compiled for the GPU and launched over thousands of
# threads at once. This tutorial builds the five ideas every kernel there uses:
#
# 1. vector add: one thread per element, and the *launch configuration* (blocks x threads);
# 2. the grid is rounded up to whole blocks, so every kernel needs a *guard*;
# 3. matrix multiply, naive and then tiled in shared memory: why tiles, coalescing, bank
#    conflicts;
# 4. a reduction: threads of a block combining values through shared memory and barriers;
# 5. a fused softmax: one block per row, two reductions, one pass over memory;
# 6. **exercise**: write the fused log-softmax; the checker compares it with the reference.
#
# No GPU? The numba-cuda *simulator* runs the same kernels on the CPU, one Python thread per
# GPU thread (slow, so the sizes here are tiny). It must be switched on before numba is
# imported, which the next cell does when it finds no CUDA driver.

# %%
import ctypes.util
import math
import os


def has_cuda_driver() -> bool:
    """True when the NVIDIA driver library loads (checked without importing numba)."""
    name = ctypes.util.find_library("cuda")
    if name is None:
        return False
    try:
        ctypes.CDLL(name)
    except OSError:
        return False
    return True


if not has_cuda_driver():
    os.environ["NUMBA_ENABLE_CUDASIM"] = "1"  # must happen before the first `import numba`
SIMULATOR = os.environ.get("NUMBA_ENABLE_CUDASIM") == "1"

import numpy as np  # noqa: E402
from numba import cuda  # noqa: E402

from tinymm.exercises.literate import run_as_lesson  # noqa: E402
from tinymm.kernels.numba_cuda import softmax as cuda_softmax  # noqa: E402
from tinymm.kernels.numba_cuda._device import to_device, to_host, transfer_stats  # noqa: E402
from tinymm.kernels.reference import softmax as ref_softmax  # noqa: E402

if run_as_lesson(globals()):  # run as a script: print the prose, run the cells, stop here
    raise SystemExit(0)

print("running on", "the numba-cuda simulator" if SIMULATOR else "a real GPU")
rng = np.random.default_rng(0)

# %% [markdown]
# ## 1. Vector add: one thread per element
#
# A kernel is an ordinary function that *one thread* runs. Launching it as
# `kernel[blocks, threads_per_block](args)` starts `blocks * threads_per_block` threads; the
# threads are grouped into blocks (up to 1024 threads each, scheduled together on one
# streaming multiprocessor), the blocks form the *grid*. Inside, `cuda.grid(1)` is this
# thread's global index, `blockIdx.x * blockDim.x + threadIdx.x`.
#
# Kernels return nothing: they write into output arrays. And they work on *device arrays*,
# memory on the GPU. Copying between host and device is slow (PCIe or NVLink, not HBM), so
# tinymm makes every copy explicit and counted: `to_device` and `to_host` from
# `kernels/numba_cuda/_device.py` are the only two doors.

# %%
def vector_add(a, b, out):
    i = cuda.grid(1)  # this thread's element
    if i < out.size:  # the guard: see section 2
        out[i] = a[i] + b[i]


vector_add_kernel = cuda.jit(vector_add)

n = 10
a, b = rng.standard_normal(n), rng.standard_normal(n)
a_dev, b_dev = to_device(a), to_device(b)  # two counted host->device copies
out_dev = cuda.device_array(n)  # allocated on the device: no copy
threads = 4  # a real GPU would use 128-256 (a multiple of the 32-thread warp)
blocks = (n + threads - 1) // threads  # round UP: 3 blocks, 12 threads for 10 elements
vector_add_kernel[blocks, threads](a_dev, b_dev, out_dev)
out = to_host(out_dev)  # one counted device->host copy
assert np.allclose(out, a + b)
print(f"{blocks} blocks x {threads} threads for {n} elements; transfers: {transfer_stats()}")

# %% [markdown]
# ## 2. The grid and its guard
#
# 10 elements, blocks of 4: the grid has 12 threads, and threads 10 and 11 have no element.
# Without `if i < out.size` they would read `a[10]`, `a[11]` and write `out[10]`, `out[11]`:
# memory that belongs to something else. A real GPU does not check; it reads garbage or
# corrupts a neighbouring array, silently. The simulator does check, which makes it a good
# place to see the bug:

# %%
def vector_add_unguarded(a, b, out):
    i = cuda.grid(1)
    out[i] = a[i] + b[i]  # no guard


if SIMULATOR:  # never run an out-of-bounds kernel on a real GPU
    try:
        cuda.jit(vector_add_unguarded)[blocks, threads](a_dev, b_dev, out_dev)
        raise AssertionError("the unguarded kernel should have failed")
    except IndexError as err:
        print("the simulator caught the missing guard:", type(err).__name__, str(err)[:60])

# %% [markdown]
# Every kernel in tinymm guards its index, and for 2-d work (matrices) guards both
# coordinates. Tests run them on sizes that are *not* multiples of the block (like 10 here),
# because a size that fits the blocks exactly hides a missing guard.

# %% [markdown]
# ## 3. Matrix multiply: naive, then tiled
#
# `C (M, P) = A (M, K) @ B (K, P)`, one thread per element of C on a 2-d grid of 2-d blocks.
# The naive kernel reads a whole row of A and a whole column of B from global memory for
# every output: 2K loads per 2K flops, and global memory (HBM) delivers far fewer bytes per
# second than the arithmetic units can consume. The GEMM is then memory bound.

# %%
def matmul_naive(A, B, C):
    col, row = cuda.grid(2)  # (x, y): x runs along columns (see "coalescing" below)
    if row < C.shape[0] and col < C.shape[1]:  # the 2-d guard
        acc = 0.0
        for k in range(A.shape[1]):
            acc += A[row, k] * B[k, col]
        C[row, col] = acc


M, K, P = 7, 9, 6  # deliberately not multiples of the tile
A, B = rng.standard_normal((M, K)), rng.standard_normal((K, P))
A_dev, B_dev = to_device(A), to_device(B)
C_dev = cuda.device_array((M, P))
TILE = 4
grid = ((P + TILE - 1) // TILE, (M + TILE - 1) // TILE)  # (x blocks over columns, y over rows)
cuda.jit(matmul_naive)[grid, (TILE, TILE)](A_dev, B_dev, C_dev)
assert np.allclose(to_host(C_dev), A @ B)
print("naive matmul matches NumPy")

# %% [markdown]
# **Why tiles.** Threads of one block need overlapping data: the TILE threads of a row of the
# block all read the same row of A. So the block first copies a TILE x TILE tile of A and one
# of B into *shared memory* (on-chip, ~100x faster than HBM, visible to the whole block), each
# thread loading one element of each, waits at a barrier (`cuda.syncthreads()`) until every
# load is done, then every thread does TILE multiply-adds from shared memory. Each global
# element is now loaded once per block instead of TILE times: global traffic drops by TILE.
# A second barrier stops fast threads from overwriting the tile while slow ones still read it.
#
# **Coalescing.** A warp (32 threads with consecutive `threadIdx.x`) issues its loads
# together; if they touch consecutive addresses the hardware serves them in a few wide
# transactions. So `threadIdx.x` runs along the *contiguous* axis: along columns of B and C
# (and of A when loading the tile), never down a column of a row-major matrix.
#
# **Bank conflicts.** Shared memory is split into 32 banks (consecutive 4-byte words in
# consecutive banks); threads of a warp hitting different addresses in the same bank are
# served one after another. Reading `sB[k, tx]` across a warp is conflict-free (consecutive
# words). Reading a *column* of a tile, `s[tx, k]`, hits the same bank for every thread when
# the row length is a multiple of 32 words. Padding each tile row by one word (TILE + 1
# columns) shifts consecutive rows to consecutive banks; tinymm's GEMM pads its tiles this
# way because its transposed loads write tile columns.

# %%
TILE_PAD = TILE + 1  # shared-memory shapes must be compile-time constants


def matmul_tiled(A, B, C):
    sA = cuda.shared.array((TILE, TILE_PAD), A.dtype)  # one tile of A, padded row length
    sB = cuda.shared.array((TILE, TILE_PAD), B.dtype)
    tx, ty = cuda.threadIdx.x, cuda.threadIdx.y
    row = cuda.blockIdx.y * TILE + ty
    col = cuda.blockIdx.x * TILE + tx
    M, K = A.shape
    P = B.shape[1]
    acc = 0.0
    for k0 in range(0, K, TILE):  # walk K one tile at a time
        # each thread loads one element of each tile; outside the matrix it loads 0
        sA[ty, tx] = A[row, k0 + tx] if (row < M and k0 + tx < K) else 0.0
        sB[ty, tx] = B[k0 + ty, col] if (k0 + ty < K and col < P) else 0.0
        cuda.syncthreads()  # the whole tile is loaded
        for kk in range(TILE):
            acc += sA[ty, kk] * sB[kk, tx]
        cuda.syncthreads()  # everyone is done reading before the next tile overwrites it
    if row < M and col < P:  # the guard, after the loop: every thread reached every barrier
        C[row, col] = acc


cuda.jit(matmul_tiled)[grid, (TILE, TILE)](A_dev, B_dev, C_dev)
assert np.allclose(to_host(C_dev), A @ B)
naive_loads, tiled_loads = 2 * K, 2 * math.ceil(K / TILE)  # per thread, i.e. per output
print(f"tiled matmul matches NumPy; global loads per output: naive {naive_loads}, "
      f"tiled {tiled_loads}")

# %% [markdown]
# Note the guard moved: a thread outside C must still help load tiles and must reach both
# barriers (a barrier that some threads of the block skip hangs or corrupts the block), so
# it only skips the final store. tinymm's `_gemm.py` adds *register blocking* on top: each
# thread computes a 4x4 or 8x8 patch of C from registers, cutting shared-memory traffic too.

# %% [markdown]
# ## 4. A reduction in shared memory
#
# Summing n numbers in parallel: each thread of a block writes one value to shared memory,
# then a tree halves the active threads each round (thread t adds slot t + stride into slot
# t), with a barrier between rounds. After log2(threads) rounds slot 0 holds the block's sum;
# one partial sum per block goes to global memory, and a second, tiny pass adds those.
# On a real GPU the last five rounds are often done inside one warp with shuffle
# instructions (`cuda.shfl_down_sync`), which need no shared memory or barrier; the simulator
# implements no warp primitives, so tinymm's kernels use the shared-memory tree everywhere.

# %%
RED_THREADS = 8  # a power of two, so the tree halves evenly


def block_sums(x, partial):
    sm = cuda.shared.array(RED_THREADS, x.dtype)
    tid = cuda.threadIdx.x
    i = cuda.grid(1)
    sm[tid] = x[i] if i < x.size else 0.0  # threads past the end contribute 0
    cuda.syncthreads()
    stride = RED_THREADS // 2
    while stride > 0:
        if tid < stride:
            sm[tid] += sm[tid + stride]
        cuda.syncthreads()
        stride //= 2
    if tid == 0:
        partial[cuda.blockIdx.x] = sm[0]


x = rng.standard_normal(29)
red_blocks = (x.size + RED_THREADS - 1) // RED_THREADS
partial_dev = cuda.device_array(red_blocks)
cuda.jit(block_sums)[red_blocks, RED_THREADS](to_device(x), partial_dev)
total = to_host(partial_dev).sum()  # 4 partial sums: small enough to finish on the host
assert np.isclose(total, x.sum())
print(f"sum of {x.size} numbers from {red_blocks} block partial sums: {total:.6f}")

# %% [markdown]
# ## 5. A fused softmax: one block per row
#
# `softmax(x)[c] = exp(x[c] - m) / sum_j exp(x[j] - m)` with m the row maximum (for
# stability, see tutorial 05). Done as separate array operations it reads and writes the
# (rows, C) array four or five times (max, subtract, exp, sum, divide). Fused, one block owns
# one row: its threads stride over the row's C elements (so any C works, even C larger than
# the block), reduce a maximum, reduce a sum of exponentials, and write the result: one read
# and one write of the row, the data staying in registers and shared memory in between.
# This is the structure of tinymm's `kernels/numba_cuda/softmax.py`.

# %%
ROW_THREADS = 8


def softmax_rows(x, out):
    row = cuda.blockIdx.x  # one block per row
    tid = cuda.threadIdx.x
    C = x.shape[1]
    sm = cuda.shared.array(ROW_THREADS, x.dtype)
    m = x[row, 0]
    for c in range(tid, C, ROW_THREADS):  # each thread's share of the row
        m = max(m, x[row, c])
    sm[tid] = m
    cuda.syncthreads()
    stride = ROW_THREADS // 2
    while stride > 0:  # the reduction of section 4, with max instead of +
        if tid < stride:
            sm[tid] = max(sm[tid], sm[tid + stride])
        cuda.syncthreads()
        stride //= 2
    m = sm[0]
    cuda.syncthreads()  # everyone has read the max before the slots are reused
    s = 0.0
    for c in range(tid, C, ROW_THREADS):
        s += math.exp(x[row, c] - m)
    sm[tid] = s
    cuda.syncthreads()
    stride = ROW_THREADS // 2
    while stride > 0:
        if tid < stride:
            sm[tid] += sm[tid + stride]
        cuda.syncthreads()
        stride //= 2
    z = sm[0]
    for c in range(tid, C, ROW_THREADS):
        out[row, c] = math.exp(x[row, c] - m) / z


logits = rng.standard_normal((3, 11)) * 5  # C = 11: not a multiple of the 8 threads
logits_dev = to_device(logits)
probs_dev = cuda.device_array(logits.shape)
cuda.jit(softmax_rows)[logits.shape[0], ROW_THREADS](logits_dev, probs_dev)
expected, _ = ref_softmax.softmax_forward(logits)
assert np.allclose(to_host(probs_dev), expected)
tinymm_probs, _ = cuda_softmax.softmax_forward(logits_dev)  # tinymm's own kernel
assert np.allclose(to_host(tinymm_probs), expected)
print("fused softmax matches the reference kernel and tinymm's cuda softmax")

# %% [markdown]
# ## 6. Exercise: the fused log-softmax
#
# Write `log_softmax_rows(x, out)`: one block of ROW_THREADS threads per row, writing
# `out[row, c] = (x[row, c] - m) - log(sum_j exp(x[row, j] - m))`. Start from `softmax_rows`:
# the two reductions are the same, only the last loop changes. Keep every thread going
# through every barrier. The checker runs it on rows whose length is not a multiple of the
# block and on huge logits, and compares with the reference `log_softmax_forward`.

# %%
def check_log_softmax(kernel_fn) -> bool:
    kernel = cuda.jit(kernel_fn)
    for shape, scale in (((2, 13), 3.0), ((3, 5), 1e4), ((1, 1), 1.0)):
        x = rng.standard_normal(shape) * scale
        out_dev = cuda.device_array(shape)
        kernel[shape[0], ROW_THREADS](to_device(x), out_dev)
        got = to_host(out_dev)
        want, _ = ref_softmax.log_softmax_forward(x)
        if not np.all(np.isfinite(got)):
            raise AssertionError(f"shape {shape}, scale {scale}: non-finite values; subtract "
                                 f"the row maximum before exp")
        err = np.abs(got - want).max() / max(np.abs(want).max(), 1.0)
        if err > 1e-12:
            worst = tuple(int(i) for i in np.unravel_index(np.argmax(np.abs(got - want)), shape))
            raise AssertionError(f"shape {shape}, scale {scale}: relative error {err:.3g}; "
                                 f"at {worst} got {got[worst]:.6g}, expected {want[worst]:.6g}")
    return True


try:  # the checker at work: the softmax kernel is not a log-softmax
    check_log_softmax(softmax_rows)
    raise RuntimeError("the checker accepted softmax_rows as a log-softmax")
except AssertionError as err:
    print("the checker rejects softmax_rows:", err)


# A solution (try your own first):
def log_softmax_rows(x, out):
    row = cuda.blockIdx.x
    tid = cuda.threadIdx.x
    C = x.shape[1]
    sm = cuda.shared.array(ROW_THREADS, x.dtype)
    m = x[row, 0]
    for c in range(tid, C, ROW_THREADS):
        m = max(m, x[row, c])
    sm[tid] = m
    cuda.syncthreads()
    stride = ROW_THREADS // 2
    while stride > 0:
        if tid < stride:
            sm[tid] = max(sm[tid], sm[tid + stride])
        cuda.syncthreads()
        stride //= 2
    m = sm[0]
    cuda.syncthreads()
    s = 0.0
    for c in range(tid, C, ROW_THREADS):
        s += math.exp(x[row, c] - m)
    sm[tid] = s
    cuda.syncthreads()
    stride = ROW_THREADS // 2
    while stride > 0:
        if tid < stride:
            sm[tid] += sm[tid + stride]
        cuda.syncthreads()
        stride //= 2
    log_z = math.log(sm[0])
    for c in range(tid, C, ROW_THREADS):
        out[row, c] = (x[row, c] - m) - log_z


assert check_log_softmax(log_softmax_rows)
print("your fused log-softmax matches the reference")

# %% [markdown]
# Where to go next: `tinymm/kernels/numba_cuda/` holds the production versions, each with
# its design in the module docstring: `_gemm.py` (tiled and register-blocked GEMM),
# `softmax.py` and `cross_entropy.py` (this section's pattern), `lstm.py` (one GEMM for the
# input projection of every time step, then one fused kernel per step), `attention.py`
# (scores, masked online softmax and weighted sum fused, FlashAttention-style backward).
# `tests/test_cuda_sequence.py` shows how each is checked against the reference in the
# simulator, and `python -m benchmarks.gpu_check` times them on a real GPU.
