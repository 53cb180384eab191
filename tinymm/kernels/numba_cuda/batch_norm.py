"""CUDA batch normalization, per channel (derivation: kernels/reference/batch_norm.py).

Dimension letters: N batch, C channels, S trailing spatial positions (1 for (N, C)), M = N * S
values per channel; x is viewed as (N, C, S).

Forward, ``batch_norm_channels``: one block of THREADS_PER_ROW threads per channel c. Thread
``tid`` visits the channel's values k = tid, tid + blockDim, ... as x[k // S, c, k % S], so
neighbouring threads read neighbouring positions s (coalesced along S). In training mode two
block-wide sums in shared memory (the tree of _reduce.py) give the mean and then the biased
variance (two passes, stable for large offsets), thread 0 updates the running statistics in
place with PyTorch's momentum rule (unbiased variance, M / (M - 1)), and every thread writes
x_hat = (x - mean) * inv_std and out = weight * x_hat + bias. In evaluation mode the running
statistics take the place of the batch's and no reduction runs.

Backward, ``batch_norm_grad_channels``: one block per channel sums dout and dout * x_hat in one
tree (dbias and dweight; times weight they are the sums of dx_hat and dx_hat * x_hat), then
writes dx = inv_std / M * (M dx_hat - sum dx_hat - x_hat sum dx_hat x_hat) in training mode,
dx = dx_hat * inv_std in evaluation mode.

Kernels are built per dtype (_dtypes.py), so float32 arithmetic stays float32.
"""

from __future__ import annotations

import math

from numba import cuda

from tinymm.kernels.numba_cuda._device import empty, require_device
from tinymm.kernels.numba_cuda._dtypes import per_dtype
from tinymm.kernels.numba_cuda._reduce import THREADS_PER_ROW, block_sum, block_sum2


def _make_batch_norm_channels(dtype):
    one = dtype(1)

    def batch_norm_channels(x, weight, bias, running_mean, running_var, has_weight, has_bias,
                            has_running, training, momentum, unbias, eps, out, x_hat, inv_std):
        """One block per channel c of x (N, C, S): out, x_hat (N, C, S) and inv_std (C,)."""
        N, C, S = x.shape
        M = N * S
        c = min(cuda.blockIdx.x, C - 1)  # the grid is exactly C blocks
        tid = cuda.threadIdx.x
        nt = cuda.blockDim.x
        sm = cuda.shared.array(THREADS_PER_ROW, dtype)
        if training:  # the same for the whole block: every thread reaches every barrier
            sm[tid] = 0
            for k in range(tid, M, nt):
                sm[tid] += x[k // S, c, k % S]
            block_sum(sm, tid, nt)  # sm[0] becomes the sum
            mean = sm[0] / dtype(M)
            cuda.syncthreads()  # everyone has read sm[0] before the slots are reused
            sm[tid] = 0
            for k in range(tid, M, nt):
                dev = x[k // S, c, k % S] - mean
                sm[tid] += dev * dev
            block_sum(sm, tid, nt)  # sm[0] becomes sum (x - mean)^2
            var = sm[0] / dtype(M)
            if tid == 0 and has_running:
                running_mean[c] = (one - momentum) * running_mean[c] + momentum * mean
                running_var[c] = (one - momentum) * running_var[c] + momentum * var * unbias
        else:
            mean = running_mean[c]
            var = running_var[c]
        rstd = one / math.sqrt(var + eps)
        for k in range(tid, M, nt):
            n = k // S
            s = k % S
            xh = (x[n, c, s] - mean) * rstd
            x_hat[n, c, s] = xh
            y = xh * weight[c] if has_weight else xh
            out[n, c, s] = y + bias[c] if has_bias else y
        if tid == 0:
            inv_std[c] = rstd

    return batch_norm_channels


def _make_batch_norm_grad_channels(dtype):
    def batch_norm_grad_channels(dout, x_hat, inv_std, weight, has_weight, training, dx,
                                 dweight, dbias):
        """One block per channel: dweight[c], dbias[c] and dx (N, C, S)."""
        N, C, S = dout.shape
        M = N * S
        c = min(cuda.blockIdx.x, C - 1)
        tid = cuda.threadIdx.x
        nt = cuda.blockDim.x
        sm = cuda.shared.array((2, THREADS_PER_ROW), dtype)
        sm[0, tid] = 0  # this thread's partial sums of dout and dout * x_hat
        sm[1, tid] = 0
        for k in range(tid, M, nt):
            g = dout[k // S, c, k % S]
            sm[0, tid] += g
            sm[1, tid] += g * x_hat[k // S, c, k % S]
        block_sum2(sm, tid, nt)
        sum_d = sm[0, 0]
        sum_dx = sm[1, 0]
        w = weight[c] if has_weight else dtype(1)
        rstd = inv_std[c]
        scale = rstd / dtype(M)
        for k in range(tid, M, nt):
            n = k // S
            s = k % S
            g = dout[n, c, s] * w  # dx_hat
            if training:
                dx[n, c, s] = scale * (dtype(M) * g - w * sum_d - x_hat[n, c, s] * w * sum_dx)
            else:
                dx[n, c, s] = g * rstd
        if tid == 0:
            dweight[c] = sum_dx
            dbias[c] = sum_d

    return batch_norm_grad_channels


channels_kernels, _fwd_targets = per_dtype(
    _make_batch_norm_channels, "void({t}[:, :, ::1], {t}[::1], {t}[::1], {t}[::1], {t}[::1], "
    "boolean, boolean, boolean, boolean, {t}, {t}, {t}, {t}[:, :, ::1], {t}[:, :, ::1], "
    "{t}[::1])")
grad_channels_kernels, _grad_targets = per_dtype(
    _make_batch_norm_grad_channels, "void({t}[:, :, ::1], {t}[:, :, ::1], {t}[::1], {t}[::1], "
    "boolean, boolean, {t}[:, :, ::1], {t}[::1], {t}[::1])")
PTX_TARGETS = _fwd_targets + _grad_targets


def batch_norm_forward(x, weight, bias, running_mean, running_var, training=True, momentum=0.1,
                       eps=1e-5):
    op = "batch_norm_forward"
    require_device(op, x=x, weight=weight, bias=bias, running_mean=running_mean,
                   running_var=running_var)
    if x.ndim < 2:
        raise ValueError(f"cuda {op}: x must be (N, C, ...), got shape {tuple(x.shape)}")
    N, C = x.shape[0], x.shape[1]
    S = math.prod(x.shape[2:])
    M = N * S
    dtype = x.dtype
    for name, a in (("weight", weight), ("bias", bias), ("running_mean", running_mean),
                    ("running_var", running_var)):
        if a is not None and (tuple(a.shape) != (C,) or a.dtype != dtype):
            raise ValueError(f"cuda {op}: {name} is {a.dtype} {tuple(a.shape)}, expected "
                             f"{dtype} {(C,)}")
    if not training and (running_mean is None or running_var is None):
        raise ValueError(f"cuda {op}: evaluation mode needs running_mean and running_var")
    has_running = running_mean is not None and running_var is not None
    x3 = x.reshape(N, C, S)  # (N, C, S)
    out = empty((N, C, S), dtype)
    x_hat = empty((N, C, S), dtype)
    inv_std = empty((C,), dtype)
    dummy = empty((1,), dtype)  # stands in for an absent array; never read
    unbias = M / (M - 1) if M > 1 else math.inf  # PyTorch requires M > 1 with running stats
    if C and M:
        channels_kernels[dtype][C, THREADS_PER_ROW](
            x3, dummy if weight is None else weight, dummy if bias is None else bias,
            running_mean if has_running else dummy, running_var if has_running else dummy,
            weight is not None, bias is not None, has_running, bool(training),
            dtype.type(momentum), dtype.type(unbias), dtype.type(eps), out, x_hat, inv_std)
    cache = (x_hat, inv_std, weight, bool(training), bias is not None, tuple(x.shape))
    return out.reshape(tuple(x.shape)), cache


def batch_norm_backward(dout, cache):
    op = "batch_norm_backward"
    x_hat, inv_std, weight, training, has_bias, shape = cache
    require_device(op, dout=dout)
    N, C, S = x_hat.shape
    dtype = x_hat.dtype
    if tuple(dout.shape) != shape or dout.dtype != dtype:
        raise ValueError(f"cuda {op}: dout is {dout.dtype} {tuple(dout.shape)}, expected "
                         f"{dtype} {shape}")
    dx = empty((N, C, S), dtype)
    dweight = empty((C,), dtype)
    dbias = empty((C,), dtype)
    if C and N * S:
        grad_channels_kernels[dtype][C, THREADS_PER_ROW](
            dout.reshape(N, C, S), x_hat, inv_std, empty((1,), dtype) if weight is None else weight,
            weight is not None, training, dx, dweight, dbias)
    return (dx.reshape(shape), dweight if weight is not None else None,
            dbias if has_bias else None, None, None)
