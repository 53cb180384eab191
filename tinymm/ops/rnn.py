"""Elman RNN op over a whole sequence, one layer and one direction.

Derivation: kernels/reference/rnn.py. Functional signature (documented here, used by
``nn.RNN`` for each layer and direction)::

    F.rnn(input, weight_ih, weight_hh, bias_ih=None, bias_hh=None, hx=None, lengths=None,
          nonlinearity="tanh", batch_first=False, reverse=False) -> (output, h_n)

    input    (T, N, D), or (N, T, D) with batch_first=True
    weight_ih (H, D), weight_hh (H, H), bias_ih / bias_hh (H,) or None
    hx       (N, H) initial state or None (zeros)
    lengths  one int per batch item, 1 <= length <= T: padded steps neither update the state
             nor receive gradient, output is 0 there, h_n is the state at each sequence's last
             real step
    reverse  run from the last step to the first (the backward direction of a bidirectional
             layer; with lengths each sequence starts at its own last real step)
    output   (T, N, H) or (N, T, H);  h_n (N, H)

The checks shared with the LSTM (input layout, lengths, initial state) live here too.
"""

from __future__ import annotations

import numpy as np

from tinymm.devices import is_device_array
from tinymm.ops._checks import as_int64, check_float, check_ndim, check_same_dtype, int_bounds
from tinymm.ops._kernel import KernelFunction


def check_sequence_input(name: str, x: np.ndarray, input_size: int,
                         batch_first: bool) -> tuple[int, int]:
    """x must be 3-d with input_size features; returns (T, N)."""
    layout = "(N, T, input_size)" if batch_first else "(T, N, input_size)"
    if x.ndim != 3:
        hint = "; add a batch axis with unsqueeze" if x.ndim == 2 else ""
        raise ValueError(f"{name}: input must be 3-d {layout} (batch_first={batch_first}), got "
                         f"shape {x.shape}{hint}")
    check_float(name, "input", x)
    if x.shape[2] != input_size:
        raise ValueError(f"{name}: input has {x.shape[2]} features (shape {x.shape}) but the "
                         f"layer expects input_size={input_size}; match the previous layer's "
                         "output size")
    if batch_first:
        return x.shape[1], x.shape[0]
    return x.shape[0], x.shape[1]


def check_lengths(name: str, lengths, N: int, T: int, check_range: bool = True):
    """lengths as N int64 values in [1, T] where they live (a NumPy array, or a device array
    for a cuda tensor: its range checked with one counted 16-byte copy back), or None.
    ``check_range=False`` checks the dtype and shape only (a layer whose op checks the range
    before its kernel runs)."""
    if lengths is None:
        return None
    raw = getattr(lengths, "array", lengths)
    array = raw if is_device_array(raw) else np.asarray(raw)
    if array.dtype.kind not in "iu":
        raise ValueError(f"{name}: lengths must be integers (one per batch item), got dtype "
                         f"{array.dtype}")
    if tuple(array.shape) != (N,):
        raise ValueError(f"{name}: lengths must have shape ({N},), one per batch item, got "
                         f"shape {tuple(array.shape)}")
    array = as_int64(name, "lengths", array)
    bounds = int_bounds(array) if check_range else None
    if bounds is not None and (bounds[0] < 1 or bounds[1] > T):
        worst = bounds[0] if bounds[0] < 1 else bounds[1]
        shown = "" if is_device_array(array) else f" in lengths {array.tolist()}"
        raise ValueError(f"{name}: every length must be between 1 and T={T} (the padded "
                         f"sequence length), got {worst}{shown}")
    return array


def check_state(name: str, what: str, state: np.ndarray | None, N: int, H: int,
                dtype: np.dtype) -> None:
    if state is None:
        return
    if state.shape != (N, H):
        raise ValueError(f"{name}: {what} must have shape (N, H) = ({N}, {H}), got "
                         f"{state.shape}")
    if state.dtype != dtype:
        raise TypeError(f"{name}: {what} must be {dtype} like the input, got {state.dtype}")


def check_weights(name: str, x: np.ndarray, gates: int, weight_ih, weight_hh, bias_ih,
                  bias_hh) -> int:
    """Shapes of one layer's weights ((gates*H, D), (gates*H, H), (gates*H,)); returns H."""
    check_ndim(name, "weight_hh", weight_hh, 2, f"({gates}*hidden_size, hidden_size)")
    H = weight_hh.shape[1]
    check_ndim(name, "weight_ih", weight_ih, 2, f"({gates}*hidden_size, input_size)")
    if weight_hh.shape != (gates * H, H) or weight_ih.shape[0] != gates * H:
        raise ValueError(f"{name}: weight_hh must be ({gates}*H, H) and weight_ih ({gates}*H, D);"
                         f" got weight_hh {weight_hh.shape}, weight_ih {weight_ih.shape}")
    for bias_name, bias in (("bias_ih", bias_ih), ("bias_hh", bias_hh)):
        if bias is not None and bias.shape != (gates * H,):
            raise ValueError(f"{name}: {bias_name} must have shape ({gates * H},), got "
                             f"{bias.shape}")
    check_same_dtype(name, input=x, weight_ih=weight_ih, weight_hh=weight_hh, bias_ih=bias_ih,
                     bias_hh=bias_hh)
    return H


class Recurrence(KernelFunction):
    """A recurrence over a whole sequence (``rnn``, ``lstm``, ``gru``): ``gates`` weight blocks
    of H rows, the initial states named in ``states``. ``check`` validates a call; the backward
    kernel gets the gradients of every output and whether the input needs one."""

    gates = 1
    states = ("hx",)
    finite_only = True

    @classmethod
    def check(cls, x, states, weight_ih, weight_hh, bias_ih, bias_hh, lengths, batch_first):
        """Validate the call; return lengths as the kernels take them."""
        op = cls.kernel
        rows = "hidden_size" if cls.gates == 1 else f"{cls.gates}*hidden_size"
        check_ndim(op, "weight_ih", weight_ih, 2, f"({rows}, input_size)")
        T, N = check_sequence_input(op, x, weight_ih.shape[1], batch_first)
        H = check_weights(op, x, cls.gates, weight_ih, weight_hh, bias_ih, bias_hh)
        for name, state in zip(cls.states, states):
            check_state(op, name, state, N, H, x.dtype)
        return check_lengths(op, lengths, N, T)

    @classmethod
    def backward(cls, ctx, *grads):
        return getattr(ctx.backend, f"{cls.kernel}_backward")(grads, *ctx.saved,
                                                             need_dx=ctx.needs_input_grad[0])


class RNN(Recurrence):
    kernel = "rnn"

    @classmethod
    def forward(cls, ctx, x, h0, weight_ih, weight_hh, bias_ih=None, bias_hh=None, lengths=None,
                nonlinearity="tanh", batch_first=False, reverse=False):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"rnn: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        lengths = cls.check(x, (h0,), weight_ih, weight_hh, bias_ih, bias_hh, lengths,
                            batch_first)
        return cls.run(ctx, x, h0, weight_ih, weight_hh, bias_ih, bias_hh, lengths=lengths,
                       nonlinearity=nonlinearity, batch_first=batch_first,
                       reverse=reverse)  # out (T, N, H) or (N, T, H), h_n (N, H)


def rnn(input, weight_ih, weight_hh, bias_ih=None, bias_hh=None, hx=None, lengths=None,  # noqa: A002
        nonlinearity="tanh", batch_first=False, reverse=False):
    """One layer, one direction of an Elman RNN; returns ``(output, h_n)`` (module docstring)."""
    return RNN.apply(input, hx, weight_ih, weight_hh, bias_ih, bias_hh, lengths=lengths,
                     nonlinearity=nonlinearity, batch_first=batch_first, reverse=reverse)
