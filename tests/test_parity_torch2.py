"""Differential tests, part two: nn layers over several configurations each, forward and
backward, in train and eval mode, from the same weights as PyTorch's layer.

Each row builds the layer on both sides (PyTorch's initial state copied into tinymm's with
``load_state_dict``), runs three steps in the row's mode and one in eval mode on fresh inputs,
and compares every output, every input gradient, every parameter gradient and the state dict
(running statistics) after the steps. ``call`` is the program line that uses the layer.
"""

import numpy as np
import pytest

import tinymm
from tests.test_parity_torch import _assert_same

torch = pytest.importorskip("torch")


def _nn(m):
    return m.nn


def _one(layer, m, x):
    return layer(x)


def _mha_masks(m, lq, lk, n, float_mask=False):
    causal = np.triu(np.ones((lq, lk), bool), 1)
    padding = np.zeros((n, lk), bool)
    padding[0, -1] = True
    if float_mask:
        return m.tensor(np.where(causal, -1e9, 0.0).astype(np.float32)), m.tensor(padding)
    return m.tensor(causal), m.tensor(padding)


def _mha_self(layer, m, x):
    return layer(x, x, x)


def _mha_masked(layer, m, x):
    mask, padding = _mha_masks(m, x.shape[0], x.shape[0], x.shape[1])
    return layer(x, x, x, attn_mask=mask, key_padding_mask=padding)


def _mha_float_mask_heads(layer, m, q, kv):
    mask, padding = _mha_masks(m, q.shape[1], kv.shape[1], q.shape[0], float_mask=True)
    return layer(q, kv, kv, attn_mask=mask, key_padding_mask=padding,
                 average_attn_weights=False)


def _mha_kdim(layer, m, q, k, v):
    return layer(q, k, v, need_weights=False)


def _encoder_masked(layer, m, x):
    mask, padding = _mha_masks(m, x.shape[1], x.shape[1], x.shape[0])
    return layer(x, src_mask=mask, src_key_padding_mask=padding)


def _decoder(layer, m, tgt, memory):
    mask, _ = _mha_masks(m, tgt.shape[0], tgt.shape[0], tgt.shape[1])
    return layer(tgt, memory, tgt_mask=mask)


def _with_states(layer, m, x, h0):
    return layer(x, h0)


def _lstm_states(layer, m, x, h0, c0):
    return layer(x, (h0, c0))


_IDS = np.array([[1, 0, 3, 5], [2, 2, 0, 4]])


def _embed(layer, m, w):
    return layer(m.tensor(_IDS))


def _bag(mode, per_sample=False):
    def call(layer, m, x):
        ids, offsets = m.tensor(np.array([1, 2, 4, 5, 4, 3, 2, 9])), m.tensor(np.array([0, 2, 2]))
        weights = m.tensor(np.linspace(0.5, 2, 8).astype(np.float32)) if per_sample else None
        return layer(ids, offsets, per_sample_weights=weights) * x
    return call


def _bag_2d(layer, m, x):
    return layer(m.tensor(np.array([[1, 2, 4], [4, 3, 0]]))) * x


# name: (layer, input shapes, training, call); three steps in that mode, then one in eval
MODULES = {
    # convolutions
    "Conv1d stride dilation": (lambda m: _nn(m).Conv1d(2, 4, 3, stride=2, padding=2, dilation=2),
                               [(2, 2, 11)], True, _one),
    "Conv1d groups no bias": (lambda m: _nn(m).Conv1d(4, 6, 3, groups=2, bias=False),
                              [(2, 4, 7)], True, _one),
    "Conv1d padding_mode reflect": (
        lambda m: _nn(m).Conv1d(2, 3, 3, padding=1, padding_mode="reflect"), [(2, 2, 6)], True,
        _one),
    "Conv1d padding_mode circular": (
        lambda m: _nn(m).Conv1d(2, 3, 3, padding=2, padding_mode="circular"), [(2, 2, 6)], True,
        _one),
    "Conv2d rectangular stride padding dilation": (
        lambda m: _nn(m).Conv2d(2, 3, (3, 2), stride=(2, 1), padding=(1, 2), dilation=(1, 2)),
        [(2, 2, 7, 6)], True, _one),
    "Conv2d groups": (lambda m: _nn(m).Conv2d(4, 6, 3, groups=2), [(2, 4, 5, 5)], True, _one),
    "Conv2d depthwise": (lambda m: _nn(m).Conv2d(3, 6, 3, groups=3, padding=1),
                         [(2, 3, 5, 5)], True, _one),
    "Conv2d padding_mode reflect": (
        lambda m: _nn(m).Conv2d(2, 3, 3, padding=1, padding_mode="reflect"), [(2, 2, 5, 5)], True,
        _one),
    "Conv2d padding_mode replicate": (
        lambda m: _nn(m).Conv2d(2, 3, 3, padding=(1, 2), padding_mode="replicate"),
        [(2, 2, 5, 5)], True, _one),
    "Conv2d padding_mode circular": (
        lambda m: _nn(m).Conv2d(2, 3, 3, padding=1, padding_mode="circular"), [(2, 2, 5, 5)],
        True, _one),
    "Conv2d padding='valid' stride > kernel": (
        lambda m: _nn(m).Conv2d(2, 3, 2, stride=3, padding="valid"), [(2, 2, 8, 8)], True, _one),
    "ConvTranspose2d stride dilation": (lambda m: _nn(m).ConvTranspose2d(
        2, 3, 3, stride=2, padding=2, dilation=2), [(2, 2, 4, 5)], True, _one),
    "ConvTranspose2d groups": (lambda m: _nn(m).ConvTranspose2d(4, 6, 3, groups=2, stride=2),
                               [(2, 4, 3, 3)], True, _one),
    "ConvTranspose2d rectangular output_padding no bias": (lambda m: _nn(m).ConvTranspose2d(
        2, 3, (3, 2), stride=(3, 2), padding=(1, 0), output_padding=(2, 1), bias=False),
        [(2, 2, 3, 4)], True, _one),
    # pooling
    "MaxPool2d ceil_mode": (lambda m: _nn(m).MaxPool2d(2, stride=2, ceil_mode=True),
                            [(2, 2, 5, 5)], True, _one),
    "MaxPool2d ceil_mode padding": (lambda m: _nn(m).MaxPool2d(3, 2, padding=1, ceil_mode=True),
                                    [(2, 2, 6, 6)], True, _one),
    "AvgPool2d ceil_mode": (lambda m: _nn(m).AvgPool2d(2, ceil_mode=True), [(2, 2, 5, 5)],
                            True, _one),
    "AvgPool2d ceil_mode padding count_include_pad": (
        lambda m: _nn(m).AvgPool2d(3, 2, padding=1, ceil_mode=True), [(2, 2, 6, 6)], True, _one),
    "AvgPool2d count_include_pad=False": (
        lambda m: _nn(m).AvgPool2d(3, 2, padding=1, count_include_pad=False), [(2, 2, 6, 6)],
        True, _one),
    "AvgPool2d divisor_override": (
        lambda m: _nn(m).AvgPool2d(3, 2, padding=1, divisor_override=4), [(2, 2, 6, 6)], True,
        _one),
    "AvgPool2d rectangular ceil_mode count_include_pad=False": (
        lambda m: _nn(m).AvgPool2d((3, 2), (2, 3), padding=1, ceil_mode=True,
                                   count_include_pad=False), [(1, 2, 6, 7)], True, _one),
    "AvgPool2d ceil_mode divisor_override": (
        lambda m: _nn(m).AvgPool2d(2, ceil_mode=True, divisor_override=3), [(1, 2, 5, 5)], True,
        _one),
    "AvgPool1d ceil_mode padding": (lambda m: _nn(m).AvgPool1d(4, 3, padding=2, ceil_mode=True),
                                    [(2, 2, 9)], True, _one),
    "AvgPool2d rectangular": (lambda m: _nn(m).AvgPool2d((2, 3), stride=(1, 2)), [(2, 2, 5, 7)],
                              True, _one),
    "MaxPool1d ceil_mode padding": (lambda m: _nn(m).MaxPool1d(3, 2, padding=1, ceil_mode=True),
                                    [(2, 2, 8)], True, _one),
    "AvgPool1d count_include_pad=False ceil": (lambda m: _nn(m).AvgPool1d(
        3, 2, padding=1, ceil_mode=True, count_include_pad=False), [(2, 2, 8)], True, _one),
    "AdaptiveMaxPool2d uneven": (lambda m: _nn(m).AdaptiveMaxPool2d((2, 3)), [(2, 2, 5, 7)],
                                 True, _one),
    "AdaptiveAvgPool1d uneven": (lambda m: _nn(m).AdaptiveAvgPool1d(3), [(2, 2, 7)], True,
                                 _one),
    "AdaptiveMaxPool1d uneven": (lambda m: _nn(m).AdaptiveMaxPool1d(4), [(2, 2, 7)], True,
                                 _one),
    "AdaptiveAvgPool2d None keeps a size": (lambda m: _nn(m).AdaptiveAvgPool2d((None, 2)),
                                            [(2, 2, 5, 5)], True, _one),
    # norms
    "BatchNorm2d momentum=None": (lambda m: _nn(m).BatchNorm2d(3, momentum=None),
                                  [(4, 3, 2, 2)], True, _one),
    "BatchNorm1d eval from the start": (lambda m: _nn(m).BatchNorm1d(5), [(4, 5)], False, _one),
    "BatchNorm1d track_running_stats=False in eval": (
        lambda m: _nn(m).BatchNorm1d(5, track_running_stats=False), [(4, 5)], False, _one),
    "GroupNorm affine=False": (lambda m: _nn(m).GroupNorm(3, 6, affine=False), [(2, 6, 3)], True,
                               _one),
    "GroupNorm eps one group": (lambda m: _nn(m).GroupNorm(1, 4, eps=1e-2), [(2, 4, 3, 3)], True,
                                _one),
    "InstanceNorm2d default (no affine, no stats)": (lambda m: _nn(m).InstanceNorm2d(3),
                                                     [(2, 3, 4, 4)], True, _one),
    "InstanceNorm2d stats momentum in eval": (lambda m: _nn(m).InstanceNorm2d(
        3, momentum=0.3, track_running_stats=True), [(2, 3, 4, 4)], True, _one),
    "LayerNorm elementwise_affine=False": (
        lambda m: _nn(m).LayerNorm(5, elementwise_affine=False, eps=1e-3), [(2, 3, 5)], True,
        _one),
    # recurrent
    "LSTM initial states, two layers": (lambda m: _nn(m).LSTM(3, 4, num_layers=2),
                                        [(5, 2, 3), (2, 2, 4), (2, 2, 4)], True, _lstm_states),
    "LSTM bidirectional initial states batch_first": (
        lambda m: _nn(m).LSTM(3, 4, bidirectional=True, batch_first=True),
        [(2, 5, 3), (2, 2, 4), (2, 2, 4)], True, _lstm_states),
    "LSTM dropout between layers in eval": (
        lambda m: _nn(m).LSTM(3, 4, num_layers=2, dropout=0.5), [(4, 2, 3)], False, _one),
    "LSTM no bias": (lambda m: _nn(m).LSTM(3, 4, bias=False), [(4, 2, 3)], True, _one),
    "GRU two layers initial state batch_first": (
        lambda m: _nn(m).GRU(3, 4, num_layers=2, batch_first=True), [(2, 5, 3), (2, 2, 4)],
        True, _with_states),
    "GRU bidirectional two layers": (lambda m: _nn(m).GRU(3, 4, num_layers=2, bidirectional=True),
                                     [(4, 2, 3)], True, _one),
    "RNN tanh bidirectional initial state": (
        lambda m: _nn(m).RNN(3, 4, bidirectional=True), [(4, 2, 3), (2, 2, 4)], True,
        _with_states),
    "RNN two layers batch_first": (lambda m: _nn(m).RNN(3, 4, num_layers=2, batch_first=True),
                                   [(2, 4, 3)], True, _one),
    "LSTM unbatched input with states": (lambda m: _nn(m).LSTM(3, 4, num_layers=2),
                                         [(5, 3), (2, 4), (2, 4)], True, _lstm_states),
    "GRU unbatched bidirectional batch_first": (lambda m: _nn(m).GRU(
        3, 4, bidirectional=True, batch_first=True), [(5, 3)], True, _one),
    "RNN unbatched with a state": (lambda m: _nn(m).RNN(3, 4), [(5, 3), (1, 4)], True,
                                   _with_states),
    "GRUCell with a state": (lambda m: _nn(m).GRUCell(3, 4), [(2, 3), (2, 4)], True,
                             _with_states),
    "RNNCell relu": (lambda m: _nn(m).RNNCell(3, 4, nonlinearity="relu"), [(2, 3)], True, _one),
    "LSTMCell with states": (lambda m: _nn(m).LSTMCell(3, 4), [(2, 3), (2, 4), (2, 4)], True,
                             _lstm_states),
    # attention and transformers
    "MultiheadAttention self, weights averaged": (lambda m: _nn(m).MultiheadAttention(8, 2),
                                                  [(3, 2, 8)], True, _mha_self),
    "MultiheadAttention bool masks": (lambda m: _nn(m).MultiheadAttention(8, 2), [(4, 2, 8)],
                                      True, _mha_masked),
    "MultiheadAttention float mask, per-head weights, batch_first": (
        lambda m: _nn(m).MultiheadAttention(8, 4, batch_first=True), [(2, 3, 8), (2, 5, 8)],
        True, _mha_float_mask_heads),
    "MultiheadAttention kdim vdim": (lambda m: _nn(m).MultiheadAttention(8, 2, kdim=3, vdim=5),
                                     [(3, 2, 8), (4, 2, 3), (4, 2, 5)], True, _mha_kdim),
    "MultiheadAttention no bias": (lambda m: _nn(m).MultiheadAttention(8, 2, bias=False),
                                   [(3, 2, 8)], True, _mha_self),
    "TransformerEncoderLayer post-norm relu": (lambda m: _nn(m).TransformerEncoderLayer(
        8, 2, dim_feedforward=16, dropout=0.0), [(3, 2, 8)], True, _one),
    "TransformerEncoderLayer norm_first gelu batch_first masks": (
        lambda m: _nn(m).TransformerEncoderLayer(8, 2, 16, 0.0, activation="gelu",
                                                 norm_first=True, batch_first=True),
        [(2, 4, 8)], True, _encoder_masked),
    "TransformerEncoderLayer dropout in eval": (lambda m: _nn(m).TransformerEncoderLayer(
        8, 2, 16, dropout=0.3), [(3, 2, 8)], False, _one),
    "TransformerDecoderLayer causal norm_first": (lambda m: _nn(m).TransformerDecoderLayer(
        8, 2, 16, 0.0, norm_first=True), [(4, 2, 8), (3, 2, 8)], True, _decoder),
    "TransformerDecoderLayer post-norm": (lambda m: _nn(m).TransformerDecoderLayer(
        8, 2, 16, 0.0, layer_norm_eps=1e-3), [(4, 2, 8), (3, 2, 8)], True, _decoder),
    "TransformerEncoder with a final norm and a mask": (lambda m: _nn(m).TransformerEncoder(
        _nn(m).TransformerEncoderLayer(8, 2, 16, 0.0), 2, norm=_nn(m).LayerNorm(8)),
        [(4, 2, 8)], True, lambda layer, m, x: layer(x, mask=_mha_masks(m, 4, 4, 2)[0])),
    "TransformerDecoder two layers": (lambda m: _nn(m).TransformerDecoder(
        _nn(m).TransformerDecoderLayer(8, 2, 16, 0.0, batch_first=True), 2),
        [(2, 4, 8), (2, 3, 8)], True, lambda layer, m, t, mem: layer(t, mem)),
    "Transformer batch_first causal": (lambda m: _nn(m).Transformer(
        8, 2, 1, 1, 16, 0.0, batch_first=True), [(2, 3, 8), (2, 4, 8)], True,
        lambda layer, m, src, tgt: layer(
            src, tgt, tgt_mask=_nn(m).Transformer.generate_square_subsequent_mask(4))),
    # embeddings
    "Embedding padding_idx": (lambda m: _nn(m).Embedding(6, 3, padding_idx=0), [(2, 4, 3)],
                              True, lambda layer, m, x: layer(m.tensor(_IDS)) * x),
    "Embedding negative padding_idx": (lambda m: _nn(m).Embedding(6, 3, padding_idx=-2),
                                       [(2, 4, 3)], True,
                                       lambda layer, m, x: layer(m.tensor(_IDS)) * x),
    "Embedding max_norm": (lambda m: _nn(m).Embedding(6, 3, max_norm=1.0), [(2, 4, 3)], True,
                           lambda layer, m, x: layer(m.tensor(_IDS)) * x),
    "Embedding max_norm norm_type 1": (lambda m: _nn(m).Embedding(6, 3, max_norm=0.5,
                                                                  norm_type=1.0),
                                       [(2, 4, 3)], True,
                                       lambda layer, m, x: layer(m.tensor(_IDS)) * x),
    "EmbeddingBag mean offsets (an empty bag)": (lambda m: _nn(m).EmbeddingBag(10, 3),
                                                 [(3, 3)], True, _bag("mean")),
    "EmbeddingBag sum per_sample_weights": (lambda m: _nn(m).EmbeddingBag(10, 3, mode="sum"),
                                            [(3, 3)], True, _bag("sum", per_sample=True)),
    "EmbeddingBag max": (lambda m: _nn(m).EmbeddingBag(10, 3, mode="max"), [(3, 3)], True,
                         _bag("max")),
    "EmbeddingBag 2-d input padding_idx": (
        lambda m: _nn(m).EmbeddingBag(10, 3, padding_idx=0), [(2, 3)], True, _bag_2d),
    "EmbeddingBag include_last_offset": (
        lambda m: _nn(m).EmbeddingBag(10, 3, include_last_offset=True), [(2, 3)], True,
        lambda layer, m, x: layer(m.tensor(np.array([1, 2, 4, 5, 4])),
                                  m.tensor(np.array([0, 2, 5]))) * x),
    # vision
    "PixelShuffle": (lambda m: _nn(m).PixelShuffle(2), [(2, 8, 2, 3)], True, _one),
    "PixelUnshuffle": (lambda m: _nn(m).PixelUnshuffle(2), [(2, 2, 4, 6)], True, _one),
    "Upsample nearest size": (lambda m: _nn(m).Upsample(size=(5, 7)), [(2, 2, 3, 3)], True,
                              _one),
    "Upsample bilinear size align_corners": (lambda m: _nn(m).Upsample(
        size=(5, 4), mode="bilinear", align_corners=True), [(2, 2, 3, 3)], True, _one),
    "Upsample bicubic": (lambda m: _nn(m).Upsample(scale_factor=2, mode="bicubic"),
                         [(1, 2, 3, 3)], True, _one),
    "Upsample bicubic align_corners": (lambda m: _nn(m).Upsample(
        scale_factor=1.5, mode="bicubic", align_corners=True), [(1, 2, 4, 4)], True, _one),
    "Upsample nearest-exact": (lambda m: _nn(m).Upsample(scale_factor=1.5, mode="nearest-exact"),
                               [(1, 2, 4, 4)], True, _one),
    "Upsample nearest-exact size 1-d": (lambda m: _nn(m).Upsample(size=5, mode="nearest-exact"),
                                        [(1, 2, 7)], True, _one),
    "Upsample nearest 1-d downscale": (lambda m: _nn(m).Upsample(scale_factor=0.6),
                                       [(1, 2, 7)], True, _one),
    "Upsample linear align_corners": (lambda m: _nn(m).Upsample(
        scale_factor=2, mode="linear", align_corners=True), [(1, 2, 4)], True, _one),
    "UpsamplingBilinear2d (align_corners)": (lambda m: _nn(m).UpsamplingBilinear2d(
        scale_factor=2), [(1, 2, 3, 3)], True, _one),
    "Unfold dilation padding stride": (lambda m: _nn(m).Unfold(
        (2, 3), dilation=(1, 2), padding=1, stride=(2, 1)), [(2, 2, 5, 6)], True, _one),
    "Fold overlapping": (lambda m: _nn(m).Fold((4, 5), (2, 2), stride=1), [(2, 8, 12)], True,
                         _one),
    "Fold stride padding dilation": (lambda m: _nn(m).Fold(
        (5, 5), 2, dilation=2, padding=1, stride=2), [(1, 8, 9)], True, _one),
    "Flatten and Unflatten": (lambda m: _nn(m).Sequential(
        _nn(m).Flatten(0, 1), _nn(m).Unflatten(1, (2, 3))), [(2, 3, 6)], True, _one),
    # activations' parameters
    "Threshold": (lambda m: _nn(m).Threshold(0.3, -2.0), [(4, 5)], True, _one),
    "Hardtanh bounds": (lambda m: _nn(m).Hardtanh(-0.5, 1.5), [(4, 5)], True, _one),
    "Softplus beta threshold": (lambda m: _nn(m).Softplus(beta=2.0, threshold=3.0), [(4, 5)],
                                True, _one),
    "ELU alpha": (lambda m: _nn(m).ELU(alpha=0.5), [(4, 5)], True, _one),
    "CELU alpha": (lambda m: _nn(m).CELU(alpha=2.0), [(4, 5)], True, _one),
    "LeakyReLU slope": (lambda m: _nn(m).LeakyReLU(0.2), [(4, 5)], True, _one),
    "PReLU one parameter init": (lambda m: _nn(m).PReLU(init=0.1), [(2, 3, 4)], True, _one),
    "PReLU num_parameters on 4-d": (lambda m: _nn(m).PReLU(3), [(2, 3, 2, 2)], True, _one),
    "Softshrink and Hardshrink lambd": (lambda m: _nn(m).Sequential(
        _nn(m).Softshrink(0.7), _nn(m).Hardshrink(0.2)), [(4, 5)], True, _one),
    "GELU tanh": (lambda m: _nn(m).GELU(approximate="tanh"), [(4, 5)], True, _one),
    "Softmax and LogSoftmax dims": (lambda m: _nn(m).Sequential(
        _nn(m).Softmax(dim=0), _nn(m).LogSoftmax(dim=-1)), [(3, 4)], True, _one),
    "Softmin dim": (lambda m: _nn(m).Softmin(dim=1), [(3, 4)], True, _one),
    "GLU dim": (lambda m: _nn(m).GLU(dim=0), [(4, 3)], True, _one),
    "Hardsigmoid Hardswish SELU Mish": (lambda m: _nn(m).Sequential(
        _nn(m).Hardswish(), _nn(m).Hardsigmoid(), _nn(m).SELU(), _nn(m).Mish()), [(4, 5)],
        True, _one),
    "Bilinear": (lambda m: _nn(m).Bilinear(3, 4, 2), [(5, 3), (5, 4)], True,
                 lambda layer, m, a, b: layer(a, b)),
}


def _steps(m, name, state):
    make, shapes, training, call = MODULES[name]
    torch.manual_seed(0)
    layer = make(m)
    if state is not None:
        layer.load_state_dict({k: m.tensor(v) for k, v in state.items()})
    layer.train(training)
    rng, seen = np.random.default_rng(2), []
    for step in range(4):
        if step == 3:
            layer.eval()
        xs = [m.tensor((rng.standard_normal(s) * 2 + 0.5).astype(np.float32), requires_grad=True)
              for s in shapes]
        out = call(layer, m, *xs)
        outs = [o for o in (out if isinstance(out, tuple) else (out,)) if o is not None]
        outs = [o for item in outs for o in (item if isinstance(item, tuple) else (item,))]
        total = sum((o * m.tensor(rng.standard_normal(tuple(o.shape)).astype(np.float32))).sum()
                    for o in outs)
        total.backward()
        seen += outs + [x.grad for x in xs] + [p.grad for p in layer.parameters()]
        layer.zero_grad()
    return seen, {k: np.asarray(v.numpy() if hasattr(v, "numpy") else v)
                  for k, v in layer.state_dict().items()}


@pytest.mark.parametrize("name", sorted(MODULES))
def test_layers_match_torch_in_train_and_eval(name):
    torch.manual_seed(0)
    initial = {k: v.numpy().copy() for k, v in MODULES[name][0](torch).state_dict().items()}
    theirs, their_state = _steps(torch, name, None)
    ours, our_state = _steps(tinymm, name, initial)
    _assert_same(ours, theirs, tol=1e-4)
    assert sorted(our_state) == sorted(their_state)
    for key, value in their_state.items():  # running statistics, renormalised rows
        np.testing.assert_allclose(our_state[key], value, rtol=1e-4, atol=1e-5)


def test_avg_pool_ceil_mode_and_divisors_pass_gradcheck():
    x = tinymm.tensor(np.random.default_rng(4).standard_normal((1, 1, 5, 6)), requires_grad=True)
    F = tinymm.nn.functional
    assert tinymm.gradcheck(lambda t: F.avg_pool2d(t, 3, 2, 1, ceil_mode=True,
                                                   count_include_pad=False), [x])
    assert tinymm.gradcheck(lambda t: F.avg_pool2d(t, 2, ceil_mode=True, divisor_override=3), [x])
