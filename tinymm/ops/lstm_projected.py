"""PyTorch's LSTM with projections (``nn.LSTM(proj_size=P)``, Sak et al.'s LSTMP): one layer,
one direction, a composition of Tensor ops over the time steps.

Dimension letters: T time, N batch, D input features, H hidden_size, P proj_size < H. The
equations are the LSTM's (kernels/reference/lstm.py, gate order i, f, g, o) with the hidden
state projected to P features before it is output and fed back::

    z_t = x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh          (N, 4H); W_hh is (4H, P)
    i, f, g, o = sigmoid(z_i), sigmoid(z_f), tanh(z_g), sigmoid(z_o)
    c_t = f * c_{t-1} + i * g                                (N, H)
    h_t = (o * tanh(c_t)) W_hr^T                             (N, P); W_hr is (P, H)

Autograd differentiates the composition (backpropagation through time by the Tensor ops'
backward kernels), and it runs where its inputs live. ``lengths`` and ``reverse`` follow the
LSTM op: a padded step keeps the state and outputs zeros; in reverse each sequence starts at
its own last real step (the masked steps before it leave the initial state unchanged).
"""

from __future__ import annotations

from tinymm.ops.shape import stack
from tinymm.tensor import Tensor, as_tensor, where


def _check(x: Tensor, weights: dict, h0, c0, N: int, H: int, P: int) -> None:
    D = x.shape[-1]
    expected = {"weight_ih": (4 * H, D), "weight_hh": (4 * H, P), "weight_hr": (P, H),
                "bias_ih": (4 * H,), "bias_hh": (4 * H,)}
    for name, w in weights.items():
        if w is not None and tuple(w.shape) != expected[name]:
            raise ValueError(f"lstm (proj_size={P}): {name} must have shape "
                             f"{expected[name]}, got {tuple(w.shape)}")
    for name, state, size in (("h0", h0, P), ("c0", c0, H)):
        if state is not None and tuple(state.shape) != (N, size):
            raise ValueError(f"lstm (proj_size={P}): {name} must have shape (N, {size}) = "
                             f"{(N, size)}, got {tuple(state.shape)}")


def lstm_projected(input, weight_ih, weight_hh, bias_ih, bias_hh, weight_hr, hx=None,  # noqa: A002
                   lengths=None, batch_first: bool = False, reverse: bool = False):
    """One layer and direction of an LSTM with projections: ``(output (T, N, P), (h_n (N, P),
    c_n (N, H)))`` (module docstring; lengths already validated by the layer)."""
    x = as_tensor(input)
    if batch_first:
        x = x.transpose(0, 1)  # (T, N, D)
    T, N = x.shape[0], x.shape[1]
    P, H = weight_hr.shape
    h, c = (None, None) if hx is None else hx
    _check(x, {"weight_ih": weight_ih, "weight_hh": weight_hh, "weight_hr": weight_hr,
               "bias_ih": bias_ih, "bias_hh": bias_hh}, h, c, N, H, P)
    h = x.new_zeros((N, P)) if h is None else h  # (N, P)
    c = x.new_zeros((N, H)) if c is None else c  # (N, H)
    zx = x @ weight_ih.t()  # (T, N, 4H): the input part of every step at once
    for b in (bias_ih, bias_hh):
        zx = zx if b is None else zx + b
    steps = range(T - 1, -1, -1) if reverse else range(T)
    real = None if lengths is None else as_tensor(lengths).to(x.device).reshape(N, 1)
    outputs = [None] * T
    for t in steps:
        z = zx[t] + h @ weight_hh.t()  # (N, 4H)
        i, f, g, o = z[:, :H].sigmoid(), z[:, H:2 * H].sigmoid(), z[:, 2 * H:3 * H].tanh(), \
            z[:, 3 * H:].sigmoid()
        c_new = f * c + i * g  # (N, H)
        h_new = (o * c_new.tanh()) @ weight_hr.t()  # (N, P)
        if real is None:
            h, c, outputs[t] = h_new, c_new, h_new
        else:
            live = real > t  # (N, 1) bool: a real step of each sequence
            h, c = where(live, h_new, h), where(live, c_new, c)
            outputs[t] = where(live, h_new, h_new * 0)
    out = stack(outputs, axis=1 if batch_first else 0)  # (T, N, P) or (N, T, P)
    return out, (h, c)
