"""keras.constraints and the layers' ``*_constraint`` arguments: the projections against
Keras 3, applied after each optimizer update as Keras applies them (same weights, same
steps, same weights after), saved in configs and refused clearly when malformed."""

from __future__ import annotations

import numpy as np
import pytest

from tests.keras3 import as_numpy, keras3
from tinymm import keras
from tinymm.keras import constraints, layers

CASES = [("MaxNorm", {"max_value": 0.7, "axis": 0}), ("NonNeg", {}),
         ("UnitNorm", {"axis": 1}), ("UnitNorm", {"axis": [0, 1]}),
         ("MinMaxNorm", {"min_value": 0.4, "max_value": 0.9, "rate": 0.6, "axis": 0})]


def weights(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((4, 3, 2)).astype(np.float32)


@pytest.mark.parametrize(("name", "config"), CASES)
def test_projections_match_keras(name, config):
    real = keras3()
    w = weights()
    ours = getattr(constraints, name)(**config)
    theirs = getattr(real.constraints, name)(**config)
    np.testing.assert_allclose(as_numpy(ours(keras.ops.convert_to_tensor(w))),
                               as_numpy(theirs(w)), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize(("name", "config"), CASES)
def test_config_round_trip_and_closed_form(name, config):
    c = getattr(constraints, name)(**config)
    again = constraints.get(constraints.serialize(c))
    assert type(again) is type(c) and again.get_config() == c.get_config()
    w = weights(1)
    out = np.asarray(c(keras.ops.convert_to_tensor(w)).numpy())
    if name == "NonNeg":
        np.testing.assert_array_equal(out, np.maximum(w, 0))
        return
    axis = tuple(config["axis"]) if isinstance(config["axis"], list) else config["axis"]
    n = np.sqrt((w.astype(np.float64) ** 2).sum(axis=axis, keepdims=True))
    want = {"MaxNorm": lambda: np.clip(n, 0, 0.7),
            "UnitNorm": lambda: np.ones_like(n),
            "MinMaxNorm": lambda: 0.6 * np.clip(n, 0.4, 0.9) + 0.4 * n}[name]()
    np.testing.assert_allclose(out, w * want / (1e-7 + n), rtol=1e-5)


def test_bad_constraints_are_named():
    with pytest.raises(ValueError, match="constraint"):
        constraints.get("max_nrom")
    with pytest.raises(TypeError, match="constraint must be"):
        layers.Dense(2, kernel_constraint=3)
    with pytest.raises(TypeError, match="unexpected keyword"):
        layers.Dropout(0.1, kernel_constraint="non_neg")


def model(lib, seed: int = 0):
    C = lib.constraints
    tokens, feats = lib.Input((4,), dtype="int32"), lib.Input((5, 5, 2))
    e = lib.layers.Embedding(7, 3, embeddings_constraint=C.MinMaxNorm(0.2, 0.5, 0.7, axis=1))(
        tokens)
    r = lib.layers.LSTM(3, recurrent_constraint=C.MaxNorm(0.6), kernel_constraint="non_neg")(e)
    g = lib.layers.GRU(2, bias_constraint=C.NonNeg())(e)
    c = lib.layers.Conv2D(2, 3, kernel_constraint=C.UnitNorm(axis=[0, 1, 2]))(feats)
    c = lib.layers.Flatten()(c)
    x = lib.layers.Concatenate()([r, g, c])
    out = lib.layers.Dense(2, kernel_constraint=C.MaxNorm(0.3), bias_constraint="non_neg")(x)
    return lib.Model([tokens, feats], out)


def data():
    rng = np.random.default_rng(3)
    return ([rng.integers(0, 7, (6, 4)).astype("int32"),
             rng.standard_normal((6, 5, 5, 2)).astype("float32")],
            rng.standard_normal((6, 2)).astype("float32"))


def test_fit_applies_constraints_after_each_update_as_keras():
    real = keras3()
    real.utils.set_random_seed(0)
    theirs = model(real)
    start = [np.array(w) for w in theirs.get_weights()]
    ours = model(keras)
    ours.set_weights(start)
    x, y = data()
    for m, lib in ((theirs, real), (ours, keras)):
        m.compile(lib.optimizers.SGD(0.5), "mse")
        m.fit(x, y, batch_size=3, epochs=2, shuffle=False, verbose=0)
    for i, (a, b) in enumerate(zip(ours.get_weights(), theirs.get_weights())):
        np.testing.assert_allclose(a, as_numpy(b), rtol=2e-4, atol=1e-5, err_msg=f"weight {i}")
    dense = ours.layers[-1].get_weights()
    assert np.all(np.linalg.norm(dense[0], axis=0) <= 0.3 + 1e-6) and np.all(dense[1] >= 0)


def test_add_weight_constraint_and_custom_apply_gradients():
    class Scale(layers.Layer):
        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1],), initializer="ones",
                                     constraint=constraints.NonNeg())

        def call(self, x):
            return x * self.w

    x = keras.Input((3,))
    m = keras.Model(x, Scale()(x))
    opt = keras.optimizers.SGD(1.0)
    w = m.trainable_weights[0]
    opt.apply_gradients([(np.array([2.0, -1.0, 0.5], np.float32), w)])
    np.testing.assert_array_equal(w.numpy(), [0.0, 2.0, 0.5])  # 1 - 2 clipped at 0


def test_constraints_survive_keras_files(tmp_path):
    real = keras3()
    ours = model(keras)
    ours.save(tmp_path / "c.keras")
    loaded = keras.models.load_model(tmp_path / "c.keras")
    assert isinstance(loaded.layers[-1].constraints["kernel_constraint"], constraints.MaxNorm)
    theirs = real.models.load_model(tmp_path / "c.keras")
    dense = theirs.layers[-1]
    assert type(dense.kernel_constraint).__name__ == "MaxNorm"
    assert dense.kernel_constraint.max_value == 0.3
