"""CUDA linear layer (derivation: kernels/reference/linear.py).

Three GEMMs (``_gemm.py``) with the transposes read in place: ``out = x W^T`` (trans_b),
``dx = dout W``, ``dW = dout^T x`` (trans_a). The bias is added by a one-thread-per-element
kernel over the (B, D_out) output, and ``dbias`` is the column sum of dout
(``reduction.sum_forward`` over axis 0, coalesced across columns).
"""

from __future__ import annotations

from numba import cuda

from tinymm.kernels.numba_cuda._device import grid_1d, require_device
from tinymm.kernels.numba_cuda._gemm import gemm
from tinymm.kernels.numba_cuda.reduction import sum_forward


def _add_bias(out, bias):
    # out flat (B * D), bias (D,): out[b, d] += bias[d]
    i = cuda.grid(1)
    if i < out.size:
        out[i] += bias[i % bias.size]


PTX_TARGETS = [(_add_bias, ("void(float32[::1], float32[::1])",
                            "void(float64[::1], float64[::1])"))]
add_bias_kernel = cuda.jit(_add_bias)


def add_bias(out, bias):
    """out (..., D) += bias (D,) in place, on the device."""
    if out.size:
        blocks, threads = grid_1d(out.size)
        add_bias_kernel[blocks, threads](out.reshape(out.size), bias)
    return out


def linear_forward(x, weight, bias):
    require_device("linear_forward", x=x, weight=weight, bias=bias)
    lead = tuple(x.shape[:-1])
    D_in = tuple(x.shape)[-1]
    D_out = weight.shape[0]
    x2 = x.reshape(1, x.size // D_in if D_in else 0, D_in)  # (1, B, D_in)
    out = gemm(x2, weight.reshape(1, D_out, D_in), trans_b=True)  # (1, B, D_out)
    if bias is not None:
        add_bias(out, bias)
    return out.reshape(lead + (D_out,)), (x2, weight, bias is not None, lead)


def linear_backward(dout, cache):
    x2, weight, has_bias, lead = cache
    require_device("linear_backward", dout=dout)
    D_out, D_in = weight.shape
    d2 = dout.reshape(1, x2.shape[1], D_out)  # (1, B, D_out)
    dx = gemm(d2, weight.reshape(1, D_out, D_in)).reshape(lead + (D_in,))  # dout @ W
    dweight = gemm(d2, x2, trans_a=True).reshape(D_out, D_in)  # dout^T @ x
    dbias = sum_forward(d2.reshape(x2.shape[1], D_out), axis=0)[0] if has_bias else None
    return dx, dweight, dbias
