"""Matrix product op (derivation: kernels/reference/matmul.py)."""

from __future__ import annotations

from tinymm.autograd import ArrayFunction
from tinymm.ops._checks import check_same_dtype


class MatMul(ArrayFunction):
    @staticmethod
    def forward(ctx, a, b):
        if a.ndim == 0 or b.ndim == 0:
            raise ValueError(f"matmul: both operands need at least 1 dimension, got shapes "
                             f"{a.shape} and {b.shape}; use * for scalars")
        if a.shape[-1] != b.shape[-2 if b.ndim > 1 else 0]:
            raise ValueError(f"matmul: inner dimensions differ: a {a.shape} has "
                             f"{a.shape[-1]} columns but b {b.shape} has "
                             f"{b.shape[-2 if b.ndim > 1 else 0]} rows")
        check_same_dtype("matmul", a=a, b=b)
        out, cache = ctx.backend.matmul_forward(a, b)
        ctx.save_for_backward(cache)
        return out

    @staticmethod
    def backward(ctx, grad):
        return ctx.backend.matmul_backward(grad, *ctx.saved)


def matmul(a, b):
    """``a @ b`` with NumPy/PyTorch semantics (batched, broadcasting leading dims)."""
    return MatMul.apply(a, b)
