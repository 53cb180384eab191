"""PyTorch's ``nn.LSTM``: a stack of the single-layer op in ``ops/lstm.py``.

Parameters, layout (gate order i, f, g, o) and initialisation as PyTorch (see ``RNNBase`` in
``nn/rnn.py``). With ``proj_size=P`` (PyTorch's LSTMP) each layer and direction also has
``weight_hr_l{k}`` (P, H), ``weight_hh_l{k}`` is (4H, P), and the layer runs the projected op
of ``ops/lstm_projected.py``. Dimension letters: T time, N batch, D input_size, H hidden_size,
L num_layers, K directions, P proj_size.
"""

from __future__ import annotations

import numpy as np

from tinymm.nn.rnn import RNNBase
from tinymm.ops.lstm import lstm
from tinymm.ops.lstm_projected import lstm_projected
from tinymm.tensor import Tensor


class LSTM(RNNBase):
    """PyTorch's ``nn.LSTM``; ``forward(x, hx=None, lengths=None)``.

    ``hx`` is ``(h0, c0)``, each (L*K, N, H), or None for zeros. ``lengths`` (one int per batch
    item, 1..T) plays the part of ``pack_padded_sequence``; x may be a ``PackedSequence``
    instead (nn.utils.rnn), and output is then packed the same way. Returns
    ``(output, (h_n, c_n))``: output (T, N, K*H) (or (N, T, K*H) with batch_first), zeros at
    padded positions as ``pad_packed_sequence`` gives; h_n and c_n (L*K, N, H) at each
    sequence's own last real step. With ``proj_size=P`` h0, h_n and the output's features
    are P wide instead of H (c0 and c_n stay H).
    """

    gates = 4

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 proj_size: int = 0, dtype=np.float32):
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, dtype, proj_size=proj_size)

    def forward(self, x, hx=None, lengths=None):
        unbatched = self._unbatched(x, hx, lengths)
        if unbatched is not None:
            return unbatched
        h0, c0 = (None, None) if hx is None else hx
        x, lengths, packed = self._unpack(x, lengths)
        x, lengths = self._check(x, [("h0", h0), ("c0", c0)], lengths)

        def step(layer_input, params, init_states, lengths, reverse):
            h0_k, c0_k = init_states
            if self.proj_size:
                return lstm_projected(layer_input, *params, hx=(h0_k, c0_k), lengths=lengths,
                                      batch_first=self.batch_first, reverse=reverse)
            if h0_k is None and c0_k is not None:
                h0_k = Tensor._make(np.zeros(c0_k.shape, c0_k.dtype))
            out, (h_n, c_n) = lstm(layer_input, *params, hx=(h0_k, c0_k), lengths=lengths,
                                   batch_first=self.batch_first, reverse=reverse)
            return out, (h_n, c_n)

        output, (h_n, c_n) = self._run(x, (h0, c0), lengths, step)
        return self._repack(output, packed), (h_n, c_n)
