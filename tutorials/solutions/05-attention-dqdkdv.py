"""Solution of exercise 05-attention-dqdkdv (kept apart from the stub in tutorials/exercises/).

Scaled dot-product attention for one head: q (N, Lq, d), k (N, Lk, d), v (N, Lk, e),
S = q @ k^T / sqrt(d), P = softmax(S) over the keys (given), out = P @ v. Given
dout (N, Lq, e), return (dq, dk, dv).
"""

import numpy as np


def attention_backward(q, k, v, P, dout):
    scale = 1 / np.sqrt(q.shape[-1])
    dv = P.swapaxes(-1, -2) @ dout  # (N, Lk, e)
    dP = dout @ v.swapaxes(-1, -2)  # (N, Lq, Lk)
    dS = P * (dP - (dP * P).sum(axis=-1, keepdims=True))  # the softmax backward
    dq = dS @ k * scale  # (N, Lq, d)
    dk = dS.swapaxes(-1, -2) @ q * scale  # (N, Lk, d)
    return dq, dk, dv
