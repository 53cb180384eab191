"""GRU op over a whole sequence, one layer and one direction.

Derivation (the forward equations, backpropagation through time, ``lengths``):
kernels/reference/gru.py. Functional signature (``nn.GRU`` calls it for each layer and
direction)::

    F.gru(input, weight_ih, weight_hh, bias_ih=None, bias_hh=None, hx=None, lengths=None,
          batch_first=False, reverse=False) -> (output, h_n)

    input    (T, N, D), or (N, T, D) with batch_first=True
    weight_ih (3H, D), weight_hh (3H, H), bias_ih / bias_hh (3H,) or None; PyTorch's layout
             and gate order r, z, n (the rows of weight_ih_l0 etc. of torch.nn.GRU)
    hx       (N, H) initial state or None (zeros)
    lengths  one int per batch item, 1 <= length <= T: padded steps neither update the state
             nor receive gradient, output is 0 there (as pad_packed_sequence), and h_n is the
             state after each sequence's own last real step
    reverse  run from the last step to the first (the backward direction of a bidirectional
             layer; with lengths each sequence starts at its own last real step)
    output   (T, N, H) or (N, T, H);  h_n (N, H)
"""

from __future__ import annotations

from tinymm.ops.rnn import Recurrence


class GRU(Recurrence):
    kernel, gates = "gru", 3

    @classmethod
    def forward(cls, ctx, x, h0, weight_ih, weight_hh, bias_ih=None, bias_hh=None, lengths=None,
                batch_first=False, reverse=False):
        lengths = cls.check(x, (h0,), weight_ih, weight_hh, bias_ih, bias_hh, lengths,
                            batch_first)
        return cls.run(ctx, x, h0, weight_ih, weight_hh, bias_ih, bias_hh, lengths=lengths,
                       batch_first=batch_first,
                       reverse=reverse)  # out (T, N, H) or (N, T, H), h_n (N, H)


def gru(input, weight_ih, weight_hh, bias_ih=None, bias_hh=None, hx=None, lengths=None,  # noqa: A002
        batch_first=False, reverse=False):
    """One layer, one direction of a GRU; returns ``(output, h_n)`` (module docstring)."""
    return GRU.apply(input, hx, weight_ih, weight_hh, bias_ih, bias_hh, lengths=lengths,
                     batch_first=batch_first, reverse=reverse)
