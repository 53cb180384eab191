"""Exercise 04-lstm-bptt: write `lstm_bptt`.

Backpropagation through time around an LSTM cell. dout (T, N, H) is dL/d out[t], dh_n and
dc_n (N, H) the gradients of the final states. cache: "x" (T, N, D), "h" (T+1, N, H) with
h[0] = h0 and h[t+1] the state after step t, "c" (T+1, N, H) likewise, "gates" (T, N, 4H)
the activations i, f, g, o of every step, "weight_ih" (4H, D), "weight_hh" (4H, H),
"lengths" (N,): row n is padding from step lengths[n] on (its state was copied,
h[t+1] = h[t] and c[t+1] = c[t], and its output is 0).
cell_backward(dh, dc_next, i, f, g, o, c_prev, tanh_c) -> (da, dc_prev) is a cell backward
(your 04-lstm-cell once it passes). Return (dx, dh0, dc0, dweight_ih, dweight_hh, dbias)
with dbias (4H,) the gradient of the (single) bias added to the pre-activations.

The derivation: tutorials/04_rnn_lstm.py, sections 1, 2 and 5.
Check your answer:   tinymm exercises check 04-lstm-bptt
Stuck?               tinymm exercises hint 04-lstm-bptt --level 1   (levels 1, 2, 3)
"""

import numpy as np  # noqa: F401 (you will need it)


def lstm_bptt(dout, dh_n, dc_n, cache, cell_backward):
    raise NotImplementedError(
        "04-lstm-bptt: lstm_bptt is not implemented yet: "
        "write it in this file, then run `tinymm exercises check 04-lstm-bptt`")
