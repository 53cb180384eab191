"""LSTM over a whole sequence, and backpropagation through time (BPTT): derivation.

Dimension letters: T time steps, N batch, D input features, H hidden units; 4H is the four
gates stacked. Layout is PyTorch's, so weights copied from ``torch.nn.LSTM`` give the same
numbers::

    x          (T, N, D)    time-major input ((N, T, D) with batch_first=True, transposed first)
    weight_ih  (4H, D)      rows [0:H] gate i, [H:2H] gate f, [2H:3H] gate g, [3H:4H] gate o
    weight_hh  (4H, H)      same row blocks
    bias_ih    (4H,)        bias_hh (4H,): PyTorch keeps two biases; only their sum matters
    h0, c0     (N, H)       initial state (zeros when None)
    lengths    (N,)         real steps of each sequence, 1 <= lengths[n] <= T (None: all T)

Forward, for each step t (t = 0..T-1, or T-1..0 with reverse=True), from the state
(h_prev, c_prev) = (h_{t-1}, c_{t-1})::

    a      = x[t] @ weight_ih^T + bias_ih + h_prev @ weight_hh^T + bias_hh      (N, 4H)
    i      = sigmoid(a[:, 0:H])         input gate: how much of g to write
    f      = sigmoid(a[:, H:2H])        forget gate: how much of c_prev to keep
    g      = tanh(a[:, 2H:3H])          candidate cell values
    o      = sigmoid(a[:, 3H:4H])       output gate: how much of the cell to show
    c      = f * c_prev + i * g                                                   (N, H)
    h      = o * tanh(c)                                                          (N, H)
    out[t] = h

With ``lengths``, step t is *real* for sequence n when t < lengths[n] (``active[t, n]``).
A padded step leaves that row's state unchanged (h = h_prev, c = c_prev) and writes
out[t, n] = 0, as ``pad_packed_sequence`` does. So the final state (h_n, c_n) is each
sequence's state after its own last real step, in both directions: going backwards in time
(reverse=True) the padded steps come first and simply carry h0 until the real ones start.

Backward. The loss L depends on h_t through two paths: the output out[t] (upstream gradient
dout[t]) and the next step's recurrence. Walking the steps in the reverse of the forward
order, carrying ``dh_next = dL/dh_t`` and ``dc_next = dL/dc_t`` from the later step (they start
as dh_n and dc_n, the gradients of the final state)::

    dh     = dout[t] + dh_next                      both paths into h_t                (N, H)
    do     = dh * tanh(c)                           h = o * tanh(c)
    dc     = dc_next + dh * o * (1 - tanh(c)^2)     c reaches L directly and through h
    di     = dc * g                                 c = f * c_prev + i * g
    dg     = dc * i
    df     = dc * c_prev
    dc_prev = dc * f                                the cell's gradient highway: through f only
    da     = [di * i (1 - i), df * f (1 - f), dg * (1 - g^2), do * o (1 - o)]       (N, 4H)
             (sigmoid' = s (1 - s) and tanh' = 1 - t^2, written with the saved activations)
    dh_prev = da @ weight_hh                                                          (N, H)
    dx[t]   = da @ weight_ih                                                          (N, D)
    dweight_ih += da^T @ x[t]                                                        (4H, D)
    dweight_hh += da^T @ h_prev                                                      (4H, H)
    dbias_ih   += sum_n da[n]        dbias_hh gets the same sum                        (4H,)

then dh_next = dh_prev and dc_next = dc_prev for the step before. On a padded step (row n not
active) the state was copied, so its gradient is copied too: da[n] = 0, dh_next and dc_next
pass through unchanged, and dout[t, n] is ignored (out[t, n] is the constant 0). After the
last step walked, dh_next and dc_next are dh0 and dc0.

The forward saves what the backward reads: the gate activations (i, f, g, o), c_prev, h_prev,
tanh(c) and the active mask of every step; the backward recomputes no exponential.
"""

from __future__ import annotations

import numpy as np

from tinymm.kernels.reference._recurrent import (
    backward_start,
    input_grad,
    sequence_start,
    sigmoid,
    step_order,
    summed_bias,
    time_major,
)


def lstm_forward(x, h0, c0, weight_ih, weight_hh, bias_ih, bias_hh, lengths=None,
                 batch_first=False, reverse=False):
    H = weight_hh.shape[1]
    x, h, lengths = sequence_start(x, h0, lengths, batch_first, H)  # (T, N, D), (N, H), (N,)
    T, N, D = x.shape
    dtype = x.dtype
    c = np.zeros((N, H), dtype) if c0 is None else c0  # (N, H)
    bias = summed_bias(bias_ih, bias_hh, 4 * H, dtype)  # (4H,)

    gates = np.zeros((T, N, 4 * H), dtype)  # i, f, g, o after their nonlinearities
    h_prev_all = np.zeros((T, N, H), dtype)
    c_prev_all = np.zeros((T, N, H), dtype)
    tanh_c_all = np.zeros((T, N, H), dtype)
    active_all = np.zeros((T, N, 1), bool)
    out = np.zeros((T, N, H), dtype)
    for t in step_order(T, reverse):
        active = (t < lengths)[:, None]  # (N, 1)
        h_prev, c_prev = h, c
        a = x[t] @ weight_ih.T + h_prev @ weight_hh.T + bias  # (N, 4H)
        i = sigmoid(a[:, 0:H])
        f = sigmoid(a[:, H:2 * H])
        g = np.tanh(a[:, 2 * H:3 * H])
        o = sigmoid(a[:, 3 * H:4 * H])
        c_new = f * c_prev + i * g  # (N, H)
        tanh_c = np.tanh(c_new)
        h_new = o * tanh_c
        out[t] = np.where(active, h_new, 0)
        h = np.where(active, h_new, h_prev)
        c = np.where(active, c_new, c_prev)
        gates[t] = np.concatenate([i, f, g, o], axis=1)  # (N, 4H)
        h_prev_all[t], c_prev_all[t], tanh_c_all[t], active_all[t] = h_prev, c_prev, tanh_c, active

    cache = (x, weight_ih, weight_hh, gates, h_prev_all, c_prev_all, tanh_c_all, active_all,
             reverse, batch_first, h0 is not None, c0 is not None, bias_ih is not None,
             bias_hh is not None)
    out = time_major(out, batch_first)  # (N, T, H) or (T, N, H)
    return (out, h.copy(), c.copy()), cache


def lstm_backward(grads, cache, need_dx=True):
    dout, dh_n, dc_n = grads
    (x, weight_ih, weight_hh, gates, h_prev_all, c_prev_all, tanh_c_all, active_all,
     reverse, batch_first, has_h0, has_c0, has_bias_ih, has_bias_hh) = cache
    # (T, N, H), (T, N, D), (4H, D), (4H, H), (N, H)
    dout, dx, dweight_ih, dweight_hh, dh_next = backward_start(dout, dh_n, x, weight_ih,
                                                               weight_hh, batch_first)
    T, N, D = x.shape
    H = weight_hh.shape[1]
    dtype = x.dtype
    dbias = np.zeros(4 * H, dtype)  # (4H,)
    dc_next = dc_n.astype(dtype, copy=True)  # (N, H)
    for t in reversed(step_order(T, reverse)):
        active = active_all[t]  # (N, 1)
        i, f, g, o = (gates[t][:, k * H:(k + 1) * H] for k in range(4))
        tanh_c, c_prev, h_prev = tanh_c_all[t], c_prev_all[t], h_prev_all[t]
        dh = dout[t] + dh_next
        do = dh * tanh_c
        dc = dc_next + dh * o * (1 - tanh_c * tanh_c)
        di = dc * g
        dg = dc * i
        df = dc * c_prev
        dc_prev = dc * f
        da = np.concatenate([di * i * (1 - i), df * f * (1 - f), dg * (1 - g * g),
                             do * o * (1 - o)], axis=1)  # (N, 4H)
        da = np.where(active, da, 0)  # padded steps: no gradient into the gates
        dh_prev = da @ weight_hh  # (N, H)
        if need_dx:
            dx[t] = da @ weight_ih  # (N, D)
        dweight_ih += da.T @ x[t]
        dweight_hh += da.T @ h_prev
        dbias += da.sum(axis=0)
        dh_next = np.where(active, dh_prev, dh_next)
        dc_next = np.where(active, dc_prev, dc_next)

    dx = input_grad(dx, batch_first, need_dx)  # the input's layout; None if not needed
    return (dx, dh_next if has_h0 else None, dc_next if has_c0 else None, dweight_ih,
            dweight_hh, dbias if has_bias_ih else None, dbias.copy() if has_bias_hh else None)
