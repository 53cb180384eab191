"""The optimizer state in a .keras file as Keras 3 lays it out (optimizer/vars) for SGD with
momentum, RMSprop, AdamW, Adagrad, Nadam and Adamax: Keras trains, saves, tinymm loads and
both train on to the same weights; and the other way round (skipped without Keras 3)."""

from __future__ import annotations

import numpy as np
import pytest

from tests.keras3 import as_numpy, keras3
from tinymm import keras

OPTIMIZERS = {  # name -> (class name, keyword arguments), the same on both sides
    "sgd_momentum": ("SGD", {"learning_rate": 0.05, "momentum": 0.9}),
    "sgd_nesterov": ("SGD", {"learning_rate": 0.05, "momentum": 0.8, "nesterov": True}),
    "rmsprop": ("RMSprop", {"learning_rate": 0.01}),
    "rmsprop_momentum_centered": ("RMSprop", {"learning_rate": 0.01, "momentum": 0.5,
                                              "centered": True}),
    "adamw": ("AdamW", {"learning_rate": 0.02, "weight_decay": 0.1}),
    "adagrad": ("Adagrad", {"learning_rate": 0.1}),
    "nadam": ("Nadam", {"learning_rate": 0.02}),
    "adamax": ("Adamax", {"learning_rate": 0.02}),
}


def build(lib):
    inputs = lib.Input((4,))
    h = lib.layers.Dense(3, activation="tanh")(inputs)
    return lib.Model(inputs, lib.layers.Dense(2)(lib.layers.BatchNormalization()(h)))


def data():
    rng = np.random.default_rng(7)
    return rng.standard_normal((8, 4)).astype("float32"), \
        rng.standard_normal((8, 2)).astype("float32")


def compiled(lib, name):
    class_name, kwargs = OPTIMIZERS[name]
    model = build(lib)
    model.compile(getattr(lib.optimizers, class_name)(**kwargs), "mse")
    return model


def resume_together(first, second, steps: int = 2) -> None:
    x, y = data()
    for _ in range(steps):
        np.testing.assert_allclose(second.train_on_batch(x, y), first.train_on_batch(x, y),
                                   rtol=2e-5)
    for a, b in zip(first.get_weights(), second.get_weights()):
        np.testing.assert_allclose(as_numpy(b), as_numpy(a), rtol=2e-5, atol=2e-6)


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_tinymm_resumes_a_keras_optimizer_state(tmp_path, name):
    real = keras3()
    x, y = data()
    theirs = compiled(real, name)
    for _ in range(3):
        theirs.train_on_batch(x, y)
    theirs.save(tmp_path / "keras.keras")
    ours = keras.models.load_model(tmp_path / "keras.keras")
    assert int(np.asarray(ours.optimizer.iterations)) == 3
    resume_together(theirs, ours)


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_keras_resumes_a_tinymm_optimizer_state(tmp_path, name):
    real = keras3()
    x, y = data()
    ours = compiled(keras, name)
    for _ in range(3):
        ours.train_on_batch(x, y)
    ours.save(tmp_path / "tinymm.keras")
    theirs = real.models.load_model(tmp_path / "tinymm.keras")
    assert int(as_numpy(theirs.optimizer.iterations)) == 3
    resume_together(ours, theirs)


def test_an_optimizer_without_a_keras_layout_resumes_fresh_with_a_warning(tmp_path):
    real = keras3()
    x, y = data()
    theirs = build(real)
    theirs.compile(real.optimizers.Adam(0.01, amsgrad=True), "mse")
    theirs.train_on_batch(x, y)
    theirs.save(tmp_path / "amsgrad.keras")
    with pytest.warns(UserWarning, match="optimizer state is not restored"):
        keras.models.load_model(tmp_path / "amsgrad.keras")
