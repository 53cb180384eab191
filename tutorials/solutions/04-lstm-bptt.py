"""Solution of exercise 04-lstm-bptt (kept apart from the stub in tutorials/exercises/).

Backpropagation through time around an LSTM cell. dout (T, N, H) is dL/d out[t], dh_n and
dc_n (N, H) the gradients of the final states. cache: "x" (T, N, D), "h" (T+1, N, H) with
h[0] = h0 and h[t+1] the state after step t, "c" (T+1, N, H) likewise, "gates" (T, N, 4H)
the activations i, f, g, o of every step, "weight_ih" (4H, D), "weight_hh" (4H, H),
"lengths" (N,): row n is padding from step lengths[n] on (its state was copied,
h[t+1] = h[t] and c[t+1] = c[t], and its output is 0).
cell_backward(dh, dc_next, i, f, g, o, c_prev, tanh_c) -> (da, dc_prev) is a cell backward
(your 04-lstm-cell once it passes). Return (dx, dh0, dc0, dweight_ih, dweight_hh, dbias)
with dbias (4H,) the gradient of the (single) bias added to the pre-activations.
"""

import numpy as np


def lstm_bptt(dout, dh_n, dc_n, cache, cell_backward):
    x, h, c, gates = cache["x"], cache["h"], cache["c"], cache["gates"]
    w_ih, w_hh = cache["weight_ih"], cache["weight_hh"]
    dx = np.zeros_like(x)  # (T, N, D)
    dw_ih, dw_hh = np.zeros_like(w_ih), np.zeros_like(w_hh)
    dbias = np.zeros(w_ih.shape[0])  # (4H,)
    dh_next, dc_next = dh_n, dc_n
    for t in reversed(range(x.shape[0])):  # backwards in time
        real = (t < cache["lengths"])[:, None]  # (N, 1): False where row n is padding
        i, f, g, o = np.split(gates[t], 4, axis=1)
        dh = dout[t] * real + dh_next  # the output's gradient plus the future's
        da, dc_prev = cell_backward(dh, dc_next, i, f, g, o, c[t], np.tanh(c[t + 1]))
        da = da * real  # a padded step computed nothing
        dx[t] = da @ w_ih
        dw_ih += da.T @ x[t]  # shared weights accumulate over time
        dw_hh += da.T @ h[t]  # h[t] = h_{t-1}, the state step t read
        dbias += da.sum(axis=0)
        dh_next = da @ w_hh + dh * ~real  # a copied state copies its gradient
        dc_next = np.where(real, dc_prev, dc_next)
    return dx, dh_next, dc_next, dw_ih, dw_hh, dbias
