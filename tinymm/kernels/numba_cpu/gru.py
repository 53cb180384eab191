"""Numba GRU (derivation and dimension letters: kernels/reference/gru.py).

The plan of the numba LSTM (kernels/numba_cpu/lstm.py), with the GRU's two projections:

* The input projection of every step is one GEMM before the time loop:
  ``xw = x (T*N, D) @ weight_ih^T`` (T, N, 3H). Inside the loop only
  ``rec = h_prev @ weight_hh^T`` (N, 3H) remains; both biases are added in the cell kernel.
  The two are kept apart (not summed as in the LSTM) because the candidate needs
  ``r * (W_hn h_prev + b_hn)``.
* One fused cell kernel per step: the sigmoid gates r and z (one vectorised exp pass over
  N*2H), then the candidate n (a second pass over N*H: tanh(a) = 2 / (1 + exp(-2a)) - 1),
  the new state, ``lengths`` masking, and the saved r, z, n, hn and h_prev.
* The backward reuses the saved activations (no exponential) and writes, for every step, the
  gradients of both projections, ``dxw`` and ``dhw`` (T, N, 3H); a cell kernel sets
  ``dh_next = dh * z`` (the direct path) and the per-step GEMM adds ``dhw[t] @ weight_hh``
  (a padded row of dhw is 0, so its dh_next passes through unchanged). dx, dweight_ih,
  dweight_hh and the bias gradients are then one GEMM (or sum) each over all T*N rows.
* As in the LSTM, for small batches (``_recurrent.loop_in_numba``) and with SciPy's BLAS the
  whole time loop runs inside one ``@njit`` function; otherwise the cell kernels run from a
  Python loop with NumPy's matmul.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from tinymm.kernels.numba_cpu import _workspace
from tinymm.kernels.numba_cpu._recurrent import lengths_array, loop_in_numba, state_array
from tinymm.kernels.numba_cpu._util import contiguous
from tinymm.kernels.numba_cpu._vexp import FASTMATH, constants, exp_buffers, exp_inplace


@njit(cache=True, fastmath=FASTMATH, error_model="numpy")  # x / 0: inf, never raises
def _gru_cell_forward(xw_t, rec, bias_ih, bias_hh, lengths, t, h, gates_t, hn_t, h_prev_t,
                      out_t, z, bits, scale):
    """One step for all rows: gates r, z, n and the new h (in place) from xw_t and rec (N, 3H).

    z, bits, scale: exp work buffers of at least N*2H elements (z in the arrays' dtype).
    """
    N, G = xw_t.shape
    H = G // 3
    one, two = constants(z)[6:8]
    # every loop reads and writes rows through slices (1-d views from 0): an index such as
    # n*2H + j could be negative for all Numba knows, and the wraparound test it then adds
    # keeps LLVM from vectorising the loop
    for n in range(N):  # exp arguments of the sigmoid gates r and z: -(a_r), -(a_z)
        zr, xr, rr = z[n * 2 * H:(n + 1) * 2 * H], xw_t[n], rec[n]
        for j in range(2 * H):
            zr[j] = -(xr[j] + bias_ih[j] + rr[j] + bias_hh[j])
    exp_inplace(z[:N * 2 * H], bits[:N * 2 * H], scale[:N * 2 * H])
    for n in range(N):
        zr, gr = z[n * 2 * H:(n + 1) * 2 * H], gates_t[n]
        for j in range(2 * H):
            gr[j] = one / (one + zr[j])  # r in [0, H), z in [H, 2H)
    bn_ih, bn_hh = bias_ih[2 * H:G], bias_hh[2 * H:G]
    for n in range(N):  # z is reused for the candidate: every gate was read above
        zr, gr, hnr = z[n * H:(n + 1) * H], gates_t[n], hn_t[n]
        xn, rn = xw_t[n, 2 * H:G], rec[n, 2 * H:G]
        for j in range(H):
            hn = rn[j] + bn_hh[j]
            hnr[j] = hn
            zr[j] = -two * (xn[j] + bn_ih[j] + gr[j] * hn)
    exp_inplace(z[:N * H], bits[:N * H], scale[:N * H])
    for n in range(N):
        real = t < lengths[n]
        zr, cands, updates = z[n * H:(n + 1) * H], gates_t[n, 2 * H:G], gates_t[n, H:2 * H]
        hr, hpr, outr = h[n], h_prev_t[n], out_t[n]
        for j in range(H):
            cand = two / (one + zr[j]) - one  # n = tanh(a_n)
            cands[j] = cand
            update = updates[j]
            h_prev = hr[j]
            hpr[j] = h_prev
            h_new = (one - update) * cand + update * h_prev
            if real:
                hr[j] = h_new
                outr[j] = h_new
            else:  # padded step: the state is carried, the output is 0
                outr[j] = 0


@njit(cache=True, fastmath=FASTMATH, error_model="numpy")  # x / 0: inf, never raises
def _gru_cell_backward(dout_t, gates_t, hn_t, h_prev_t, lengths, t, dh_next, dxw_t, dhw_t):
    """One step backward: dxw_t, dhw_t (N, 3H); dh_next becomes dh * z on the real rows.

    The caller then adds dhw_t @ weight_hh to dh_next (zero on the padded rows).
    """
    N, G = dxw_t.shape
    H = G // 3
    one = constants(dh_next)[6]
    for n in range(N):  # rows through slices, as in _gru_cell_forward (it vectorises)
        dxr, dhr = dxw_t[n], dhw_t[n]
        if t < lengths[n]:
            gr = gates_t[n]
            rs, us, cands = gr[:H], gr[H:2 * H], gr[2 * H:G]  # gates r, z (update), n
            dx_r, dx_z, dx_n = dxr[:H], dxr[H:2 * H], dxr[2 * H:G]
            dh_r, dh_z, dh_n = dhr[:H], dhr[H:2 * H], dhr[2 * H:G]
            dor, dnr, hnr, hpr = dout_t[n], dh_next[n], hn_t[n], h_prev_t[n]
            for j in range(H):
                r, u, cand = rs[j], us[j], cands[j]
                dh = dor[j] + dnr[j]
                da_n = dh * (one - u) * (one - cand * cand)
                da_r = da_n * hnr[j] * r * (one - r)
                da_z = dh * (hpr[j] - cand) * u * (one - u)
                dx_r[j] = da_r
                dx_z[j] = da_z
                dx_n[j] = da_n
                dh_r[j] = da_r
                dh_z[j] = da_z
                dh_n[j] = da_n * r
                dnr[j] = dh * u
        else:  # padded step: no gradient into the gates; dh_next passes through
            for k in range(G):
                dxr[k] = 0
                dhr[k] = 0


@njit(cache=True)
def _gru_forward_loop(xw, weight_hh_T, bias_ih, bias_hh, lengths, reverse, h, gates, hn,
                      h_prev, out, z, bits, scale):
    T = xw.shape[0]
    for s in range(T):
        t = T - 1 - s if reverse else s
        rec = np.dot(h, weight_hh_T)  # (N, 3H), BLAS through SciPy
        _gru_cell_forward(xw[t], rec, bias_ih, bias_hh, lengths, t, h, gates[t], hn[t],
                          h_prev[t], out[t], z, bits, scale)


@njit(cache=True)
def _gru_backward_loop(dout, gates, hn, h_prev, lengths, reverse, weight_hh, dh_next, dxw, dhw):
    T = dout.shape[0]
    for s in range(T):
        t = s if reverse else T - 1 - s
        _gru_cell_backward(dout[t], gates[t], hn[t], h_prev[t], lengths, t, dh_next, dxw[t],
                           dhw[t])
        dh_next += np.dot(dhw[t], weight_hh)  # (N, H), BLAS through SciPy


def _bias(bias, G: int, dtype) -> np.ndarray:
    return np.zeros(G, dtype) if bias is None else contiguous(bias)  # (3H,)


def gru_forward(x, h0, weight_ih, weight_hh, bias_ih, bias_hh, lengths=None, batch_first=False,
                reverse=False):
    x = contiguous(x.transpose(1, 0, 2) if batch_first else x)  # (T, N, D)
    T, N, D = x.shape
    H = weight_hh.shape[1]
    G = 3 * H
    dtype = x.dtype
    x2 = x.reshape(T * N, D)  # (T*N, D)
    # the input projection of every step, one GEMM, into a recycled buffer (see _workspace)
    xw = np.matmul(x2, weight_ih.T, out=_workspace.empty((T * N, G), dtype))  # (T*N, 3H)
    xw = xw.reshape(T, N, G)  # (T, N, 3H)
    b_ih, b_hh = _bias(bias_ih, G, dtype), _bias(bias_hh, G, dtype)
    lengths = lengths_array(lengths, N, T)
    h = state_array(h0, N, H, dtype)
    gates = _workspace.empty((T, N, G), dtype)  # r, z, n of every step
    hn = _workspace.empty((T, N, H), dtype)
    h_prev = _workspace.empty((T, N, H), dtype)
    out = _workspace.empty((T, N, H), dtype)
    z, bits, scale = exp_buffers(N * 2 * H, dtype)
    weight_hh_T = contiguous(weight_hh).T  # (H, 3H), a Fortran-order view: BLAS transposes
    if loop_in_numba(N, G, H):
        _gru_forward_loop(xw, weight_hh_T, b_ih, b_hh, lengths, reverse, h, gates, hn, h_prev,
                          out, z, bits, scale)
    else:
        for s in range(T):
            t = T - 1 - s if reverse else s
            _gru_cell_forward(xw[t], h @ weight_hh_T, b_ih, b_hh, lengths, t, h, gates[t], hn[t],
                              h_prev[t], out[t], z, bits, scale)
    cache = (x2, weight_ih, weight_hh, gates, hn, h_prev, lengths, reverse, batch_first,
             h0 is not None, bias_ih is not None, bias_hh is not None)
    out = out.transpose(1, 0, 2) if batch_first else out  # (N, T, H) or (T, N, H)
    return (out, h), cache


def gru_backward(grads, cache, need_dx=True):
    dout, dh_n = grads
    (x2, weight_ih, weight_hh, gates, hn, h_prev, lengths, reverse, batch_first, has_h0,
     has_bias_ih, has_bias_hh) = cache
    T, N, G = gates.shape
    H = G // 3
    dtype = gates.dtype
    dout = contiguous((dout.transpose(1, 0, 2) if batch_first else dout).astype(dtype, copy=False))
    dh_next = state_array(dh_n, N, H, dtype)  # (N, H), updated in place step by step
    dxw = _workspace.empty((T, N, G), dtype)  # gradients of the input projection
    dhw = _workspace.empty((T, N, G), dtype)  # gradients of the hidden projection
    weight_hh = contiguous(weight_hh)
    if loop_in_numba(N, G, H):
        _gru_backward_loop(dout, gates, hn, h_prev, lengths, reverse, weight_hh, dh_next, dxw,
                           dhw)
    else:
        for s in range(T):
            t = s if reverse else T - 1 - s
            _gru_cell_backward(dout[t], gates[t], hn[t], h_prev[t], lengths, t, dh_next, dxw[t],
                               dhw[t])
            dh_next += dhw[t] @ weight_hh  # (N, H)
    dxw2 = dxw.reshape(T * N, G)  # (T*N, 3H)
    dhw2 = dhw.reshape(T * N, G)  # (T*N, 3H)
    dx = None
    if need_dx:  # skipped when the input needs no gradient (one GEMM of three)
        dx = np.matmul(dxw2, weight_ih, out=_workspace.empty((T * N, weight_ih.shape[1]), dtype))
        dx = dx.reshape(T, N, -1)  # (T, N, D), one GEMM for all steps
        if batch_first:
            dx = dx.transpose(1, 0, 2)
    # weight gradients into recycled buffers: autograd copies or adds them into .grad
    dweight_ih = np.matmul(dxw2.T, x2, out=_workspace.empty(weight_ih.shape, dtype))  # (3H, D)
    dweight_hh = np.matmul(dhw2.T, h_prev.reshape(T * N, H),
                           out=_workspace.empty(weight_hh.shape, dtype))  # (3H, H)
    dbias_ih = dxw2.sum(axis=0) if has_bias_ih else None  # (3H,)
    dbias_hh = dhw2.sum(axis=0) if has_bias_hh else None  # (3H,)
    return (dx, dh_next if has_h0 else None, dweight_ih, dweight_hh, dbias_ih, dbias_hh)
