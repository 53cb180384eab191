"""Keras recurrent layers over ``nn.GRU`` / ``nn.RNN`` / ``nn.LSTM``: ``GRU``, ``SimpleRNN``
and ``Bidirectional`` (re-exported by ``keras.layers``; ``LSTM`` is in layers.py).

Dimension letters: N batch, T steps, D input features, U units, G = gates * U.

Keras's weights and PyTorch's, per direction:

    SimpleRNN  kernel (D, U) = W_ih^T, recurrent_kernel (U, U) = W_hh^T, bias (U,) = b_ih
               (one bias: PyTorch's b_hh is dropped, as for the LSTM)
    GRU        reset_after=True (Keras's default) is PyTorch's formula,
                   n = tanh(W_in x + b_in + r * (W_hn h + b_hn)),  h' = (1 - z) n + z h,
               with the gates stacked z, r, h in Keras and r, z, n in PyTorch:
               kernel (D, 3U) = W_ih[z; r; n]^T, recurrent_kernel (U, 3U) = W_hh[z; r; n]^T,
               bias (2, 3U) = [b_ih; b_hh] in the same gate order.

Initialisation as Keras: kernel glorot_uniform, recurrent_kernel orthogonal, bias zeros (the
LSTM's forget-gate bias 1). A mask from ``Embedding(mask_zero=True)`` becomes PyTorch-style
sequence lengths (right padding only), so each sequence's state is its last real step's.
``Bidirectional`` runs the wrapped layer's nn module with ``bidirectional=True`` and merges
the two directions (concat by default; the backward direction's "last" state is after it
has read step 0, as Keras's go_backwards layer returns).
"""

from __future__ import annotations

import numpy as np

from tinymm import nn
from tinymm.keras.engine import KerasTensor, Layer, weight_view
from tinymm.keras.initializers import Orthogonal
from tinymm.keras.layers import LSTM, carry_last_output, glorot_uniform_, known_dim, need_rank
from tinymm.ops.shape import concat
from tinymm.tensor import as_tensor


def mask_to_lengths(layer: str, mask) -> np.ndarray | None:
    """A right-padding mask (N, T) -> lengths (N,) (>= 1), refusing left padding."""
    if mask is None:
        return None
    mask = np.asarray(mask, dtype=bool)  # (N, T)
    lengths = mask.sum(axis=1)  # (N,)
    prefix = np.arange(mask.shape[1])[None, :] < lengths[:, None]  # (N, T)
    if not np.array_equal(prefix, mask):
        raise ValueError(f"{layer}: the mask has padding before real tokens; tinymm supports "
                         "right-padded sequences (pad with 0 at the end)")
    return np.maximum(lengths, 1)  # an all-padding row reads its first step


class _KerasRNN(Layer):
    """Shared by SimpleRNN and GRU: shapes, masks, return_sequences / return_state."""

    nn_class = None
    gates = 1
    constraint_args = ("kernel_constraint", "recurrent_constraint", "bias_constraint")
    keras_order = None  # PyTorch gate blocks in Keras's order (None: the same order)

    def __init__(self, units: int, return_sequences: bool = False, return_state: bool = False,
                 go_backwards: bool = False, activation="tanh", **kwargs):
        super().__init__(**kwargs)
        kind = type(self).__name__
        if not isinstance(units, (int, np.integer)) or units <= 0:
            raise ValueError(f"{kind}: units must be a positive int, got {units!r}")
        if go_backwards:
            raise ValueError(f"{kind}: go_backwards=True is not supported by tinymm.keras; "
                             "wrap the layer in Bidirectional")
        if activation != "tanh":
            raise ValueError(f"{kind}: activation={activation!r} is not supported by "
                             "tinymm.keras (only 'tanh')")
        self.units, self.return_sequences, self.return_state = int(units), return_sequences, \
            return_state

    def compute_output_shape(self, input_shape):
        kind = f"{type(self).__name__} '{self.name}'"
        need_rank(kind, input_shape, 3, "(N, T, D)")
        known_dim(kind, input_shape, -1, "feature (last)")
        N, T = input_shape[0], input_shape[1]
        out = (N, T, self.units) if self.return_sequences else (N, self.units)
        return [out, (N, self.units)] if self.return_state else out

    def _symbolic_mask(self, args) -> bool:
        return bool(self.return_sequences and isinstance(args[0], KerasTensor)
                    and args[0].has_mask)

    def build_module(self, input_shape):
        module = self.nn_class(int(input_shape[-1]), self.units, batch_first=True)
        keras_init(module, self.gates, self.keras_order, drop_hh_bias=self.gates == 1)
        return module

    def call(self, x, mask=None, initial_state=None):
        who = f"{type(self).__name__} '{self.name}'"
        lengths = mask_to_lengths(who, mask)
        h0 = None if initial_state is None else initial_states(who, initial_state, 1,
                                                                self.units)[0]
        output, h_n = self.module(x, h0, lengths=lengths)  # (N, T, U), (1, N, U)
        out = carry_last_output(output, lengths) if self.return_sequences else h_n[0]
        return [out, h_n[0]] if self.return_state else out

    def compute_mask(self, inputs, mask=None):
        return mask if self.return_sequences else None

    def keras_layout(self) -> list:
        return rnn_layout(self.module, "", self.gates, self.keras_order)

    def get_config(self) -> dict:
        return {**super().get_config(), "units": self.units,
                "return_sequences": self.return_sequences, "return_state": self.return_state}


def _reorder(order):
    def to_keras(w):
        U = w.shape[0] // len(order)
        return np.concatenate([w[i * U:(i + 1) * U] for i in order], axis=0)

    def from_keras(k):
        U = k.shape[0] // len(order)
        out = np.empty_like(k)
        for slot, i in enumerate(order):
            out[i * U:(i + 1) * U] = k[slot * U:(slot + 1) * U]
        return out

    return to_keras, from_keras


def initial_states(who: str, given, count: int, units: int) -> list:
    """Keras's ``initial_state=[h0(, c0)]`` (each (N, U)) as the nn module's (1, N, U)
    states."""
    states = list(given) if isinstance(given, (list, tuple)) else [given]
    if len(states) != count:
        raise ValueError(f"{who}: initial_state takes {count} tensor(s) of shape (N, {units}), "
                         f"got {len(states)}")
    out = []
    for s in states:
        s = as_tensor(s)
        if s.ndim != 2 or s.shape[1] != units:
            raise ValueError(f"{who}: each initial state must be (N, {units}), got "
                             f"{tuple(s.shape)}")
        out.append(s.reshape(1, s.shape[0], units))  # (1, N, U)
    return out


def rnn_layout(module, suffix: str, gates: int, order, level: str = "_l0") -> list:
    """Keras's (get, set) weight views of one direction of an nn recurrent module (of an nn
    cell with ``level=""``: its names have no layer index)."""
    w_ih = getattr(module, f"weight_ih{level}{suffix}")
    w_hh = getattr(module, f"weight_hh{level}{suffix}")
    b_ih = getattr(module, f"bias_ih{level}{suffix}")
    b_hh = getattr(module, f"bias_hh{level}{suffix}", None)
    to, frm = _reorder(order) if order is not None else (_same, _same)
    layout = [weight_view(w_ih, lambda w: to(w).T, lambda k: frm(k.T)),
              weight_view(w_hh, lambda w: to(w).T, lambda k: frm(k.T))]
    if b_hh is None:
        return layout + [weight_view(b_ih, to, frm)]

    def get():  # GRU: Keras's bias (2, G) is [b_ih; b_hh]
        return np.stack([to(b_ih.array), to(b_hh.array)])

    def put(k):
        b_ih.array[...], b_hh.array[...] = frm(k[0]), frm(k[1])

    get.params = (b_ih, b_hh)
    return layout + [(get, put)]


def _same(a):
    return a


def keras_init(module, gates: int, order, drop_hh_bias: bool) -> None:
    """Keras's initialisation of an nn recurrent module (every direction): kernels
    glorot_uniform in Keras's (D, G) layout, recurrent kernels orthogonal (U, G), biases 0."""
    U = module.hidden_size
    for suffix in module._suffixes():
        w_ih = getattr(module, f"weight_ih_l0{suffix}")
        D = w_ih.shape[1]
        glorot_uniform_(w_ih, D, gates * U)
        w_hh = getattr(module, f"weight_hh_l0{suffix}")
        w_hh.array[...] = Orthogonal()((U, gates * U)).T  # Keras's (U, G) -> (G, U)
        getattr(module, f"bias_ih_l0{suffix}").array[...] = 0
        if drop_hh_bias:
            module._parameters.pop(f"bias_hh_l0{suffix}")
            object.__setattr__(module, f"bias_hh_l0{suffix}", None)
        else:
            getattr(module, f"bias_hh_l0{suffix}").array[...] = 0


class SimpleRNN(_KerasRNN):
    """Keras SimpleRNN (tanh): ``nn.RNN`` with one bias."""

    nn_class = nn.RNN
    gates = 1


class GRU(_KerasRNN):
    """Keras GRU with reset_after=True: ``nn.GRU`` (gate order in the module docstring)."""

    nn_class = nn.GRU
    gates = 3
    keras_order = (1, 0, 2)  # Keras z, r, h = PyTorch blocks 1 (z), 0 (r), 2 (n)

    def __init__(self, units: int, reset_after: bool = True, **kwargs):
        if not reset_after:
            raise ValueError("GRU: reset_after=False is not supported by tinymm.keras (its "
                             "formula differs from PyTorch's GRU)")
        super().__init__(units, **kwargs)


class Bidirectional(Layer):
    """Run ``layer`` (LSTM, GRU or SimpleRNN) forwards and backwards and merge the two:
    merge_mode "concat" (default), "sum", "ave" or "mul"."""

    def __init__(self, layer, merge_mode: str = "concat", backward_layer=None, **kwargs):
        if not isinstance(layer, (LSTM, _KerasRNN)):
            raise TypeError(f"Bidirectional: wraps an LSTM, GRU or SimpleRNN layer, got "
                            f"{type(layer).__name__}")
        if backward_layer is not None:
            raise ValueError("Bidirectional: backward_layer= is not supported by tinymm.keras")
        if merge_mode not in ("concat", "sum", "ave", "mul"):
            raise ValueError(f"Bidirectional: merge_mode={merge_mode!r} is not supported "
                             "(concat, sum, ave, mul)")
        if layer.return_state:
            raise ValueError("Bidirectional: a wrapped layer with return_state=True is not "
                             "supported by tinymm.keras")
        kwargs.setdefault("name", f"bidirectional_{layer.name}")
        super().__init__(**kwargs)
        self.layer, self.merge_mode = layer, merge_mode

    @property
    def _gates(self) -> int:
        return 4 if isinstance(self.layer, LSTM) else self.layer.gates

    def compute_output_shape(self, input_shape):
        inner = self.layer.compute_output_shape(input_shape)
        width = 2 * self.layer.units if self.merge_mode == "concat" else self.layer.units
        return tuple(inner[:-1]) + (width,)

    def _symbolic_mask(self, args) -> bool:
        return self.layer._symbolic_mask(args)

    def build_module(self, input_shape):
        cls = {4: nn.LSTM, 3: nn.GRU, 1: nn.RNN}[self._gates]
        module = cls(int(input_shape[-1]), self.layer.units, batch_first=True,
                     bidirectional=True)
        keras_init(module, self._gates, getattr(self.layer, "keras_order", None),
                   drop_hh_bias=self._gates != 3)
        if self._gates == 4:
            for suffix in ("", "_reverse"):
                getattr(module, f"bias_ih_l0{suffix}").array[self.layer.units:
                                                             2 * self.layer.units] = 1.0
        return module

    def call(self, x, mask=None):
        U = self.layer.units
        lengths = mask_to_lengths(f"Bidirectional '{self.name}'", mask)
        output, state = self.module(x, lengths=lengths)  # (N, T, 2U), h_n or (h_n, c_n)
        h_n = state[0] if isinstance(state, tuple) else state  # (2, N, U)
        if self.layer.return_sequences:
            forward, backward = output[:, :, :U], output[:, :, U:]
        else:
            forward, backward = h_n[0], h_n[1]
        if self.merge_mode == "concat":
            return concat([forward, backward], axis=-1)
        if self.merge_mode == "sum":
            return forward + backward
        if self.merge_mode == "ave":
            return (forward + backward) * 0.5
        return forward * backward

    def compute_mask(self, inputs, mask=None):
        return mask if self.layer.return_sequences else None

    def keras_layout(self) -> list:
        order = getattr(self.layer, "keras_order", None)
        return [entry for suffix in ("", "_reverse")
                for entry in rnn_layout(self.module, suffix, self._gates, order)]

    def get_config(self) -> dict:
        return {**super().get_config(), "merge_mode": self.merge_mode,
                "layer": {"class_name": type(self.layer).__name__,
                          "config": self.layer.get_config()}}

    def __repr__(self) -> str:
        return f"<Bidirectional name={self.name} of {self.layer!r}>"


RECURRENT_LAYERS = {"GRU": GRU, "SimpleRNN": SimpleRNN, "Bidirectional": Bidirectional}
