"""CUDA Elman RNN over a whole sequence and its backpropagation through time (derivation:
kernels/reference/rnn.py; the same structure as lstm.py, row order in _recurrent.py).

Dimension letters: T time steps, N batch, D input features, H hidden units, R = T * N rows in
the input's layout (r(t, n) = t * N + n, or n * T + t with batch_first=True).

Forward: one GEMM xw (R, H) = x (R, D) @ weight_ih^T for every step at once, then per
processing step one fused kernel ``rnn_step`` (block: one batch row n, THREADS_PER_ROW hidden
units j): a = xw[r, j] + bias[j] + h_prev[n, :] @ weight_hh^T[:, j] (h_prev staged in shared
memory), h = tanh(a) or relu(a), written to out, the next state slice and the
saved h_new / h_prev rows; a padded step (t >= lengths[n]) carries the state and writes 0.

Backward: per processing step, last to first, ``rnn_step_grad`` applies the recurrent path of
the later step (dh[n, :] = da[r_next, :] @ weight_hh when that step was real for row n) and
then this step's da = (dout + dh) * phi'(a) (1 - h^2 for tanh, h > 0 for relu; zero on a
padded step); one last launch leaves dh0. Then dweight_ih = da^T @ x, dweight_hh = da^T @ h_prev,
dbias = column sums of da and dx = da @ weight_ih, one GEMM each over all rows. The step kernels
are built per dtype (_dtypes.py) so float32 arithmetic stays float32.
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
    stage_dot,
    step_row,
    step_times,
    step_unit,
    transpose,
)
from tinymm.kernels.numba_cuda._reduce import THREADS_PER_ROW


def _make_rnn_step(dtype):
    zero = dtype(0)

    def rnn_step(xw, whh_t, bias, h_all, lengths, s, t, batch_first, use_relu, out, h_new_rows,
                  h_prev_rows):
        """Processing step s (time t) for batch row n = blockIdx.y, hidden unit j of this block."""
        N, H = h_all.shape[1], h_all.shape[2]
        T = h_all.shape[0] - 1
        n, j, jj = step_unit(H)
        r = step_row(n, t, N, T, batch_first)
        sh = cuda.shared.array(THREADS_PER_ROW, h_all.dtype)
        acc = cuda.local.array(1, h_all.dtype)
        acc[0] = xw[r, jj] + bias[jj]
        stage_dot(acc, h_all[s, n], whh_t, jj, 1, 0, sh)  # += h_prev[n, :] @ weight_hh^T[:, j]
        if j < H:
            a = acc[0]
            if use_relu:
                h_new = a if a > 0 else zero
            else:
                h_new = math.tanh(a)
            h_prev = h_all[s, n, j]
            if t < lengths[n]:
                out[r, j] = h_new
                h_all[s + 1, n, j] = h_new
            else:  # padded step: the state is carried, the output is zero
                out[r, j] = 0
                h_all[s + 1, n, j] = h_prev
            h_new_rows[r, j] = h_new
            h_prev_rows[r, j] = h_prev

    return rnn_step


def _make_rnn_step_grad(dtype):
    one = dtype(1)
    zero = dtype(0)

    def rnn_step_grad(dout, h_new_rows, whh, lengths, T, t, t_next, batch_first, use_relu,
                       do_cell, da, dh):
        """Backward of the step at time t, after the recurrent path of the later step (time
        t_next, -1 when there is none). dh (N, H) carries dL/dh between steps."""
        N, H = dh.shape
        n, j, jj = step_unit(H)
        add_recurrent_grad(dh, da, whh, lengths, n, j, jj, t_next, T, batch_first, False)
        if do_cell and j < H:
            r = step_row(n, t, N, T, batch_first)
            if t < lengths[n]:
                h = h_new_rows[r, j]
                dh_t = dout[r, j] + dh[n, j]  # the output path and the recurrent path
                if use_relu:
                    da[r, j] = dh_t if h > 0 else zero
                else:
                    da[r, j] = dh_t * (one - h * h)
            else:  # padded step: no gradient, dh passes through
                da[r, j] = 0

    return rnn_step_grad


rnn_step_grad_kernels, _grad_targets = per_dtype(
    _make_rnn_step_grad, "void({t}[:, ::1], {t}[:, ::1], {t}[:, ::1], int64[::1], int64, int64, "
    "int64, boolean, boolean, boolean, {t}[:, ::1], {t}[:, ::1])")
rnn_step_kernels, _step_targets = per_dtype(
    _make_rnn_step, "void({t}[:, ::1], {t}[:, ::1], {t}[::1], {t}[:, :, ::1], int64[::1], int64, "
    "int64, boolean, boolean, {t}[:, ::1], {t}[:, ::1], {t}[:, ::1])")
PTX_TARGETS = _step_targets + _grad_targets


def _grid(N: int, H: int):
    return ((H + THREADS_PER_ROW - 1) // THREADS_PER_ROW, N), THREADS_PER_ROW


def rnn_forward(x, h0, weight_ih, weight_hh, bias_ih, bias_hh, lengths=None,
                nonlinearity="tanh", batch_first=False, reverse=False):
    op = "rnn_forward"
    require_device(op, x=x, h0=h0, weight_ih=weight_ih, weight_hh=weight_hh, bias_ih=bias_ih,
                   bias_hh=bias_hh)
    if nonlinearity not in ("tanh", "relu"):
        raise ValueError(f"cuda {op}: nonlinearity must be 'tanh' or 'relu', got "
                         f"{nonlinearity!r}")
    if batch_first:
        N, T, D = x.shape
    else:
        T, N, D = x.shape
    H = weight_hh.shape[1]
    dtype = x.dtype
    check_same(op, (H, D), dtype, weight_ih=weight_ih)
    check_same(op, (H, H), dtype, weight_hh=weight_hh)
    check_same(op, (H,), dtype, bias_ih=bias_ih, bias_hh=bias_hh)
    check_same(op, (N, H), dtype, h0=h0)
    R = T * N
    use_relu = nonlinearity == "relu"
    lengths_d = device_lengths(op, lengths, N, T)
    x2d = x.reshape(R, D)  # (R, D) rows in x's layout
    xw = matmul2d(x2d, weight_ih, trans_b=True)  # (R, H) = x @ weight_ih^T
    whh_t = transpose(weight_hh)  # (H, H): weight_hh^T, column j contiguous across threads
    bias = combined_bias(bias_ih, bias_hh, H, dtype)  # (H,)
    h_all = empty((T + 1, N, H), dtype)  # state before each processing step, and after
    copy_into(h0, h_all[0])  # zeros when h0 is None
    out = empty((R, H), dtype)
    h_new_rows = empty((R, H), dtype)  # phi(a) of every step, for phi'
    h_prev_rows = empty((R, H), dtype)
    grid, threads = _grid(N, H)
    step_kernel = rnn_step_kernels[dtype]
    if N and H:
        for s, t in enumerate(step_times(T, reverse)):
            step_kernel[grid, threads](xw, whh_t, bias, h_all, lengths_d, s, t, bool(batch_first),
                                       use_relu, out, h_new_rows, h_prev_rows)
    cache = (x2d, weight_ih, weight_hh, h_new_rows, h_prev_rows, lengths_d, tuple(x.shape), T,
             N, use_relu, reverse, batch_first, h0 is not None, bias_ih is not None,
             bias_hh is not None)
    out = out.reshape(tuple(x.shape[:2]) + (H,))  # (T, N, H) or (N, T, H)
    return (out, copy(h_all[T])), cache


def rnn_backward(grads, cache, need_dx=True):
    op = "rnn_backward"
    dout, dh_n = grads
    (x2d, weight_ih, weight_hh, h_new_rows, h_prev_rows, lengths_d, x_shape, T, N, use_relu,
     reverse, batch_first, has_h0, has_bias_ih, has_bias_hh) = cache
    require_device(op, dout=dout, dh_n=dh_n)
    R, D = x2d.shape
    H = weight_hh.shape[1]
    dtype = x2d.dtype
    check_same(op, tuple(x_shape[:2]) + (H,), dtype, dout=dout)
    check_same(op, (N, H), dtype, dh_n=dh_n)
    dout2d = dout.reshape(R, H)
    da = empty((R, H), dtype)  # pre-activation gradients of every step
    dh = copy(dh_n)  # (N, H) dL/dh carried from the later step
    times = step_times(T, reverse)
    grid, threads = _grid(N, H)
    grad_kernel = rnn_step_grad_kernels[dtype]
    if N and H and T:
        for s in range(T - 1, -1, -1):
            t_next = times[s + 1] if s + 1 < T else -1
            grad_kernel[grid, threads](dout2d, h_new_rows, weight_hh, lengths_d, T, times[s],
                                       t_next, bool(batch_first), use_relu, True, da, dh)
        # the recurrent path of the first processing step: dh becomes dh0
        grad_kernel[grid, threads](dout2d, h_new_rows, weight_hh, lengths_d, T, times[0],
                                   times[0], bool(batch_first), use_relu, False, da, dh)
    dweight_ih = matmul2d(da, x2d, trans_a=True)  # (H, D) = da^T @ x
    dweight_hh = matmul2d(da, h_prev_rows, trans_a=True)  # (H, H)
    dbias = column_sum(da)  # (H,)
    dx = None
    if need_dx:
        dx = matmul2d(da, weight_ih).reshape(x_shape)  # (R, D) -> x's layout
    return (dx, dh if has_h0 else None, dweight_ih, dweight_hh,
            dbias if has_bias_ih else None, copy(dbias) if has_bias_hh else None)
