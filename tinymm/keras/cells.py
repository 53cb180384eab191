"""Keras recurrent cells and the ``RNN`` layer that runs one over time (re-exported by
``keras.layers``): ``SimpleRNNCell``, ``LSTMCell`` and ``GRUCell`` over ``nn.RNNCell`` /
``nn.LSTMCell`` / ``nn.GRUCell``, and ``RNN(cell)`` for those or for any custom cell.

Dimension letters: N batch, T steps, D input features, U units.

A cell is a layer with ``state_size`` (an int, or a list: LSTM's [U, U]) whose
``call(inputs, states)`` maps one step's input (N, D) and its list of states to
``(output, new_states)``. ``RNN`` starts from zero states (or ``initial_state=``), calls the
cell at t = 0..T-1 (T-1..0 with ``go_backwards``), and returns the last output, or every
output (N, T, U) with ``return_sequences``, plus the final states with ``return_state``.
Under a mask (N, T) a masked step keeps the previous output and states, as Keras does.

The cells' weights are Keras's (layouts and initialisation as the full layers in
recurrent.py and layers.py): kernel (D, G), recurrent_kernel (U, G) and bias (G,) (GRU:
(2, G), reset_after=True), gate order i, f, c, o for the LSTM (PyTorch's i, f, g, o) and
z, r, h for the GRU (PyTorch's r, z, n); one bias for SimpleRNN and LSTM.
"""

from __future__ import annotations

import numpy as np

from tinymm import nn
from tinymm.keras.engine import Layer
from tinymm.keras.initializers import Orthogonal
from tinymm.keras.layers import glorot_uniform_, known_dim, need_rank
from tinymm.keras.recurrent import rnn_layout
from tinymm.ops.shape import stack
from tinymm.tensor import from_numpy


class _KerasCell(Layer):
    nn_class = None
    gates = 1
    keras_order = None
    one_bias = True

    def __init__(self, units: int, activation="tanh", recurrent_activation="sigmoid",
                 use_bias: bool = True, **kwargs):
        super().__init__(**kwargs)
        kind = type(self).__name__
        if not isinstance(units, (int, np.integer)) or units <= 0:
            raise ValueError(f"{kind}: units must be a positive int, got {units!r}")
        if activation != "tanh" or recurrent_activation != "sigmoid" or not use_bias:
            raise ValueError(f"{kind}: only activation='tanh', recurrent_activation='sigmoid' "
                             "and use_bias=True are supported by tinymm.keras")
        self.units = int(units)

    @property
    def state_size(self):
        return self.units

    @property
    def output_size(self) -> int:
        return self.units

    def compute_output_shape(self, input_shape):
        need_rank(f"{type(self).__name__} '{self.name}'", input_shape, 2, "(N, D)")
        known_dim(f"{type(self).__name__} '{self.name}'", input_shape, -1, "feature (last)")
        return (input_shape[0], self.units)

    def build_module(self, input_shape):
        D, U = int(input_shape[-1]), self.units
        module = self.nn_class(D, U)
        glorot_uniform_(module.weight_ih, D, self.gates * U)  # Keras's kernel (D, G)
        module.weight_hh.array[...] = Orthogonal()((U, self.gates * U)).T  # (G, U)
        module.bias_ih.array[...] = 0
        module.bias_hh.array[...] = 0
        if self.gates == 4:
            module.bias_ih.array[U:2 * U] = 1.0  # unit_forget_bias
        if self.one_bias:  # Keras has one bias: bias_ih carries it alone
            module._parameters.pop("bias_hh")
            object.__setattr__(module, "bias_hh", None)
        return module

    def keras_layout(self) -> list:
        return rnn_layout(self.module, "", self.gates, self.keras_order, level="")

    def get_config(self) -> dict:
        return {**super().get_config(), "units": self.units}


class SimpleRNNCell(_KerasCell):
    nn_class = nn.RNNCell

    def call(self, inputs, states):
        h = self.module(inputs, states[0])  # (N, U)
        return h, [h]


class LSTMCell(_KerasCell):
    nn_class = nn.LSTMCell
    gates = 4

    @property
    def state_size(self):
        return [self.units, self.units]

    def call(self, inputs, states):
        h, c = self.module(inputs, (states[0], states[1]))  # (N, U) each
        return h, [h, c]


class GRUCell(_KerasCell):
    nn_class = nn.GRUCell
    gates = 3
    keras_order = (1, 0, 2)  # Keras z, r, h = PyTorch blocks 1 (z), 0 (r), 2 (n)
    one_bias = False

    def __init__(self, units: int, reset_after: bool = True, **kwargs):
        if not reset_after:
            raise ValueError("GRUCell: reset_after=False is not supported by tinymm.keras")
        super().__init__(units, **kwargs)

    def call(self, inputs, states):
        h = self.module(inputs, states[0])  # (N, U)
        return h, [h]


def _sizes(cell) -> list[int]:
    size = cell.state_size
    return [int(s) for s in size] if isinstance(size, (list, tuple)) else [int(size)]


def _output_size(cell) -> int:
    size = getattr(cell, "output_size", None)
    return int(size) if size is not None else _sizes(cell)[0]


class RNN(Layer):
    """Runs ``cell`` over the time axis of (N, T, D) (see the module docstring)."""

    def __init__(self, cell, return_sequences: bool = False, return_state: bool = False,
                 go_backwards: bool = False, stateful: bool = False, unroll: bool = False,
                 **kwargs):
        super().__init__(**kwargs)
        if isinstance(cell, dict):  # from get_config
            from tinymm.keras.layers import LAYERS
            from tinymm.keras.utils import custom_objects_by_name

            registry = {**LAYERS, **custom_objects_by_name()}
            cell = registry[cell["class_name"]](**cell["config"])
        if isinstance(cell, (list, tuple)) or not hasattr(cell, "state_size"):
            raise ValueError(f"RNN: cell must be one cell layer with a state_size (a list of "
                             f"cells is not supported), got {type(cell).__name__}")
        if stateful:
            raise ValueError("RNN: stateful=True is not supported by tinymm.keras")
        self.cell, self.return_sequences = cell, bool(return_sequences)
        self.return_state, self.go_backwards = bool(return_state), bool(go_backwards)

    def compute_output_shape(self, input_shape):
        need_rank(f"RNN '{self.name}'", input_shape, 3, "(N, T, D)")
        known_dim(f"RNN '{self.name}'", input_shape, -1, "feature (last)")
        N, T, U = input_shape[0], input_shape[1], _output_size(self.cell)
        out = (N, T, U) if self.return_sequences else (N, U)
        if not self.return_state:
            return out
        return [out] + [(N, s) for s in _sizes(self.cell)]

    def build_module(self, input_shape):
        self.cell._maybe_build((input_shape[0], input_shape[-1]))
        return self.cell.module

    def _symbolic_mask(self, args) -> bool:
        return bool(self.return_sequences and getattr(args[0], "has_mask", False))

    def call(self, x, mask=None, initial_state=None):
        N, T = x.shape[0], x.shape[1]
        states = list(initial_state) if initial_state is not None else [
            from_numpy(np.zeros((N, s), dtype=x.dtype)) for s in _sizes(self.cell)]
        if len(states) != len(_sizes(self.cell)):
            raise ValueError(f"RNN '{self.name}': initial_state has {len(states)} tensors, "
                             f"the cell has {len(_sizes(self.cell))} states")
        keep = None if mask is None else np.asarray(mask, dtype=bool)  # (N, T)
        output, outputs = None, []
        for t in (range(T - 1, -1, -1) if self.go_backwards else range(T)):
            out, new = self.cell.call(x[:, t], states)
            new = list(new) if isinstance(new, (list, tuple)) else [new]
            if keep is not None:
                m = from_numpy(keep[:, t:t + 1].astype(x.dtype))  # (N, 1): 1 = a real step
                previous = output if output is not None else out * 0.0
                out = out * m + previous * (1.0 - m)
                new = [a * m + b * (1.0 - m) for a, b in zip(new, states)]
            output, states = out, new
            outputs.append(out)
        result = stack(outputs, axis=1) if self.return_sequences else output  # (N, T, U)
        return [result, *states] if self.return_state else result

    def compute_mask(self, inputs, mask=None):
        return mask if self.return_sequences else None

    def keras_layout(self) -> list:
        return self.cell.keras_layout()

    def get_config(self) -> dict:
        return {**super().get_config(), "cell": {"class_name": type(self.cell).__name__,
                                                 "config": self.cell.get_config()},
                "return_sequences": self.return_sequences, "return_state": self.return_state,
                "go_backwards": self.go_backwards}

    def __repr__(self) -> str:
        return f"<RNN name={self.name}, cell={self.cell!r}, built={self.built}>"


CELL_LAYERS = {cls.__name__: cls for cls in (SimpleRNNCell, LSTMCell, GRUCell, RNN)}
__all__ = sorted(CELL_LAYERS)
