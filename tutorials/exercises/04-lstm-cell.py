"""Exercise 04-lstm-cell: write `lstm_cell_backward`.

dh (N, H) is dL/dh for this step (the output's gradient plus the next step's), dc_next
(N, H) the next step's dL/dc; i, f, g, o the gate activations, c_prev and tanh_c = tanh(c),
all (N, H). Return (da, dc_prev): da (N, 4H) the gradients of the gate PRE-activations in
PyTorch's order i, f, g, o, and dc_prev (N, H).

The derivation: tutorials/04_rnn_lstm.py, section 2.
Check your answer:   tinymm exercises check 04-lstm-cell
Stuck?               tinymm exercises hint 04-lstm-cell --level 1   (levels 1, 2, 3)
"""

import numpy as np  # noqa: F401 (you will need it)


def lstm_cell_backward(dh, dc_next, i, f, g, o, c_prev, tanh_c):
    raise NotImplementedError(
        "04-lstm-cell: lstm_cell_backward is not implemented yet: "
        "write it in this file, then run `tinymm exercises check 04-lstm-cell`")
