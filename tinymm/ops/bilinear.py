"""``F.bilinear(x1, x2, weight, bias)``: y[..., o] = sum_ij x1[..., i] weight[o, i, j]
x2[..., j] + bias[o], as PyTorch, one einsum (ops/einsum.py derives the backward)."""

from __future__ import annotations

from tinymm.ops._checks import check_float
from tinymm.ops.einsum import einsum
from tinymm.tensor import Tensor, as_tensor


def bilinear(input1, input2, weight, bias=None) -> Tensor:
    x1, x2, w = as_tensor(input1), as_tensor(input2), as_tensor(weight)
    check_float("bilinear", "input1", x1.array)
    if w.ndim != 3 or x1.shape[-1] != w.shape[1] or x2.shape[-1] != w.shape[2] \
            or tuple(x1.shape[:-1]) != tuple(x2.shape[:-1]):
        raise ValueError(f"bilinear: expected input1 (..., in1), input2 (..., in2) with the same "
                         f"leading dims and weight (out, in1, in2), got {tuple(x1.shape)}, "
                         f"{tuple(x2.shape)} and {tuple(w.shape)}")
    out = einsum("...i,oij,...j->...o", x1, w, x2)
    return out if bias is None else out + bias
