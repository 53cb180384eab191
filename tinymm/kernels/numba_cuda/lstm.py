"""CUDA LSTM over a whole sequence and its backpropagation through time (derivation:
kernels/reference/lstm.py; row order and the shared pieces: _recurrent.py).

Dimension letters: T time steps, N batch, D input features, H hidden units, G = 4H gates
(i, f, g, o), R = T * N rows in the input's layout (row r(t, n) = t * N + n, or n * T + t with
batch_first=True).

Forward, 1 + T launches besides small set-up kernels (transpose, bias sum, initial state):

1. one GEMM for the input projection of every step at once: xw (R, G) = x (R, D) @ weight_ih^T;
2. per processing step s (time t = s, or T - 1 - s with reverse=True), one fused cell kernel
   ``lstm_step``: block (THREADS_PER_ROW threads over j, one batch row n), each thread owns
   hidden unit j and computes its four gate pre-activations
   a_k = xw[r, kH + j] + bias[kH + j] + sum_m h_prev[n, m] weight_hh^T[m, kH + j]
   (h_prev staged in shared memory in chunks, for all four gates at once), the
   nonlinearities, c = f c_prev + i g, h = o tanh(c), and writes out, the next state and
   what the backward reads (gates, tanh(c), h_prev). A padded step (t >= lengths[n]) copies
   the state and writes out = 0. The state lives in h_all, c_all (T + 1, N, H): step s
   reads slice s and writes slice s + 1, so no thread overwrites a value that another thread
   of the same launch still reads.

Backward, T + 1 fused launches and then four GEMMs over all rows:

1. per processing step s, walked from the last to the first, ``lstm_step_grad``: first the
   recurrent path of the *later* step (dh[n, :] = da[r_next, :] @ weight_hh, only when that step
   was real for row n; da staged in shared memory), then this step's cell backward: dh, do,
   dc, di, dg, df, da (G values per row, zeros on a padded step) and dc_prev into the carry;
   one last launch applies the recurrent path of the first step, leaving dh0 and dc0;
2. dweight_ih = da^T @ x, dweight_hh = da^T @ h_prev, dbias = column sums of da,
   dx = da @ weight_ih (skipped with need_dx=False), each one launch over all R rows.

The GEMMs run on the shared GEMM of _gemm.py; the step kernels are built per dtype (_dtypes.py)
so float32 arithmetic stays float32. Both the GPU and the simulator run the shared-memory
paths (no warp shuffles are used).
"""

from __future__ import annotations

import math

from numba import cuda

from tinymm.kernels.numba_cuda._device import empty, require_device
from tinymm.kernels.numba_cuda._dtypes import per_dtype
from tinymm.kernels.numba_cuda._recurrent import (
    add_recurrent_grad,
    check_same,
    column_sum,
    combined_bias,
    copy,
    copy_into,
    device_lengths,
    matmul2d,
    sigmoid,
    stage_dot,
    step_row,
    step_times,
    step_unit,
    transpose,
)
from tinymm.kernels.numba_cuda._reduce import THREADS_PER_ROW


def _make_lstm_step(dtype):
    one = dtype(1)

    def lstm_step(xw, whh_t, bias, h_all, c_all, lengths, s, t, batch_first, out, gates, tanh_c,
                   h_prev_rows):
        """Processing step s (time t) for batch row n = blockIdx.y, hidden unit j of this block."""
        N, H = h_all.shape[1], h_all.shape[2]
        T = h_all.shape[0] - 1
        n, j, jj = step_unit(H)
        r = step_row(n, t, N, T, batch_first)
        sh = cuda.shared.array(THREADS_PER_ROW, h_all.dtype)
        acc = cuda.local.array(4, h_all.dtype)  # pre-activations a_i, a_f, a_g, a_o
        for k in range(4):
            acc[k] = xw[r, k * H + jj] + bias[k * H + jj]
        stage_dot(acc, h_all[s, n], whh_t, jj, 4, H, sh)  # += h_prev[n, :] @ weight_hh^T
        if j < H:
            gi = sigmoid(acc[0], one)
            gf = sigmoid(acc[1], one)
            gg = math.tanh(acc[2])
            go = sigmoid(acc[3], one)
            h_prev = h_all[s, n, j]
            c_prev = c_all[s, n, j]
            c_new = gf * c_prev + gi * gg
            tc = math.tanh(c_new)
            h_new = go * tc
            if t < lengths[n]:
                out[r, j] = h_new
                h_all[s + 1, n, j] = h_new
                c_all[s + 1, n, j] = c_new
            else:  # padded step: the state is carried, the output is zero
                out[r, j] = 0
                h_all[s + 1, n, j] = h_prev
                c_all[s + 1, n, j] = c_prev
            gates[r, j] = gi
            gates[r, H + j] = gf
            gates[r, 2 * H + j] = gg
            gates[r, 3 * H + j] = go
            tanh_c[r, j] = tc
            h_prev_rows[r, j] = h_prev

    return lstm_step


def _make_lstm_step_grad(dtype):
    one = dtype(1)

    def lstm_step_grad(dout, gates, tanh_c, c_all, whh, lengths, s, t, t_next, batch_first,
                        do_cell, da, dh, dc):
        """Backward of processing step s (time t); first the recurrent path of step s + 1 (time
        t_next, -1 when s is the last step). dh, dc (N, H) carry dL/dh and dL/dc between steps."""
        N, H = dh.shape
        T = c_all.shape[0] - 1
        n, j, jj = step_unit(H)
        add_recurrent_grad(dh, da, whh, lengths, n, j, jj, t_next, T, batch_first, False)
        if do_cell and j < H:
            r = step_row(n, t, N, T, batch_first)
            if t < lengths[n]:
                gi = gates[r, j]
                gf = gates[r, H + j]
                gg = gates[r, 2 * H + j]
                go = gates[r, 3 * H + j]
                tc = tanh_c[r, j]
                dh_t = dout[r, j] + dh[n, j]  # both paths into h_t
                d_o = dh_t * tc
                dc_t = dc[n, j] + dh_t * go * (one - tc * tc)
                da[r, j] = dc_t * gg * gi * (one - gi)
                da[r, H + j] = dc_t * c_all[s, n, j] * gf * (one - gf)
                da[r, 2 * H + j] = dc_t * gi * (one - gg * gg)
                da[r, 3 * H + j] = d_o * go * (one - go)
                dc[n, j] = dc_t * gf  # the cell's gradient highway
            else:  # padded step: no gradient into the gates, dh and dc pass through
                for k in range(4):
                    da[r, k * H + j] = 0

    return lstm_step_grad


lstm_step_kernels, _step_targets = per_dtype(
    _make_lstm_step, "void({t}[:, ::1], {t}[:, ::1], {t}[::1], {t}[:, :, ::1], {t}[:, :, ::1], "
    "int64[::1], int64, int64, boolean, {t}[:, ::1], {t}[:, ::1], {t}[:, ::1], {t}[:, ::1])")
lstm_step_grad_kernels, _grad_targets = per_dtype(
    _make_lstm_step_grad, "void({t}[:, ::1], {t}[:, ::1], {t}[:, ::1], {t}[:, :, ::1], "
    "{t}[:, ::1], int64[::1], int64, int64, int64, boolean, boolean, {t}[:, ::1], {t}[:, ::1], "
    "{t}[:, ::1])")
PTX_TARGETS = _step_targets + _grad_targets


def _grid(N: int, H: int):
    return ((H + THREADS_PER_ROW - 1) // THREADS_PER_ROW, N), THREADS_PER_ROW


def lstm_forward(x, h0, c0, weight_ih, weight_hh, bias_ih, bias_hh, lengths=None,
                 batch_first=False, reverse=False):
    op = "lstm_forward"
    require_device(op, x=x, h0=h0, c0=c0, weight_ih=weight_ih, weight_hh=weight_hh,
                   bias_ih=bias_ih, bias_hh=bias_hh)
    if batch_first:
        N, T, D = x.shape
    else:
        T, N, D = x.shape
    H = weight_hh.shape[1]
    G = 4 * H
    dtype = x.dtype
    check_same(op, (G, D), dtype, weight_ih=weight_ih)
    check_same(op, (G, H), dtype, weight_hh=weight_hh)
    check_same(op, (G,), dtype, bias_ih=bias_ih, bias_hh=bias_hh)
    check_same(op, (N, H), dtype, h0=h0, c0=c0)
    R = T * N
    lengths_d = device_lengths(op, lengths, N, T)
    x2d = x.reshape(R, D)  # (R, D) rows in x's layout
    xw = matmul2d(x2d, weight_ih, trans_b=True)  # (R, G) = x @ weight_ih^T
    whh_t = transpose(weight_hh)  # (H, G): column kH + j contiguous across neighbouring j
    bias = combined_bias(bias_ih, bias_hh, G, dtype)  # (G,)
    h_all = empty((T + 1, N, H), dtype)  # state before each processing step, and after
    c_all = empty((T + 1, N, H), dtype)
    copy_into(h0, h_all[0])  # zeros when h0 is None
    copy_into(c0, c_all[0])
    out = empty((R, H), dtype)  # (R, H)
    gates = empty((R, G), dtype)  # i, f, g, o after their nonlinearities
    tanh_c = empty((R, H), dtype)
    h_prev_rows = empty((R, H), dtype)
    grid, threads = _grid(N, H)
    step_kernel = lstm_step_kernels[dtype]
    if N and H:
        for s, t in enumerate(step_times(T, reverse)):
            step_kernel[grid, threads](xw, whh_t, bias, h_all, c_all, lengths_d, s, t,
                                       bool(batch_first), out, gates, tanh_c, h_prev_rows)
    cache = (x2d, weight_ih, weight_hh, gates, h_prev_rows, c_all, tanh_c, lengths_d,
             tuple(x.shape), reverse, batch_first, h0 is not None, c0 is not None,
             bias_ih is not None, bias_hh is not None)
    out = out.reshape(tuple(x.shape[:2]) + (H,))  # (T, N, H) or (N, T, H)
    return (out, copy(h_all[T]), copy(c_all[T])), cache


def lstm_backward(grads, cache, need_dx=True):
    op = "lstm_backward"
    dout, dh_n, dc_n = grads
    (x2d, weight_ih, weight_hh, gates, h_prev_rows, c_all, tanh_c, lengths_d, x_shape,
     reverse, batch_first, has_h0, has_c0, has_bias_ih, has_bias_hh) = cache
    require_device(op, dout=dout, dh_n=dh_n, dc_n=dc_n)
    R, D = x2d.shape
    T = c_all.shape[0] - 1
    N = c_all.shape[1]
    H = weight_hh.shape[1]
    G = 4 * H
    dtype = x2d.dtype
    check_same(op, tuple(x_shape[:2]) + (H,), dtype, dout=dout)
    check_same(op, (N, H), dtype, dh_n=dh_n, dc_n=dc_n)
    dout2d = dout.reshape(R, H)
    da = empty((R, G), dtype)  # gate pre-activation gradients of every step
    dh = copy(dh_n)  # (N, H) dL/dh carried from the later step
    dc = copy(dc_n)  # (N, H) dL/dc carried from the later step
    times = step_times(T, reverse)
    grid, threads = _grid(N, H)
    grad_kernel = lstm_step_grad_kernels[dtype]
    if N and H and T:
        for s in range(T - 1, -1, -1):
            t_next = times[s + 1] if s + 1 < T else -1
            grad_kernel[grid, threads](dout2d, gates, tanh_c, c_all, weight_hh, lengths_d, s,
                                       times[s], t_next, bool(batch_first), True, da, dh, dc)
        # the recurrent path of the first processing step: dh becomes dh0
        grad_kernel[grid, threads](dout2d, gates, tanh_c, c_all, weight_hh, lengths_d, 0,
                                   times[0], times[0], bool(batch_first), False, da, dh, dc)
    dweight_ih = matmul2d(da, x2d, trans_a=True)  # (G, D) = da^T @ x
    dweight_hh = matmul2d(da, h_prev_rows, trans_a=True)  # (G, H)
    dbias = column_sum(da)  # (G,)
    dx = None
    if need_dx:
        dx = matmul2d(da, weight_ih).reshape(x_shape)  # (R, D) -> x's layout
    return (dx, dh if has_h0 else None, dc if has_c0 else None, dweight_ih, dweight_hh,
            dbias if has_bias_ih else None, copy(dbias) if has_bias_hh else None)
