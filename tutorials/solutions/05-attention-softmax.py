"""Solution of exercise 05-attention-softmax (kept apart from the stub in tutorials/exercises/).

P (..., Lq, Lk) are attention weights (each row sums to 1, or is all zeros for a fully
masked row), dP the upstream gradient of the same shape. Return dS = dL/dS where
P = softmax(S) along the last axis.
"""

def softmax_backward(P, dP):
    return P * (dP - (dP * P).sum(axis=-1, keepdims=True))  # the row sum runs over the keys
