"""Numba LSTM (derivation and dimension letters: kernels/reference/lstm.py).

How it computes, as a kernel engineer would split the work:

* The input projection of every time step is one GEMM before the time loop:
  ``xw = x (T*N, D) @ weight_ih^T + (bias_ih + bias_hh)`` (T, N, 4H), NumPy BLAS. Only
  ``h_prev @ weight_hh^T`` is left inside the loop, because it depends on the previous step.
* One fused cell kernel per step makes a pass over (N, 4H): adds the recurrent product to
  ``xw[t]``, applies the gate nonlinearities, updates c and h, honours ``lengths``, and saves
  the activations the backward needs. The exponentials go through ``_exp_inplace``, a
  polynomial exp that LLVM vectorises (libm's scalar ``exp``/``tanh`` cost 3-4x more per
  element here, and there are T*N*5H of them).
* The backward reuses the saved gate activations (no exponential), produces the gate
  pre-activation gradients ``da`` for all steps, and leaves only ``da[t] @ weight_hh`` inside
  the loop; dx, dweight_ih, dweight_hh and the bias gradients are then one GEMM (or sum) each
  over all T*N rows.
* When SciPy is installed, the whole time loop (the per-step matmul included) runs inside one
  ``@njit`` function: Numba reaches BLAS through SciPy's bindings, and the per-step Python
  overhead, which dominates small batches, disappears. SciPy is not a dependency of tinymm:
  without it (``BLAS_IN_NUMBA`` is False) the same cell kernels run from a Python time loop
  with NumPy doing the per-step matmul.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from tinymm.kernels.numba_cpu._util import contiguous

try:  # numba's np.dot inside @njit calls BLAS through SciPy's Cython bindings
    import scipy.linalg.cython_blas  # noqa: F401

    BLAS_IN_NUMBA = True
except ImportError:  # pragma: no cover - depends on the environment
    BLAS_IN_NUMBA = False

# No 'reassoc': the rounding trick in _exp_inplace needs (y + SHIFT) - SHIFT to stay as written.
_FASTMATH = {"nnan", "ninf", "nsz", "arcp", "contract", "afn"}
_LOG2E = 1.4426950408889634
_LN2_HI = 0.693145751953125  # ln 2 split in two so k * _LN2_HI is exact
_LN2_LO = 1.42860682030941723212e-6
_SHIFT = 6755399441055744.0  # 1.5 * 2^52: adding it rounds a float64 to an integer


@njit(cache=True, fastmath=_FASTMATH)
def _exp_inplace(z, bits):
    """z[:] = exp(z) for a 1-d float64 buffer, in two vectorisable passes.

    exp(z) = 2^k * exp(r) with k = round(z / ln 2) and |r| <= ln(2) / 2; exp(r) is its Taylor
    polynomial to degree 13 (relative error ~1e-16 on that interval), 2^k is built from its
    IEEE-754 bits in ``bits`` (an int64 buffer as long as z). z is clamped to [-80, 80]:
    the gates saturate long before, and no float32 result overflows.
    """
    M = z.size
    for m in range(M):
        y = min(max(z[m], -80.0), 80.0)
        k = (y * _LOG2E + _SHIFT) - _SHIFT  # round(y / ln 2), as a float
        r = y - k * _LN2_HI - k * _LN2_LO
        p = 1.0 / 6227020800.0
        p = p * r + 1.0 / 479001600.0
        p = p * r + 1.0 / 39916800.0
        p = p * r + 1.0 / 3628800.0
        p = p * r + 1.0 / 362880.0
        p = p * r + 1.0 / 40320.0
        p = p * r + 1.0 / 5040.0
        p = p * r + 1.0 / 720.0
        p = p * r + 1.0 / 120.0
        p = p * r + 1.0 / 24.0
        p = p * r + 1.0 / 6.0
        p = p * r + 0.5
        p = p * r + 1.0
        p = p * r + 1.0
        z[m] = p
        bits[m] = (np.int64(k) + 1023) << 52  # the bits of the float64 2^k
    scale = bits.view(np.float64)
    for m in range(M):
        z[m] = z[m] * scale[m]


@njit(cache=True, fastmath=_FASTMATH)
def _lstm_cell_forward(xw_t, rec, lengths, t, h, c, gates_t, h_prev_t, c_prev_t, tanh_c_t,
                       out_t, z, bits):
    """One step for all N rows: a = xw_t + rec (N, 4H) -> gates, new c and h (in place)."""
    N, G = xw_t.shape
    H = G // 4
    # exp arguments: -a for the sigmoid gates i, f, o and -2a for tanh(g) = 2 sigmoid(2a) - 1
    for n in range(N):
        base = n * G
        for j in range(H):
            z[base + j] = -(xw_t[n, j] + rec[n, j])
        for j in range(H, 2 * H):
            z[base + j] = -(xw_t[n, j] + rec[n, j])
        for j in range(2 * H, 3 * H):
            z[base + j] = -2.0 * (xw_t[n, j] + rec[n, j])
        for j in range(3 * H, G):
            z[base + j] = -(xw_t[n, j] + rec[n, j])
    _exp_inplace(z[:N * G], bits[:N * G])
    for n in range(N):
        base = n * G
        for j in range(H):
            gates_t[n, j] = 1.0 / (1.0 + z[base + j])  # i
            gates_t[n, H + j] = 1.0 / (1.0 + z[base + H + j])  # f
            gates_t[n, 2 * H + j] = 2.0 / (1.0 + z[base + 2 * H + j]) - 1.0  # g
            gates_t[n, 3 * H + j] = 1.0 / (1.0 + z[base + 3 * H + j])  # o
    # c = f * c_prev + i * g; the exp argument for tanh(c) goes in z[0 : N*H]
    for n in range(N):
        for j in range(H):
            h_prev_t[n, j] = h[n, j]
            c_prev_t[n, j] = c[n, j]
            c_new = gates_t[n, H + j] * c[n, j] + gates_t[n, j] * gates_t[n, 2 * H + j]
            tanh_c_t[n, j] = c_new  # holds c until tanh is applied below
            z[n * H + j] = -2.0 * c_new
    _exp_inplace(z[:N * H], bits[:N * H])
    for n in range(N):
        real = t < lengths[n]
        for j in range(H):
            c_new = tanh_c_t[n, j]
            tanh_c = 2.0 / (1.0 + z[n * H + j]) - 1.0
            tanh_c_t[n, j] = tanh_c
            h_new = gates_t[n, 3 * H + j] * tanh_c
            if real:
                h[n, j] = h_new
                c[n, j] = c_new
                out_t[n, j] = h_new
            else:  # padded step: the state is carried, the output is 0
                out_t[n, j] = 0.0


@njit(cache=True, fastmath=_FASTMATH)
def _lstm_cell_backward(dout_t, gates_t, c_prev_t, tanh_c_t, lengths, t, dh_next, dc_next,
                        da_t):
    """One step backward for all rows: da_t (N, 4H); dc_next becomes dc_prev (in place)."""
    N, G = da_t.shape
    H = G // 4
    for n in range(N):
        if t < lengths[n]:
            for j in range(H):
                i = gates_t[n, j]
                f = gates_t[n, H + j]
                g = gates_t[n, 2 * H + j]
                o = gates_t[n, 3 * H + j]
                tanh_c = tanh_c_t[n, j]
                dh = dout_t[n, j] + dh_next[n, j]
                do = dh * tanh_c
                dc = dc_next[n, j] + dh * o * (1.0 - tanh_c * tanh_c)
                da_t[n, j] = dc * g * i * (1.0 - i)
                da_t[n, H + j] = dc * c_prev_t[n, j] * f * (1.0 - f)
                da_t[n, 2 * H + j] = dc * i * (1.0 - g * g)
                da_t[n, 3 * H + j] = do * o * (1.0 - o)
                dc_next[n, j] = dc * f
        else:  # padded step: no gradient into the gates; dh_next, dc_next pass through
            for k in range(G):
                da_t[n, k] = 0.0


@njit(cache=True)
def _take_active_rows(dh_next, dh_prev, lengths, t):
    """dh_next[n] = dh_prev[n] for the rows whose step t was real (the others carry)."""
    N, H = dh_next.shape
    for n in range(N):
        if t < lengths[n]:
            for j in range(H):
                dh_next[n, j] = dh_prev[n, j]


@njit(cache=True)
def _lstm_forward_loop(xw, weight_hh_T, lengths, reverse, h, c, gates, h_prev, c_prev, tanh_c,
                       out, z, bits):
    T = xw.shape[0]
    for s in range(T):
        t = T - 1 - s if reverse else s
        rec = np.dot(h, weight_hh_T)  # (N, 4H), BLAS through SciPy
        _lstm_cell_forward(xw[t], rec, lengths, t, h, c, gates[t], h_prev[t], c_prev[t],
                           tanh_c[t], out[t], z, bits)


@njit(cache=True)
def _lstm_backward_loop(dout, gates, c_prev, tanh_c, lengths, reverse, weight_hh, dh_next,
                        dc_next, da):
    T = dout.shape[0]
    for s in range(T):
        t = s if reverse else T - 1 - s
        _lstm_cell_backward(dout[t], gates[t], c_prev[t], tanh_c[t], lengths, t, dh_next,
                            dc_next, da[t])
        dh_prev = np.dot(da[t], weight_hh)  # (N, H), BLAS through SciPy
        _take_active_rows(dh_next, dh_prev, lengths, t)


def _lengths_array(lengths, N: int, T: int) -> np.ndarray:
    if lengths is None:
        return np.full(N, T, dtype=np.int64)
    return np.ascontiguousarray(lengths, dtype=np.int64)


def _state(value, N: int, H: int, dtype) -> np.ndarray:
    """A fresh, writable C-contiguous (N, H) state array (the loop updates it in place)."""
    if value is None:
        return np.zeros((N, H), dtype)
    return np.array(value, dtype=dtype, order="C", copy=True)


def lstm_forward(x, h0, c0, weight_ih, weight_hh, bias_ih, bias_hh, lengths=None,
                 batch_first=False, reverse=False):
    x = contiguous(x.transpose(1, 0, 2) if batch_first else x)  # (T, N, D)
    T, N, D = x.shape
    H = weight_hh.shape[1]
    dtype = x.dtype
    x2 = x.reshape(T * N, D)  # (T*N, D)
    xw = x2 @ weight_ih.T  # (T*N, 4H): the input projection of every step, one GEMM
    if bias_ih is not None:
        xw += bias_ih
    if bias_hh is not None:
        xw += bias_hh
    xw = xw.reshape(T, N, 4 * H)  # (T, N, 4H)
    lengths = _lengths_array(lengths, N, T)
    h = _state(h0, N, H, dtype)
    c = _state(c0, N, H, dtype)
    gates = np.empty((T, N, 4 * H), dtype)
    h_prev = np.empty((T, N, H), dtype)
    c_prev = np.empty((T, N, H), dtype)
    tanh_c = np.empty((T, N, H), dtype)
    out = np.empty((T, N, H), dtype)
    z = np.empty(N * 4 * H, np.float64)
    bits = np.empty(N * 4 * H, np.int64)
    weight_hh_T = contiguous(weight_hh.T)  # (H, 4H)
    if BLAS_IN_NUMBA:
        _lstm_forward_loop(xw, weight_hh_T, lengths, reverse, h, c, gates, h_prev, c_prev,
                           tanh_c, out, z, bits)
    else:
        for s in range(T):
            t = T - 1 - s if reverse else s
            rec = h @ weight_hh_T  # (N, 4H)
            _lstm_cell_forward(xw[t], rec, lengths, t, h, c, gates[t], h_prev[t], c_prev[t],
                               tanh_c[t], out[t], z, bits)
    cache = (x2, weight_ih, weight_hh, gates, h_prev, c_prev, tanh_c, lengths, reverse,
             batch_first, h0 is not None, c0 is not None, bias_ih is not None,
             bias_hh is not None)
    out = out.transpose(1, 0, 2) if batch_first else out  # (N, T, H) or (T, N, H)
    return (out, h, c.copy()), cache


def lstm_backward(grads, cache):
    dout, dh_n, dc_n = grads
    (x2, weight_ih, weight_hh, gates, h_prev, c_prev, tanh_c, lengths, reverse, batch_first,
     has_h0, has_c0, has_bias_ih, has_bias_hh) = cache
    T, N, G = gates.shape
    H = G // 4
    dtype = gates.dtype
    dout = contiguous((dout.transpose(1, 0, 2) if batch_first else dout).astype(dtype, copy=False))
    dh_next = _state(dh_n, N, H, dtype)  # (N, H), updated in place step by step
    dc_next = _state(dc_n, N, H, dtype)
    da = np.empty((T, N, G), dtype)  # gate pre-activation gradients of every step
    weight_hh = contiguous(weight_hh)
    if BLAS_IN_NUMBA:
        _lstm_backward_loop(dout, gates, c_prev, tanh_c, lengths, reverse, weight_hh, dh_next,
                            dc_next, da)
    else:
        for s in range(T):
            t = s if reverse else T - 1 - s
            _lstm_cell_backward(dout[t], gates[t], c_prev[t], tanh_c[t], lengths, t, dh_next,
                                dc_next, da[t])
            _take_active_rows(dh_next, da[t] @ weight_hh, lengths, t)
    da2 = da.reshape(T * N, G)  # (T*N, 4H)
    dx = (da2 @ weight_ih).reshape(T, N, -1)  # (T, N, D), one GEMM for all steps
    dweight_ih = da2.T @ x2  # (4H, D)
    dweight_hh = da2.T @ h_prev.reshape(T * N, H)  # (4H, H)
    dbias = da2.sum(axis=0) if (has_bias_ih or has_bias_hh) else None  # (4H,)
    dx = dx.transpose(1, 0, 2) if batch_first else dx
    return (dx, dh_next if has_h0 else None, dc_next if has_c0 else None, dweight_ih,
            dweight_hh, dbias if has_bias_ih else None,
            dbias.copy() if has_bias_hh else None)
