"""Exercise 05-attention-softmax: write `softmax_backward`.

P (..., Lq, Lk) are attention weights (each row sums to 1, or is all zeros for a fully
masked row), dP the upstream gradient of the same shape. Return dS = dL/dS where
P = softmax(S) along the last axis.

The derivation: tutorials/05_attention_fusion.py, section 2.
Check your answer:   tinymm exercises check 05-attention-softmax
Stuck?               tinymm exercises hint 05-attention-softmax --level 1   (levels 1, 2, 3)
"""

import numpy as np  # noqa: F401 (you will need it)


def softmax_backward(P, dP):
    raise NotImplementedError(
        "05-attention-softmax: softmax_backward is not implemented yet: "
        "write it in this file, then run `tinymm exercises check 05-attention-softmax`")
