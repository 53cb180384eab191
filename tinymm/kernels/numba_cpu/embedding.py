"""Numba embedding (derivation and dimension letters: kernels/reference/embedding.py).

The forward is a row gather, which NumPy's ``take`` already does at memory speed, so it stays
in NumPy. The backward is one serial pass over the P = prod(...) positions, adding each
``dout`` row into its weight row: a scatter-add that accumulates repeated indices correctly
(each add reads the row's current value) with a contiguous, vectorised inner loop over E.
It is serial on purpose: two threads could hit the same row at once, and at P*E = 64K
elements the pass takes a few microseconds.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from tinymm.kernels.numba_cpu._util import contiguous


@njit(cache=True)
def _scatter_add_rows(flat_indices, dout2, padding_idx, dweight):
    P, E = dout2.shape
    for p in range(P):
        v = flat_indices[p]
        if v == padding_idx:  # the padding row gets no gradient
            continue
        for e in range(E):
            dweight[v, e] += dout2[p, e]


def embedding_forward(indices, weight, padding_idx=None):
    out = np.take(weight, indices, axis=0)  # (..., E)
    cache = (indices, weight.shape, padding_idx)
    return out, cache


def embedding_backward(dout, cache):
    indices, (V, E), padding_idx = cache
    flat_indices = contiguous(indices.reshape(-1)).astype(np.int64, copy=False)  # (P,)
    dout2 = contiguous(dout.reshape(indices.size, E))  # (P, E); no -1: P or E may be 0
    dweight = np.zeros((V, E), dtype=dout.dtype)  # (V, E)
    _scatter_add_rows(flat_indices, dout2, -1 if padding_idx is None else padding_idx, dweight)
    return None, dweight
