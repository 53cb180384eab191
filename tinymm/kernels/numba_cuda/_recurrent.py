"""Host helpers and device pieces shared by the cuda RNN, LSTM and GRU kernels.

GEMMs (the input projection, the weight gradients, dx) run on the shared GEMM of _gemm.py
through ``matmul2d``.

Row order. Both kernels keep every per-step array as a 2-d (R, .) array with R = T * N rows in
the *input's* layout: row r = t * N + n for time-major input, r = n * T + t with
batch_first=True. The input projection ``x (R, D) @ weight_ih^T`` then needs no transpose, the
output is already in the caller's layout, and the weight gradients are single GEMMs over all
rows (``da^T @ x`` and ``da^T @ h_prev``).

The recurrent matrix-vector product. Step s needs ``h_prev[n, :] @ weight_hh^T`` in the forward
and ``da[n, :] @ weight_hh`` in the backward: a length-K vector (K = H or G) shared by every
thread of a block (one block = one batch row n and a range of hidden units j). The step
kernels stage that vector through shared memory in chunks of blockDim.x (one element per
thread, coalesced, then a barrier), and each thread multiplies the chunk against column j of a
(K, H') matrix laid out so neighbouring threads read neighbouring addresses: the inlined
device function ``stage_dot`` (``add_recurrent_grad`` in the backward), with ``step_unit``
(which block and thread compute what),
``step_row`` (the row order above) and ``sigmoid`` (stable) shared by the three step kernels.
"""

from __future__ import annotations

import math

import numpy as np
from numba import cuda

from tinymm.kernels.numba_cuda._device import (
    empty,
    fill_kernel,
    flat,
    full,
    grid_1d,
    is_device_array,
    require_device,
    to_device,
    zeros,
)
from tinymm.kernels.numba_cuda._gemm import gemm
from tinymm.kernels.numba_cuda._reduce import THREADS_PER_ROW


@cuda.jit(device=True, inline=True)
def step_unit(H):
    """(n, j, jj): batch row n = blockIdx.y, hidden unit j of the thread, and jj = min(j, H - 1)
    (threads past the last unit compute a duplicate and write nothing)."""
    j = cuda.blockIdx.x * cuda.blockDim.x + cuda.threadIdx.x
    return cuda.blockIdx.y, j, min(j, H - 1)


@cuda.jit(device=True, inline=True)
def step_row(n, t, N, T, batch_first):
    """The row of (batch n, time t) in the (T * N, .) per-step arrays (see Row order)."""
    return n * T + t if batch_first else t * N + n


@cuda.jit(device=True, inline=True)
def stage_dot(acc, vec, W, jj, count, H, sh):
    """acc[k] += vec @ W[:, k H + jj] for k < count, vec staged through the shared ``sh`` in
    blockDim.x chunks (every thread of the block must call it)."""
    L = vec.shape[0]
    nt = cuda.blockDim.x
    tx = cuda.threadIdx.x
    for m0 in range(0, L, nt):
        if m0 + tx < L:
            sh[tx] = vec[m0 + tx]
        cuda.syncthreads()
        for mm in range(min(nt, L - m0)):
            v = sh[mm]
            for k in range(count):
                acc[k] += v * W[m0 + mm, k * H + jj]
        cuda.syncthreads()


@cuda.jit(device=True, inline=True)
def add_recurrent_grad(dh, da, whh, lengths, n, j, jj, t_next, T, batch_first, accumulate):
    """dh[n, j] (+)= da[row of (n, t_next)] @ whh[:, j], the gradient into h from the later
    step, when that step exists (t_next >= 0) and is not padding; dh is left alone otherwise.
    The condition is the same for the whole block (one batch row n per block), and every
    thread of the block calls it (the product is staged through shared memory)."""
    if t_next >= 0 and t_next < lengths[n]:
        sh = cuda.shared.array(THREADS_PER_ROW, dh.dtype)
        acc = cuda.local.array(1, dh.dtype)
        acc[0] = 0
        stage_dot(acc, da[step_row(n, t_next, dh.shape[0], T, batch_first)], whh, jj, 1, 0, sh)
        if j < dh.shape[1]:
            dh[n, j] = dh[n, j] + acc[0] if accumulate else acc[0]


@cuda.jit(device=True, inline=True)
def sigmoid(a, one):
    """1 / (1 + e^-a) via e^-|a| <= 1: no overflow for any a (``one`` is 1 in a's dtype)."""
    z = math.exp(-abs(a))
    return one / (one + z) if a >= 0 else z / (one + z)


def _transpose(a, out):
    """out (C, R) = a (R, C)^T, one thread per element (reads coalesced along a's rows)."""
    idx = cuda.grid(1)
    R, C = a.shape
    if idx < R * C:
        r = idx // C
        c = idx % C
        out[c, r] = a[r, c]


def _copy(src, dst):
    i = cuda.grid(1)
    if i < src.size:
        dst[i] = src[i]


def _column_sum(a, out):
    """out[k] = sum_r a[r, k]: one thread per column, neighbouring threads read neighbours."""
    k = cuda.grid(1)
    R, K = a.shape
    if k < K:
        acc = cuda.local.array(1, out.dtype)  # one register of out's dtype
        acc[0] = 0
        for r in range(R):
            acc[0] += a[r, k]
        out[k] = acc[0]


def _add(a, b, out):
    i = cuda.grid(1)
    if i < a.size:
        out[i] = a[i] + b[i]


_FLOATS = ("float32", "float64")
PTX_TARGETS = [
    (_transpose, tuple(f"void({t}[:, ::1], {t}[:, ::1])" for t in _FLOATS)),
    (_copy, tuple(f"void({t}[::1], {t}[::1])" for t in _FLOATS)),
    (_column_sum, tuple(f"void({t}[:, ::1], {t}[::1])" for t in _FLOATS)),
    (_add, tuple(f"void({t}[::1], {t}[::1], {t}[::1])" for t in _FLOATS)),
]

transpose_kernel = cuda.jit(_transpose)
copy_kernel = cuda.jit(_copy)
add_kernel = cuda.jit(_add)
column_sum_kernel = cuda.jit(_column_sum)


def matmul2d(a, b, trans_a=False, trans_b=False):
    """op(a) @ op(b) for 2-d device arrays, on the shared GEMM of _gemm.py (a new array)."""
    c = gemm(a.reshape((1,) + tuple(a.shape)), b.reshape((1,) + tuple(b.shape)),
             trans_a=trans_a, trans_b=trans_b)  # (1, M, P)
    return c.reshape(tuple(c.shape[1:]))


def column_sum(a):
    """a (R, K).sum(axis=0) as a new (K,) device array."""
    out = empty((a.shape[1],), a.dtype)
    if out.size:
        blocks, threads = grid_1d(out.size)
        column_sum_kernel[blocks, threads](a, out)
    return out


def transpose(a):
    """A new (C, R) device array holding a (R, C)^T."""
    out = empty((a.shape[1], a.shape[0]), a.dtype)
    if a.size:
        blocks, threads = grid_1d(a.size)
        transpose_kernel[blocks, threads](a, out)
    return out


def copy(a):
    """A device copy of ``a`` (no host transfer)."""
    out = empty(a.shape, a.dtype)
    if a.size:
        blocks, threads = grid_1d(a.size)
        copy_kernel[blocks, threads](flat(a), flat(out))
    return out


def copy_into(src, dst):
    """Copy ``src`` into the existing device array (or contiguous view) ``dst``, or zero it
    when ``src`` is None; no host transfer."""
    if dst.size == 0:
        return
    blocks, threads = grid_1d(dst.size)
    if src is None:
        fill_kernel[blocks, threads](flat(dst), dst.dtype.type(0))
    else:
        copy_kernel[blocks, threads](flat(src), flat(dst))


def combined_bias(bias_ih, bias_hh, G: int, dtype):
    """bias_ih + bias_hh (G,) on the device; zeros for an absent bias (only the sum matters)."""
    if bias_ih is None and bias_hh is None:
        return zeros((G,), dtype)
    if bias_ih is None or bias_hh is None:
        return bias_ih if bias_hh is None else bias_hh
    out = empty((G,), dtype)
    blocks, threads = grid_1d(G)
    add_kernel[blocks, threads](bias_ih, bias_hh, out)
    return out


def device_lengths(op: str, lengths, N: int, T: int):
    """lengths (N,) as an int64 device array: all T when None (filled on the device).

    A device array is used as is. A host array or sequence is copied with one counted
    host->device transfer (``_device.to_device``): lengths are small metadata the op layer
    may hold on the host.
    """
    if lengths is None:
        return full((N,), T, np.int64)
    if is_device_array(lengths):
        require_device(op, lengths=lengths)
        if lengths.dtype != np.int64:
            raise TypeError(f"cuda {op}: lengths must be int64, got {lengths.dtype}")
        return lengths
    return to_device(np.asarray(lengths, dtype=np.int64))


def step_times(T: int, reverse: bool) -> list[int]:
    """The time index of each processing step s = 0..T-1 (T-1..0 with reverse=True)."""
    return list(range(T - 1, -1, -1)) if reverse else list(range(T))


def check_same(op: str, expected_shape, expected_dtype, **arrays) -> None:
    """Raise a ValueError when an array's shape or dtype differs from the expected ones."""
    for name, a in arrays.items():
        if a is None:
            continue
        if tuple(a.shape) != tuple(expected_shape) or a.dtype != expected_dtype:
            raise ValueError(f"cuda {op}: {name} is {a.dtype} {tuple(a.shape)}, expected "
                             f"{np.dtype(expected_dtype)} {tuple(expected_shape)}")
