"""Solution of exercise 02-dense-backward (kept apart from the stub in tutorials/exercises/).

Forward: out = x @ weight.T + bias with x (N, D_in), weight (D_out, D_in) (PyTorch's
layout), bias (D_out,). Given dout = dL/dout (N, D_out), return (dx, dweight, dbias) shaped
like x, weight and bias.
"""

def dense_backward(dout, x, weight):
    dx = dout @ weight  # (N, D_in)
    dweight = dout.T @ x  # (D_out, D_in)
    dbias = dout.sum(axis=0)  # (D_out,): the bias was added to every row
    return dx, dweight, dbias
