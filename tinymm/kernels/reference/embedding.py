"""Embedding lookup: derivation.

Dimension letters: V vocabulary size (num_embeddings), E embedding size, and ``...`` any
shape of integer indices (e.g. (N, T) token ids). PyTorch's layout: ``weight`` is (V, E),
row v is the vector of token v.

Forward: a row gather::

    out[..., e] = weight[indices[...], e]                    out (..., E)

Backward. Each output row is a copy of one weight row, so the gradient of weight row v is
the sum of the upstream gradients of every position that looked v up::

    dweight[v, e] = sum over positions p with indices[p] == v of dout[p, e]     (V, E)

The trap: ``dweight[indices] += dout`` with NumPy fancy indexing is *buffered*: when an index
repeats, only one of its contributions survives. ``np.add.at(dweight, indices, dout)``
accumulates every occurrence (that is what the code below uses).

``padding_idx``: the row used for padding tokens gets no gradient (dweight[padding_idx] = 0),
so it stays whatever it was initialised to (zeros in nn.Embedding). The indices get no
gradient (they are integers).
"""

from __future__ import annotations

import numpy as np


def embedding_forward(indices, weight, padding_idx=None):
    out = weight[indices]  # (..., E)
    cache = (indices, weight.shape, padding_idx)
    return out, cache


def embedding_backward(dout, cache):
    indices, (V, E), padding_idx = cache
    dweight = np.zeros((V, E), dtype=dout.dtype)  # (V, E)
    np.add.at(dweight, indices.reshape(-1), dout.reshape(indices.size, E))  # repeats add up
    if padding_idx is not None:
        dweight[padding_idx] = 0
    return None, dweight
