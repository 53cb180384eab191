"""What the keras.io programs ported in stop 23 needed (tests/keras_programs/): ops.tensordot,
slicing a KerasTensor, keras.activations on KerasTensors, Embedding's initializer and
regularizer, each against Keras 3 where it is installed."""

from __future__ import annotations

import numpy as np
import pytest

from tests.keras3 import as_numpy, check_op_against_keras, keras3
from tinymm import keras

RNG = np.random.default_rng(0)


@pytest.mark.parametrize("axes", [2, 1, [[1], [0]], [[0, 2], [1, 0]]])
def test_tensordot_matches_keras(axes):
    real = keras3()
    shapes = {2: ((2, 3, 4), (3, 4, 5)), 1: ((2, 3), (3, 4)), 0: None}
    a_shape, b_shape = shapes.get(axes if isinstance(axes, int) else 0) or (
        ((3, 2), (2, 4)) if axes == [[1], [0]] else ((2, 3, 4), (4, 2, 5)))
    args = (RNG.standard_normal(a_shape).astype("float32"),
            RNG.standard_normal(b_shape).astype("float32"))
    check_op_against_keras(real.ops.tensordot, keras.ops.tensordot, args, {"axes": axes},
                           differentiable=True, rng=RNG)


def sliced_model(lib):
    """x[:, 0] and x[:, 1:] on a symbolic input, then an activation function on a tensor."""
    inputs = lib.Input((4,))
    first = lib.layers.Dense(2)(inputs[:, 1:])
    return lib.Model(inputs, lib.activations.sigmoid(first * inputs[:, 0:1]))


def test_slices_and_activation_functions_on_symbolic_tensors_match_keras():
    real = keras3()
    x = RNG.standard_normal((3, 4)).astype("float32")
    theirs, ours = sliced_model(real), sliced_model(keras)
    ours.set_weights(theirs.get_weights())
    np.testing.assert_allclose(ours.predict(x, verbose=0), as_numpy(theirs.predict(
        x, verbose=0)), rtol=1e-5, atol=1e-6)
    kernel, bias = ours.get_weights()
    want = 1 / (1 + np.exp(-(x[:, 1:] @ kernel + bias) * x[:, :1]))
    np.testing.assert_allclose(ours.predict(x, verbose=0), want, rtol=1e-5, atol=1e-6)


def test_embedding_initializer_and_regularizer():
    keras.utils.set_random_seed(0)
    layer = keras.layers.Embedding(50, 40, embeddings_initializer="he_normal",
                                   embeddings_regularizer=keras.regularizers.l2(0.01))
    layer(np.zeros((1, 1), np.int64))
    table = layer.get_weights()[0]
    assert table.std() == pytest.approx(np.sqrt(2 / 50), rel=0.15)  # he_normal: fan_in 50
    np.testing.assert_allclose(float(as_numpy(layer.losses[0])), 0.01 * (table ** 2).sum(),
                               rtol=1e-5)
    default = keras.layers.Embedding(50, 40)
    default(np.zeros((1, 1), np.int64))
    assert np.abs(default.get_weights()[0]).max() <= 0.05 and default.losses == []
    with pytest.raises(ValueError, match="Embedding.*unknown initializer"):
        keras.layers.Embedding(5, 2, embeddings_initializer="nope")


def test_embedding_regularizer_joins_the_loss_as_in_keras():
    real = keras3()
    ids = RNG.integers(0, 6, (4, 3))
    y = RNG.standard_normal((4, 3, 2)).astype("float32")
    models = []
    for lib in (real, keras):
        inputs = lib.Input((3,), dtype="int32")
        out = lib.layers.Embedding(6, 2, embeddings_regularizer=lib.regularizers.l2(0.1))(inputs)
        model = lib.Model(inputs, out)
        model.compile("sgd", "mse")
        models.append(model)
    models[1].set_weights(models[0].get_weights())
    np.testing.assert_allclose(models[1].evaluate(ids, y, verbose=0),
                               models[0].evaluate(ids, y, verbose=0), rtol=1e-5)


def per_pixel_model(lib):
    inputs = lib.Input((6, 6, 2))
    x = lib.layers.Conv2D(4, 3, strides=2, padding="same", activation="relu")(inputs)
    x = lib.layers.UpSampling2D(2)(lib.layers.SeparableConv2D(4, 3, padding="same")(x))
    return lib.Model(inputs, lib.layers.Conv2D(3, 1, activation="softmax")(x))


@pytest.mark.parametrize("label_shape", [(6, 6), (6, 6, 1)])
def test_per_pixel_sparse_categorical_crossentropy_matches_keras(label_shape):
    real = keras3()
    x = RNG.standard_normal((2, 6, 6, 2)).astype("float32")
    y = RNG.integers(0, 3, (2,) + label_shape).astype("uint8")
    theirs, ours = per_pixel_model(real), per_pixel_model(keras)
    ours.set_weights(theirs.get_weights())
    for model in (theirs, ours):
        model.compile("rmsprop", "sparse_categorical_crossentropy")
    np.testing.assert_allclose(ours.evaluate(x, y, verbose=0), theirs.evaluate(
        x, y, verbose=0), rtol=1e-5)
    pred = RNG.dirichlet(np.ones(3), (2, 6, 6)).astype("float32")
    np.testing.assert_allclose(
        as_numpy(keras.losses.sparse_categorical_crossentropy(y, pred)),
        as_numpy(real.losses.sparse_categorical_crossentropy(y, pred)), rtol=1e-5)
    loss = ours.train_on_batch(x, y)  # trains (Keras 3.15 on torch fails in this backward)
    assert np.isfinite(loss) and ours.evaluate(x, y, verbose=0) < loss
    with pytest.raises(ValueError, match=r"one class index per sample, y of shape \(2, 6, 6\)"):
        ours.evaluate(x, y[:, :3], verbose=0)
