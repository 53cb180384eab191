"""Numba linear layer (derivation: kernels/reference/linear.py).

The three matrix products go to NumPy's BLAS (sgemm/dgemm), called from Python: a
Numba-written GEMM reaches a fraction of OpenBLAS's GFLOP/s, and calling BLAS
from inside ``@njit`` would make SciPy a dependency for no gain. ``_threads.matmul`` runs
each with BLAS single-threaded, a large one cut into row pieces for the worker threads (one
owner per core: no OpenBLAS thread pool spinning beside Numba's); the backward's two GEMMs
(dx and dweight, independent) go to the workers together (``_threads.matmuls``). Numba does
the memory-bound parts around them in one pass each: adding the bias into the GEMM's output in
place (no second (B, D_out) temporary), on each row piece in the thread whose GEMM just wrote
it, and the column sum for ``dbias``.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from tinymm.kernels.numba_cpu import _threads
from tinymm.kernels.numba_cpu._util import contiguous


@njit(cache=True, nogil=True)  # nogil: it runs on the workers, after their GEMM pieces
def _add_bias(out, bias):
    B, D = out.shape
    for b in range(B):
        for d in range(D):
            out[b, d] += bias[d]


@njit(cache=True)
def _column_sum(d2, acc, dbias):
    """dbias = the column sums of d2 (B, D), accumulated in acc (D,) float64 zeros (passed
    in: an allocation inside the kernel would add the compile of np.zeros to its cold start)."""
    B, D = d2.shape
    for b in range(B):
        for d in range(D):  # contiguous inner loop: vectorised
            acc[d] += d2[b, d]
    for d in range(D):
        dbias[d] = acc[d]


def linear_forward(x, weight, bias):
    lead = x.shape[:-1]
    B, D = int(np.prod(lead, dtype=np.int64)), x.shape[-1]
    O = weight.shape[0]
    out = np.empty((B, O), np.result_type(x, weight))  # (B, D_out)
    epilogue = None if bias is None else (lambda rows: _add_bias(rows, bias))
    if x.flags.c_contiguous or x.ndim != 3 or not B or x.strides[-1] == x.itemsize:
        # contiguous rows (an (N, T, D) view of a (T, N, D) sequence, say) are copied into one
        # (B, D_in) block by reshape: a few long copies, then one GEMM, which is several times
        # faster than N small GEMMs of T rows each (benchmarks/RESULTS.md, stop 32)
        x2 = contiguous(x.reshape(B, D))  # (B, D_in)
        _threads.matmul(x2, weight.T, out, epilogue)
        return out.reshape(lead + (O,)), (x2, weight, bias is not None, lead)
    # an (N, R, D_in) x whose x[n] is a transposed matrix (a transposed feature map, say):
    # x[n] @ W^T per image, BLAS reading x[n] as a transposed operand instead of a gathering
    # copy of x, in pieces of whole images; the backward copies x once for its dweight GEMM
    R = x.shape[1]
    w_t, out3 = weight.T, out.reshape(x.shape[0], R, O)

    def images(m0, m1):
        np.matmul(x[m0 // R:m1 // R], w_t, out=out3[m0 // R:m1 // R])
        if epilogue is not None:
            epilogue(out[m0:m1])

    _threads.row_pieces(images, B, B * D * O, R)
    return out.reshape(lead + (O,)), (x, weight, bias is not None, lead)


def linear_backward(dout, cache):
    x, weight, has_bias, lead = cache
    x2 = contiguous(x.reshape(int(np.prod(lead, dtype=np.int64)), x.shape[-1])) if x.ndim > 2 \
        else x  # (B, D_in)
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
        _column_sum(d2, np.zeros(weight.shape[0], np.float64), dbias)
    return dx, dweight, dbias
