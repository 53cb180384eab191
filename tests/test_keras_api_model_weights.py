"""Model.add_weight/add_variable, Layer.add_variable, the dtype properties and compile's
run_eagerly/jit_compile (accepted; tinymm runs eagerly either way), against Keras 3 where it
is installed."""

from __future__ import annotations

import numpy as np

from tests.keras3 import keras3
from tinymm import keras as tk


class Scaled(tk.Model):
    """A subclassed model with a weight of its own next to a layer."""

    def __init__(self):
        super().__init__()
        self.dense = tk.layers.Dense(2, kernel_initializer="ones")
        self.scale = self.add_weight(name="scale", shape=(2,), initializer="ones")

    def call(self, x):
        return self.dense(x) * self.scale


def test_model_add_weight_is_trained():
    model = Scaled()
    x = np.ones((4, 3), np.float32)
    model.compile("sgd", "mse", run_eagerly=True, jit_compile=False)
    model.fit(x, np.zeros((4, 2), np.float32), epochs=1, verbose=0)
    assert any(w is model.scale for w in model.weights)
    assert not np.allclose(model.scale.detach().numpy(), 1.0)  # the optimizer moved it
    assert model.dtype == "float32" and model.compute_dtype == "float32"
    frozen = model.add_variable((3,), initializer="zeros", trainable=False, name="f")
    assert frozen.shape == (3,) and not frozen.requires_grad
    assert any(w is frozen for w in model.non_trainable_weights)


def test_layer_add_variable_and_dtypes():
    layer = tk.layers.Dense(2, dtype="float64")
    w = layer.add_variable((2, 3), initializer="ones", name="extra")
    assert w.dtype == np.float64 and np.all(w.detach().numpy() == 1)
    assert layer.compute_dtype == layer.variable_dtype == "float64"


def test_dtypes_match_keras():
    keras = keras3()
    for k in (keras, tk):
        layer = k.layers.Dense(2)
        model = k.Sequential([k.Input(shape=(3,)), layer])
        assert (layer.compute_dtype, model.dtype) == ("float32", "float32")
        model.compile("sgd", "mse", run_eagerly=True, jit_compile=False)


class FeedForward(tk.layers.Layer):
    """A custom layer holding a Sequential (the Transformer block's ffn) and a Dense."""

    def __init__(self):
        super().__init__()
        self.ffn = tk.Sequential([tk.layers.Dense(4, activation="relu"), tk.layers.Dense(3)])
        self.out = tk.layers.Dense(2)

    def call(self, x):
        return self.out(self.ffn(x))


def test_a_sequential_held_by_a_custom_layer_is_a_sublayer_and_trains():
    x = tk.Input((3,))
    layer = FeedForward()
    model = tk.Model(x, layer(x))
    assert [w.shape for w in layer.get_weights()] == [(3, 4), (4,), (4, 3), (3,), (3, 2), (2,)]
    assert model.count_params() == 16 + 15 + 8
    before = layer.ffn.get_weights()[0].copy()
    model.compile("sgd", "mse")
    model.fit(np.ones((4, 3), np.float32), np.ones((4, 2), np.float32), verbose=0)
    assert not np.allclose(layer.ffn.get_weights()[0], before)
