"""Numba kernels for ReLU, sigmoid and tanh (derivation: kernels/reference/activation.py).

Each kernel is a loop over a contiguous range of the flattened array, branch-light so LLVM
vectorises it. Large arrays are split into blocks that ``prange`` hands to the threads; small
ones (under ``PARALLEL_MIN`` elements) run the same loop on the calling thread, because waking
the thread pool costs more than the work.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from tinymm.kernels.numba_cpu._util import BLOCK, PARALLEL_MIN, contiguous


@njit(cache=True)
def _relu_range(x, out, start, stop):
    for i in range(start, stop):
        out[i] = x[i] if x[i] > 0 else 0


@njit(cache=True)
def _relu_grad_range(dout, x, dx, start, stop):
    for i in range(start, stop):
        dx[i] = dout[i] if x[i] > 0 else 0


@njit(cache=True)
def _sigmoid_range(x, out, start, stop):
    for i in range(start, stop):
        v = x[i]
        if v >= 0:
            out[i] = 1 / (1 + np.exp(-v))
        else:
            z = np.exp(v)  # v < 0: z in (0, 1), no overflow
            out[i] = z / (1 + z)


@njit(cache=True)
def _sigmoid_grad_range(dout, s, dx, start, stop):
    for i in range(start, stop):
        dx[i] = dout[i] * s[i] * (1 - s[i])


@njit(cache=True)
def _tanh_range(x, out, start, stop):
    for i in range(start, stop):
        out[i] = np.tanh(x[i])


@njit(cache=True)
def _tanh_grad_range(dout, t, dx, start, stop):
    for i in range(start, stop):
        dx[i] = dout[i] * (1 - t[i] * t[i])


# One parallel driver per kernel: blocks of BLOCK elements, each handled by the range kernel.
@njit(cache=True, parallel=True)
def _relu_blocks(x, out):
    for b in prange((x.size + BLOCK - 1) // BLOCK):
        _relu_range(x, out, b * BLOCK, min((b + 1) * BLOCK, x.size))


@njit(cache=True, parallel=True)
def _relu_grad_blocks(dout, x, dx):
    for b in prange((x.size + BLOCK - 1) // BLOCK):
        _relu_grad_range(dout, x, dx, b * BLOCK, min((b + 1) * BLOCK, x.size))


@njit(cache=True, parallel=True)
def _sigmoid_blocks(x, out):
    for b in prange((x.size + BLOCK - 1) // BLOCK):
        _sigmoid_range(x, out, b * BLOCK, min((b + 1) * BLOCK, x.size))


@njit(cache=True, parallel=True)
def _sigmoid_grad_blocks(dout, s, dx):
    for b in prange((s.size + BLOCK - 1) // BLOCK):
        _sigmoid_grad_range(dout, s, dx, b * BLOCK, min((b + 1) * BLOCK, s.size))


@njit(cache=True, parallel=True)
def _tanh_blocks(x, out):
    for b in prange((x.size + BLOCK - 1) // BLOCK):
        _tanh_range(x, out, b * BLOCK, min((b + 1) * BLOCK, x.size))


@njit(cache=True, parallel=True)
def _tanh_grad_blocks(dout, t, dx):
    for b in prange((t.size + BLOCK - 1) // BLOCK):
        _tanh_grad_range(dout, t, dx, b * BLOCK, min((b + 1) * BLOCK, t.size))


def _unary(serial, parallel, x):
    x = contiguous(x)
    out = np.empty_like(x)
    flat_x, flat_out = x.reshape(-1), out.reshape(-1)
    if x.size >= PARALLEL_MIN:
        parallel(flat_x, flat_out)
    else:
        serial(flat_x, flat_out, 0, x.size)
    return out


def _binary(serial, parallel, dout, saved):
    dout = contiguous(dout.astype(saved.dtype, copy=False))
    dx = np.empty_like(saved)
    args = (dout.reshape(-1), saved.reshape(-1), dx.reshape(-1))
    if saved.size >= PARALLEL_MIN:
        parallel(*args)
    else:
        serial(*args, 0, saved.size)
    return dx


def relu_forward(x):
    x = contiguous(x)
    return _unary(_relu_range, _relu_blocks, x), x


def relu_backward(dout, cache):
    return (_binary(_relu_grad_range, _relu_grad_blocks, dout, cache),)


def sigmoid_forward(x):
    out = _unary(_sigmoid_range, _sigmoid_blocks, x)
    return out, out


def sigmoid_backward(dout, cache):
    return (_binary(_sigmoid_grad_range, _sigmoid_grad_blocks, dout, cache),)


def tanh_forward(x):
    out = _unary(_tanh_range, _tanh_blocks, x)
    return out, out


def tanh_backward(dout, cache):
    return (_binary(_tanh_grad_range, _tanh_grad_blocks, dout, cache),)
