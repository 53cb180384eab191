"""CUDA GRU over a whole sequence and its backpropagation through time (derivation:
kernels/reference/gru.py; the same structure as lstm.py, row order in _recurrent.py).

Dimension letters: T time steps, N batch, D input features, H hidden units, G = 3H gate blocks
(r, z, n), R = T * N rows in the input's layout (r(t, n) = t * N + n, or n * T + t with
batch_first=True). The two biases stay apart: bias_ih joins the input part xw, bias_hh the
hidden part hw, because the reset gate multiplies the hidden part of n (b_hn included).

Forward: one GEMM xw (R, G) = x (R, D) @ weight_ih^T for every step at once, then per
processing step one fused kernel ``gru_step`` (block: one batch row n, THREADS_PER_ROW hidden
units j): the thread owns unit j, computes its three hidden parts
hw_k = bias_hh[kH + j] + h_prev[n, :] @ weight_hh^T[:, kH + j] (h_prev staged in shared memory
in chunks, for the three blocks at once), then r, z, n = tanh(xw_n + bias_ih_n + r * hn) and
h = (1 - z) n + z h_prev, and writes out, the next state slice and what the backward reads
(r, z, n, hn, h_prev). A padded step (t >= lengths[n]) carries the state and writes out = 0.

Backward: per processing step, last to first, ``gru_step_grad``: first the recurrent path of
the later step, dh[n, j] += dhw[r_next, :] @ weight_hh[:, j] (only when that step was real
for row n; dhw staged in shared memory), then this step's cell: dh = dout + dh, dn, dz, da_n,
dr, dhn, da_r, da_z into dxw = [da_r, da_z, da_n] and dhw = [da_r, da_z, dhn] (zeros on a
padded step), and the direct part of dh_prev, dh * z, into the carry (the GRU's gradient
highway). One last launch applies the first step's recurrent path, leaving dh0. Then
dweight_ih = dxw^T @ x, dweight_hh = dhw^T @ h_prev, dbias_ih / dbias_hh = column sums of dxw /
dhw and dx = dxw @ weight_ih, one GEMM or launch each over all rows (GEMMs: _gemm.py).

Kernels are built per dtype (_dtypes.py) so float32 arithmetic stays float32. Both a GPU and
the simulator run the shared-memory staging (no warp shuffles are used).
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


def _make_gru_step(dtype):
    one = dtype(1)
    zero = dtype(0)

    def gru_step(xw, whh_t, b_ih, b_hh, h_all, lengths, s, t, batch_first, out, gates, hn_rows,
                 h_prev_rows):
        """Processing step s (time t) for batch row n = blockIdx.y, hidden unit j."""
        N, H = h_all.shape[1], h_all.shape[2]
        T = h_all.shape[0] - 1
        n, j, jj = step_unit(H)
        r = step_row(n, t, N, T, batch_first)
        sh = cuda.shared.array(THREADS_PER_ROW, dtype)
        hw = cuda.local.array(3, dtype)  # hidden parts of r, z, n
        for k in range(3):
            hw[k] = b_hh[k * H + jj]
        stage_dot(hw, h_all[s, n], whh_t, jj, 3, H, sh)  # += h_prev[n, :] @ weight_hh^T
        if j < H:
            gr = sigmoid(xw[r, j] + b_ih[j] + hw[0], one)
            gz = sigmoid(xw[r, H + j] + b_ih[H + j] + hw[1], one)
            hn = hw[2]
            gn = math.tanh(xw[r, 2 * H + j] + b_ih[2 * H + j] + gr * hn)
            h_prev = h_all[s, n, j]
            h_new = (one - gz) * gn + gz * h_prev
            if t < lengths[n]:
                out[r, j] = h_new
                h_all[s + 1, n, j] = h_new
            else:  # padded step: the state is carried, the output is zero
                out[r, j] = zero
                h_all[s + 1, n, j] = h_prev
            gates[r, j] = gr
            gates[r, H + j] = gz
            gates[r, 2 * H + j] = gn
            hn_rows[r, j] = hn
            h_prev_rows[r, j] = h_prev

    return gru_step


def _make_gru_step_grad(dtype):
    one = dtype(1)
    zero = dtype(0)

    def gru_step_grad(dout, gates, hn_rows, h_prev_rows, whh, lengths, T, t, t_next,
                      batch_first, do_cell, dxw, dhw, dh):
        """Backward of the step at time t, after the recurrent path of the later step (time
        t_next, -1 when there is none). dh (N, H) carries dL/dh between steps."""
        N, H = dh.shape
        n, j, jj = step_unit(H)
        # added onto the direct part dh_later * z_later that dh already holds
        add_recurrent_grad(dh, dhw, whh, lengths, n, j, jj, t_next, T, batch_first, True)
        if do_cell and j < H:
            r = step_row(n, t, N, T, batch_first)
            if t < lengths[n]:
                gr = gates[r, j]
                gz = gates[r, H + j]
                gn = gates[r, 2 * H + j]
                dh_t = dout[r, j] + dh[n, j]  # the output path and the recurrent path
                dn = dh_t * (one - gz)
                dz = dh_t * (h_prev_rows[r, j] - gn)
                da_n = dn * (one - gn * gn)
                da_r = da_n * hn_rows[r, j] * gr * (one - gr)
                da_z = dz * gz * (one - gz)
                dxw[r, j] = da_r
                dxw[r, H + j] = da_z
                dxw[r, 2 * H + j] = da_n
                dhw[r, j] = da_r
                dhw[r, H + j] = da_z
                dhw[r, 2 * H + j] = da_n * gr  # dhn: the n block differs
                dh[n, j] = dh_t * gz  # the direct path; the next launch adds dhw @ weight_hh
            else:  # padded step: no gradient into the gates, dh passes through
                for k in range(3):
                    dxw[r, k * H + j] = zero
                    dhw[r, k * H + j] = zero

    return gru_step_grad


gru_step_kernels, _step_targets = per_dtype(
    _make_gru_step, "void({t}[:, ::1], {t}[:, ::1], {t}[::1], {t}[::1], {t}[:, :, ::1], "
    "int64[::1], int64, int64, boolean, {t}[:, ::1], {t}[:, ::1], {t}[:, ::1], {t}[:, ::1])")
gru_step_grad_kernels, _grad_targets = per_dtype(
    _make_gru_step_grad, "void({t}[:, ::1], {t}[:, ::1], {t}[:, ::1], {t}[:, ::1], {t}[:, ::1], "
    "int64[::1], int64, int64, int64, boolean, boolean, {t}[:, ::1], {t}[:, ::1], {t}[:, ::1])")
PTX_TARGETS = _step_targets + _grad_targets


def _grid(N: int, H: int):
    return ((H + THREADS_PER_ROW - 1) // THREADS_PER_ROW, N), THREADS_PER_ROW


def _bias_or_zeros(bias, G: int, dtype):
    if bias is not None:
        return bias
    out = empty((G,), dtype)
    copy_into(None, out)  # zeros
    return out


def gru_forward(x, h0, weight_ih, weight_hh, bias_ih, bias_hh, lengths=None, batch_first=False,
                reverse=False):
    op = "gru_forward"
    require_device(op, x=x, h0=h0, weight_ih=weight_ih, weight_hh=weight_hh, bias_ih=bias_ih,
                   bias_hh=bias_hh)
    if batch_first:
        N, T, D = x.shape
    else:
        T, N, D = x.shape
    H = weight_hh.shape[1]
    G = 3 * H
    dtype = x.dtype
    check_same(op, (G, D), dtype, weight_ih=weight_ih)
    check_same(op, (G, H), dtype, weight_hh=weight_hh)
    check_same(op, (G,), dtype, bias_ih=bias_ih, bias_hh=bias_hh)
    check_same(op, (N, H), dtype, h0=h0)
    R = T * N
    lengths_d = device_lengths(op, lengths, N, T)
    x2d = x.reshape(R, D)  # (R, D) rows in x's layout
    xw = matmul2d(x2d, weight_ih, trans_b=True)  # (R, G) = x @ weight_ih^T
    whh_t = transpose(weight_hh)  # (H, G): column kH + j contiguous across neighbouring j
    b_ih = _bias_or_zeros(bias_ih, G, dtype)  # (G,)
    b_hh = _bias_or_zeros(bias_hh, G, dtype)  # (G,)
    h_all = empty((T + 1, N, H), dtype)  # state before each processing step, and after
    copy_into(h0, h_all[0])  # zeros when h0 is None
    out = empty((R, H), dtype)
    gates = empty((R, G), dtype)  # r, z, n after their nonlinearities
    hn_rows = empty((R, H), dtype)  # W_hn h_prev + b_hn
    h_prev_rows = empty((R, H), dtype)
    grid, threads = _grid(N, H)
    step_kernel = gru_step_kernels[dtype]
    if N and H:
        for s, t in enumerate(step_times(T, reverse)):
            step_kernel[grid, threads](xw, whh_t, b_ih, b_hh, h_all, lengths_d, s, t,
                                       bool(batch_first), out, gates, hn_rows, h_prev_rows)
    cache = (x2d, weight_ih, weight_hh, gates, hn_rows, h_prev_rows, lengths_d, tuple(x.shape),
             T, N, reverse, batch_first, h0 is not None, bias_ih is not None,
             bias_hh is not None)
    out = out.reshape(tuple(x.shape[:2]) + (H,))  # (T, N, H) or (N, T, H)
    return (out, copy(h_all[T])), cache


def gru_backward(grads, cache, need_dx=True):
    op = "gru_backward"
    dout, dh_n = grads
    (x2d, weight_ih, weight_hh, gates, hn_rows, h_prev_rows, lengths_d, x_shape, T, N, reverse,
     batch_first, has_h0, has_bias_ih, has_bias_hh) = cache
    require_device(op, dout=dout, dh_n=dh_n)
    R, D = x2d.shape
    H = weight_hh.shape[1]
    G = 3 * H
    dtype = x2d.dtype
    check_same(op, tuple(x_shape[:2]) + (H,), dtype, dout=dout)
    check_same(op, (N, H), dtype, dh_n=dh_n)
    dout2d = dout.reshape(R, H)
    dxw = empty((R, G), dtype)  # gradient of xw, every step
    dhw = empty((R, G), dtype)  # gradient of hw, every step
    dh = copy(dh_n)  # (N, H) dL/dh carried from the later step
    times = step_times(T, reverse)
    grid, threads = _grid(N, H)
    grad_kernel = gru_step_grad_kernels[dtype]
    if N and H and T:
        for s in range(T - 1, -1, -1):
            t_next = times[s + 1] if s + 1 < T else -1
            grad_kernel[grid, threads](dout2d, gates, hn_rows, h_prev_rows, weight_hh, lengths_d,
                                       T, times[s], t_next, bool(batch_first), True, dxw, dhw, dh)
        # the recurrent path of the first processing step: dh becomes dh0
        grad_kernel[grid, threads](dout2d, gates, hn_rows, h_prev_rows, weight_hh, lengths_d, T,
                                   times[0], times[0], bool(batch_first), False, dxw, dhw, dh)
    dweight_ih = matmul2d(dxw, x2d, trans_a=True)  # (G, D) = dxw^T @ x
    dweight_hh = matmul2d(dhw, h_prev_rows, trans_a=True)  # (G, H) = dhw^T @ h_prev
    dx = None
    if need_dx:
        dx = matmul2d(dxw, weight_ih).reshape(x_shape)  # (R, D) -> x's layout
    return (dx, dh if has_h0 else None, dweight_ih, dweight_hh,
            column_sum(dxw) if has_bias_ih else None, column_sum(dhw) if has_bias_hh else None)
