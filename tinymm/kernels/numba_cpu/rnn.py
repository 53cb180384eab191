"""Numba Elman RNN (derivation and dimension letters: kernels/reference/rnn.py).

The same plan as the numba LSTM (kernels/numba_cpu/lstm.py): the input projection of every
step is one GEMM before the loop, a fused cell kernel per step (nonlinearity, ``lengths``
masking, saving what the backward needs), the backward's dx/dweight/dbias as one GEMM each
over all T*N rows, and the whole time loop inside one ``@njit`` function when SciPy gives
Numba its BLAS and the batch is small (``_recurrent.loop_in_numba`` says when), else
a Python time loop with NumPy's matmul.
tanh(a) = 2 / (1 + exp(-2a)) - 1 with the vectorised exp of the LSTM module.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from tinymm.kernels.numba_cpu import _workspace
from tinymm.kernels.numba_cpu._recurrent import (
    bias_sum,
    lengths_array,
    loop_in_numba,
    state_array,
    take_active_rows,
)
from tinymm.kernels.numba_cpu._util import contiguous
from tinymm.kernels.numba_cpu._vexp import FASTMATH, constants, exp_buffers, exp_inplace

_TANH, _RELU = 0, 1


@njit(cache=True, fastmath=FASTMATH, error_model="numpy")  # x / 0: inf, never raises
def _rnn_cell_forward(xw_t, rec, lengths, t, phi, h, h_new_t, h_prev_t, out_t, z, bits, scale):
    """One step for all N rows: h = phi(xw_t + rec), masked by lengths (h in place)."""
    N, H = xw_t.shape
    one, two = constants(z)[6:8]
    if phi == _TANH:  # z's rows through slices: an index n*H + j's wraparound test (it
        for n in range(N):  # could be negative for all Numba knows) blocks vectorisation
            zr, xr, rr = z[n * H:(n + 1) * H], xw_t[n], rec[n]
            for j in range(H):
                zr[j] = -two * (xr[j] + rr[j])
        exp_inplace(z[:N * H], bits[:N * H], scale[:N * H])
        for n in range(N):
            zr, hr = z[n * H:(n + 1) * H], h_new_t[n]
            for j in range(H):
                hr[j] = two / (one + zr[j]) - one
    else:
        for n in range(N):
            for j in range(H):
                a = xw_t[n, j] + rec[n, j]
                h_new_t[n, j] = a if a > 0 else 0
    for n in range(N):
        real = t < lengths[n]
        for j in range(H):
            h_prev_t[n, j] = h[n, j]
            if real:
                h[n, j] = h_new_t[n, j]
                out_t[n, j] = h_new_t[n, j]
            else:  # padded step: the state is carried, the output is 0
                out_t[n, j] = 0


@njit(cache=True)
def _rnn_cell_backward(dout_t, h_new_t, lengths, t, phi, dh_next, da_t):
    """One step backward: da_t (N, H) = (dout_t + dh_next) * phi'(a), 0 on padded rows."""
    N, H = da_t.shape
    for n in range(N):
        if t < lengths[n]:
            for j in range(H):
                dh = dout_t[n, j] + dh_next[n, j]
                h_new = h_new_t[n, j]
                if phi == _TANH:
                    da_t[n, j] = dh * (1 - h_new * h_new)
                else:
                    da_t[n, j] = dh if h_new > 0 else 0
        else:
            for j in range(H):
                da_t[n, j] = 0


@njit(cache=True)
def _rnn_forward_loop(xw, weight_hh_T, lengths, reverse, phi, h, h_new, h_prev, out, z, bits,
                      scale):
    T = xw.shape[0]
    for s in range(T):
        t = T - 1 - s if reverse else s
        rec = np.dot(h, weight_hh_T)  # (N, H), BLAS through SciPy
        _rnn_cell_forward(xw[t], rec, lengths, t, phi, h, h_new[t], h_prev[t], out[t], z, bits,
                          scale)


@njit(cache=True)
def _rnn_backward_loop(dout, h_new, lengths, reverse, phi, weight_hh, dh_next, da):
    T = dout.shape[0]
    for s in range(T):
        t = s if reverse else T - 1 - s
        _rnn_cell_backward(dout[t], h_new[t], lengths, t, phi, dh_next, da[t])
        take_active_rows(dh_next, np.dot(da[t], weight_hh), lengths, t)


def rnn_forward(x, h0, weight_ih, weight_hh, bias_ih, bias_hh, lengths=None,
                nonlinearity="tanh", batch_first=False, reverse=False):
    x = contiguous(x.transpose(1, 0, 2) if batch_first else x)  # (T, N, D)
    T, N, D = x.shape
    H = weight_hh.shape[1]
    dtype = x.dtype
    phi = _TANH if nonlinearity == "tanh" else _RELU
    x2 = x.reshape(T * N, D)  # (T*N, D)
    # every step's input projection, one GEMM, into a recycled buffer (see _workspace)
    xw = np.matmul(x2, weight_ih.T, out=_workspace.empty((T * N, H), dtype))  # (T*N, H)
    if bias_ih is not None or bias_hh is not None:
        xw += bias_sum(bias_ih, bias_hh)  # one pass over xw for both biases
    xw = xw.reshape(T, N, H)  # (T, N, H)
    lengths = lengths_array(lengths, N, T)
    h = state_array(h0, N, H, dtype)
    h_new = _workspace.empty((T, N, H), dtype)
    h_prev = _workspace.empty((T, N, H), dtype)
    out = _workspace.empty((T, N, H), dtype)
    z, bits, scale = exp_buffers(N * H, dtype)
    weight_hh_T = contiguous(weight_hh.T)  # (H, H)
    if loop_in_numba(N, H, H):
        _rnn_forward_loop(xw, weight_hh_T, lengths, reverse, phi, h, h_new, h_prev, out, z, bits,
                          scale)
    else:
        for s in range(T):
            t = T - 1 - s if reverse else s
            _rnn_cell_forward(xw[t], h @ weight_hh_T, lengths, t, phi, h, h_new[t], h_prev[t],
                              out[t], z, bits, scale)
    cache = (x2, weight_ih, weight_hh, h_new, h_prev, lengths, phi, reverse, batch_first,
             h0 is not None, bias_ih is not None, bias_hh is not None)
    out = out.transpose(1, 0, 2) if batch_first else out  # (N, T, H) or (T, N, H)
    return (out, h), cache


def rnn_backward(grads, cache, need_dx=True):
    dout, dh_n = grads
    (x2, weight_ih, weight_hh, h_new, h_prev, lengths, phi, reverse, batch_first, has_h0,
     has_bias_ih, has_bias_hh) = cache
    T, N, H = h_new.shape
    dtype = h_new.dtype
    dout = contiguous((dout.transpose(1, 0, 2) if batch_first else dout).astype(dtype, copy=False))
    dh_next = state_array(dh_n, N, H, dtype)  # (N, H), updated in place step by step
    da = _workspace.empty((T, N, H), dtype)
    weight_hh = contiguous(weight_hh)
    if loop_in_numba(N, H, H):
        _rnn_backward_loop(dout, h_new, lengths, reverse, phi, weight_hh, dh_next, da)
    else:
        for s in range(T):
            t = s if reverse else T - 1 - s
            _rnn_cell_backward(dout[t], h_new[t], lengths, t, phi, dh_next, da[t])
            take_active_rows(dh_next, da[t] @ weight_hh, lengths, t)
    da2 = da.reshape(T * N, H)  # (T*N, H)
    dx = None
    if need_dx:  # skipped when the input needs no gradient (one GEMM of four)
        dx = np.matmul(da2, weight_ih, out=_workspace.empty((T * N, weight_ih.shape[1]), dtype))
        dx = dx.reshape(T, N, weight_ih.shape[1])  # (T, N, D); no -1: T or N may be 0
    # weight gradients into recycled buffers: autograd copies or adds them into .grad
    dweight_ih = np.matmul(da2.T, x2, out=_workspace.empty(weight_ih.shape, dtype))  # (H, D)
    dweight_hh = np.matmul(da2.T, h_prev.reshape(T * N, H),
                           out=_workspace.empty(weight_hh.shape, dtype))  # (H, H)
    dbias = da2.sum(axis=0) if (has_bias_ih or has_bias_hh) else None  # (H,)
    if dx is not None and batch_first:
        dx = dx.transpose(1, 0, 2)
    return (dx, dh_next if has_h0 else None, dweight_ih, dweight_hh,
            dbias if has_bias_ih else None, dbias.copy() if has_bias_hh else None)
