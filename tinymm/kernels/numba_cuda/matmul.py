"""CUDA batched matrix product (derivation: kernels/reference/matmul.py).

Every product runs on the GEMM of ``_gemm.py`` (tiled or register-blocked by size). The
wrapper turns NumPy's matmul semantics into GEMM calls without copies where it can:

* a vector operand becomes a 1-row (or 1-column) matrix by a reshape (a view);
* a 2-d ``b`` is shared by every batch of ``a``, so the batch folds into the rows of one big
  GEMM, (prod(lead) * M, K) @ (K, P);
* a batch of size 1 broadcasts inside the GEMM (batch index 0 for every batch); only leading
  shapes that broadcast in a more general way ((2, 1) against (5,)) are materialised by a
  broadcast copy first.

Backward: ``da = dout @ b^T`` and ``db = a^T @ dout`` with the transposes read in place by the
GEMM (``trans_a``/``trans_b``, no transpose copies). A gradient for an operand that was shared
across the batch sums over the batch inside the GEMM (``reduce_batches``); one that was
broadcast-copied is summed down afterwards (``reduction.sum_to_shape``).
"""

from __future__ import annotations

import numpy as np

from tinymm.kernels.numba_cuda import _strided
from tinymm.kernels.numba_cuda._device import require_device
from tinymm.kernels.numba_cuda._gemm import gemm
from tinymm.kernels.numba_cuda.reduction import sum_to_shape


def _prod(shape) -> int:
    return int(np.prod(shape, dtype=np.int64))


def _batched(x2, lead):
    """(batches, rows, cols) view of ``x2`` against the output's leading shape ``lead``."""
    own = tuple(x2.shape[:-2])
    rows, cols = x2.shape[-2:]
    if own == lead or _prod(own) == 1:
        return x2.reshape(_prod(own), rows, cols), False
    full = _strided.broadcast_to(x2, lead + (rows, cols))  # a general broadcast: copy
    return full.reshape(_prod(lead), rows, cols), True


def matmul_forward(a, b):
    require_device("matmul_forward", a=a, b=b)
    a2 = a.reshape(1, a.shape[0]) if a.ndim == 1 else a  # (..., M, K)
    b2 = b.reshape(b.shape[0], 1) if b.ndim == 1 else b  # (..., K, P)
    M, K = a2.shape[-2:]
    P = tuple(b2.shape)[-1]
    lead = tuple(np.broadcast_shapes(tuple(a2.shape[:-2]), tuple(b2.shape[:-2])))
    if b2.ndim == 2:  # b shared by every batch: one (prod(lead) M, K) @ (K, P) GEMM
        A3 = a2.reshape(1, _prod(lead) * M, K)
        B3 = b2.reshape(1, K, P)
        plan = ("fold", A3, B3, False, False)
    else:
        A3, a_copied = _batched(a2, lead)
        B3, b_copied = _batched(b2, lead)
        plan = ("batch", A3, B3, a_copied, b_copied)
    out = gemm(A3, B3).reshape(lead + (M, P))  # (..., M, P)
    final = lead + ((M,) if a.ndim > 1 else ()) + ((P,) if b.ndim > 1 else ())
    return out.reshape(final), (a, b, tuple(a2.shape), tuple(b2.shape), lead, plan)


def matmul_backward(dout, cache):
    a, b, a2_shape, b2_shape, lead, (kind, A3, B3, a_copied, b_copied) = cache
    require_device("matmul_backward", dout=dout)
    M, K = a2_shape[-2:]
    P = b2_shape[-1]
    if kind == "fold":
        D3 = dout.reshape(1, _prod(lead) * M, P)
        da = gemm(D3, B3, trans_b=True)  # dout @ b^T: (1, prod(lead) M, K)
        db = gemm(A3, D3, trans_a=True)  # a^T @ dout: (1, K, P), summed over every row
        return da.reshape(a.shape), db.reshape(b.shape)
    D3 = dout.reshape(_prod(lead), M, P)  # (B, M, P)
    if A3.shape[0] == 1 and D3.shape[0] > 1:  # a shared across the batch: sum inside the GEMM
        da = gemm(D3, B3, trans_b=True, reduce_batches=True)  # (1, M, K)
    else:
        da = gemm(D3, B3, trans_b=True)  # (B, M, K)
        if a_copied:
            da = sum_to_shape(da.reshape(lead + (M, K)), a2_shape)
    if B3.shape[0] == 1 and D3.shape[0] > 1:
        db = gemm(A3, D3, trans_a=True, reduce_batches=True)  # (1, K, P)
    else:
        db = gemm(A3, D3, trans_a=True)  # (B, K, P)
        if b_copied:
            db = sum_to_shape(db.reshape(lead + (K, P)), b2_shape)
    return da.reshape(a.shape), db.reshape(b.shape)
