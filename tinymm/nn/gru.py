"""PyTorch's ``nn.GRU``: a stack of the single-layer op in ``ops/gru.py``.

Parameters, layout (gate order r, z, n: ``weight_ih_l{k}`` is (3H, D)), dropout between layers
and initialisation as PyTorch (see ``RNNBase`` in ``nn/rnn.py``). Derivation:
kernels/reference/gru.py. Dimension letters: T time, N batch, D input_size, H hidden_size,
L num_layers, K directions.
"""

from __future__ import annotations

from tinymm.nn.rnn import RNNBase
from tinymm.ops.gru import gru


class GRU(RNNBase):
    """PyTorch's ``nn.GRU``; ``forward(x, hx=None, lengths=None)``.

    ``hx`` is (L*K, N, H) or None for zeros. ``lengths`` (one int per batch item, 1..T) plays
    the part of ``pack_padded_sequence``; x may be a ``PackedSequence`` instead (nn.utils.rnn),
    and output is then packed the same way. Returns ``(output, h_n)``: output (T, N, K*H) (or
    (N, T, K*H) with batch_first), zeros at padded positions as ``pad_packed_sequence`` gives;
    h_n (L*K, N, H), each sequence's state at its own last real step.
    """

    gates = 3

    def forward(self, x, hx=None, lengths=None):
        unbatched = self._unbatched(x, hx, lengths)
        if unbatched is not None:
            return unbatched
        x, lengths, packed = self._unpack(x, lengths)
        x, lengths = self._check(x, [("hx", hx)], lengths)

        def step(layer_input, params, init_states, lengths, reverse):
            out, h_n = gru(layer_input, *params, hx=init_states[0], lengths=lengths,
                           batch_first=self.batch_first, reverse=reverse)
            return out, (h_n,)

        output, (h_n,) = self._run(x, (hx,), lengths, step)
        return self._repack(output, packed), h_n
