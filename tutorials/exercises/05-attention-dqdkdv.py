"""Exercise 05-attention-dqdkdv: write `attention_backward`.

Scaled dot-product attention for one head: q (N, Lq, d), k (N, Lk, d), v (N, Lk, e),
S = q @ k^T / sqrt(d), P = softmax(S) over the keys (given), out = P @ v. Given
dout (N, Lq, e), return (dq, dk, dv).

The derivation: tutorials/05_attention_fusion.py, section 3.
Check your answer:   tinymm exercises check 05-attention-dqdkdv
Stuck?               tinymm exercises hint 05-attention-dqdkdv --level 1   (levels 1, 2, 3)
"""

import numpy as np  # noqa: F401 (you will need it)


def attention_backward(q, k, v, P, dout):
    raise NotImplementedError(
        "05-attention-dqdkdv: attention_backward is not implemented yet: "
        "write it in this file, then run `tinymm exercises check 05-attention-dqdkdv`")
