"""CUDA fusion cores: gated fusion, low-rank bilinear pooling, FiLM (derivation:
kernels/reference/fusion.py).

Dimension letters: B flattened leading dims, D features, R rank, N batch, C channels, H/W
height/width. The gated and bilinear cores are element-wise: one thread per element of the
flat (B * D) arrays, guarded by ``i < size``, compiled per dtype where they need constants
(_dtypes.py); each kernel does in one pass what the reference does in four to six NumPy
passes with a temporary each. FiLM's forward is element-wise too
(element i belongs to channel row nc = i // (H * W) of gamma and beta); its backward gives dx
element-wise and reduces dgamma, dbeta over H * W with one block per (n, c) row and a
shared-memory tree (see _reduce.py; the path both a GPU and the simulator run).
"""

from __future__ import annotations

import math

from numba import cuda

from tinymm.kernels.numba_cuda._device import empty, flat, grid_1d, require_device, zeros
from tinymm.kernels.numba_cuda._dtypes import per_dtype
from tinymm.kernels.numba_cuda._reduce import THREADS_PER_ROW, block_sum2


def _make_gated(dtype):
    one = dtype(1)

    def gated(g, ua, ub, out, s, ha, hb):
        i = cuda.grid(1)
        if i < g.size:
            z = math.exp(-abs(g[i]))  # e^-|g| <= 1: no overflow on either side
            s[i] = one / (one + z) if g[i] >= 0 else z / (one + z)
            ha[i] = math.tanh(ua[i])
            hb[i] = math.tanh(ub[i])
            out[i] = s[i] * ha[i] + (one - s[i]) * hb[i]

    return gated


def _make_gated_grad(dtype):
    one = dtype(1)

    def gated_grad(dout, s, ha, hb, dg, dua, dub):
        i = cuda.grid(1)
        if i < dout.size:
            dg[i] = dout[i] * (ha[i] - hb[i]) * s[i] * (one - s[i])
            dua[i] = dout[i] * s[i] * (one - ha[i] * ha[i])
            dub[i] = dout[i] * (one - s[i]) * (one - hb[i] * hb[i])

    return gated_grad


def _bilinear(pa, pb, out, ta, tb):
    i = cuda.grid(1)
    if i < pa.size:
        ta[i] = math.tanh(pa[i])
        tb[i] = math.tanh(pb[i])
        out[i] = ta[i] * tb[i]


def _make_bilinear_grad(dtype):
    one = dtype(1)

    def bilinear_grad(dout, ta, tb, dpa, dpb):
        i = cuda.grid(1)
        if i < dout.size:
            dpa[i] = dout[i] * tb[i] * (one - ta[i] * ta[i])
            dpb[i] = dout[i] * ta[i] * (one - tb[i] * tb[i])

    return bilinear_grad


def _film(x, gamma, beta, hw, out):
    """out = gamma[nc] * x + beta[nc] over flat x, nc = i // hw (gamma, beta flat (N * C,))."""
    i = cuda.grid(1)
    if i < x.size:
        nc = i // hw
        out[i] = gamma[nc] * x[i] + beta[nc]


def _film_dx(dout, gamma, hw, dx):
    i = cuda.grid(1)
    if i < dout.size:
        dx[i] = dout[i] * gamma[i // hw]


def _film_dgamma_dbeta(dout, x, dgamma, dbeta):
    """One block per row nc of the (N * C, H * W) views: dgamma = sum dout x, dbeta = sum dout."""
    rows, hw = dout.shape
    nc = min(cuda.blockIdx.x, rows - 1)  # grid is exactly N * C blocks
    tid = cuda.threadIdx.x
    nt = cuda.blockDim.x
    sm = cuda.shared.array((2, THREADS_PER_ROW), dout.dtype)
    sm[0, tid] = 0  # this thread's partial sums of dout * x and of dout
    sm[1, tid] = 0
    for k in range(tid, hw, nt):
        sm[0, tid] += dout[nc, k] * x[nc, k]
        sm[1, tid] += dout[nc, k]
    block_sum2(sm, tid, nt)
    if tid == 0:
        dgamma[nc] = sm[0, 0]
        dbeta[nc] = sm[1, 0]


def _sigs(n_arrays, extra=""):
    return tuple("void(" + ", ".join([f"{t}[::1]"] * n_arrays) + extra + ")"
                 for t in ("float32", "float64"))


_FLAT7 = "void(" + ", ".join(["{t}[::1]"] * 7) + ")"
gated_kernels, _gated_targets = per_dtype(_make_gated, _FLAT7)
gated_grad_kernels, _gated_grad_targets = per_dtype(_make_gated_grad, _FLAT7)
bilinear_grad_kernels, _bilinear_grad_targets = per_dtype(
    _make_bilinear_grad, "void(" + ", ".join(["{t}[::1]"] * 5) + ")")

PTX_TARGETS = _gated_targets + _gated_grad_targets + _bilinear_grad_targets + [
    (_bilinear, _sigs(5)),
    (_film, tuple(f"void({t}[::1], {t}[::1], {t}[::1], int64, {t}[::1])"
                  for t in ("float32", "float64"))),
    (_film_dx, tuple(f"void({t}[::1], {t}[::1], int64, {t}[::1])"
                     for t in ("float32", "float64"))),
    (_film_dgamma_dbeta, tuple(f"void({t}[:, ::1], {t}[:, ::1], {t}[::1], {t}[::1])"
                               for t in ("float32", "float64"))),
]

bilinear_kernel = cuda.jit(_bilinear)
film_kernel = cuda.jit(_film)
film_dx_kernel = cuda.jit(_film_dx)
film_dgamma_dbeta_kernel = cuda.jit(_film_dgamma_dbeta)


def _same(op, ref, **arrays):
    """Raise when an array's shape or dtype differs from ``ref`` (checked before any launch)."""
    for name, a in arrays.items():
        if tuple(a.shape) != tuple(ref.shape) or a.dtype != ref.dtype:
            raise ValueError(f"cuda {op}: {name} is {a.dtype} {tuple(a.shape)}, expected "
                             f"{ref.dtype} {tuple(ref.shape)}")


def _elementwise(kernel, inputs, n_outputs):
    """Launch ``kernel`` over flat views; returns ``n_outputs`` new arrays shaped like inputs[0]."""
    like = inputs[0]
    outs = [empty(like.shape, like.dtype) for _ in range(n_outputs)]
    if like.size:
        blocks, threads = grid_1d(like.size)
        kernel[blocks, threads](*[flat(a) for a in inputs], *[flat(o) for o in outs])
    return outs


def gated_fusion_forward(g, ua, ub):
    op = "gated_fusion_forward"
    require_device(op, g=g, ua=ua, ub=ub)
    _same(op, g, ua=ua, ub=ub)
    out, s, ha, hb = _elementwise(gated_kernels[g.dtype], (g, ua, ub), 4)  # each (B, D)
    return out, (s, ha, hb)


def gated_fusion_backward(dout, cache):
    s, ha, hb = cache
    require_device("gated_fusion_backward", dout=dout)
    _same("gated_fusion_backward", s, dout=dout)
    return tuple(_elementwise(gated_grad_kernels[s.dtype], (dout, s, ha, hb), 3))


def bilinear_pool_forward(pa, pb):
    op = "bilinear_pool_forward"
    require_device(op, pa=pa, pb=pb)
    _same(op, pa, pb=pb)
    out, ta, tb = _elementwise(bilinear_kernel, (pa, pb), 3)  # each (B, R)
    return out, (ta, tb)


def bilinear_pool_backward(dout, cache):
    ta, tb = cache
    require_device("bilinear_pool_backward", dout=dout)
    _same("bilinear_pool_backward", ta, dout=dout)
    return tuple(_elementwise(bilinear_grad_kernels[ta.dtype], (dout, ta, tb), 2))


def film_forward(x, gamma, beta):
    op = "film_forward"
    require_device(op, x=x, gamma=gamma, beta=beta)
    N, C, H, W = x.shape
    _same(op, gamma, beta=beta)
    if tuple(gamma.shape) != (N, C) or gamma.dtype != x.dtype:
        raise ValueError(f"cuda {op}: gamma is {gamma.dtype} {tuple(gamma.shape)}, expected "
                         f"{x.dtype} {(N, C)}")
    out = empty(x.shape, x.dtype)  # (N, C, H, W)
    if x.size:
        blocks, threads = grid_1d(x.size)
        film_kernel[blocks, threads](flat(x), flat(gamma), flat(beta), H * W, flat(out))
    return out, (x, gamma)


def film_backward(dout, cache):
    op = "film_backward"
    x, gamma = cache
    require_device(op, dout=dout)
    _same(op, x, dout=dout)
    N, C, H, W = x.shape
    dx = empty(x.shape, x.dtype)  # (N, C, H, W)
    dgamma = empty((N, C), x.dtype)
    dbeta = empty((N, C), x.dtype)
    if x.size:
        blocks, threads = grid_1d(x.size)
        film_dx_kernel[blocks, threads](flat(dout), flat(gamma), H * W, flat(dx))
        film_dgamma_dbeta_kernel[N * C, THREADS_PER_ROW](
            dout.reshape(N * C, H * W), x.reshape(N * C, H * W), flat(dgamma), flat(dbeta))
    elif N * C:  # H * W == 0: the sums over an empty window are zero
        dgamma, dbeta = zeros((N, C), x.dtype), zeros((N, C), x.dtype)
    return dx, dgamma, dbeta
