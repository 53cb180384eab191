"""GRU over a whole sequence, and backpropagation through time (BPTT): derivation.

The gated recurrent unit (Cho et al., 2014) keeps one state h, like the Elman RNN
(kernels/reference/rnn.py), but mixes the old state and a candidate with a gate, like the
LSTM's cell (kernels/reference/lstm.py), so gradients have an additive path through time.

Dimension letters: T time steps, N batch, D input features, H hidden units; 3H is the three
gate blocks stacked. PyTorch's layout and gate order (r, z, n), so weights copied from
``torch.nn.GRU`` give the same numbers::

    x          (T, N, D)    time-major input ((N, T, D) with batch_first=True, transposed first)
    weight_ih  (3H, D)      rows [0:H] reset gate r, [H:2H] update gate z, [2H:3H] candidate n
    weight_hh  (3H, H)      same row blocks
    bias_ih    (3H,)        bias_hh (3H,): unlike the LSTM, the two are not interchangeable,
                            because r multiplies the hidden part of n including b_hn
    h0         (N, H)       initial state (zeros when None)
    lengths    (N,)         real steps of each sequence, 1 <= lengths[n] <= T (None: all T)

Forward, for each step t (t = 0..T-1, or T-1..0 with reverse=True), from h_prev = h_{t-1}.
The input part ``xw`` and the hidden part ``hw`` are kept apart because of the n gate::

    xw     = x[t] @ weight_ih^T + bias_ih                                          (N, 3H)
    hw     = h_prev @ weight_hh^T + bias_hh                                        (N, 3H)
    r      = sigmoid(xw[:, 0:H] + hw[:, 0:H])        reset: how much old state n may see
    z      = sigmoid(xw[:, H:2H] + hw[:, H:2H])      update: how much old state to keep
    hn     = hw[:, 2H:3H]                            W_hn h_prev + b_hn            (N, H)
    n      = tanh(xw[:, 2H:3H] + r * hn)             the candidate state           (N, H)
    h      = (1 - z) * n + z * h_prev                                              (N, H)
    out[t] = h

With ``lengths``, step t is real for sequence n when t < lengths[n]; a padded step keeps that
row's state (h = h_prev) and writes out[t, n] = 0, as ``pad_packed_sequence`` does, so h_n is
each sequence's state after its own last real step (in both directions).

Backward, walking the steps in the reverse of the forward order with dh_next = dL/dh_t
(starting from dh_n). Name the pre-activations a_r, a_z (the sigmoid arguments) and a_n (the
tanh argument)::

    dh      = dout[t] + dh_next                  the output path and the recurrent path  (N, H)
    dn      = dh * (1 - z)                       h = (1 - z) * n + z * h_prev
    dz      = dh * (h_prev - n)
    da_n    = dn * (1 - n^2)                     tanh' from the saved n
    dr      = da_n * hn                          a_n = xw_n + r * hn
    dhn     = da_n * r
    da_r    = dr * r * (1 - r)                   sigmoid' from the saved r and z
    da_z    = dz * z * (1 - z)
    dxw     = [da_r, da_z, da_n]                 gradient of xw                         (N, 3H)
    dhw     = [da_r, da_z, dhn]                  gradient of hw: the n block differs    (N, 3H)
    dh_prev = dh * z + dhw @ weight_hh           the direct path through z, and through hw
    dx[t]   = dxw @ weight_ih                                                          (N, D)
    dweight_ih += dxw^T @ x[t]                   dbias_ih += sum_n dxw[n]               (3H,)
    dweight_hh += dhw^T @ h_prev                 dbias_hh += sum_n dhw[n]               (3H,)

then dh_next = dh_prev for the step before. The term dh * z is the GRU's gradient highway:
with z near 1 the state is copied and so is its gradient, whatever weight_hh is. On a padded
step (row n not active) dxw[n] = dhw[n] = 0, dh_next[n] passes through unchanged and
dout[t, n] is ignored. What remains after the last step walked is dh0.

The forward saves r, z, n, hn, h_prev and the active mask of every step; the backward
recomputes no exponential.
"""

from __future__ import annotations

import numpy as np

from tinymm.kernels.reference._recurrent import (
    backward_start,
    input_grad,
    sequence_start,
    sigmoid,
    step_order,
    time_major,
)


def gru_forward(x, h0, weight_ih, weight_hh, bias_ih, bias_hh, lengths=None, batch_first=False,
                reverse=False):
    H = weight_hh.shape[1]
    x, h, lengths = sequence_start(x, h0, lengths, batch_first, H)  # (T, N, D), (N, H), (N,)
    T, N, D = x.shape
    dtype = x.dtype
    b_ih = np.zeros(3 * H, dtype) if bias_ih is None else bias_ih  # (3H,)
    b_hh = np.zeros(3 * H, dtype) if bias_hh is None else bias_hh  # (3H,)

    gates = np.zeros((T, N, 3 * H), dtype)  # r, z, n after their nonlinearities
    hn_all = np.zeros((T, N, H), dtype)
    h_prev_all = np.zeros((T, N, H), dtype)
    active_all = np.zeros((T, N, 1), bool)
    out = np.zeros((T, N, H), dtype)
    for t in step_order(T, reverse):
        active = (t < lengths)[:, None]  # (N, 1)
        h_prev = h
        xw = x[t] @ weight_ih.T + b_ih  # (N, 3H)
        hw = h_prev @ weight_hh.T + b_hh  # (N, 3H)
        r = sigmoid(xw[:, 0:H] + hw[:, 0:H])
        z = sigmoid(xw[:, H:2 * H] + hw[:, H:2 * H])
        hn = hw[:, 2 * H:3 * H]
        n = np.tanh(xw[:, 2 * H:3 * H] + r * hn)
        h_new = (1 - z) * n + z * h_prev  # (N, H)
        out[t] = np.where(active, h_new, 0)
        h = np.where(active, h_new, h_prev)
        gates[t] = np.concatenate([r, z, n], axis=1)  # (N, 3H)
        hn_all[t], h_prev_all[t], active_all[t] = hn, h_prev, active

    cache = (x, weight_ih, weight_hh, gates, hn_all, h_prev_all, active_all, reverse,
             batch_first, h0 is not None, bias_ih is not None, bias_hh is not None)
    out = time_major(out, batch_first)  # (N, T, H) or (T, N, H)
    return (out, h.copy()), cache


def gru_backward(grads, cache, need_dx=True):
    dout, dh_n = grads
    (x, weight_ih, weight_hh, gates, hn_all, h_prev_all, active_all, reverse, batch_first,
     has_h0, has_bias_ih, has_bias_hh) = cache
    # (T, N, H), (T, N, D), (3H, D), (3H, H), (N, H)
    dout, dx, dweight_ih, dweight_hh, dh_next = backward_start(dout, dh_n, x, weight_ih,
                                                               weight_hh, batch_first)
    T, N, D = x.shape
    H = weight_hh.shape[1]
    dtype = x.dtype
    dbias_ih = np.zeros(3 * H, dtype)  # (3H,)
    dbias_hh = np.zeros(3 * H, dtype)  # (3H,)
    for t in reversed(step_order(T, reverse)):
        active = active_all[t]  # (N, 1)
        r, z, n = (gates[t][:, k * H:(k + 1) * H] for k in range(3))
        hn, h_prev = hn_all[t], h_prev_all[t]
        dh = dout[t] + dh_next
        dn = dh * (1 - z)
        dz = dh * (h_prev - n)
        da_n = dn * (1 - n * n)
        dr = da_n * hn
        dhn = da_n * r
        da_r = dr * r * (1 - r)
        da_z = dz * z * (1 - z)
        dxw = np.where(active, np.concatenate([da_r, da_z, da_n], axis=1), 0)  # (N, 3H)
        dhw = np.where(active, np.concatenate([da_r, da_z, dhn], axis=1), 0)  # (N, 3H)
        dh_prev = dh * z + dhw @ weight_hh  # (N, H)
        if need_dx:
            dx[t] = dxw @ weight_ih  # (N, D)
        dweight_ih += dxw.T @ x[t]
        dweight_hh += dhw.T @ h_prev
        dbias_ih += dxw.sum(axis=0)
        dbias_hh += dhw.sum(axis=0)
        dh_next = np.where(active, dh_prev, dh_next)

    dx = input_grad(dx, batch_first, need_dx)  # the input's layout; None if not needed
    return (dx, dh_next if has_h0 else None, dweight_ih, dweight_hh,
            dbias_ih if has_bias_ih else None, dbias_hh if has_bias_hh else None)
