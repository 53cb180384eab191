"""Numba LSTM (derivation and dimension letters: kernels/reference/lstm.py).

How it computes, as a kernel engineer would split the work:

* The input projection of every time step is one GEMM before the time loop:
  ``xw = x (T*N, D) @ weight_ih^T + (bias_ih + bias_hh)`` (T, N, 4H), NumPy BLAS. Only
  ``h_prev @ weight_hh^T`` is left inside the loop, because it depends on the previous step.
* One fused cell kernel per step makes a pass over (N, 4H): adds the recurrent product to
  ``xw[t]``, applies the gate nonlinearities, updates c and h, honours ``lengths``, and saves
  the activations the backward needs. The exponentials go through ``exp_inplace``, a
  polynomial exp that LLVM vectorises, in the arrays' own precision (float32: 8 lanes per
  AVX2 register); libm's scalar ``exp``/``tanh`` cost 3-4x more per element here, and there
  are T*N*5H of them.
* The backward reuses the saved gate activations (no exponential), produces the gate
  pre-activation gradients ``da`` for all steps, and leaves only ``da[t] @ weight_hh`` inside
  the loop; dx, dweight_ih, dweight_hh and the bias gradients are then one GEMM (or sum) each
  over all T*N rows.
* For small batches, when SciPy is installed, the whole time loop (the per-step matmul
  included) runs inside one ``@njit`` function: Numba reaches BLAS through SciPy's bindings,
  and the per-step Python overhead, which dominates small batches, disappears (see
  ``loop_in_numba`` for why larger batches loop in Python). SciPy is not a dependency of
  tinymm: without it (``BLAS_IN_NUMBA`` is False) the same cell kernels always run from a
  Python time loop with NumPy doing the per-step matmul.
* A batch of at least 32 rows is cut into row chunks that the worker threads of ``_threads``
  run whole, each with its own input projection, time loop and weight-gradient shares
  (``_forward_rows``, ``_backward_rows``; the split: kernels/numba_cpu/_recurrent.py). The
  cell kernels release the GIL, so two chunks' Python time loops overlap.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from tinymm.kernels.numba_cpu import _threads, _workspace
from tinymm.kernels.numba_cpu._recurrent import (
    bias_sum,
    gather_rows,
    lengths_array,
    loop_in_numba,
    row_chunks,
    rows_of,
    state_array,
    sum_in_order,
    take_active_rows,
)
from tinymm.kernels.numba_cpu._util import contiguous
from tinymm.kernels.numba_cpu._vexp import FASTMATH, constants, exp_buffers, exp_inplace


@njit(cache=True, nogil=True, fastmath=FASTMATH, error_model="numpy")  # x / 0: inf
def _lstm_cell_forward(xw_t, rec, bias, lengths, t, h, c, gates_t, h_prev_t, c_prev_t,
                       tanh_c_t, out_t, z, bits, scale):
    """One step for all rows: a = xw_t + rec + bias (N, 4H) -> gates, new c and h (in place).

    z, bits, scale: exp work buffers of N*4H elements (z in the arrays' dtype).
    """
    N, G = xw_t.shape
    H = G // 4
    one, two = constants(z)[6:8]
    # exp arguments: -a for the sigmoid gates i, f, o and -2a for tanh(g) = 2 sigmoid(2a) - 1
    for n in range(N):
        base = n * G
        for j in range(G):
            factor = two if 2 * H <= j < 3 * H else one
            z[base + j] = -factor * (xw_t[n, j] + rec[n, j] + bias[j])
    exp_inplace(z[:N * G], bits[:N * G], scale[:N * G])
    # gates, then c = f * c_prev + i * g; the exp argument for tanh(c) goes in z[0 : N*H]
    for n in range(N):
        base = n * G
        for j in range(H):
            i = one / (one + z[base + j])
            f = one / (one + z[base + H + j])
            g = two / (one + z[base + 2 * H + j]) - one
            o = one / (one + z[base + 3 * H + j])
            gates_t[n, j] = i
            gates_t[n, H + j] = f
            gates_t[n, 2 * H + j] = g
            gates_t[n, 3 * H + j] = o
            h_prev_t[n, j] = h[n, j]
            c_prev_t[n, j] = c[n, j]
            c_new = f * c[n, j] + i * g
            tanh_c_t[n, j] = c_new  # holds c until tanh is applied below
    for n in range(N):  # separate pass: z[n*H + j] may still be an unread gate above
        for j in range(H):
            z[n * H + j] = -two * tanh_c_t[n, j]
    exp_inplace(z[:N * H], bits[:N * H], scale[:N * H])
    for n in range(N):
        real = t < lengths[n]
        for j in range(H):
            c_new = tanh_c_t[n, j]
            tanh_c = two / (one + z[n * H + j]) - one
            tanh_c_t[n, j] = tanh_c
            h_new = gates_t[n, 3 * H + j] * tanh_c
            if real:
                h[n, j] = h_new
                c[n, j] = c_new
                out_t[n, j] = h_new
            else:  # padded step: the state is carried, the output is 0
                out_t[n, j] = 0


@njit(cache=True, nogil=True, fastmath=FASTMATH, error_model="numpy")  # x / 0: inf
def _lstm_cell_backward(dout_t, gates_t, c_prev_t, tanh_c_t, lengths, t, dh_next, dc_next,
                        da_t):
    """One step backward for all rows: da_t (N, 4H); dc_next becomes dc_prev (in place)."""
    N, G = da_t.shape
    H = G // 4
    one = constants(dh_next)[6]
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
                dc = dc_next[n, j] + dh * o * (one - tanh_c * tanh_c)
                da_t[n, j] = dc * g * i * (one - i)
                da_t[n, H + j] = dc * c_prev_t[n, j] * f * (one - f)
                da_t[n, 2 * H + j] = dc * i * (one - g * g)
                da_t[n, 3 * H + j] = do * o * (one - o)
                dc_next[n, j] = dc * f
        else:  # padded step: no gradient into the gates; dh_next, dc_next pass through
            for k in range(G):
                da_t[n, k] = 0


@njit(cache=True, nogil=True)
def _lstm_forward_loop(xw, weight_hh_T, bias, lengths, reverse, h, c, gates, h_prev, c_prev,
                       tanh_c, out, z, bits, scale):
    T = xw.shape[0]
    for s in range(T):
        t = T - 1 - s if reverse else s
        rec = np.dot(h, weight_hh_T)  # (N, 4H), BLAS through SciPy
        _lstm_cell_forward(xw[t], rec, bias, lengths, t, h, c, gates[t], h_prev[t], c_prev[t],
                           tanh_c[t], out[t], z, bits, scale)


@njit(cache=True, nogil=True)
def _lstm_backward_loop(dout, gates, c_prev, tanh_c, lengths, reverse, weight_hh, dh_next,
                        dc_next, da):
    T = dout.shape[0]
    for s in range(T):
        t = s if reverse else T - 1 - s
        _lstm_cell_backward(dout[t], gates[t], c_prev[t], tanh_c[t], lengths, t, dh_next,
                            dc_next, da[t])
        dh_prev = np.dot(da[t], weight_hh)  # (N, H), BLAS through SciPy
        take_active_rows(dh_next, dh_prev, lengths, t)


def lstm_forward(x, h0, c0, weight_ih, weight_hh, bias_ih, bias_hh, lengths=None,
                 batch_first=False, reverse=False):
    x = contiguous(x.transpose(1, 0, 2) if batch_first else x)  # (T, N, D)
    T, N, D = x.shape
    H = weight_hh.shape[1]
    dtype = x.dtype
    G = 4 * H
    bias = bias_sum(bias_ih, bias_hh)
    bias = np.zeros(G, dtype) if bias is None else contiguous(bias)  # (4H,)
    lengths = lengths_array(lengths, N, T)
    h = state_array(h0, N, H, dtype)  # (N, H); each chunk updates its own rows in place
    c = state_array(c0, N, H, dtype)
    chunks = row_chunks(N)
    in_numba = loop_in_numba(chunks[0][1] - chunks[0][0], G, H)  # the chunks' time loop
    # (H, 4H): for the in-numba loop's small per-step GEMM a Fortran-order view (BLAS
    # transposes; as fast there, and no copy), for the Python loop's larger one a C-ordered
    # copy (OpenBLAS's transposed-operand GEMM at 16 rows costs more than the copy)
    weight_hh_T = contiguous(weight_hh).T if in_numba else np.ascontiguousarray(weight_hh.T)
    parts = [None] * len(chunks)

    def chunk(worker, k):
        parts[k] = _forward_rows(x, chunks[k], weight_ih, weight_hh_T, bias, lengths, reverse,
                                 h, c, in_numba)

    _threads.run_tasks(chunk, len(chunks))
    out = gather_rows([p[-1] for p in parts], N)  # (T, N, H)
    cache = (parts, chunks, weight_ih, weight_hh, lengths, reverse, batch_first,
             h0 is not None, c0 is not None, bias_ih is not None, bias_hh is not None)
    out = out.transpose(1, 0, 2) if batch_first else out  # (N, T, H) or (T, N, H)
    return (out, h, c), cache


def _forward_rows(x, rows, weight_ih, weight_hh_T, bias, lengths, reverse, h, c, in_numba):
    """The forward of batch rows n0:n1 (one chunk): its input projection, then its time loop
    on h[n0:n1] and c[n0:n1] in place. Returns what the backward reads, output last."""
    n0, n1 = rows
    xc = rows_of(x, n0, n1)  # (T, Nc, D)
    T, Nc, D = xc.shape
    G = weight_hh_T.shape[1]
    H = G // 4
    dtype = x.dtype
    x2 = xc.reshape(T * Nc, D)  # (T*Nc, D)
    # the input projection of every step, one GEMM, into a recycled buffer (see _workspace);
    # the biases are added inside the cell kernel, saving a pass over xw
    xw = np.matmul(x2, weight_ih.T, out=_workspace.empty((T * Nc, G), dtype))  # (T*Nc, 4H)
    xw = xw.reshape(T, Nc, G)  # (T, Nc, 4H)
    gates = _workspace.empty((T, Nc, G), dtype)  # recycled: no fresh pages to fault
    h_prev = _workspace.empty((T, Nc, H), dtype)
    c_prev = _workspace.empty((T, Nc, H), dtype)
    tanh_c = _workspace.empty((T, Nc, H), dtype)
    out = _workspace.empty((T, Nc, H), dtype)
    z, bits, scale = exp_buffers(Nc * G, dtype)
    hc, cc, lc = h[n0:n1], c[n0:n1], lengths[n0:n1]  # C-contiguous row blocks
    if in_numba:
        _lstm_forward_loop(xw, weight_hh_T, bias, lc, reverse, hc, cc, gates, h_prev, c_prev,
                           tanh_c, out, z, bits, scale)
    else:
        for s in range(T):
            t = T - 1 - s if reverse else s
            rec = hc @ weight_hh_T  # (Nc, 4H)
            _lstm_cell_forward(xw[t], rec, bias, lc, t, hc, cc, gates[t], h_prev[t],
                               c_prev[t], tanh_c[t], out[t], z, bits, scale)
    return x2, gates, h_prev, c_prev, tanh_c, out


def lstm_backward(grads, cache, need_dx=True):
    dout, dh_n, dc_n = grads
    (parts, chunks, weight_ih, weight_hh, lengths, reverse, batch_first, has_h0, has_c0,
     has_bias_ih, has_bias_hh) = cache
    T, _, G = parts[0][1].shape
    N = lengths.shape[0]
    H = G // 4
    dtype = parts[0][1].dtype
    dout = contiguous((dout.transpose(1, 0, 2) if batch_first else dout).astype(dtype, copy=False))
    dh_next = state_array(dh_n, N, H, dtype)  # (N, H), updated in place step by step
    dc_next = state_array(dc_n, N, H, dtype)
    weight_hh = contiguous(weight_hh)
    in_numba = loop_in_numba(chunks[0][1] - chunks[0][0], G, H)  # the chunks' time loop
    sums = [None] * len(chunks)

    def chunk(worker, k):
        sums[k] = _backward_rows(dout, chunks[k], parts[k], weight_ih, weight_hh, lengths,
                                 reverse, dh_next, dc_next, need_dx, in_numba)

    _threads.run_tasks(chunk, len(chunks))
    # weight gradients: the chunks' shares summed in chunk order (the same bits whichever
    # worker took which chunk); autograd copies or adds them into .grad
    dweight_ih, dweight_hh, dbias = (sum_in_order([s[q] for s in sums]) for q in range(3))
    dx = gather_rows([s[3] for s in sums], N) if need_dx else None  # (T, N, D)
    if dx is not None and batch_first:
        dx = dx.transpose(1, 0, 2)
    if not (has_bias_ih or has_bias_hh):
        dbias = None
    return (dx, dh_next if has_h0 else None, dc_next if has_c0 else None, dweight_ih,
            dweight_hh, dbias if has_bias_ih else None,
            dbias.copy() if has_bias_hh else None)


def _backward_rows(dout, rows, part, weight_ih, weight_hh, lengths, reverse, dh_next, dc_next,
                   need_dx, in_numba):
    """The backward of batch rows n0:n1: its time loop on dh_next[n0:n1] and dc_next[n0:n1]
    in place, then its shares of dweight_ih, dweight_hh and dbias, and its dx rows."""
    n0, n1 = rows
    x2, gates, h_prev, c_prev, tanh_c, _ = part
    T, Nc, G = gates.shape
    H = G // 4
    dtype = gates.dtype
    doutc = rows_of(dout, n0, n1)  # (T, Nc, H)
    dhc, dcc, lc = dh_next[n0:n1], dc_next[n0:n1], lengths[n0:n1]
    da = _workspace.empty((T, Nc, G), dtype)  # gate pre-activation gradients of every step
    if in_numba:
        _lstm_backward_loop(doutc, gates, c_prev, tanh_c, lc, reverse, weight_hh, dhc, dcc, da)
    else:
        for s in range(T):
            t = s if reverse else T - 1 - s
            _lstm_cell_backward(doutc[t], gates[t], c_prev[t], tanh_c[t], lc, t, dhc, dcc,
                                da[t])
            take_active_rows(dhc, da[t] @ weight_hh, lc, t)
    da2 = da.reshape(T * Nc, G)  # (T*Nc, 4H)
    dx = None
    if need_dx:  # skipped when the input needs no gradient (one GEMM of four)
        dx = np.matmul(da2, weight_ih, out=_workspace.empty((T * Nc, weight_ih.shape[1]), dtype))
        dx = dx.reshape(T, Nc, weight_ih.shape[1])  # (T, Nc, D); no -1: T*Nc may be 0
    dweight_ih = np.matmul(da2.T, x2, out=_workspace.empty(weight_ih.shape, dtype))  # (4H, D)
    dweight_hh = np.matmul(da2.T, h_prev.reshape(T * Nc, H),
                           out=_workspace.empty(weight_hh.shape, dtype))  # (4H, H)
    return dweight_ih, dweight_hh, da2.sum(axis=0), dx  # dbias share (4H,)
