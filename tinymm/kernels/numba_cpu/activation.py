"""Numba kernels for ReLU, sigmoid and tanh (derivation: kernels/reference/activation.py).

Each kernel is one parallel pass over the flattened array: the loop body is branch-light so
LLVM vectorises it, and ``prange`` splits the elements between threads.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from tinymm.kernels.numba_cpu._util import contiguous


@njit(cache=True, parallel=True)
def _relu(x, out):
    for i in prange(x.size):
        out[i] = x[i] if x[i] > 0 else 0


@njit(cache=True, parallel=True)
def _relu_grad(dout, x, dx):
    for i in prange(x.size):
        dx[i] = dout[i] if x[i] > 0 else 0


@njit(cache=True, parallel=True)
def _sigmoid(x, out):
    for i in prange(x.size):
        v = x[i]
        if v >= 0:
            out[i] = 1 / (1 + np.exp(-v))
        else:
            z = np.exp(v)  # v < 0: z in (0, 1), no overflow
            out[i] = z / (1 + z)


@njit(cache=True, parallel=True)
def _sigmoid_grad(dout, s, dx):
    for i in prange(s.size):
        dx[i] = dout[i] * s[i] * (1 - s[i])


@njit(cache=True, parallel=True)
def _tanh(x, out):
    for i in prange(x.size):
        out[i] = np.tanh(x[i])


@njit(cache=True, parallel=True)
def _tanh_grad(dout, t, dx):
    for i in prange(t.size):
        dx[i] = dout[i] * (1 - t[i] * t[i])


def _unary(kernel, x):
    x = contiguous(x)
    out = np.empty_like(x)
    kernel(x.reshape(-1), out.reshape(-1))
    return out


def _binary(kernel, dout, saved):
    dout = contiguous(dout.astype(saved.dtype, copy=False))
    dx = np.empty_like(saved)
    kernel(dout.reshape(-1), saved.reshape(-1), dx.reshape(-1))
    return dx


def relu_forward(x):
    x = contiguous(x)
    return _unary(_relu, x), x


def relu_backward(dout, cache):
    return (_binary(_relu_grad, dout, cache),)


def sigmoid_forward(x):
    out = _unary(_sigmoid, x)
    return out, out


def sigmoid_backward(dout, cache):
    return (_binary(_sigmoid_grad, dout, cache),)


def tanh_forward(x):
    out = _unary(_tanh, x)
    return out, out


def tanh_backward(dout, cache):
    return (_binary(_tanh_grad, dout, cache),)
