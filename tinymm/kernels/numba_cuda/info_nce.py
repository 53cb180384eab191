"""CUDA symmetric InfoNCE (the CLIP loss): derivation in kernels/reference/info_nce.py.

Dimension letters: N pairs, D embedding features. The forward is the GEMM G = a b^T (the shared
GEMM of _gemm.py), then ``_softmaxes``, 2N threads: thread i < N takes row i of S = exp(t) G,
thread N + j column j; each finds its maximum, its sum of exp(S - max) and writes its softmax
row (P) or column (Q) and the log-probability of its diagonal element, so neither softmax needs
a transposed copy. ``_loss`` (one block, the shared-memory tree of _reduce.py) sums the 2N
diagonal terms into loss = -(sum log P[n, n] + sum log Q[n, n]) / 2N.

Backward: ``_grad_logits``, one thread per (i, j), forms dS = g / 2N ((P - I) + (Q - I)) and
dG = s dS; ``_dt`` (one block) sums dS * S into dt; then da = dG b and db = dG^T a are two
GEMMs. The scalars (t, g, the loss, dt) stay on the device as 0-d arrays: kernels read and
write their single element.
"""

from __future__ import annotations

import math

from numba import cuda

from tinymm.kernels.numba_cuda._device import empty, flat, grid_1d, require_device
from tinymm.kernels.numba_cuda._gemm import gemm
from tinymm.kernels.numba_cuda._reduce import THREADS_PER_ROW, block_sum


def _softmaxes(G, t, S, P, Q, diag):
    """S = exp(t) G; thread k < N: row k of P and diag[k] = log P[k, k]; thread N + k: column
    k of Q and diag[N + k] = log Q[k, k] (stable: the maximum is subtracted first)."""
    k = cuda.grid(1)
    N = G.shape[0]
    if k < 2 * N:
        s = math.exp(t[0])
        col = k >= N
        c = k - N if col else k
        m = s * G[0, c] if col else s * G[c, 0]
        for j in range(N):
            v = s * G[j, c] if col else s * G[c, j]
            if v > m:
                m = v
        z = m - m  # 0 in the dtype
        for j in range(N):
            v = s * G[j, c] if col else s * G[c, j]
            z += math.exp(v - m)
        for j in range(N):
            if col:
                v = s * G[j, c]
                Q[j, c] = math.exp(v - m) / z
            else:
                v = s * G[c, j]
                S[c, j] = v
                P[c, j] = math.exp(v - m) / z
        diag[k] = s * G[c, c] - m - math.log(z)


def _loss(diag, two_n, out):
    """One block: out[0] = -sum(diag) / 2N (``two_n`` = 2N in the dtype)."""
    sm = cuda.shared.array(THREADS_PER_ROW, diag.dtype)
    tid = cuda.threadIdx.x
    nt = cuda.blockDim.x
    sm[tid] = 0
    for k in range(tid, diag.shape[0], nt):
        sm[tid] += diag[k]
    block_sum(sm, tid, nt)
    if tid == 0:
        out[0] = -sm[0] / two_n


def _grad_logits(P, Q, t, dloss, two_n, one, dS, dG):
    """dS = g / 2N ((P - I) + (Q - I)) and dG = exp(t) dS, one thread per (i, j); ``two_n``
    and ``one`` are 2N and 1 in the dtype."""
    idx = cuda.grid(1)
    N = P.shape[0]
    if idx < N * N:
        i = idx // N
        j = idx % N
        p = P[i, j] - one if i == j else P[i, j]
        q = Q[i, j] - one if i == j else Q[i, j]
        ds = dloss[0] / two_n * (p + q)
        dS[i, j] = ds
        dG[0, i, j] = math.exp(t[0]) * ds


def _dt(dS, S, out):
    """One block: out[0] = sum_ij dS[i, j] S[i, j]."""
    sm = cuda.shared.array(THREADS_PER_ROW, dS.dtype)
    tid = cuda.threadIdx.x
    nt = cuda.blockDim.x
    N = dS.shape[0]
    sm[tid] = 0
    for k in range(tid, N * N, nt):
        sm[tid] += dS[k // N, k % N] * S[k // N, k % N]
    block_sum(sm, tid, nt)
    if tid == 0:
        out[0] = sm[0]


_FL = ("float32", "float64")
PTX_TARGETS = [
    (_softmaxes, tuple(f"void({t}[:, ::1], {t}[::1], {t}[:, ::1], {t}[:, ::1], {t}[:, ::1], "
                       f"{t}[::1])" for t in _FL)),
    (_loss, tuple(f"void({t}[::1], {t}, {t}[::1])" for t in _FL)),
    (_grad_logits, tuple(f"void({t}[:, ::1], {t}[:, ::1], {t}[::1], {t}[::1], {t}, {t}, "
                         f"{t}[:, ::1], {t}[:, :, ::1])" for t in _FL)),
    (_dt, tuple(f"void({t}[:, ::1], {t}[:, ::1], {t}[::1])" for t in _FL)),
]
softmaxes_kernel = cuda.jit(_softmaxes)
loss_kernel = cuda.jit(_loss)
grad_logits_kernel = cuda.jit(_grad_logits)
dt_kernel = cuda.jit(_dt)


def info_nce_forward(a, b, logit_scale):
    require_device("info_nce_forward", a=a, b=b, logit_scale=logit_scale)
    N, D = a.shape
    if tuple(b.shape) != (N, D) or b.dtype != a.dtype or logit_scale.size != 1:
        raise ValueError(f"cuda info_nce_forward: a {a.dtype}{tuple(a.shape)}, b "
                         f"{b.dtype}{tuple(b.shape)} and logit_scale of shape "
                         f"{tuple(logit_scale.shape)} (expected (N, D) twice and a scalar)")
    G = gemm(a.reshape(1, N, D), b.reshape(1, N, D), trans_b=True).reshape(N, N)  # a b^T
    S, P, Q = (empty((N, N), a.dtype) for _ in range(3))
    diag = empty((2 * N,), a.dtype)
    loss = empty((), a.dtype)
    t = flat(logit_scale)
    blocks, threads = grid_1d(2 * N)
    softmaxes_kernel[blocks, threads](G, t, S, P, Q, diag)
    loss_kernel[1, THREADS_PER_ROW](diag, a.dtype.type(2 * N), flat(loss))
    return loss, (a, b, t, S, P, Q)


def info_nce_backward(dloss, cache):
    require_device("info_nce_backward", dloss=dloss)
    a, b, t, S, P, Q = cache
    N, D = a.shape
    dS = empty((N, N), a.dtype)
    dG = empty((1, N, N), a.dtype)
    blocks, threads = grid_1d(N * N)
    grad_logits_kernel[blocks, threads](P, Q, t, flat(dloss), a.dtype.type(2 * N),
                                        a.dtype.type(1), dS, dG)
    dt = empty((), a.dtype)
    dt_kernel[1, THREADS_PER_ROW](dS, S, flat(dt))
    da = gemm(dG, b.reshape(1, N, D)).reshape(N, D)  # dG @ b
    db = gemm(dG, a.reshape(1, N, D), trans_a=True).reshape(N, D)  # dG^T @ a
    return da, db, dt
