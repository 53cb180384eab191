"""CUDA softmax cross-entropy from logits, fused (derivation: kernels/reference/cross_entropy.py).

Dimension letters: N rows, C classes. PyTorch's semantics: rows whose target equals
``ignore_index`` count for nothing, "mean" divides by the number of counted rows (0/0 = nan
when every row is ignored), and label smoothing e mixes the one-hot target with e / C.

Forward, two launches (one for reduction="none"):

1. ``ce_rows``: one block per row (grid N, THREADS_PER_ROW threads striding over C). Block-wide
   (shared-memory tree, _reduce.py) max m, then sums of exp(x - m) (so log z) and of x - m;
   nll = -((x[target] - m) - log z), smooth = -(1/C) sum_c ((x[c] - m) - log z),
   loss[n] = w[n] ((1 - e) nll + e smooth), and p[n, c] = exp((x[n, c] - m) - log z) for the
   backward (the same p the reference saves).
2. ``_ce_reduce``: one block sums loss[n] and w[n] over the rows (count, kept on the device for
   the backward) and writes the 0-d result for "sum" and "mean"; "none" returns ``loss``.

Backward, one thread per (n, c): dlogits = (p - q) * w[n] * s[n] with
q = (1 - e) [c == target] + e / C and s[n] = dloss[n] ("none"), dloss ("sum") or
dloss / count ("mean"; 0 when every row is ignored, as PyTorch). Nothing crosses to the
host: the loss stays a device array.
"""

from __future__ import annotations

import math

import numpy as np
from numba import cuda

from tinymm.kernels.numba_cuda._device import empty, grid_1d, require_device, zeros
from tinymm.kernels.numba_cuda._dtypes import per_dtype
from tinymm.kernels.numba_cuda._reduce import THREADS_PER_ROW, block_max, block_sum2

_REDUCTIONS = {"none": 0, "sum": 1, "mean": 2}


def _make_ce_rows(dtype):
    one = dtype(1)
    zero = dtype(0)

    def ce_rows(x, target, ignore_index, smoothing, loss, w, p):
        """Per row n: loss[n], w[n] (1 = counted) and p[n, :] = softmax(x[n, :])."""
        N, C = x.shape
        n = min(cuda.blockIdx.x, N - 1)  # grid is exactly N blocks; the min keeps reads in bounds
        tid = cuda.threadIdx.x
        nt = cuda.blockDim.x
        sm = cuda.shared.array((2, THREADS_PER_ROW), x.dtype)
        m = x[n, 0]
        for c in range(tid, C, nt):
            if x[n, c] > m:
                m = x[n, c]
        sm[0, tid] = m
        block_max(sm[0], tid, nt)  # sm[0, 0] becomes the row maximum
        m = sm[0, 0]
        cuda.syncthreads()
        sm[0, tid] = 0  # partial sums of exp(x - m) and of (x - m), one slot pair per thread
        sm[1, tid] = 0
        for c in range(tid, C, nt):
            sm[0, tid] += math.exp(x[n, c] - m)
            sm[1, tid] += x[n, c] - m
        block_sum2(sm, tid, nt)  # both sums in one tree
        log_z = math.log(sm[0, 0])
        shifted_sum = sm[1, 0]
        for c in range(tid, C, nt):
            p[n, c] = math.exp((x[n, c] - m) - log_z)
        if tid == 0:
            counted = target[n] != ignore_index
            t = target[n] if counted else 0  # an ignored row may hold any value
            if t < 0 or t >= C:  # a bad target (the op reports it at the next host copy)
                t = 0  # reads inside the row
            nll = -((x[n, t] - m) - log_z)
            smooth = log_z - shifted_sum / dtype(C)  # (1/C) sum_c -((x[c] - m) - log z)
            w[n] = one if counted else zero
            loss[n] = ((one - smoothing) * nll + smoothing * smooth) if counted else zero

    return ce_rows


def _ce_reduce(loss, w, reduction, out, count):
    """One block: count[0] = sum w; out[0] = sum loss ("sum") or sum loss / count ("mean")."""
    tid = cuda.threadIdx.x
    nt = cuda.blockDim.x
    sm = cuda.shared.array((2, THREADS_PER_ROW), loss.dtype)
    sm[0, tid] = 0
    sm[1, tid] = 0
    for n in range(tid, loss.shape[0], nt):
        sm[0, tid] += loss[n]
        sm[1, tid] += w[n]
    block_sum2(sm, tid, nt)
    if tid == 0:
        total = sm[0, 0]
        counted = sm[1, 0]
        count[0] = counted
        if reduction == 1:
            out[0] = total
        elif counted > 0:
            out[0] = total / counted
        else:
            out[0] = math.nan  # every row ignored: 0/0, as PyTorch


def _make_ce_grad(dtype):
    one = dtype(1)

    def ce_grad(p, target, w, count, dloss, reduction, smoothing, dx):
        """dx[n, c] = (p - q)[n, c] * w[n] * s[n], one thread per element of (N, C)."""
        idx = cuda.grid(1)
        N, C = p.shape
        if idx < N * C:
            n = idx // C
            c = idx % C
            q = smoothing / dtype(C)
            if w[n] > 0 and c == target[n]:
                q += one - smoothing
            if reduction == 0:
                s = w[n] * dloss[n]
            elif reduction == 1:
                s = w[n] * dloss[0]
            elif count[0] > 0:
                s = w[n] * (dloss[0] / count[0])
            else:
                s = dtype(0)  # "mean" with every row ignored: a zero gradient, as the reference
            dx[n, c] = (p[n, c] - q) * s

    return ce_grad


def _sigs(body):
    return tuple(body.format(t=t) for t in ("float32", "float64"))


ce_rows_kernels, _rows_targets = per_dtype(
    _make_ce_rows, "void({t}[:, ::1], int64[::1], int64, {t}, {t}[::1], {t}[::1], {t}[:, ::1])")
ce_grad_kernels, _grad_targets = per_dtype(
    _make_ce_grad, "void({t}[:, ::1], int64[::1], {t}[::1], {t}[::1], {t}[::1], int64, {t}, "
    "{t}[:, ::1])")
PTX_TARGETS = _rows_targets + _grad_targets + [
    (_ce_reduce, _sigs("void({t}[::1], {t}[::1], int64, {t}[::1], {t}[::1])")),
]

ce_reduce_kernel = cuda.jit(_ce_reduce)


def _correct_count(x, target, hits):
    """hits[0] += 1 for every row n whose first maximum is at target[n]: one thread per row,
    NumPy's argmax (a NaN counts as the maximum)."""
    n = cuda.grid(1)
    if n < x.shape[0]:
        best = 0
        for c in range(1, x.shape[1]):
            v = x[n, c]
            m = x[n, best]
            if v > m or (v != v and m == m):  # (v != v: v is NaN, which wins once)
                best = c
        if best == target[n]:
            cuda.atomic.add(hits, 0, 1)


PTX_TARGETS.append((_correct_count, _sigs("void({t}[:, ::1], int64[::1], int64[::1])")))
correct_count_kernel = cuda.jit(_correct_count)


def cross_entropy_forward(logits, target, ignore_index=-100, reduction="mean",
                          label_smoothing=0.0):
    op = "cross_entropy_forward"
    require_device(op, logits=logits, target=target)
    if reduction not in _REDUCTIONS:
        raise ValueError(f"cuda {op}: reduction must be 'none', 'sum' or 'mean', got "
                         f"{reduction!r}")
    if target.dtype != np.int64:
        raise TypeError(f"cuda {op}: target must be an int64 device array, got {target.dtype}")
    N, C = logits.shape
    dtype = logits.dtype
    smoothing = dtype.type(label_smoothing)
    loss = empty((N,), dtype)  # (N,)
    w = empty((N,), dtype)  # (N,) 1 = counted, 0 = ignored
    p = empty((N, C), dtype)  # (N, C) softmax, for the backward
    count = empty((1,), dtype)
    if N and C:
        ce_rows_kernels[dtype][N, THREADS_PER_ROW](logits, target, np.int64(ignore_index),
                                                   smoothing, loss, w, p)
    code = _REDUCTIONS[reduction]
    if code == 0:
        out = loss
    else:
        out = empty((1,), dtype)
        ce_reduce_kernel[1, THREADS_PER_ROW](loss, w, code, out, count)
        out = out.reshape(())
    cache = (p, target, w, count, code, smoothing)
    return out, cache


def cross_entropy_backward(dloss, cache):
    op = "cross_entropy_backward"
    p, target, w, count, code, smoothing = cache
    require_device(op, dloss=dloss)
    dloss_flat = dloss.reshape(dloss.size) if dloss.size else dloss
    dx = empty(p.shape, p.dtype)
    if p.size:
        blocks, threads = grid_1d(p.size)
        ce_grad_kernels[p.dtype][blocks, threads](p, target, w, count, dloss_flat, code,
                                                  smoothing, dx)
    return dx, None


def correct_count(logits, target):
    """(1,) int64 device array: the rows of logits (N, C) whose argmax is target (N,)."""
    require_device("correct_count", logits=logits, target=target)
    if target.dtype != np.int64:
        raise TypeError(f"cuda correct_count: target must be an int64 device array, got "
                        f"{target.dtype}")
    hits = zeros((1,), np.int64)
    if logits.shape[0] and logits.shape[1]:
        blocks, threads = grid_1d(logits.shape[0])
        correct_count_kernel[blocks, threads](logits, target, hits)
    return hits
