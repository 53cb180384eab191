"""Numba kernels for ReLU, sigmoid and tanh (derivation: kernels/reference/activation.py).

Two kernels serve all three activations: ``_forward_range`` computes ``out = f(x)`` and
``_backward_range`` computes ``dx = dout * f'(.)`` over a range of the flattened arrays. The
activation is picked by a small integer code *outside* the element loop, so each loop body is
branch-light and LLVM vectorises it. Large arrays are split into blocks that ``prange`` hands
to the threads; small ones (under ``PARALLEL_MIN`` elements) run on the calling thread,
because waking the thread pool costs more than the work.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from tinymm.kernels.numba_cpu._util import BLOCK, contiguous, parallel_worth_it

RELU, SIGMOID, TANH = 0, 1, 2


@njit(cache=True)
def _forward_range(op, x, out, start, stop):
    if op == RELU:
        for i in range(start, stop):
            out[i] = 0 if x[i] <= 0 else x[i]  # NaN <= 0 is False: NaN passes through
    elif op == SIGMOID:
        for i in range(start, stop):
            v = x[i]
            if v >= 0:
                out[i] = 1 / (1 + np.exp(-v))
            else:
                z = np.exp(v)  # v < 0: z in (0, 1), no overflow
                out[i] = z / (1 + z)
    else:
        for i in range(start, stop):
            out[i] = np.tanh(x[i])


@njit(cache=True)
def _backward_range(op, dout, saved, dx, start, stop):
    # saved is x for ReLU, the output s or t for sigmoid and tanh (see the derivation)
    if op == RELU:
        for i in range(start, stop):
            dx[i] = 0 if saved[i] <= 0 else dout[i]  # a select (it vectorises); a NaN dout
            # gives 0 where x <= 0, as PyTorch's threshold_backward
    elif op == SIGMOID:
        for i in range(start, stop):
            dx[i] = dout[i] * saved[i] * (1 - saved[i])
    else:
        for i in range(start, stop):
            dx[i] = dout[i] * (1 - saved[i] * saved[i])


@njit(cache=True, parallel=True)
def _forward_blocks(op, x, out):
    for b in prange((x.size + BLOCK - 1) // BLOCK):
        _forward_range(op, x, out, b * BLOCK, min((b + 1) * BLOCK, x.size))


@njit(cache=True, parallel=True)
def _backward_blocks(op, dout, saved, dx):
    for b in prange((saved.size + BLOCK - 1) // BLOCK):
        _backward_range(op, dout, saved, dx, b * BLOCK, min((b + 1) * BLOCK, saved.size))


def _forward(op, x):
    x = contiguous(x)
    out = np.empty_like(x)
    if parallel_worth_it(x.size):
        _forward_blocks(op, x.reshape(-1), out.reshape(-1))
    else:
        _forward_range(op, x.reshape(-1), out.reshape(-1), 0, x.size)
    return out


def _backward(op, dout, saved):
    dout = contiguous(dout.astype(saved.dtype, copy=False))
    dx = np.empty_like(saved)
    flat = (dout.reshape(-1), saved.reshape(-1), dx.reshape(-1))
    if parallel_worth_it(saved.size):
        _backward_blocks(op, *flat)
    else:
        _backward_range(op, *flat, 0, saved.size)
    return (dx,)


def relu_forward(x):
    x = contiguous(x)
    return _forward(RELU, x), x


def relu_backward(dout, cache):
    return _backward(RELU, dout, cache)


def sigmoid_forward(x):
    out = _forward(SIGMOID, x)
    return out, out


def sigmoid_backward(dout, cache):
    return _backward(SIGMOID, dout, cache)


def tanh_forward(x):
    out = _forward(TANH, x)
    return out, out


def tanh_backward(dout, cache):
    return _backward(TANH, dout, cache)
