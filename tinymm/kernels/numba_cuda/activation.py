"""CUDA kernels for ReLU, sigmoid and tanh (derivation: kernels/reference/activation.py).

One thread per element: ``i = cuda.grid(1)`` is the global thread index, and the guard
``if i < x.size`` stops the threads of the last block that fall past the end of the array
(the grid is rounded up to whole blocks), so no thread reads or writes out of bounds.
Wrappers take device arrays and return device arrays (``_device.map_1d`` launches them).
"""

from __future__ import annotations

import math

from numba import cuda

from tinymm.kernels.numba_cuda._device import map_1d


def _relu(x, out):
    i = cuda.grid(1)
    if i < x.size:
        out[i] = 0 if x[i] <= 0 else x[i]  # NaN <= 0 is False: NaN passes through


def _relu_grad(dout, x, dx):
    i = cuda.grid(1)
    if i < x.size:
        dx[i] = dout[i] if x[i] > 0 else 0


def _sigmoid(x, out, one):
    # one: 1 in x's dtype (a Python literal 1 would make float32 arithmetic float64)
    i = cuda.grid(1)
    if i < x.size:
        v = x[i]
        if v >= 0:
            out[i] = one / (one + math.exp(-v))
        else:
            z = math.exp(v)  # v < 0: no overflow
            out[i] = z / (one + z)


def _sigmoid_grad(dout, s, dx, one):
    i = cuda.grid(1)
    if i < s.size:
        dx[i] = dout[i] * s[i] * (one - s[i])


def _tanh(x, out):
    i = cuda.grid(1)
    if i < x.size:
        out[i] = math.tanh(x[i])


def _tanh_grad(dout, t, dx, one):
    i = cuda.grid(1)
    if i < t.size:
        dx[i] = dout[i] * (one - t[i] * t[i])


_UNARY = ("void(float32[::1], float32[::1])", "void(float64[::1], float64[::1])")
_BINARY = ("void(float32[::1], float32[::1], float32[::1])",
           "void(float64[::1], float64[::1], float64[::1])")
_UNARY_ONE = tuple(sig.replace("])", "], float32)" if "float32" in sig else "], float64)")
                   for sig in _UNARY)
_BINARY_ONE = tuple(sig.replace("])", "], float32)" if "float32" in sig else "], float64)")
                    for sig in _BINARY)
PTX_TARGETS = [(_relu, _UNARY), (_relu_grad, _BINARY), (_sigmoid, _UNARY_ONE),
               (_sigmoid_grad, _BINARY_ONE), (_tanh, _UNARY), (_tanh_grad, _BINARY_ONE)]

relu_kernel = cuda.jit(_relu)
relu_grad_kernel = cuda.jit(_relu_grad)
sigmoid_kernel = cuda.jit(_sigmoid)
sigmoid_grad_kernel = cuda.jit(_sigmoid_grad)
tanh_kernel = cuda.jit(_tanh)
tanh_grad_kernel = cuda.jit(_tanh_grad)


def _gradient(op, kernel, dout, saved, *scalars):
    if dout.dtype != saved.dtype:
        raise TypeError(f"cuda {op}: dout dtype {dout.dtype} != forward dtype {saved.dtype}")
    return (map_1d(op, kernel, {"dout": dout, "saved": saved}, *scalars),)


def relu_forward(x):
    return map_1d("relu_forward", relu_kernel, {"x": x}), x


def relu_backward(dout, cache):
    return _gradient("relu_backward", relu_grad_kernel, dout, cache)


def sigmoid_forward(x):
    out = map_1d("sigmoid_forward", sigmoid_kernel, {"x": x}, x.dtype.type(1))
    return out, out


def sigmoid_backward(dout, cache):
    return _gradient("sigmoid_backward", sigmoid_grad_kernel, dout, cache, cache.dtype.type(1))


def tanh_forward(x):
    out = map_1d("tanh_forward", tanh_kernel, {"x": x})
    return out, out


def tanh_backward(dout, cache):
    return _gradient("tanh_backward", tanh_grad_kernel, dout, cache, cache.dtype.type(1))
