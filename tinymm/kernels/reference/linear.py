"""Linear (dense, fully connected) layer: derivation.

Dimension letters: B the flattened leading (batch) dimensions, D_in input features, D_out
output features. Layout is PyTorch's: ``weight`` is (D_out, D_in), so each row holds the
weights of one output unit.

Forward::

    out[b, o] = sum_i x[b, i] * weight[o, i] + bias[o]      out = x @ weight^T + bias

Backward, from ``dout[b, o] = dL/dout[b, o]``::

    dx[b, i]      = sum_o dout[b, o] * weight[o, i]          dx      = dout @ weight   (B, D_in)
    dweight[o, i] = sum_b dout[b, o] * x[b, i]               dweight = dout^T @ x      (D_out, D_in)
    dbias[o]      = sum_b dout[b, o]                         (the bias is added to every row)

Any leading dimensions of ``x`` are flattened into B first, so a (N, T, D_in) input costs one
matrix product, not one per time step.
"""

from __future__ import annotations

import numpy as np


def linear_forward(x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None):
    lead = x.shape[:-1]
    x2 = x.reshape(int(np.prod(lead, dtype=np.int64)), x.shape[-1])  # (B, D_in); B may be 0
    out = x2 @ weight.T  # (B, D_out)
    if bias is not None:
        out = out + bias
    cache = (x2, weight, bias is not None, lead)
    return out.reshape(lead + (weight.shape[0],)), cache


def linear_backward(dout: np.ndarray, cache):
    x2, weight, has_bias, lead = cache
    d2 = dout.reshape(x2.shape[0], weight.shape[0])  # (B, D_out); no -1: B or D_out may be 0
    dx = (d2 @ weight).reshape(lead + (weight.shape[1],))  # (..., D_in)
    dweight = d2.T @ x2  # (D_out, D_in)
    dbias = d2.sum(axis=0) if has_bias else None  # (D_out,)
    return dx, dweight, dbias
