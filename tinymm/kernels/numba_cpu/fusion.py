"""Numba fusion cores (derivation: kernels/reference/fusion.py).

Dimension letters: B flattened leading dimensions, D features, N batch, C channels,
H/W height/width.

Each core is one pass over its inputs instead of NumPy's chain of temporaries: the gated
fusion forward reads g, ua, ub once and writes out plus the three activations the backward
needs; its backward reads them once and writes the three gradients. FiLM's backward computes
dx and both per-channel reductions in the same sweep over (H * W). The contiguous inner loops
vectorise. Only FiLM runs (n, c) planes in parallel (``prange``): a feature map at the model's
shape is (32, 64, 8, 8) = 131k elements, enough to pay for waking a second thread; the gated
and bilinear cores see (N, D) = (32, 128) = 4k elements, where a parallel region's start-up
costs more than the work (and a parallel kernel takes several times longer to compile).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from tinymm.kernels.numba_cpu._util import contiguous


@njit(cache=True, fastmath=True)
def _gated_forward(g, ua, ub, out, s, ha, hb):
    B, D = g.shape
    for b in range(B):
        for c in range(D):
            x = g[b, c]
            if x >= 0:
                sig = 1.0 / (1.0 + math.exp(-x))
            else:
                ex = math.exp(x)
                sig = ex / (1.0 + ex)
            ta = math.tanh(ua[b, c])
            tb = math.tanh(ub[b, c])
            s[b, c] = sig
            ha[b, c] = ta
            hb[b, c] = tb
            out[b, c] = sig * ta + (1.0 - sig) * tb


@njit(cache=True, fastmath=True)
def _gated_backward(dout, s, ha, hb, dg, dua, dub):
    B, D = s.shape
    for b in range(B):
        for c in range(D):
            go = dout[b, c]
            sig = s[b, c]
            ta = ha[b, c]
            tb = hb[b, c]
            dg[b, c] = go * (ta - tb) * sig * (1.0 - sig)
            dua[b, c] = go * sig * (1.0 - ta * ta)
            dub[b, c] = go * (1.0 - sig) * (1.0 - tb * tb)


@njit(cache=True, fastmath=True)
def _bilinear_forward(pa, pb, out, ta, tb):
    B, R = pa.shape
    for b in range(B):
        for r in range(R):
            a = math.tanh(pa[b, r])
            c = math.tanh(pb[b, r])
            ta[b, r] = a
            tb[b, r] = c
            out[b, r] = a * c


@njit(cache=True, fastmath=True)
def _bilinear_backward(dout, ta, tb, dpa, dpb):
    B, R = ta.shape
    for b in range(B):
        for r in range(R):
            go = dout[b, r]
            a = ta[b, r]
            c = tb[b, r]
            dpa[b, r] = go * c * (1.0 - a * a)
            dpb[b, r] = go * a * (1.0 - c * c)


@njit(cache=True, parallel=True, fastmath=True)
def _film_forward(x, gamma, beta, out):
    N, C, HW = x.shape
    for plane in prange(N * C):
        n = plane // C
        c = plane % C
        scale = gamma[n, c]
        shift = beta[n, c]
        for p in range(HW):
            out[n, c, p] = scale * x[n, c, p] + shift


@njit(cache=True, parallel=True, fastmath=True)
def _film_backward(dout, x, gamma, dx, dgamma, dbeta):
    N, C, HW = x.shape
    for plane in prange(N * C):
        n = plane // C
        c = plane % C
        scale = gamma[n, c]
        acc_gamma = 0.0
        acc_beta = 0.0
        for p in range(HW):
            go = dout[n, c, p]
            dx[n, c, p] = go * scale
            acc_gamma += go * x[n, c, p]
            acc_beta += go
        dgamma[n, c] = acc_gamma
        dbeta[n, c] = acc_beta


def _rows(x: np.ndarray) -> np.ndarray:
    """(..., D) -> contiguous (B, D)."""
    return contiguous(x).reshape(-1, x.shape[-1]) if x.ndim else x.reshape(1, 1)


def gated_fusion_forward(g, ua, ub):
    g2, ua2, ub2 = _rows(g), _rows(ua), _rows(ub)  # (B, D)
    out, s, ha, hb = (np.empty_like(g2) for _ in range(4))
    _gated_forward(g2, ua2, ub2, out, s, ha, hb)
    return out.reshape(g.shape), (s, ha, hb, g.shape)


def gated_fusion_backward(dout, cache):
    s, ha, hb, shape = cache
    d2 = _rows(dout.astype(s.dtype, copy=False))  # (B, D)
    dg, dua, dub = (np.empty_like(s) for _ in range(3))
    _gated_backward(d2, s, ha, hb, dg, dua, dub)
    return dg.reshape(shape), dua.reshape(shape), dub.reshape(shape)


def bilinear_pool_forward(pa, pb):
    pa2, pb2 = _rows(pa), _rows(pb)  # (B, R)
    out, ta, tb = (np.empty_like(pa2) for _ in range(3))
    _bilinear_forward(pa2, pb2, out, ta, tb)
    return out.reshape(pa.shape), (ta, tb, pa.shape)


def bilinear_pool_backward(dout, cache):
    ta, tb, shape = cache
    d2 = _rows(dout.astype(ta.dtype, copy=False))  # (B, R)
    dpa, dpb = np.empty_like(ta), np.empty_like(tb)
    _bilinear_backward(d2, ta, tb, dpa, dpb)
    return dpa.reshape(shape), dpb.reshape(shape)


def film_forward(x, gamma, beta):
    N, C = x.shape[0], x.shape[1]
    x3 = contiguous(x).reshape(N, C, int(np.prod(x.shape[2:])))  # (N, C, H * W); N may be 0
    gamma2, beta2 = contiguous(gamma), contiguous(beta)
    out = np.empty_like(x3)
    _film_forward(x3, gamma2, beta2, out)
    return out.reshape(x.shape), (x3, gamma2, x.shape)


def film_backward(dout, cache):
    x3, gamma, shape = cache
    d3 = contiguous(dout.astype(x3.dtype, copy=False)).reshape(x3.shape)  # (N, C, H * W)
    dx = np.empty_like(x3)
    dgamma = np.empty_like(gamma)
    dbeta = np.empty_like(gamma)
    _film_backward(d3, x3, gamma, dx, dgamma, dbeta)
    return dx.reshape(shape), dgamma, dbeta
