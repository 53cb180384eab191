"""Keras losses (tinymm/keras/losses.py): values from probabilities and logits, the
softmax-output rule, Loss objects (sample weights, reductions, subclasses), errors,
gradchecks."""

import numpy as np
import pytest

import tinymm
from tinymm.keras import losses as K


def _rng(seed=0):
    return np.random.default_rng(seed)


def test_sparse_categorical_from_probabilities_and_logits():
    rng = _rng(2)
    logits = rng.standard_normal((5, 3))
    y = np.array([0, 2, 1, 1, 0])
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    expected = -np.log(p[np.arange(5), y])
    np.testing.assert_allclose(K.sparse_categorical_crossentropy(y, tinymm.tensor(p)).array,
                               expected, rtol=1e-10)
    np.testing.assert_allclose(
        K.sparse_categorical_crossentropy(y, tinymm.tensor(logits), from_logits=True).array,
        expected, rtol=1e-10)
    np.testing.assert_allclose(K.SparseCategoricalCrossentropy()(y, tinymm.tensor(p)).item(),
                               expected.mean(), rtol=1e-10)
    # (N, 1) labels, as Keras accepts
    np.testing.assert_allclose(K.sparse_categorical_crossentropy(y[:, None], p).array, expected,
                               rtol=1e-10)


def test_softmax_output_trains_from_its_logits_and_stays_finite():
    # a Dense+softmax output whose probability for the true class underflows to 0: compile
    # computes the loss from the pre-softmax values, so it is the exact 400, not -log(eps)
    from tinymm import keras

    model = keras.Sequential([keras.Input(shape=(1,)),
                              keras.layers.Dense(3, activation="softmax", use_bias=False)])
    model.layers[0].set_weights([np.array([[200.0, 0.0, -200.0]])])  # kernel (1, 3)
    model.compile(optimizer=keras.optimizers.SGD(0.0), loss="sparse_categorical_crossentropy")
    probs = model.predict(np.ones((1, 1), np.float32))
    assert probs[0, 2] == 0.0  # underflowed: -log(0) would be inf
    np.testing.assert_allclose(model.evaluate(np.ones((1, 1)), np.array([2]), verbose=0), 400.0,
                               rtol=1e-6)
    # without the logits, the probability is clipped to 1e-7 as in Keras
    np.testing.assert_allclose(K.sparse_categorical_crossentropy([2], tinymm.tensor(probs)).array,
                               [-np.log(1e-7)], rtol=1e-4)


def test_categorical_and_binary_crossentropy():
    rng = _rng(3)
    logits = rng.standard_normal((4, 3))
    onehot = np.eye(3)[[0, 1, 2, 1]]
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    expected = -(onehot * np.log(p)).sum(1)
    np.testing.assert_allclose(K.categorical_crossentropy(onehot, p).array, expected, rtol=1e-10)
    np.testing.assert_allclose(K.categorical_crossentropy(onehot, logits, from_logits=True).array,
                               expected, rtol=1e-10)
    z = rng.standard_normal((4, 1))
    t = np.array([1.0, 0.0, 1.0, 0.0])
    s = 1 / (1 + np.exp(-z[:, 0]))
    expected = -(t * np.log(s) + (1 - t) * np.log(1 - s))
    np.testing.assert_allclose(K.binary_crossentropy(t, s[:, None]).array, expected, rtol=1e-6)
    np.testing.assert_allclose(K.binary_crossentropy(t, z, from_logits=True).array, expected,
                               rtol=1e-10)
    np.testing.assert_allclose(K.mse(t, z).array, (z[:, 0] - t) ** 2, rtol=1e-12)


def test_categorical_crossentropy_label_smoothing_closed_form():
    # Keras: the one-hot target becomes onehot * (1 - s) + s / C before the cross-entropy
    rng = _rng(4)
    logits = rng.standard_normal((3, 4))
    onehot = np.eye(4)[[2, 0, 3]]
    log_p = logits - np.log(np.exp(logits).sum(1, keepdims=True))
    for s in (0.1, 0.6):
        expected = -((onehot * (1 - s) + s / 4) * log_p).sum(1)
        got = K.categorical_crossentropy(onehot, logits, from_logits=True, label_smoothing=s)
        np.testing.assert_allclose(got.array, expected, rtol=1e-10)


def test_keras_losses_gradcheck():
    rng = _rng(7)
    logits = tinymm.tensor(rng.standard_normal((3, 4)), requires_grad=True)
    probs = tinymm.tensor(rng.random((3, 4)) + 0.1, requires_grad=True)
    onehot = np.eye(4)[[1, 3, 0]]
    assert tinymm.gradcheck(lambda z: K.categorical_crossentropy(onehot, z, from_logits=True,
                                                                 label_smoothing=0.1), [logits])
    assert tinymm.gradcheck(lambda p: K.categorical_crossentropy(onehot, p), [probs])
    assert tinymm.gradcheck(lambda p: K.sparse_categorical_crossentropy([1, 3, 0], p), [probs])
    assert tinymm.gradcheck(lambda z: K.mean_squared_error(onehot, z), [logits])
def test_keras_loss_errors():
    p = tinymm.tensor(np.full((2, 3), 1 / 3))
    with pytest.raises(ValueError, match=r"y_true holds 3, outside the valid class range "
                                         r"\[0, 2\]"):
        K.sparse_categorical_crossentropy([0, 3], p)
    with pytest.raises(ValueError, match="outside the valid range"):
        K.sparse_categorical_crossentropy([0, 5], p, from_logits=True)
    with pytest.raises(ValueError, match=r"shape \(2,\)"):
        K.sparse_categorical_crossentropy([0, 1, 2], p)
    with pytest.raises(ValueError, match="unknown loss 'triplet'"):
        K.get("triplet")


def test_loss_objects_weight_and_reduce_as_keras():
    y = np.array([0.0, 1.0, 1.0, 0.0])
    p = tinymm.tensor(np.array([[0.5], [2.0], [1.0], [-1.0]]))
    per_sample = (p.array[:, 0] - y) ** 2  # (4,)
    w = np.array([1.0, 0.0, 2.0, 0.5])
    mse = K.MeanSquaredError()
    np.testing.assert_allclose(mse(y, p).item(), per_sample.mean(), rtol=1e-12)
    # sum_over_batch_size: the weighted sum over the number of samples, not over sum(w)
    np.testing.assert_allclose(mse(y, p, sample_weight=w).item(), (per_sample * w).sum() / 4,
                               rtol=1e-12)
    np.testing.assert_allclose(K.MeanSquaredError(reduction="sum")(y, p, w).item(),
                               (per_sample * w).sum(), rtol=1e-12)
    np.testing.assert_allclose(K.MeanSquaredError(reduction=None)(y, p).array, per_sample)
    with pytest.raises(ValueError, match="reduction='avg' is not supported"):
        K.MeanSquaredError(reduction="avg")


def test_loss_subclass_with_call_and_without():
    class Huberish(K.Loss):
        def call(self, y_true, y_pred):
            return ((y_pred - y_true) ** 2).mean(axis=-1) * 0.5

    y = tinymm.tensor(np.zeros((3, 2)))
    p = tinymm.tensor(np.arange(6.0).reshape(3, 2))
    assert K.get(Huberish()) is not None
    np.testing.assert_allclose(Huberish()(y, p).item(), 0.5 * (np.arange(6.0) ** 2).mean())

    class NoCall(K.Loss):
        pass

    with pytest.raises(TypeError, match="NoCall subclasses keras.losses.Loss but defines no "
                                        "call"):
        K.get(NoCall())
