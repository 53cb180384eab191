"""CUDA kernels for ReLU, sigmoid and tanh (derivation: kernels/reference/activation.py).

One thread per element: ``i = cuda.grid(1)`` is the global thread index, and the guard
``if i < x.size`` stops the threads of the last block that fall past the end of the array
(the grid is rounded up to whole blocks), so no thread reads or writes out of bounds.
"""

from __future__ import annotations

import math

import numpy as np
from numba import cuda

THREADS_PER_BLOCK = 256  # a multiple of the 32-thread warp; enough blocks to fill the GPU


def _relu(x, out):
    i = cuda.grid(1)
    if i < x.size:
        out[i] = 0 if x[i] <= 0 else x[i]  # NaN <= 0 is False: NaN passes through


def _relu_grad(dout, x, dx):
    i = cuda.grid(1)
    if i < x.size:
        dx[i] = dout[i] if x[i] > 0 else 0


def _sigmoid(x, out):
    i = cuda.grid(1)
    if i < x.size:
        v = x[i]
        if v >= 0:
            out[i] = 1 / (1 + math.exp(-v))
        else:
            z = math.exp(v)  # v < 0: no overflow
            out[i] = z / (1 + z)


def _sigmoid_grad(dout, s, dx):
    i = cuda.grid(1)
    if i < s.size:
        dx[i] = dout[i] * s[i] * (1 - s[i])


def _tanh(x, out):
    i = cuda.grid(1)
    if i < x.size:
        out[i] = math.tanh(x[i])


def _tanh_grad(dout, t, dx):
    i = cuda.grid(1)
    if i < t.size:
        dx[i] = dout[i] * (1 - t[i] * t[i])


_UNARY = ("void(float32[::1], float32[::1])", "void(float64[::1], float64[::1])")
_BINARY = ("void(float32[::1], float32[::1], float32[::1])",
           "void(float64[::1], float64[::1], float64[::1])")
PTX_TARGETS = [(_relu, _UNARY), (_relu_grad, _BINARY), (_sigmoid, _UNARY),
               (_sigmoid_grad, _BINARY), (_tanh, _UNARY), (_tanh_grad, _BINARY)]

relu_kernel = cuda.jit(_relu)
relu_grad_kernel = cuda.jit(_relu_grad)
sigmoid_kernel = cuda.jit(_sigmoid)
sigmoid_grad_kernel = cuda.jit(_sigmoid_grad)
tanh_kernel = cuda.jit(_tanh)
tanh_grad_kernel = cuda.jit(_tanh_grad)


def _to_device(a):
    if hasattr(a, "copy_to_host"):  # already a device array (real GPU or simulator)
        return a, False
    return cuda.to_device(np.ascontiguousarray(a).reshape(-1)), True


def _launch(kernel, shape, dtype, *arrays):
    """Run ``kernel`` over flat arrays; returns the last argument (the output) shaped back."""
    n = int(np.prod(shape))
    device_args, on_host = [], False
    for a in arrays:
        d, copied = _to_device(a)
        device_args.append(d)
        on_host = on_host or copied
    out = cuda.device_array(n, dtype=dtype)
    blocks = max(1, (n + THREADS_PER_BLOCK - 1) // THREADS_PER_BLOCK)
    kernel[blocks, THREADS_PER_BLOCK](*device_args, out)
    return out.copy_to_host().reshape(shape) if on_host else out.reshape(shape)


def _gradient(kernel, dout, saved):
    return (_launch(kernel, saved.shape, saved.dtype, dout.astype(saved.dtype, copy=False),
                    saved),)


def relu_forward(x):
    return _launch(relu_kernel, x.shape, x.dtype, x), x


def relu_backward(dout, cache):
    return _gradient(relu_grad_kernel, dout, cache)


def sigmoid_forward(x):
    out = _launch(sigmoid_kernel, x.shape, x.dtype, x)
    return out, out


def sigmoid_backward(dout, cache):
    return _gradient(sigmoid_grad_kernel, dout, cache)


def tanh_forward(x):
    out = _launch(tanh_kernel, x.shape, x.dtype, x)
    return out, out


def tanh_backward(dout, cache):
    return _gradient(tanh_grad_kernel, dout, cache)
