"""``RNNBase`` (what every recurrent layer shares) and the Elman ``RNN`` layer.

``RNNBase`` builds a stack of layers x directions of a single-layer op (``ops/rnn.py``,
``ops/lstm.py``, ...) and owns the parameters; ``nn/lstm.py`` and the other recurrent layers
subclass it and only say how one layer runs.

PyTorch's constructor arguments, parameter names (``weight_ih_l{k}``, ``weight_hh_l{k}``,
``bias_ih_l{k}``, ``bias_hh_l{k}``, with ``_reverse`` for the second direction), layouts (gate
order i, f, g, o for the LSTM, r, z, n for the GRU) and default initialisation (every
parameter U(-1/sqrt(H), 1/sqrt(H))), so ``load_state_dict(torch_lstm.state_dict())``
reproduces torch's numbers. ``dropout`` is PyTorch's too: in ``train()`` mode the output of
every layer but the last goes through dropout before it feeds the next layer.

Dimension letters: T time, N batch, D input_size, H hidden_size, L num_layers, K directions.
"""

from __future__ import annotations

import math
import numbers
import warnings

import numpy as np

from tinymm.devices import is_device_array
from tinymm.nn import init
from tinymm.nn.module import Module, Parameter
from tinymm.nn.utils.rnn import PackedSequence, pack_as, pad_packed_sequence
from tinymm.ops.dropout import dropout as dropout_fn
from tinymm.ops.rnn import check_lengths, check_sequence_input, rnn
from tinymm.ops.shape import concat, stack
from tinymm.tensor import Tensor, from_data


class RNNBase(Module):
    gates = 1  # rows of weight_ih per hidden unit: 1 for RNN, 3 for GRU, 4 for LSTM

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 dtype=np.float32, proj_size: int = 0):
        super().__init__()
        kind = type(self).__name__
        if input_size <= 0 or hidden_size <= 0 or num_layers <= 0:
            raise ValueError(f"{kind}: input_size, hidden_size and num_layers must be positive, "
                             f"got {input_size}, {hidden_size}, {num_layers}")
        if isinstance(proj_size, bool) or not isinstance(proj_size, numbers.Integral) \
                or not 0 <= proj_size < hidden_size:
            raise ValueError(f"{kind}: proj_size must be an int in [0, hidden_size) = "
                             f"[0, {hidden_size}), got {proj_size!r}")
        if isinstance(dropout, bool) or not isinstance(dropout, numbers.Real) \
                or not 0 <= dropout <= 1:
            raise ValueError(f"{kind}: dropout must be a number in [0, 1] (the probability of "
                             f"zeroing an element between layers), got {dropout!r}")
        if dropout > 0 and num_layers == 1:
            warnings.warn(f"{kind}: dropout={dropout} acts between layers, so it does nothing "
                          "with num_layers=1 (as in PyTorch)", UserWarning, stacklevel=2)
        self.dropout = float(dropout)
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bias = bias
        self.batch_first = batch_first
        self.bidirectional = bidirectional
        self.num_directions = 2 if bidirectional else 1
        self.proj_size = int(proj_size)
        G, H = self.gates * hidden_size, hidden_size
        out_size = proj_size or H  # P with projections: what a layer outputs and feeds back
        for k in range(num_layers):
            layer_input = input_size if k == 0 else out_size * self.num_directions
            for suffix in self._suffixes():
                setattr(self, f"weight_ih_l{k}{suffix}",
                        Parameter(np.empty((G, layer_input), dtype)))  # (G, D)
                setattr(self, f"weight_hh_l{k}{suffix}",
                        Parameter(np.empty((G, out_size), dtype)))  # (G, H) or (G, P)
                if bias:
                    setattr(self, f"bias_ih_l{k}{suffix}", Parameter(np.empty(G, dtype)))
                    setattr(self, f"bias_hh_l{k}{suffix}", Parameter(np.empty(G, dtype)))
                if proj_size:
                    setattr(self, f"weight_hr_l{k}{suffix}",
                            Parameter(np.empty((proj_size, H), dtype)))  # (P, H)
        bound = 1.0 / math.sqrt(hidden_size)
        for p in self.parameters():
            init.uniform_(p, -bound, bound)

    def _suffixes(self) -> tuple[str, ...]:
        return ("", "_reverse") if self.bidirectional else ("",)

    def _name(self) -> str:
        return (f"{type(self).__name__}(input_size={self.input_size}, "
                f"hidden_size={self.hidden_size})")

    def _layer_params(self, k: int, suffix: str):
        def get(prefix):
            return getattr(self, f"{prefix}_l{k}{suffix}", None)

        params = get("weight_ih"), get("weight_hh"), get("bias_ih"), get("bias_hh")
        return params + (get("weight_hr"),) if self.proj_size else params

    def _state_size(self, what: str) -> int:
        """The last dim of an initial state: P for an LSTM's h0 with projections, else H."""
        return self.proj_size if self.proj_size and what == "h0" else self.hidden_size

    def _check(self, x, hx_parts, lengths):
        """Validate everything before any kernel runs; returns (x Tensor, lengths array)."""
        x = x if isinstance(x, Tensor) else from_data(x)
        name = self._name()
        T, N = check_sequence_input(name, x.array, self.input_size, self.batch_first)
        # device lengths: the range check costs a copy back, and each layer's op makes it
        # before its kernel runs, so the layer checks only their dtype and shape
        lengths = check_lengths(name, lengths, N, T,
                                check_range=not is_device_array(getattr(lengths, "array",
                                                                        lengths)))
        for what, state in hx_parts:
            expected = (self.num_layers * self.num_directions, N, self._state_size(what))
            size = "proj_size" if expected[2] != self.hidden_size else "hidden_size"
            if state is not None and tuple(state.shape) != expected:
                raise ValueError(f"{name}: {what} must have shape (num_layers * num_directions, "
                                 f"N, {size}) = {expected}, got {tuple(state.shape)}")
        return x, lengths

    def _unbatched(self, x, hx, lengths):
        """PyTorch's unbatched call, x (T, D) and states (L*K, H), as a batch of one: the
        output (T, K*H) and the final states (L*K, H); None for any other input."""
        if getattr(x, "ndim", None) != 2 or lengths is not None:
            return None
        axis = 0 if self.batch_first else 1

        def states(hx, change):
            if isinstance(hx, tuple):
                return tuple(None if h is None else change(h) for h in hx)
            return None if hx is None else change(hx)

        x = x if isinstance(x, Tensor) else from_data(x)
        out, h = self.forward(x.unsqueeze(axis), states(hx, lambda h: h.unsqueeze(1)))
        return out.squeeze(axis), states(h, lambda h: h.squeeze(1))

    def _unpack(self, x, lengths):
        """A ``PackedSequence`` input as (padded batch in the layer's layout, its lengths, the
        packed input); any other input as (x, lengths, None)."""
        if not isinstance(x, PackedSequence):
            return x, lengths, None
        if lengths is not None:
            raise ValueError(f"{self._name()}: a PackedSequence carries its lengths; pass "
                             "lengths=None with it")
        padded, lengths = pad_packed_sequence(x, batch_first=self.batch_first)
        return padded, lengths.array, x

    def _repack(self, output, packed):
        """The output packed like the input when the input was a ``PackedSequence``."""
        return output if packed is None else pack_as(output, packed, self.batch_first)

    def _run(self, x, states, lengths, step):
        """Run every layer and direction; ``step`` is the single-layer op call.

        ``states``: a tuple of initial-state tensors (L*K, N, H) or Nones. Returns the last
        layer's output and, per state, the final states stacked to (L*K, N, H).
        """
        layer_input = x
        finals: list[list] = [[] for _ in states]
        for k in range(self.num_layers):
            outputs = []
            for d, suffix in enumerate(self._suffixes()):
                index = k * self.num_directions + d
                init_states = tuple(None if s is None else s[index] for s in states)
                out, final = step(layer_input, self._layer_params(k, suffix), init_states,
                                  lengths, reverse=d == 1)
                outputs.append(out)
                for slot, f in zip(finals, final):
                    slot.append(f)
            layer_input = outputs[0] if len(outputs) == 1 else concat(outputs, axis=-1)
            if self.dropout > 0 and self.training and k < self.num_layers - 1:
                layer_input = dropout_fn(layer_input, self.dropout)  # between layers only
        # one layer and direction: its (N, H) state as (1, N, H), a view instead of a stack's copy
        return layer_input, tuple(slot[0].unsqueeze(0) if len(slot) == 1 else stack(slot, axis=0)
                                  for slot in finals)

    def extra_repr(self) -> str:
        extras = "".join([
            f", proj_size={self.proj_size}" if self.proj_size else "",
            f", num_layers={self.num_layers}" if self.num_layers != 1 else "",
            ", bias=False" if not self.bias else "",
            ", batch_first=True" if self.batch_first else "",
            f", dropout={self.dropout}" if self.dropout else "",
            ", bidirectional=True" if self.bidirectional else "",
        ])
        return f"{self.input_size}, {self.hidden_size}{extras}"


class RNN(RNNBase):
    """PyTorch's ``nn.RNN`` (Elman, tanh or relu); ``forward(x, hx=None, lengths=None)``.

    x may be a ``PackedSequence`` (nn.utils.rnn) instead of x and lengths; output is then packed
    the same way. Returns ``(output, h_n)``: output (T, N, K*H) (or (N, T, K*H) with
    batch_first), zeros at padded positions; h_n (L*K, N, H), each sequence's state at its own
    last real step.
    """

    gates = 1

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 nonlinearity: str = "tanh", bias: bool = True, batch_first: bool = False,
                 dropout: float = 0.0, bidirectional: bool = False, dtype=np.float32):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNN: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, dtype)
        self.nonlinearity = nonlinearity

    def forward(self, x, hx=None, lengths=None):
        unbatched = self._unbatched(x, hx, lengths)
        if unbatched is not None:
            return unbatched
        x, lengths, packed = self._unpack(x, lengths)
        x, lengths = self._check(x, [("hx", hx)], lengths)

        def step(layer_input, params, init_states, lengths, reverse):
            out, h_n = rnn(layer_input, *params, hx=init_states[0], lengths=lengths,
                           nonlinearity=self.nonlinearity, batch_first=self.batch_first,
                           reverse=reverse)
            return out, (h_n,)

        output, (h_n,) = self._run(x, (hx,), lengths, step)
        return self._repack(output, packed), h_n
