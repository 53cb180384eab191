"""CUDA CTC loss (derivation: kernels/reference/ctc.py): one block per sample.

Dimension letters: T steps, N samples, C classes, S the longest target, P = 2S + 1 extended
positions. ``_alpha_kernel``: block n walks t = 1 .. T_n - 1; at each step its threads share
the positions s of row t (each reads row t - 1 of alpha, a global (N, T, P) array) and meet at
a barrier before the next step. Thread 0 then writes the sample's loss, raw (for the
backward) and as returned (0 where ``zero_infinity`` meets an infinite loss).
``_grad_kernel``: the same walk backward in time for beta (a global (N, T, P) buffer), then
one thread per class c and step t sums exp(alpha + beta) over the positions with l'_s = c.
The extended label is read from the flat targets on the fly (``stride`` S for padded
targets; 0 for concatenated ones, whose sample n starts after the lengths of m < n).

Lengths and labels come from device arrays the op cannot read: the kernels clamp T_n to
[0, T] and L to [0, S], and a label outside [0, C) reads as log-probability -inf (the op's
deferred range checks raise at the next copy to the host).
"""

from __future__ import annotations

import math

from numba import cuda

from tinymm.kernels.numba_cuda._device import empty, require_device, zeros

_MAX_THREADS = 128


@cuda.jit(device=True, inline=True)
def _lse(a, b, ninf):
    """log(exp(a) + exp(b)), -inf (``ninf``, in the dtype) when both are -inf."""
    top = max(a, b)
    if top == ninf:
        return top
    return top + math.log(math.exp(a - top) + math.exp(b - top))


@cuda.jit(device=True, inline=True)
def _label(flat, start, blank, s):
    """l'_s: the blank at even s, else target symbol (s - 1) / 2 (-1 past the flat end)."""
    if s % 2 == 0:
        return blank
    i = start + (s - 1) // 2
    return flat[i] if 0 <= i < flat.shape[0] else -1


@cuda.jit(device=True, inline=True)
def _emit(log_probs, t, n, c, ninf):
    return log_probs[t, n, c] if 0 <= c < log_probs.shape[2] else ninf


@cuda.jit(device=True, inline=True)
def _skip(flat, start, blank, s):
    """Position s may be reached from s - 2 (a symbol unequal to the one two back)."""
    if s < 2 or s % 2 == 0:
        return False
    return _label(flat, start, blank, s) != _label(flat, start, blank, s - 2)


@cuda.jit(device=True, inline=True)
def _sample(log_probs, flat, stride, input_lengths, target_lengths, P_cap, n):
    """(T_n, L, start, P = 2L + 1) of sample n, clamped to the arrays' extents."""
    Tn = min(max(input_lengths[n], 0), log_probs.shape[0])
    L = min(max(target_lengths[n], 0), (P_cap - 1) // 2)
    start = n * stride
    if stride == 0:
        start = 0
        for m in range(n):
            start += max(target_lengths[m], 0)
    return Tn, L, start, 2 * L + 1


@cuda.jit(device=True, inline=True)
def _walk(log_probs, flat, start, blank, n, Tn, P, table, forward, ninf):
    """alpha (forward) or beta into table[:Tn, :P], the block's threads sharing each step."""
    tid = cuda.threadIdx.x
    nt = cuda.blockDim.x
    first = 0 if forward else Tn - 1
    for s in range(tid, P, nt):
        edge = s < 2 if forward else s >= P - 2
        table[first, s] = _emit(log_probs, first, n, _label(flat, start, blank, s), ninf) \
            if edge else ninf
    cuda.syncthreads()
    for step in range(1, Tn):
        t = step if forward else Tn - 1 - step
        before = t - 1 if forward else t + 1
        for s in range(tid, P, nt):
            acc = table[before, s]
            if forward and s >= 1:
                acc = _lse(acc, table[before, s - 1], ninf)
            if forward and _skip(flat, start, blank, s):
                acc = _lse(acc, table[before, s - 2], ninf)
            if not forward and s + 1 < P:
                acc = _lse(acc, table[before, s + 1], ninf)
            if not forward and s + 2 < P and _skip(flat, start, blank, s + 2):
                acc = _lse(acc, table[before, s + 2], ninf)
            table[t, s] = _emit(log_probs, t, n, _label(flat, start, blank, s), ninf) + acc
        cuda.syncthreads()


def _alpha_kernel(log_probs, flat, stride, input_lengths, target_lengths, blank, zero_inf,
                  zero, ninf, alpha, raw, loss):
    n = cuda.blockIdx.x
    if n >= log_probs.shape[1]:
        return
    Tn, L, start, P = _sample(log_probs, flat, stride, input_lengths, target_lengths,
                              alpha.shape[2], n)
    if Tn > 0:
        _walk(log_probs, flat, start, blank, n, Tn, P, alpha[n], True, ninf)
    if cuda.threadIdx.x == 0:
        value = -ninf  # inf: T_n = 0 with a target
        if Tn == 0 and L == 0:
            value = zero  # the empty path
        if Tn > 0:
            last = alpha[n, Tn - 1, P - 2] if L > 0 else ninf
            value = -_lse(alpha[n, Tn - 1, P - 1], last, ninf)
        raw[n] = value
        loss[n] = zero if zero_inf != 0 and value == -ninf else value


def _grad_kernel(dloss, log_probs, flat, stride, input_lengths, target_lengths, blank,
                 zero_inf, zero, ninf, raw, alpha, beta, dlog_probs):
    n = cuda.blockIdx.x
    if n >= log_probs.shape[1]:
        return
    Tn, L, start, P = _sample(log_probs, flat, stride, input_lengths, target_lengths,
                              alpha.shape[2], n)
    C = log_probs.shape[2]
    tid = cuda.threadIdx.x
    nt = cuda.blockDim.x
    if Tn == 0 or (zero_inf != 0 and raw[n] == -ninf):
        return
    if raw[n] == -ninf:  # no alignment: NaN, as PyTorch's
        for k in range(tid, Tn * C, nt):
            dlog_probs[k // C, n, k % C] = zero * ninf
        return
    _walk(log_probs, flat, start, blank, n, Tn, P, beta[n], False, ninf)
    for k in range(tid, Tn * C, nt):
        t = k // C
        c = k % C
        acc = ninf
        for s in range(P):
            if _label(flat, start, blank, s) == c:
                acc = _lse(acc, alpha[n, t, s] + beta[n, t, s], ninf)
        if acc != ninf:
            dlog_probs[t, n, c] = -math.exp(acc + raw[n] - log_probs[t, n, c]) * dloss[n]


_FL = ("float32", "float64")
_INTS = "int64[::1], int64, int64[::1], int64[::1], int64, int64"
PTX_TARGETS = [
    (_alpha_kernel, tuple(f"void({t}[:, :, ::1], {_INTS}, {t}, {t}, {t}[:, :, ::1], {t}[::1], "
                          f"{t}[::1])" for t in _FL)),
    (_grad_kernel, tuple(f"void({t}[::1], {t}[:, :, ::1], {_INTS}, {t}, {t}, {t}[::1], "
                         f"{t}[:, :, ::1], {t}[:, :, ::1], {t}[:, :, ::1])" for t in _FL)),
]
alpha_kernel = cuda.jit(_alpha_kernel)
grad_kernel = cuda.jit(_grad_kernel)


def _threads(P: int, C: int) -> int:
    """A whole number of warps covering the positions (and the classes), at most 128."""
    return min(_MAX_THREADS, 32 * -(-max(P, C) // 32))


def _typed(log_probs) -> tuple:
    """(0, -inf) in the kernels' dtype, so float32 kernels hold no float64 constant."""
    kind = log_probs.dtype.type
    return kind(0), kind(-math.inf)


def ctc_loss_forward(log_probs, targets, input_lengths, target_lengths, max_target: int,
                     blank: int = 0, zero_infinity: bool = False):
    require_device("ctc_loss_forward", log_probs=log_probs, targets=targets,
                   input_lengths=input_lengths, target_lengths=target_lengths)
    T, N, C = log_probs.shape
    stride = targets.shape[1] if targets.ndim == 2 else 0
    flat = targets.reshape(targets.size)  # (N S,) or (sum L_n,)
    P = 2 * int(max_target) + 1
    alpha = empty((N, max(T, 1), P), log_probs.dtype)  # (N, T, P)
    raw, loss = empty((N,), log_probs.dtype), empty((N,), log_probs.dtype)
    if N:
        alpha_kernel[N, _threads(P, C)](log_probs, flat, stride, input_lengths, target_lengths,
                                        int(blank), int(bool(zero_infinity)), *_typed(log_probs),
                                        alpha, raw, loss)
    cache = (log_probs, flat, stride, input_lengths, target_lengths, int(blank),
             int(bool(zero_infinity)), raw, alpha)
    return loss, cache


def ctc_loss_backward(dloss, cache):
    require_device("ctc_loss_backward", dloss=dloss)
    log_probs, flat, stride, input_lengths, target_lengths, blank, zero_inf, raw, alpha = cache
    T, N, C = log_probs.shape
    dlog_probs = zeros((T, N, C), log_probs.dtype)  # (T, N, C)
    beta = empty(tuple(alpha.shape), log_probs.dtype)  # (N, T, P)
    if N:
        grad_kernel[N, _threads(alpha.shape[2], C)](dloss, log_probs, flat, stride,
                                                    input_lengths, target_lengths, blank,
                                                    zero_inf, *_typed(log_probs), raw, alpha,
                                                    beta, dlog_probs)
    return dlog_probs, None, None, None
