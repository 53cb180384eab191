"""PyTorch's Transformer modules, built on nn.MultiheadAttention, Linear, LayerNorm and Dropout.

Dimension letters: N batch, S source length, T target length, E d_model, F dim_feedforward.
Layouts as PyTorch's: (S, N, E) / (T, N, E), or (N, S, E) / (N, T, E) with batch_first=True,
or unbatched (S, E).

One encoder layer (post-norm, the default; norm_first=True moves each LayerNorm in front of
its block and keeps the residual un-normalised):

    x = norm1(x + dropout1(self_attn(x, x, x, src_mask, src_key_padding_mask)))
    x = norm2(x + dropout2(linear2(dropout(activation(linear1(x))))))

A decoder layer adds ``multihead_attn(x, memory, memory)`` between the two, with its own
norm and dropout (norm2, dropout2; the feed-forward block then uses norm3, dropout3).
Submodule and parameter names are PyTorch's, so a torch ``state_dict`` loads as it is.

Masks follow nn.MultiheadAttention: bool True = not allowed, float masks added to the scores
(``Transformer.generate_square_subsequent_mask`` gives the float causal mask). ``is_causal``
is, as in PyTorch, a hint that the given mask is causal; where no mask is given, tinymm builds
the causal mask (PyTorch asks for one).
"""

from __future__ import annotations

import copy

import numpy as np

from tinymm.nn import init
from tinymm.nn.attention import MultiheadAttention
from tinymm.nn.container import ModuleList
from tinymm.nn.dropout import Dropout
from tinymm.nn.layer_norm import LayerNorm
from tinymm.nn.linear import Linear
from tinymm.nn.module import Module
from tinymm.ops.activation import gelu, relu
from tinymm.tensor import Tensor, from_numpy


def _gelu(x):
    return gelu(x, approximate="none")


def _activation(name: str, activation):
    if callable(activation):
        return activation
    if activation == "relu":
        return relu
    if activation == "gelu":
        return _gelu
    raise ValueError(f"{name}: activation must be 'relu', 'gelu' or a callable, got "
                     f"{activation!r}")


def _causal_mask(size: int, dtype) -> Tensor:
    """(size, size) float mask: 0 on and below the diagonal, -inf above (a position may see
    itself and earlier positions only)."""
    upper = np.triu(np.ones((size, size), dtype=bool), k=1)
    return from_numpy(np.where(upper, -np.inf, 0.0).astype(dtype))


def _check_input(name: str, label: str, x, d_model: int) -> None:
    if not isinstance(x, Tensor):
        raise TypeError(f"{name}: {label} must be a Tensor, got {type(x).__name__}")
    if x.ndim not in (2, 3) or x.shape[-1] != d_model:
        raise ValueError(f"{name}: {label} must be 3-d (L, N, d_model) / (N, L, d_model) or "
                         f"2-d (L, d_model) with d_model = {d_model}, got shape "
                         f"{tuple(x.shape)}")


def _sequence_length(x, batch_first: bool) -> int:
    return x.shape[1] if (batch_first and x.ndim == 3) else x.shape[0]


def _mask_or_causal(mask, is_causal, x, batch_first: bool):
    if mask is None and is_causal:
        return _causal_mask(_sequence_length(x, batch_first), x.dtype)
    return mask


class _Layer(Module):
    """What the encoder and decoder layers share: the attention, feed-forward and norms."""

    def _build(self, name, d_model, nhead, dim_feedforward, dropout, activation,
               layer_norm_eps, batch_first, norm_first, bias, dtype, attention_names,
               norm_count):
        self._label = f"{name}(d_model={d_model}, nhead={nhead})"
        for attr in attention_names:
            setattr(self, attr, MultiheadAttention(d_model, nhead, dropout, bias=bias,
                                                   batch_first=batch_first, dtype=dtype))
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, dtype=dtype)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, dtype=dtype)
        self.norm_first = norm_first
        self.batch_first = batch_first
        self.d_model = d_model
        for i in range(1, norm_count + 1):
            setattr(self, f"norm{i}", LayerNorm(d_model, eps=layer_norm_eps, bias=bias,
                                                dtype=dtype))
        for i in range(1, norm_count + 1):
            setattr(self, f"dropout{i}", Dropout(dropout))
        self.activation = _activation(self._label, activation)

    def _attend(self, attention, x, source, mask, key_padding_mask, drop):
        out = attention(x, source, source, attn_mask=mask, key_padding_mask=key_padding_mask,
                        need_weights=False)[0]
        return drop(out)

    def _feed_forward(self, x, drop):
        return drop(self.linear2(self.dropout(self.activation(self.linear1(x)))))

    def _residual(self, x, norm, block):
        """Pre-norm x + block(norm(x)), or post-norm norm(x + block(x))."""
        if self.norm_first:
            return x + block(norm(x))
        return norm(x + block(x))


class TransformerEncoderLayer(_Layer):
    """PyTorch's ``nn.TransformerEncoderLayer``: self-attention then feed-forward."""

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int = 2048,
                 dropout: float = 0.1, activation="relu", layer_norm_eps: float = 1e-5,
                 batch_first: bool = False, norm_first: bool = False, bias: bool = True,
                 dtype=np.float32):
        super().__init__()
        self._build("TransformerEncoderLayer", d_model, nhead, dim_feedforward, dropout,
                    activation, layer_norm_eps, batch_first, norm_first, bias, dtype,
                    ("self_attn",), 2)

    def forward(self, src, src_mask=None, src_key_padding_mask=None, is_causal: bool = False):
        _check_input(self._label, "src", src, self.d_model)
        mask = _mask_or_causal(src_mask, is_causal, src, self.batch_first)
        x = self._residual(src, self.norm1, lambda h: self._attend(
            self.self_attn, h, h, mask, src_key_padding_mask, self.dropout1))
        return self._residual(x, self.norm2, lambda h: self._feed_forward(h, self.dropout2))


class TransformerDecoderLayer(_Layer):
    """PyTorch's ``nn.TransformerDecoderLayer``: self-attention, attention over the memory,
    then feed-forward."""

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int = 2048,
                 dropout: float = 0.1, activation="relu", layer_norm_eps: float = 1e-5,
                 batch_first: bool = False, norm_first: bool = False, bias: bool = True,
                 dtype=np.float32):
        super().__init__()
        self._build("TransformerDecoderLayer", d_model, nhead, dim_feedforward, dropout,
                    activation, layer_norm_eps, batch_first, norm_first, bias, dtype,
                    ("self_attn", "multihead_attn"), 3)

    def forward(self, tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
                memory_key_padding_mask=None, tgt_is_causal: bool = False,
                memory_is_causal: bool = False):
        _check_input(self._label, "tgt", tgt, self.d_model)
        _check_input(self._label, "memory", memory, self.d_model)
        tgt_mask = _mask_or_causal(tgt_mask, tgt_is_causal, tgt, self.batch_first)
        x = self._residual(tgt, self.norm1, lambda h: self._attend(
            self.self_attn, h, h, tgt_mask, tgt_key_padding_mask, self.dropout1))
        x = self._residual(x, self.norm2, lambda h: self._attend(
            self.multihead_attn, h, memory, memory_mask, memory_key_padding_mask,
            self.dropout2))
        return self._residual(x, self.norm3, lambda h: self._feed_forward(h, self.dropout3))


def _clones(name: str, layer, num_layers: int) -> ModuleList:
    if not isinstance(layer, Module):
        raise TypeError(f"{name}: the layer must be a Module, got {type(layer).__name__}")
    if not isinstance(num_layers, int) or num_layers < 1:
        raise ValueError(f"{name}: num_layers must be a positive int, got {num_layers!r}")
    return ModuleList([copy.deepcopy(layer) for _ in range(num_layers)])


class TransformerEncoder(Module):
    """PyTorch's ``nn.TransformerEncoder``: ``num_layers`` independent copies of
    ``encoder_layer`` in sequence, then ``norm`` if given."""

    def __init__(self, encoder_layer, num_layers: int, norm=None,
                 enable_nested_tensor: bool = True, mask_check: bool = True):
        super().__init__()
        self.layers = _clones("TransformerEncoder", encoder_layer, num_layers)
        self.num_layers = num_layers
        self.norm = norm

    def forward(self, src, mask=None, src_key_padding_mask=None, is_causal=None):
        x = src
        for layer in self.layers:
            x = layer(x, src_mask=mask, src_key_padding_mask=src_key_padding_mask,
                      is_causal=bool(is_causal))
        return x if self.norm is None else self.norm(x)


class TransformerDecoder(Module):
    """PyTorch's ``nn.TransformerDecoder``: ``num_layers`` copies of ``decoder_layer``, each
    attending to the same memory, then ``norm`` if given."""

    def __init__(self, decoder_layer, num_layers: int, norm=None):
        super().__init__()
        self.layers = _clones("TransformerDecoder", decoder_layer, num_layers)
        self.num_layers = num_layers
        self.norm = norm

    def forward(self, tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
                memory_key_padding_mask=None, tgt_is_causal=None,
                memory_is_causal: bool = False):
        x = tgt
        for layer in self.layers:
            x = layer(x, memory, tgt_mask=tgt_mask, memory_mask=memory_mask,
                      tgt_key_padding_mask=tgt_key_padding_mask,
                      memory_key_padding_mask=memory_key_padding_mask,
                      tgt_is_causal=bool(tgt_is_causal), memory_is_causal=memory_is_causal)
        return x if self.norm is None else self.norm(x)


class Transformer(Module):
    """PyTorch's ``nn.Transformer``: an encoder over ``src`` and a decoder over ``tgt`` that
    attends to the encoder's output; each stack ends in a LayerNorm. Every parameter with
    more than one dimension starts xavier-uniform, as PyTorch's."""

    def __init__(self, d_model: int = 512, nhead: int = 8, num_encoder_layers: int = 6,
                 num_decoder_layers: int = 6, dim_feedforward: int = 2048,
                 dropout: float = 0.1, activation="relu", custom_encoder=None,
                 custom_decoder=None, layer_norm_eps: float = 1e-5, batch_first: bool = False,
                 norm_first: bool = False, bias: bool = True, dtype=np.float32):
        super().__init__()
        shared = dict(dim_feedforward=dim_feedforward, dropout=dropout, activation=activation,
                      layer_norm_eps=layer_norm_eps, batch_first=batch_first,
                      norm_first=norm_first, bias=bias, dtype=dtype)
        if custom_encoder is None:
            custom_encoder = TransformerEncoder(
                TransformerEncoderLayer(d_model, nhead, **shared), num_encoder_layers,
                LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype))
        if custom_decoder is None:
            custom_decoder = TransformerDecoder(
                TransformerDecoderLayer(d_model, nhead, **shared), num_decoder_layers,
                LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype))
        self.encoder = custom_encoder
        self.decoder = custom_decoder
        self.d_model = d_model
        self.nhead = nhead
        self.batch_first = batch_first
        for p in self.parameters():
            if p.ndim > 1:
                init.xavier_uniform_(p)

    def forward(self, src, tgt, src_mask=None, tgt_mask=None, memory_mask=None,
                src_key_padding_mask=None, tgt_key_padding_mask=None,
                memory_key_padding_mask=None, src_is_causal=None, tgt_is_causal=None,
                memory_is_causal: bool = False):
        name = f"Transformer(d_model={self.d_model}, nhead={self.nhead})"
        _check_input(name, "src", src, self.d_model)
        _check_input(name, "tgt", tgt, self.d_model)
        axis = 0 if self.batch_first else 1
        if src.ndim != tgt.ndim or (src.ndim == 3 and src.shape[axis] != tgt.shape[axis]):
            raise ValueError(f"{name}: src and tgt must both be batched with the same batch "
                             f"size (axis {axis}) or both unbatched, got {tuple(src.shape)} "
                             f"and {tuple(tgt.shape)}")
        memory = self.encoder(src, mask=src_mask, src_key_padding_mask=src_key_padding_mask,
                              is_causal=src_is_causal)
        return self.decoder(tgt, memory, tgt_mask=tgt_mask, memory_mask=memory_mask,
                            tgt_key_padding_mask=tgt_key_padding_mask,
                            memory_key_padding_mask=memory_key_padding_mask,
                            tgt_is_causal=tgt_is_causal, memory_is_causal=memory_is_causal)

    @staticmethod
    def generate_square_subsequent_mask(sz: int, device=None, dtype=None) -> Tensor:
        """(sz, sz) float mask, -inf above the diagonal and 0 elsewhere."""
        if not isinstance(sz, int) or sz < 0:
            raise ValueError(f"Transformer.generate_square_subsequent_mask: sz must be a "
                             f"non-negative int, got {sz!r}")
        return _causal_mask(sz, np.float32 if dtype is None else np.dtype(dtype))
