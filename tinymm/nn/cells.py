"""PyTorch's recurrent cells ``nn.RNNCell``, ``nn.LSTMCell`` and ``nn.GRUCell``: one time step.

Each cell runs the sequence op of its layer (``ops/rnn.py``, ``ops/lstm.py``, ``ops/gru.py``)
on a length-1 sequence, so a cell gets the same kernels (and backward) as the layer.
Parameters as PyTorch: ``weight_ih`` (G*H, D), ``weight_hh`` (G*H, H), ``bias_ih`` and
``bias_hh`` (G*H,) with G = 1, 4 (gate order i, f, g, o) or 3 (r, z, n), every one drawn from
U(-1/sqrt(H), 1/sqrt(H)), so ``load_state_dict(torch_cell.state_dict())`` reproduces torch.

Dimension letters: N batch, D input_size, H hidden_size. Input (N, D), or (D,) for one
unbatched sample (the state is then (H,) too).
"""

from __future__ import annotations

import math

import numpy as np

from tinymm.nn import init
from tinymm.nn.module import Module, Parameter
from tinymm.ops.gru import gru
from tinymm.ops.lstm import lstm
from tinymm.ops.rnn import rnn
from tinymm.tensor import Tensor, as_tensor


class RNNCellBase(Module):
    gates = 1  # rows of weight_ih per hidden unit

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, dtype=np.float32):
        super().__init__()
        if input_size <= 0 or hidden_size <= 0:
            raise ValueError(f"{type(self).__name__}: input_size and hidden_size must be "
                             f"positive, got {input_size}, {hidden_size}")
        self.input_size, self.hidden_size, self.bias = input_size, hidden_size, bias
        G = self.gates * hidden_size
        self.weight_ih = Parameter(np.empty((G, input_size), dtype))  # (G, D)
        self.weight_hh = Parameter(np.empty((G, hidden_size), dtype))  # (G, H)
        if bias:
            self.bias_ih = Parameter(np.empty(G, dtype))
            self.bias_hh = Parameter(np.empty(G, dtype))
        else:
            self.register_parameter("bias_ih", None)  # PyTorch: the names stay, as None
            self.register_parameter("bias_hh", None)
        bound = 1.0 / math.sqrt(hidden_size)
        for p in self.parameters():
            init.uniform_(p, -bound, bound)

    def _params(self):
        return self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh

    def _batched(self, x, states):
        """(x (1, N, D) as a length-1 sequence, the states as (N, H) or None, whether the input
        was one unbatched sample); validates shapes before any op runs."""
        name = type(self).__name__
        x = as_tensor(x)
        if x.ndim not in (1, 2):
            raise ValueError(f"{name}: expected input to be 1-d (input_size,) or 2-d "
                             f"(N, input_size), got {x.ndim}-d shape {tuple(x.shape)}")
        if x.shape[-1] != self.input_size:
            raise ValueError(f"{name}: input has {x.shape[-1]} features (shape "
                             f"{tuple(x.shape)}) but the cell expects "
                             f"input_size={self.input_size}")
        unbatched = x.ndim == 1
        x = x.unsqueeze(0) if unbatched else x  # (N, D)
        expected = (x.shape[0], self.hidden_size)
        out = []
        for state in states:
            if state is not None:
                state = as_tensor(state)
                state = state.unsqueeze(0) if unbatched else state
                if tuple(state.shape) != expected:
                    raise ValueError(f"{name}: the hidden state must have shape {expected} "
                                     f"(N, hidden_size) for this input, got "
                                     f"{tuple(state.shape)}")
            out.append(state)
        return x.unsqueeze(0), out, unbatched  # x (1, N, D)

    @staticmethod
    def _unbatch(state: Tensor, unbatched: bool) -> Tensor:
        return state.squeeze(0) if unbatched else state  # (N, H) or (H,)

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}" + ("" if self.bias else ", bias=False")


class RNNCell(RNNCellBase):
    """PyTorch's ``nn.RNNCell``: h' = act(x W_ih^T + b_ih + h W_hh^T + b_hh); forward(x, hx)."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 nonlinearity: str = "tanh", dtype=np.float32):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNNCell: nonlinearity must be 'tanh' or 'relu', got "
                             f"{nonlinearity!r}")
        super().__init__(input_size, hidden_size, bias, dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input, hx=None):  # noqa: A002 - PyTorch's argument name
        x, (h,), unbatched = self._batched(input, [hx])
        _, h_n = rnn(x, *self._params(), hx=h, nonlinearity=self.nonlinearity)
        return self._unbatch(h_n, unbatched)  # (N, H)


class LSTMCell(RNNCellBase):
    """PyTorch's ``nn.LSTMCell``: forward(x, (h, c)) -> (h', c'), gate order i, f, g, o."""

    gates = 4

    def forward(self, input, hx=None):  # noqa: A002
        h, c = (None, None) if hx is None else hx
        x, (h, c), unbatched = self._batched(input, [h, c])
        _, (h_n, c_n) = lstm(x, *self._params(), hx=(h, c))
        return self._unbatch(h_n, unbatched), self._unbatch(c_n, unbatched)  # (N, H) each


class GRUCell(RNNCellBase):
    """PyTorch's ``nn.GRUCell``: forward(x, h) -> h', gate order r, z, n."""

    gates = 3

    def forward(self, input, hx=None):  # noqa: A002
        x, (h,), unbatched = self._batched(input, [hx])
        _, h_n = gru(x, *self._params(), hx=h)
        return self._unbatch(h_n, unbatched)  # (N, H)
