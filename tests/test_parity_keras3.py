"""Differential tests against Keras 3 (PyTorch backend), part three: the losses' less-used
options (label smoothing on the binary and focal losses, class balancing, the hinge family,
Poisson, log-cosh, KL divergence, the logarithmic and percentage errors, Huber's delta) with
every reduction and with sample weights, compared in value and in the gradient of the loss
with respect to ``y_pred``."""

import numpy as np
import pytest

import tinymm
from tests.keras3 import keras3
from tinymm import keras as tk

keras = keras3()
torch = pytest.importorskip("torch")

_R = np.random.default_rng(7)
_N, _C = 6, 4
_LOGITS = _R.standard_normal((_N, _C)).astype(np.float32)
_PROBS = np.exp(_LOGITS) / np.exp(_LOGITS).sum(1, keepdims=True)
_ONEHOT = np.eye(_C, dtype=np.float32)[[1, 2, 3, 1, 0, 3]]
_BITS = (_R.random((_N, _C)) > 0.5).astype(np.float32)
_SIG = 1 / (1 + np.exp(-_LOGITS))
_REAL = _R.standard_normal((_N, _C)).astype(np.float32)
_POS = np.abs(_REAL) + 0.1
_SIGNS = np.sign(_REAL)
_SW = _R.random(_N).astype(np.float32)


def _ls(m):
    return m.losses


# name: (loss(m, y_pred) -> value or tuple, the y_pred array)
LOSSES = {
    "BinaryCrossentropy label_smoothing": (lambda m, p: (
        _ls(m).BinaryCrossentropy(label_smoothing=0.2)(_BITS, p),
        _ls(m).BinaryCrossentropy(reduction=None)(_BITS, p),
        _ls(m).BinaryCrossentropy()(_BITS, p, sample_weight=_SW)),
        _SIG),
    "BinaryCrossentropy from_logits, label_smoothing, sum": (lambda m, p: _ls(m)
        .BinaryCrossentropy(from_logits=True, label_smoothing=0.1, reduction="sum")(_BITS, p),
        _LOGITS),
    "CategoricalCrossentropy sum_over_batch_size with weights": (lambda m, p: _ls(m)
        .CategoricalCrossentropy(reduction="sum_over_batch_size")(_ONEHOT, p, sample_weight=_SW),
        _PROBS),
    "BinaryFocalCrossentropy": (lambda m, p: (
        _ls(m).BinaryFocalCrossentropy()(_BITS, p),
        _ls(m).BinaryFocalCrossentropy(label_smoothing=0.1)(_BITS, p)), _SIG),
    "BinaryFocalCrossentropy class balancing on logits": (lambda m, p: _ls(m)
        .BinaryFocalCrossentropy(apply_class_balancing=True, alpha=0.3, gamma=3,
                                 from_logits=True)(_BITS, p), _LOGITS),
    "Hinge on signs and on 0/1 labels, SquaredHinge, CategoricalHinge": (lambda m, p: (
        _ls(m).Hinge()(_SIGNS, p), _ls(m).Hinge()(_BITS, p), _ls(m).SquaredHinge()(_BITS, p),
        _ls(m).CategoricalHinge()(_ONEHOT, p)), _REAL),
    "Poisson and MeanSquaredLogarithmicError": (lambda m, p: (
        _ls(m).Poisson()(_POS[::-1].copy(), p),
        _ls(m).MeanSquaredLogarithmicError()(_POS[::-1].copy(), p)), _POS),
    "LogCosh and MeanAbsolutePercentageError": (lambda m, p: (
        _ls(m).LogCosh()(_REAL, p), _ls(m).MeanAbsolutePercentageError()(_REAL, p)), _LOGITS),
    "KLDivergence mean and sum": (lambda m, p: (
        _ls(m).KLDivergence()(_PROBS[::-1].copy(), p),
        _ls(m).KLDivergence(reduction="sum")(_ONEHOT, p)), _PROBS),
    "Huber delta and reduction None": (lambda m, p: (
        _ls(m).Huber(delta=0.3)(_REAL, p), _ls(m).Huber(reduction=None)(_REAL, p)), _LOGITS),
    "MeanSquaredError None and sum with weights, MAE over a 3-d batch": (lambda m, p: (
        _ls(m).MeanSquaredError(reduction=None)(_REAL, p),
        _ls(m).MeanSquaredError(reduction="sum")(_REAL, p, sample_weight=_SW),
        _ls(m).MeanAbsoluteError()(_REAL.reshape(2, 3, _C), p.reshape(2, 3, _C),
                                   sample_weight=_SW.reshape(2, 3))), _LOGITS),
    "CosineSimilarity reduction None": (lambda m, p: _ls(m).CosineSimilarity(reduction=None)(
        _REAL, p), _LOGITS),
    "loss functions: hinge, poisson, log_cosh, huber, msle, mape": (lambda m, p: (
        _ls(m).hinge(_SIGNS, p), _ls(m).poisson(_POS, p * p), _ls(m).log_cosh(_REAL, p),
        _ls(m).huber(_REAL, p, delta=2.0), _ls(m).mean_squared_logarithmic_error(_POS, p * p),
        _ls(m).mean_absolute_percentage_error(_REAL, p)), _LOGITS),
    "loss functions: smoothed binary and categorical, ignore_class": (lambda m, p: (
        _ls(m).binary_crossentropy(_BITS, p, from_logits=True, label_smoothing=0.2),
        _ls(m).categorical_crossentropy(_ONEHOT, p, from_logits=True, label_smoothing=0.2),
        _ls(m).sparse_categorical_crossentropy(_ONEHOT.argmax(1), p, from_logits=True,
                                               ignore_class=1)), _LOGITS),
    "squared_hinge, categorical_hinge, cosine_similarity axis 0": (lambda m, p: (
        _ls(m).squared_hinge(_BITS, p), _ls(m).categorical_hinge(_ONEHOT, p),
        _ls(m).cosine_similarity(_REAL, p, axis=0)), _REAL),
    "integer labels for BinaryCrossentropy, (N,) against (N, 1)": (lambda m, p: (
        _ls(m).BinaryCrossentropy()(_BITS.astype(np.int64), p),
        _ls(m).BinaryCrossentropy()(_BITS[:, 0].copy(), p[:, :1])), _SIG),
}


def _evaluate(m, name):
    fn, array = LOSSES[name]
    if m is tk:
        pred = tinymm.tensor(array, requires_grad=True)
    else:
        pred = torch.tensor(array, requires_grad=True)
    out = fn(m, pred)
    outs = out if isinstance(out, tuple) else (out,)
    total = sum((o * (1.0 + np.arange(o.numel(), dtype=np.float32).reshape(tuple(o.shape))
                      / 10)).sum() if m is tk else (o * torch.tensor(
                          1.0 + np.arange(o.numel(), dtype=np.float32).reshape(tuple(o.shape))
                          / 10)).sum() for o in outs)
    total.backward()
    return [o.detach().numpy() for o in outs], pred.grad.numpy()


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_loss_options_and_gradients_match_keras(name):
    (ours, our_grad), (theirs, their_grad) = _evaluate(tk, name), _evaluate(keras, name)
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs):
        assert a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(our_grad, their_grad, rtol=1e-4, atol=1e-6)
