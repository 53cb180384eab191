"""Solution of exercise 04-lstm-cell (kept apart from the stub in tutorials/exercises/).

dh (N, H) is dL/dh for this step (the output's gradient plus the next step's), dc_next
(N, H) the next step's dL/dc; i, f, g, o the gate activations, c_prev and tanh_c = tanh(c),
all (N, H). Return (da, dc_prev): da (N, 4H) the gradients of the gate PRE-activations in
PyTorch's order i, f, g, o, and dc_prev (N, H).
"""

import numpy as np


def lstm_cell_backward(dh, dc_next, i, f, g, o, c_prev, tanh_c):
    do = dh * tanh_c
    dc = dc_next + dh * o * (1 - tanh_c**2)  # c reaches the loss through h too
    di, dg, df = dc * g, dc * i, dc * c_prev
    da = np.concatenate([di * i * (1 - i), df * f * (1 - f), dg * (1 - g**2),
                         do * o * (1 - o)], axis=1)  # (N, 4H)
    return da, dc * f
