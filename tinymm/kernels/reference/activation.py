"""Elementwise activations: ReLU, sigmoid, tanh, and their derivatives.

Each is applied independently to every element, so its Jacobian is diagonal and the backward
is an elementwise product of the upstream gradient with the local derivative::

    relu(x)    = max(x, 0)              relu'(x)    = 1 if x > 0 else 0   (0 at the kink x = 0,
                                                                          as PyTorch chooses)
    sigmoid(x) = 1 / (1 + exp(-x))      sigmoid'(x) = s * (1 - s)         with s = sigmoid(x)
    tanh(x)                             tanh'(x)    = 1 - t^2             with t = tanh(x)

The sigmoid and tanh derivatives are written in terms of the *output*, so the forward saves
its output and the backward never recomputes an exponential.

Numerical stability: ``1 / (1 + exp(-x))`` overflows ``exp`` for x << 0 (float32 overflows
past x = -88). Using ``exp(x) / (1 + exp(x))`` for negative x keeps the exponent <= 0.
"""

from __future__ import annotations

import numpy as np


def relu_forward(x: np.ndarray):
    out = np.maximum(x, 0).astype(x.dtype, copy=False)
    return out, x


def relu_backward(dout: np.ndarray, cache):
    x = cache
    # PyTorch's threshold_backward: 0 where x <= 0 even for a NaN dout (NaN * 0 would be NaN),
    # dout elsewhere, a NaN x included
    return (np.where(x <= 0, 0, dout).astype(dout.dtype, copy=False),)


def sigmoid_forward(x: np.ndarray):
    z = np.exp(-np.abs(x))  # in (0, 1]: never overflows
    out = np.where(x >= 0, 1 / (1 + z), z / (1 + z)).astype(x.dtype, copy=False)
    return out, out


def sigmoid_backward(dout: np.ndarray, cache):
    s = cache
    return (dout * s * (1 - s),)


def tanh_forward(x: np.ndarray):
    out = np.tanh(x)
    return out, out


def tanh_backward(dout: np.ndarray, cache):
    t = cache
    return (dout * (1 - t * t),)
