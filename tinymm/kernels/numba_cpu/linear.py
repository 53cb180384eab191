"""Numba linear layer (derivation: kernels/reference/linear.py).

The three matrix products go to NumPy's BLAS (sgemm/dgemm), called from Python: a
Numba-written GEMM reaches a fraction of OpenBLAS's GFLOP/s, and calling BLAS
from inside ``@njit`` would make SciPy a dependency for no gain. ``_threads.matmul`` runs
each with BLAS single-threaded, a large one cut into row pieces for the worker threads (one
owner per core: no OpenBLAS thread pool spinning beside Numba's); the backward's two GEMMs
(dx and dweight, independent) go to the workers together (``_threads.matmuls``). Numba does
the memory-bound parts around them in one pass each: adding the bias into the GEMM's output in
place (no second (B, D_out) temporary), and the column sum for ``dbias``.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from tinymm.kernels.numba_cpu import _threads
from tinymm.kernels.numba_cpu._util import contiguous


@njit(cache=True)
def _add_bias(out, bias):
    B, D = out.shape
    for b in range(B):
        for d in range(D):
            out[b, d] += bias[d]


@njit(cache=True)
def _column_sum(d2, dbias):
    B, D = d2.shape
    acc = np.zeros(D, dtype=np.float64)
    for b in range(B):
        for d in range(D):  # contiguous inner loop: vectorised
            acc[d] += d2[b, d]
    for d in range(D):
        dbias[d] = acc[d]


def linear_forward(x, weight, bias):
    lead = x.shape[:-1]
    x2 = contiguous(x.reshape(int(np.prod(x.shape[:-1], dtype=np.int64)), x.shape[-1]))  # (B, D_in)
    out = _threads.matmul(x2, weight.T, np.empty((x2.shape[0], weight.shape[0]),
                                                 np.result_type(x2, weight)))  # (B, D_out)
    if bias is not None:
        _add_bias(out, bias)
    cache = (x2, weight, bias is not None, lead)
    return out.reshape(lead + (weight.shape[0],)), cache


def linear_backward(dout, cache):
    x2, weight, has_bias, lead = cache
    d2 = contiguous(dout.reshape(int(np.prod(dout.shape[:-1], dtype=np.int64)),
                                 weight.shape[0]))  # (B, D_out); no -1: B or D_out may be 0
    dtype = np.result_type(d2, weight)
    dx, dweight = _threads.matmuls(  # independent: run at once on the workers
        (d2, weight, np.empty((d2.shape[0], weight.shape[1]), dtype)),  # (B, D_in)
        (d2.T, x2, np.empty(weight.shape, dtype)))  # (D_out, D_in)
    dx = dx.reshape(lead + (weight.shape[1],))  # (..., D_in)
    dbias = None
    if has_bias:
        dbias = np.empty(weight.shape[0], dtype=weight.dtype)
        _column_sum(d2, dbias)
    return dx, dweight, dbias
