"""The losses and metrics added to keras.losses / keras.metrics (more_losses.py,
more_metrics.py): values and gradients against Keras 3 (PyTorch backend) where it is
installed, float64 gradchecks, names and config, and closed forms without Keras."""

from __future__ import annotations

import os

import numpy as np
import pytest

import tinymm
from tinymm import keras as tk

RNG = np.random.default_rng(0)


def _keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    pytest.importorskip("torch")
    if keras.backend.backend() != "torch":
        pytest.skip("Keras 3 is installed with another backend than torch")
    return keras


def probs(n=4, c=3):
    p = RNG.random((n, c)) + 0.1
    return (p / p.sum(1, keepdims=True)).astype(np.float32)


def real(n=4, c=3):
    return RNG.standard_normal((n, c)).astype(np.float32)


def binary(n=4, c=3):
    return RNG.integers(0, 2, (n, c)).astype(np.float32)


def positive(n=4, c=3):
    return (RNG.random((n, c)) + 0.2).astype(np.float32)


# name: (arguments, y_true, y_pred)
LOSSES = {
    "Huber": ({"delta": 0.7}, real, real),
    "KLDivergence": ({}, probs, probs),
    "CosineSimilarity": ({}, real, real),
    "Hinge": ({}, binary, real),
    "SquaredHinge": ({}, binary, real),
    "CategoricalHinge": ({}, lambda: np.eye(3, dtype=np.float32)[[0, 2, 1, 1]], real),
    "LogCosh": ({}, real, real),
    "Poisson": ({}, positive, positive),
    "MeanAbsolutePercentageError": ({}, positive, real),
    "MeanSquaredLogarithmicError": ({}, positive, positive),
    "BinaryFocalCrossentropy": ({"gamma": 1.5}, binary, lambda: probs(4, 3)),
    "BinaryFocalCrossentropy_balanced_logits": ({"apply_class_balancing": True,
                                                 "from_logits": True, "alpha": 0.3,
                                                 "label_smoothing": 0.1}, binary, real),
}


@pytest.mark.parametrize("case", sorted(LOSSES))
def test_loss_value_and_gradient_match_keras(case):
    keras = _keras()
    import torch

    options, make_true, make_pred = LOSSES[case]
    cls = case.split("_")[0]
    y_true, y_pred = make_true(), make_pred()
    weights = np.array([1.0, 0.5, 2.0, 0.0], np.float32)
    theirs_pred = torch.tensor(y_pred, requires_grad=True)
    theirs = getattr(keras.losses, cls)(**options)(torch.tensor(y_true), theirs_pred,
                                                   sample_weight=torch.tensor(weights))
    theirs.backward()
    ours_pred = tinymm.tensor(y_pred, requires_grad=True)
    ours = getattr(tk.losses, cls)(**options)(y_true, ours_pred, sample_weight=weights)
    ours.backward()
    np.testing.assert_allclose(ours.item(), theirs.item(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ours_pred.grad.numpy(), theirs_pred.grad.numpy(), rtol=1e-4,
                               atol=1e-6)


@pytest.mark.parametrize("case", ["Huber", "KLDivergence", "CosineSimilarity", "LogCosh",
                                  "BinaryFocalCrossentropy_balanced_logits",
                                  "MeanSquaredLogarithmicError"])
def test_loss_gradcheck(case):
    options, make_true, make_pred = LOSSES[case]
    loss = getattr(tk.losses, case.split("_")[0])(**options)
    y_true = make_true().astype(np.float64)
    y_pred = tinymm.tensor(make_pred().astype(np.float64) + 0.01, requires_grad=True)
    assert tinymm.gradcheck(lambda p: loss(y_true, p), [y_pred])


def test_loss_names_config_and_compile():
    assert tk.losses.Huber().name == "huber_loss" and tk.losses.Huber(2.0).options["delta"] == 2.0
    assert tk.losses.get("mape").name == "mean_absolute_percentage_error"
    assert tk.losses.get("kld").get_config()["name"] == "kl_divergence"
    with pytest.raises(TypeError, match="Huber: unexpected keyword"):
        tk.losses.Huber(gamma=1.0)
    np.testing.assert_allclose(  # closed form: |e| = 2 > delta = 1: 1 * (2 - 0.5)
        tk.losses.huber(np.array([[0.0]]), np.array([[2.0]])).numpy(), [1.5])
    tk.utils.set_random_seed(0)
    model = tk.Sequential([tk.Input(shape=(3,)), tk.layers.Dense(3)])
    model.compile(optimizer=tk.optimizers.SGD(0.1), loss="huber", metrics=["precision"])
    history = model.fit(real(16), real(16), epochs=3, verbose=0).history
    assert history["loss"][-1] < history["loss"][0] and "precision" in history


def _metric_cases():
    y_bin, p_bin = binary(6, 2), RNG.random((6, 2)).astype(np.float32)
    labels, scores = RNG.integers(0, 4, 6), RNG.random((6, 4)).astype(np.float32)
    onehot = np.eye(4, dtype=np.float32)[labels]
    return {
        "Precision": ({}, y_bin, p_bin), "Recall": ({"thresholds": 0.3}, y_bin, p_bin),
        "TruePositives": ({}, y_bin, p_bin), "FalsePositives": ({}, y_bin, p_bin),
        "TrueNegatives": ({}, y_bin, p_bin), "FalseNegatives": ({}, y_bin, p_bin),
        "TopKCategoricalAccuracy": ({"k": 2}, onehot, scores),
        "SparseTopKCategoricalAccuracy": ({"k": 2}, labels, scores),
        "RootMeanSquaredError": ({}, real(6, 2), real(6, 2)),
        "F1Score_macro": ({"average": "macro"}, onehot, scores),
        "F1Score_weighted_threshold": ({"average": "weighted", "threshold": 0.5}, onehot,
                                       scores),
        "F1Score_micro": ({"average": "micro"}, onehot, scores),
        "R2Score": ({}, real(6, 2), real(6, 2)),
        "CategoricalCrossentropy": ({"label_smoothing": 0.1}, onehot, probs(6, 4)),
        "SparseCategoricalCrossentropy": ({"from_logits": True}, labels, scores),
        "BinaryCrossentropy": ({}, y_bin, p_bin),
    }


@pytest.mark.parametrize("case", sorted(_metric_cases()))
def test_metric_matches_keras(case):
    keras = _keras()
    options, y_true, y_pred = _metric_cases()[case]
    cls = case.split("_")[0]
    theirs, ours = getattr(keras.metrics, cls)(**options), getattr(tk.metrics, cls)(**options)
    weights = np.array([1.0, 0.0, 2.0, 1.0, 0.5, 1.0], np.float32)
    for metric in (theirs, ours):  # two batches, the second weighted
        metric.update_state(y_true[:3], y_pred[:3])
        metric.update_state(y_true[3:], y_pred[3:], sample_weight=weights[3:])
    np.testing.assert_allclose(np.asarray(ours.result()), np.asarray(theirs.result()),
                               rtol=1e-5, atol=1e-6)
    ours.reset_state()
    ours.update_state(y_true, y_pred)
    theirs.reset_state()
    theirs.update_state(y_true, y_pred)
    np.testing.assert_allclose(np.asarray(ours.result()), np.asarray(theirs.result()),
                               rtol=1e-5, atol=1e-6)


def test_metrics_closed_forms():
    p = tk.metrics.Precision()
    p.update_state([1, 0, 1, 1], [0.9, 0.8, 0.2, 0.6])  # TP 2, FP 1
    assert p.result() == pytest.approx(2 / 3)
    r = tk.metrics.Recall()
    r.update_state([1, 0, 1, 1], [0.9, 0.8, 0.2, 0.6])  # TP 2, FN 1
    assert r.result() == pytest.approx(2 / 3)
    s = tk.metrics.Sum()
    s.update_state([1.0, 2.0, 3.0], sample_weight=[1.0, 0.0, 2.0])
    assert s.result() == 7.0
    top = tk.metrics.SparseTopKCategoricalAccuracy(k=1)
    top.update_state([0, 1], [[0.9, 0.1], [0.8, 0.2]])
    assert top.result() == 0.5
    assert tk.metrics.Precision().result() == 0.0  # nothing seen: 0, not NaN
