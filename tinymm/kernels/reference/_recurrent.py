"""What the three recurrences (rnn.py, lstm.py, gru.py) share: the layout, the step order, the
summed bias, a stable sigmoid and the input gradient's return, in plain NumPy."""

from __future__ import annotations

import numpy as np


def sigmoid(a: np.ndarray) -> np.ndarray:
    z = np.exp(-np.abs(a))  # in (0, 1]: never overflows
    return np.where(a >= 0, 1 / (1 + z), z / (1 + z)).astype(a.dtype, copy=False)


def time_major(x: np.ndarray, batch_first: bool) -> np.ndarray:
    """(T, N, F) from (N, T, F) with batch_first, and back (the swap is its own inverse)."""
    return x.transpose(1, 0, 2) if batch_first else x


def step_order(T: int, reverse: bool) -> range:
    return range(T - 1, -1, -1) if reverse else range(T)


def sequence_start(x, h0, lengths, batch_first, H: int):
    """x time-major (T, N, D), the first state h (N, H) (zeros for None) and lengths (N,)
    (all T for None)."""
    x = time_major(x, batch_first)  # (T, N, D)
    T, N, _ = x.shape
    h = np.zeros((N, H), x.dtype) if h0 is None else h0  # (N, H)
    return x, h, np.full(N, T) if lengths is None else np.asarray(lengths)


def summed_bias(bias_ih, bias_hh, size: int, dtype) -> np.ndarray:
    """bias_ih + bias_hh (size,), either of them None counting as zeros."""
    bias = np.zeros(size, dtype)
    if bias_ih is not None:
        bias = bias + bias_ih
    if bias_hh is not None:
        bias = bias + bias_hh
    return bias


def backward_start(dout, dh_n, x, weight_ih, weight_hh, batch_first: bool):
    """dout time-major (T, N, H), zero accumulators dx (T, N, D), dweight_ih and dweight_hh
    (the weights' shapes), and dh_next = dh_n (N, H) in x's dtype."""
    dx = np.zeros(x.shape, x.dtype)
    return (time_major(dout, batch_first), dx, np.zeros_like(weight_ih),
            np.zeros_like(weight_hh), dh_n.astype(x.dtype, copy=True))


def input_grad(dx: np.ndarray, batch_first: bool, need_dx: bool):
    """dx (T, N, D) back in the input's layout, or None when the op needs no input gradient."""
    return time_major(dx, batch_first) if need_dx else None
