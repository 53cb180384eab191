"""CUDA softmax and log-softmax along one axis (derivation: kernels/reference/softmax.py).

Layout. The input is viewed as (O, C, I): O the product of the axes before ``axis``, C the
softmax axis, I the product of the axes after it; a row is x[o, :, i], its elements I apart
in memory. One block of THREADS_PER_ROW threads owns one row (grid: O * I blocks); thread
``tid`` handles elements c = tid, tid + blockDim, ... so any C works, including C smaller than
the block (idle threads contribute the identity to the reductions).

Forward, per row: a block-wide max (the shared-memory tree of _reduce.py), then a sum of
exp(x - max), then every thread writes its elements. Subtracting the maximum keeps every
exponent <= 0, so nothing overflows. Backward, per row: one block-wide sum (of dp * p for
softmax, of dout for log-softmax), then the element-wise formula. The log-softmax cache is
its output; its backward recomputes p = exp(logp) instead of storing p.

The reductions run in shared memory on the GPU and in the simulator alike (see _reduce.py).
"""

from __future__ import annotations

import math

from numba import cuda

from tinymm.kernels.numba_cuda._device import empty, require_device
from tinymm.kernels.numba_cuda._reduce import THREADS_PER_ROW, block_max, block_sum


def _softmax_rows(x, out, log):
    """out = softmax (log=False) or log-softmax (log=True) of each row x[o, :, i]."""
    O, C, I = x.shape
    r = cuda.blockIdx.x
    o = r // I
    i = r % I
    oo = min(o, O - 1)  # a block past the last row (never launched) would read row O - 1
    tid = cuda.threadIdx.x
    nt = cuda.blockDim.x
    sm = cuda.shared.array(THREADS_PER_ROW, x.dtype)
    m = x[oo, 0, i]  # the row's first element: a valid start for the max of any thread
    for c in range(tid, C, nt):
        if x[oo, c, i] > m:
            m = x[oo, c, i]
    sm[tid] = m
    block_max(sm, tid, nt)  # sm[0] becomes the row maximum
    m = sm[0]
    cuda.syncthreads()
    sm[tid] = 0
    for c in range(tid, C, nt):  # each thread's partial sum of exp(x - m), kept in its slot
        sm[tid] += math.exp(x[oo, c, i] - m)
    block_sum(sm, tid, nt)  # sm[0] becomes z = sum_c exp(x[c] - m)
    z = sm[0]
    if o < O:
        if log:
            log_z = math.log(z)
            for c in range(tid, C, nt):
                out[o, c, i] = (x[o, c, i] - m) - log_z
        else:
            for c in range(tid, C, nt):
                out[o, c, i] = math.exp(x[o, c, i] - m) / z


def _softmax_grad_rows(dout, saved, dx, log):
    """Softmax (saved = p): dx = p (dp - sum dp p). Log-softmax (saved = logp):
    dx = dout - exp(logp) sum dout."""
    O, C, I = dout.shape
    r = cuda.blockIdx.x
    o = r // I
    i = r % I
    oo = min(o, O - 1)
    tid = cuda.threadIdx.x
    nt = cuda.blockDim.x
    sm = cuda.shared.array(THREADS_PER_ROW, dout.dtype)
    sm[tid] = 0
    for c in range(tid, C, nt):
        if log:
            sm[tid] += dout[oo, c, i]
        else:
            sm[tid] += dout[oo, c, i] * saved[oo, c, i]
    block_sum(sm, tid, nt)  # sm[0] becomes the row sum
    s = sm[0]
    if o < O:
        for c in range(tid, C, nt):
            if log:
                dx[o, c, i] = dout[o, c, i] - math.exp(saved[o, c, i]) * s
            else:
                dx[o, c, i] = saved[o, c, i] * (dout[o, c, i] - s)


_FWD_SIGS = tuple(f"void({t}[:, :, ::1], {t}[:, :, ::1], boolean)" for t in ("float32", "float64"))
_BWD_SIGS = tuple(f"void({t}[:, :, ::1], {t}[:, :, ::1], {t}[:, :, ::1], boolean)"
                  for t in ("float32", "float64"))
PTX_TARGETS = [(_softmax_rows, _FWD_SIGS), (_softmax_grad_rows, _BWD_SIGS)]

softmax_rows_kernel = cuda.jit(_softmax_rows)
softmax_grad_rows_kernel = cuda.jit(_softmax_grad_rows)


def _rows_view(a, axis: int):
    """``a`` viewed as (O, C, I) around ``axis`` (no copy), and the normalised axis."""
    shape = tuple(a.shape)
    if not shape:
        raise ValueError("cuda softmax: a 0-d array has no axis to normalise over")
    ax = axis + len(shape) if axis < 0 else axis
    if not 0 <= ax < len(shape):
        raise ValueError(f"cuda softmax: axis {axis} is out of range for an array of shape {shape}")
    O = math.prod(shape[:ax])
    I = math.prod(shape[ax + 1:])
    return a.reshape(O, shape[ax], I), ax


def _launch_rows(kernel, inputs, log, like):
    """One block per row of the (O, C, I) ``inputs``; returns a new array shaped like ``like``."""
    O, C, I = inputs[0].shape
    out = empty(like.shape, like.dtype)
    if O * C * I:
        kernel[O * I, THREADS_PER_ROW](*inputs, out.reshape(O, C, I), log)
    return out


def _forward(x, axis, log, op):
    require_device(op, x=x)
    x3, ax = _rows_view(x, axis)
    out = _launch_rows(softmax_rows_kernel, (x3,), log, x)
    return out, (out, ax)


def _backward(dout, cache, log, op):
    saved, ax = cache
    require_device(op, dout=dout)
    if dout.dtype != saved.dtype or tuple(dout.shape) != tuple(saved.shape):
        raise ValueError(f"cuda {op}: dout {dout.dtype} {tuple(dout.shape)} does not match the "
                         f"forward output {saved.dtype} {tuple(saved.shape)}")
    d3, _ = _rows_view(dout, ax)
    s3, _ = _rows_view(saved, ax)
    return (_launch_rows(softmax_grad_rows_kernel, (d3, s3), log, dout),)


def softmax_forward(x, axis=-1):
    return _forward(x, axis, False, "softmax_forward")


def softmax_backward(dp, cache):
    return _backward(dp, cache, False, "softmax_backward")


def log_softmax_forward(x, axis=-1):
    return _forward(x, axis, True, "log_softmax_forward")


def log_softmax_backward(dout, cache):
    return _backward(dout, cache, True, "log_softmax_backward")
