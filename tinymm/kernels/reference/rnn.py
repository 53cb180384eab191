"""Elman RNN over a whole sequence, and backpropagation through time: derivation.

The teaching step before the LSTM (kernels/reference/lstm.py): one hidden state, one
nonlinearity, the same time loop and the same handling of ``lengths``.

Dimension letters: T time steps, N batch, D input features, H hidden units. PyTorch's layout::

    x          (T, N, D)    time-major ((N, T, D) with batch_first=True, transposed first)
    weight_ih  (H, D)       weight_hh (H, H)     bias_ih (H,)     bias_hh (H,)
    h0         (N, H)       initial state (zeros when None)
    lengths    (N,)         real steps per sequence, 1 <= lengths[n] <= T (None: all T)

Forward, for t = 0..T-1 (T-1..0 with reverse=True), phi = tanh (or relu)::

    a      = x[t] @ weight_ih^T + bias_ih + h_prev @ weight_hh^T + bias_hh         (N, H)
    h      = phi(a)                                                                (N, H)
    out[t] = h

A padded step (t >= lengths[n]) keeps row n's state (h = h_prev) and writes out[t, n] = 0,
so h_n is each sequence's state after its own last real step.

Backward, walking the steps in the reverse of the forward order with ``dh_next = dL/dh_t``
(starting from dh_n)::

    dh      = dout[t] + dh_next          the output path and the recurrent path      (N, H)
    da      = dh * phi'(a)               tanh: 1 - h^2 (from the saved h); relu: h > 0
    dh_prev = da @ weight_hh                                                          (N, H)
    dx[t]   = da @ weight_ih                                                          (N, D)
    dweight_ih += da^T @ x[t]            dweight_hh += da^T @ h_prev
    dbias_ih   += sum_n da[n]            dbias_hh gets the same sum                     (H,)

and dh_next = dh_prev for the step before. On a padded step da[n] = 0 and dh_next[n] passes
through unchanged (dout[t, n] is ignored). What remains at the end is dh0.

Why gradients vanish or explode: dh_prev = (dh * phi'(a)) @ weight_hh, so k steps back the
gradient has been multiplied by k Jacobians diag(phi'(a)) weight_hh. Their product shrinks or
grows geometrically with the largest singular value of weight_hh; the LSTM's additive cell
path (dc_prev = dc * f) is the fix.
"""

from __future__ import annotations

import numpy as np

from tinymm.kernels.reference._recurrent import (
    backward_start,
    input_grad,
    sequence_start,
    step_order,
    summed_bias,
    time_major,
)


def rnn_forward(x, h0, weight_ih, weight_hh, bias_ih, bias_hh, lengths=None,
                nonlinearity="tanh", batch_first=False, reverse=False):
    H = weight_hh.shape[1]
    x, h, lengths = sequence_start(x, h0, lengths, batch_first, H)  # (T, N, D), (N, H), (N,)
    T, N, D = x.shape
    dtype = x.dtype
    bias = summed_bias(bias_ih, bias_hh, H, dtype)  # (H,)

    h_new_all = np.zeros((T, N, H), dtype)  # phi(a) of every step, for phi'
    h_prev_all = np.zeros((T, N, H), dtype)
    active_all = np.zeros((T, N, 1), bool)
    out = np.zeros((T, N, H), dtype)
    for t in step_order(T, reverse):
        active = (t < lengths)[:, None]  # (N, 1)
        h_prev = h
        a = x[t] @ weight_ih.T + h_prev @ weight_hh.T + bias  # (N, H)
        h_new = np.tanh(a) if nonlinearity == "tanh" else np.maximum(a, 0)
        out[t] = np.where(active, h_new, 0)
        h = np.where(active, h_new, h_prev)
        h_new_all[t], h_prev_all[t], active_all[t] = h_new, h_prev, active

    cache = (x, weight_ih, weight_hh, h_new_all, h_prev_all, active_all, nonlinearity, reverse,
             batch_first, h0 is not None, bias_ih is not None, bias_hh is not None)
    out = time_major(out, batch_first)  # (N, T, H) or (T, N, H)
    return (out, h.copy()), cache


def rnn_backward(grads, cache, need_dx=True):
    dout, dh_n = grads
    (x, weight_ih, weight_hh, h_new_all, h_prev_all, active_all, nonlinearity, reverse,
     batch_first, has_h0, has_bias_ih, has_bias_hh) = cache
    # (T, N, H), (T, N, D), (H, D), (H, H), (N, H)
    dout, dx, dweight_ih, dweight_hh, dh_next = backward_start(dout, dh_n, x, weight_ih,
                                                               weight_hh, batch_first)
    T, N, D = x.shape
    H = weight_hh.shape[1]
    dtype = x.dtype
    dbias = np.zeros(H, dtype)  # (H,)
    for t in reversed(step_order(T, reverse)):
        active = active_all[t]  # (N, 1)
        h_new = h_new_all[t]
        dh = dout[t] + dh_next
        if nonlinearity == "tanh":
            da = dh * (1 - h_new * h_new)
        else:  # relu: a where, as PyTorch's threshold_backward (NaN * 0 would be NaN)
            da = np.where(h_new <= 0, 0, dh)
        da = np.where(active, da, 0).astype(dtype, copy=False)  # (N, H); padded steps: none
        if need_dx:
            dx[t] = da @ weight_ih  # (N, D)
        dweight_ih += da.T @ x[t]
        dweight_hh += da.T @ h_prev_all[t]
        dbias += da.sum(axis=0)
        dh_next = np.where(active, da @ weight_hh, dh_next)  # (N, H)

    dx = input_grad(dx, batch_first, need_dx)  # the input's layout; None if not needed
    return (dx, dh_next if has_h0 else None, dweight_ih, dweight_hh,
            dbias if has_bias_ih else None, dbias.copy() if has_bias_hh else None)
