"""LSTM op over a whole sequence, one layer and one direction.

Derivation (the forward equations, backpropagation through time, ``lengths``):
kernels/reference/lstm.py. Functional signature (``nn.LSTM`` calls it for each layer and
direction)::

    F.lstm(input, weight_ih, weight_hh, bias_ih=None, bias_hh=None, hx=None, lengths=None,
           batch_first=False, reverse=False) -> (output, (h_n, c_n))

    input    (T, N, D), or (N, T, D) with batch_first=True
    weight_ih (4H, D), weight_hh (4H, H), bias_ih / bias_hh (4H,) or None; PyTorch's layout
             and gate order i, f, g, o (the rows of weight_ih_l0 etc. of torch.nn.LSTM)
    hx       (h0, c0), each (N, H), or None (zeros)
    lengths  one int per batch item, 1 <= length <= T: padded steps neither update the state
             nor receive gradient, output is 0 there (as pad_packed_sequence), and (h_n, c_n)
             is the state after each sequence's own last real step
    reverse  run from the last step to the first (the backward direction of a bidirectional
             layer; with lengths each sequence starts at its own last real step)
    output   (T, N, H) or (N, T, H);  h_n, c_n (N, H)
"""

from __future__ import annotations

from tinymm.ops.rnn import Recurrence


class LSTM(Recurrence):
    kernel, gates, states = "lstm", 4, ("h0", "c0")

    @classmethod
    def forward(cls, ctx, x, h0, c0, weight_ih, weight_hh, bias_ih=None, bias_hh=None,
                lengths=None, batch_first=False, reverse=False):
        lengths = cls.check(x, (h0, c0), weight_ih, weight_hh, bias_ih, bias_hh, lengths,
                            batch_first)
        return cls.run(ctx, x, h0, c0, weight_ih, weight_hh, bias_ih, bias_hh, lengths=lengths,
                       batch_first=batch_first, reverse=reverse)  # out, h_n (N, H), c_n (N, H)


def lstm(input, weight_ih, weight_hh, bias_ih=None, bias_hh=None, hx=None, lengths=None,  # noqa: A002
         batch_first=False, reverse=False):
    """One layer, one direction of an LSTM; returns ``(output, (h_n, c_n))`` (module docstring)."""
    h0, c0 = (None, None) if hx is None else hx
    out, h_n, c_n = LSTM.apply(input, h0, c0, weight_ih, weight_hh, bias_ih, bias_hh,
                               lengths=lengths, batch_first=batch_first, reverse=reverse)
    return out, (h_n, c_n)
