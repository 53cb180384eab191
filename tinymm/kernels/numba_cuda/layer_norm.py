"""CUDA layer normalization over the trailing features (derivation:
kernels/reference/layer_norm.py).

Dimension letters: B rows (the leading positions flattened), D normalised features (the
product of ``normalized_shape``); x is viewed as (B, D), each row contiguous.

Forward, ``layer_norm_rows``: one block of THREADS_PER_ROW threads per row, striding over its D
features (so any D works). Two block-wide sums in shared memory (the tree of _reduce.py): first
sum x (the mean), then sum (x - mean)^2 (the biased variance; two passes over the row instead
of sum x^2 - mean^2, which cancels catastrophically for large offsets), then
x_hat = (x - mean) * inv_std and out = weight * x_hat + bias, written by the same threads.

Backward: ``layer_norm_grad_rows``, again one block per row, sums dx_hat and dx_hat * x_hat
(dx_hat = dout * weight) in one tree and writes
dx = inv_std / D * (D dx_hat - sum dx_hat - x_hat sum dx_hat x_hat); ``layer_norm_affine_grad``
gives dweight = sum_b dout x_hat and dbias = sum_b dout with one thread per feature column
(neighbouring threads read neighbouring features of each row: coalesced).

Kernels are built per dtype (_dtypes.py), so float32 arithmetic stays float32.
"""

from __future__ import annotations

import math

from numba import cuda

from tinymm.kernels.numba_cuda._device import empty, grid_1d, require_device
from tinymm.kernels.numba_cuda._dtypes import per_dtype
from tinymm.kernels.numba_cuda._reduce import THREADS_PER_ROW, block_sum, block_sum2


def _make_layer_norm_rows(dtype):
    one = dtype(1)

    def layer_norm_rows(x, weight, bias, has_weight, has_bias, eps, out, x_hat, inv_std):
        """One block per row b of x (B, D): out, x_hat (B, D) and inv_std (B,)."""
        B, D = x.shape
        b = min(cuda.blockIdx.x, B - 1)  # the grid is exactly B blocks
        tid = cuda.threadIdx.x
        nt = cuda.blockDim.x
        sm = cuda.shared.array(THREADS_PER_ROW, dtype)
        sm[tid] = 0
        for d in range(tid, D, nt):
            sm[tid] += x[b, d]
        block_sum(sm, tid, nt)  # sm[0] becomes sum_d x[b, d]
        mean = sm[0] / dtype(D)
        cuda.syncthreads()  # everyone has read sm[0] before the slots are reused
        sm[tid] = 0
        for d in range(tid, D, nt):
            sm[tid] += (x[b, d] - mean) * (x[b, d] - mean)
        block_sum(sm, tid, nt)  # sm[0] becomes sum_d (x - mean)^2
        rstd = one / math.sqrt(sm[0] / dtype(D) + eps)
        for d in range(tid, D, nt):
            xh = (x[b, d] - mean) * rstd
            x_hat[b, d] = xh
            y = xh * weight[d] if has_weight else xh
            out[b, d] = y + bias[d] if has_bias else y
        if tid == 0:
            inv_std[b] = rstd

    return layer_norm_rows


def _make_layer_norm_grad_rows(dtype):
    def layer_norm_grad_rows(dout, x_hat, inv_std, weight, has_weight, dx):
        """One block per row: dx from the row sums of dx_hat and dx_hat * x_hat."""
        B, D = dout.shape
        b = min(cuda.blockIdx.x, B - 1)
        tid = cuda.threadIdx.x
        nt = cuda.blockDim.x
        sm = cuda.shared.array((2, THREADS_PER_ROW), dtype)
        sm[0, tid] = 0  # this thread's partial sums of dx_hat and dx_hat * x_hat
        sm[1, tid] = 0
        for d in range(tid, D, nt):
            g = dout[b, d] * weight[d] if has_weight else dout[b, d]
            sm[0, tid] += g
            sm[1, tid] += g * x_hat[b, d]
        block_sum2(sm, tid, nt)
        sum_g = sm[0, 0]
        sum_gx = sm[1, 0]
        scale = inv_std[b] / dtype(D)
        for d in range(tid, D, nt):
            g = dout[b, d] * weight[d] if has_weight else dout[b, d]
            dx[b, d] = scale * (dtype(D) * g - sum_g - x_hat[b, d] * sum_gx)

    return layer_norm_grad_rows


def _make_layer_norm_affine_grad(dtype):
    zero = dtype(0)

    def layer_norm_affine_grad(dout, x_hat, dweight, dbias):
        """dweight[d] = sum_b dout x_hat, dbias[d] = sum_b dout: one thread per column d."""
        d = cuda.grid(1)
        B, D = dout.shape
        if d < D:
            sw = zero
            sb = zero
            for b in range(B):
                sw += dout[b, d] * x_hat[b, d]
                sb += dout[b, d]
            dweight[d] = sw
            dbias[d] = sb

    return layer_norm_affine_grad


rows_kernels, _rows_targets = per_dtype(
    _make_layer_norm_rows, "void({t}[:, ::1], {t}[::1], {t}[::1], boolean, boolean, {t}, "
    "{t}[:, ::1], {t}[:, ::1], {t}[::1])")
grad_rows_kernels, _grad_targets = per_dtype(
    _make_layer_norm_grad_rows, "void({t}[:, ::1], {t}[:, ::1], {t}[::1], {t}[::1], boolean, "
    "{t}[:, ::1])")
affine_grad_kernels, _affine_targets = per_dtype(
    _make_layer_norm_affine_grad, "void({t}[:, ::1], {t}[:, ::1], {t}[::1], {t}[::1])")
PTX_TARGETS = _rows_targets + _grad_targets + _affine_targets


def layer_norm_forward(x, normalized_shape, weight, bias, eps=1e-5):
    op = "layer_norm_forward"
    require_device(op, x=x, weight=weight, bias=bias)
    normalized_shape = tuple(int(s) for s in normalized_shape)
    D = math.prod(normalized_shape)
    dtype = x.dtype
    if tuple(x.shape[x.ndim - len(normalized_shape):]) != normalized_shape:
        raise ValueError(f"cuda {op}: x of shape {tuple(x.shape)} does not end in "
                         f"normalized_shape {normalized_shape}")
    for name, a in (("weight", weight), ("bias", bias)):
        if a is not None and (tuple(a.shape) != normalized_shape or a.dtype != dtype):
            raise ValueError(f"cuda {op}: {name} is {a.dtype} {tuple(a.shape)}, expected "
                             f"{dtype} {normalized_shape}")
    B = x.size // D if D else 0
    x2 = x.reshape(B, D)  # (B, D)
    out = empty((B, D), dtype)
    x_hat = empty((B, D), dtype)
    inv_std = empty((B,), dtype)
    dummy = empty((1,), dtype)  # stands in for an absent weight or bias; never read
    w = dummy if weight is None else weight.reshape(D)
    bb = dummy if bias is None else bias.reshape(D)
    if B and D:
        rows_kernels[dtype][B, THREADS_PER_ROW](x2, w, bb, weight is not None, bias is not None,
                                                dtype.type(eps), out, x_hat, inv_std)
    cache = (x_hat, inv_std, None if weight is None else w, bias is not None, tuple(x.shape),
             normalized_shape)
    return out.reshape(tuple(x.shape)), cache


def layer_norm_backward(dout, cache):
    op = "layer_norm_backward"
    x_hat, inv_std, weight, has_bias, shape, normalized_shape = cache
    require_device(op, dout=dout)
    B, D = x_hat.shape
    dtype = x_hat.dtype
    if tuple(dout.shape) != shape or dout.dtype != dtype:
        raise ValueError(f"cuda {op}: dout is {dout.dtype} {tuple(dout.shape)}, expected "
                         f"{dtype} {shape}")
    d2 = dout.reshape(B, D)  # (B, D)
    dx = empty((B, D), dtype)
    dweight = empty((D,), dtype)
    dbias = empty((D,), dtype)
    w = empty((1,), dtype) if weight is None else weight
    if B and D:
        grad_rows_kernels[dtype][B, THREADS_PER_ROW](d2, x_hat, inv_std, w, weight is not None,
                                                     dx)
    if D:
        blocks, threads = grid_1d(D)
        affine_grad_kernels[dtype][blocks, threads](d2, x_hat, dweight, dbias)
    return (dx.reshape(shape), dweight.reshape(normalized_shape) if weight is not None else None,
            dbias.reshape(normalized_shape) if has_bias else None)


