"""Keras's MultiHeadAttention when its heads do not tile the query width (``num_heads *
key_dim != E`` or ``value_dim != key_dim``), written with tensor ops in Keras's layout.

Dimension letters: N batch, Tq/Tk query/key steps, Dq/Dk/Dv the query/key/value widths,
h heads, d key_dim, dv value_dim, E the output width (the query's).

    q = x_q W_q + b_q        W_q (Dq, h, d), b_q (h, d)     -> (N, h, Tq, d)
    k = x_k W_k + b_k        W_k (Dk, h, d)                 -> (N, h, Tk, d)
    v = x_v W_v + b_v        W_v (Dv, h, dv)                -> (N, h, Tk, dv)
    A = softmax(q k^T / sqrt(d) + (1 - mask) * -1e9)        -> (N, h, Tq, Tk)
    y = concat_h(A v) W_o + b_o        W_o (h, dv, E)       -> (N, Tq, E)

Gradients come from the ops' own backward passes (each checked against finite differences).
"""

from __future__ import annotations

import math

import numpy as np

from tinymm.nn.module import Module, Parameter
from tinymm.tensor import Tensor

LARGE_NEGATIVE = -1e9  # Keras adds it to the masked-out scores before the softmax


class HeadWeights(Module):
    """The eight Keras weights (kernels and biases of query, key, value and output)."""

    def __init__(self, widths: tuple[int, int, int], heads: int, key_dim: int, value_dim: int,
                 out_dim: int, use_bias: bool):
        super().__init__()
        Dq, Dk, Dv = widths
        shapes = {"query": ((Dq, heads, key_dim), (heads, key_dim)),
                  "key": ((Dk, heads, key_dim), (heads, key_dim)),
                  "value": ((Dv, heads, value_dim), (heads, value_dim)),
                  "output": ((heads, value_dim, out_dim), (out_dim,))}
        self.names = []
        for name, (kernel, bias) in shapes.items():
            self.register_parameter(f"{name}_kernel", Parameter(np.zeros(kernel, np.float32)))
            self.names.append(f"{name}_kernel")
            if use_bias:
                self.register_parameter(f"{name}_bias", Parameter(np.zeros(bias, np.float32)))
                self.names.append(f"{name}_bias")
        self.use_bias = use_bias

    def project(self, x: Tensor, name: str) -> Tensor:
        """x (N, T, D) through ``name``'s kernel (D, h, c) -> (N, h, T, c)."""
        kernel = getattr(self, f"{name}_kernel")
        D, h, c = kernel.shape
        y = x @ kernel.reshape(D, h * c)  # (N, T, h*c)
        if self.use_bias:
            y = y + getattr(self, f"{name}_bias").reshape(h * c)
        return y.reshape(x.shape[0], x.shape[1], h, c).permute(0, 2, 1, 3)  # (N, h, T, c)


def attend(weights: HeadWeights, q_in, v_in, k_in, mask, dropout=None):
    """-> (y (N, Tq, E), scores (N, h, Tq, Tk)); ``mask`` (N, Tq, Tk) or (N, Tk), True =
    attend, or None; ``dropout`` a module applied to the scores (Keras's ``dropout``)."""
    q = weights.project(q_in, "query")  # (N, h, Tq, d)
    k = weights.project(k_in, "key")  # (N, h, Tk, d)
    v = weights.project(v_in, "value")  # (N, h, Tk, dv)
    logits = (q * (1.0 / math.sqrt(q.shape[-1]))) @ k.transpose(-2, -1)  # (N, h, Tq, Tk)
    if mask is not None:
        m = np.asarray(getattr(mask, "data", mask), dtype=bool)
        m = m[:, None, None, :] if m.ndim == 2 else m[:, None]  # -> (N, 1, Tq|1, Tk)
        logits = logits + Tensor._make(((~m) * LARGE_NEGATIVE).astype(np.float32))
    scores = logits.softmax(dim=-1)  # (N, h, Tq, Tk)
    attended = (scores if dropout is None else dropout(scores)) @ v  # (N, h, Tq, dv)
    N, h, Tq, dv = attended.shape
    kernel = weights.output_kernel  # (h, dv, E)
    y = attended.permute(0, 2, 1, 3).reshape(N, Tq, h * dv) @ kernel.reshape(h * dv, -1)
    if weights.use_bias:
        y = y + weights.output_bias
    return y, scores  # (N, Tq, E), (N, h, Tq, Tk)
