"""EinsumDense, RMSNormalization, ActivityRegularization, AlphaDropout, adaptive pooling
(tinymm/keras/norm_pool_layers.py) and Conv1DTranspose (conv_layers.py) against Keras 3
(PyTorch backend) where installed, float64 gradchecks, closed forms, get_config round trips
and errors naming the layer."""

from __future__ import annotations

import numpy as np
import pytest

import tinymm
from tests.keras3 import keras3
from tinymm import keras as tk

RNG = np.random.default_rng(0)
SEQ = RNG.standard_normal((2, 3, 4)).astype(np.float32)
IMG = RNG.standard_normal((2, 5, 7, 3)).astype(np.float32)

CASES = {  # name: (class, kwargs, input)
    "rms_last": ("RMSNormalization", {}, SEQ),
    "rms_two_axes": ("RMSNormalization", {"axis": [1, 2], "epsilon": 1e-3}, SEQ),
    "adaptive_avg": ("AdaptiveAveragePooling2D", {"output_size": (2, 3)}, IMG),
    "adaptive_max": ("AdaptiveMaxPooling2D", {"output_size": 3}, IMG),
    "activity": ("ActivityRegularization", {"l1": 0.1, "l2": 0.01}, SEQ),
    "einsum_dense": ("EinsumDense", {"equation": "abc,cd->abd", "output_shape": (3, 5),
                                     "bias_axes": "d", "activation": "tanh"}, SEQ),
    "einsum_dense_ellipsis": ("EinsumDense", {"equation": "...b,bc->...c", "output_shape": 2},
                              SEQ),
    "conv1d_transpose_same": ("Conv1DTranspose", {"filters": 2, "kernel_size": 3, "strides": 2,
                                                   "padding": "same"}, SEQ),
    "conv1d_transpose_valid": ("Conv1DTranspose", {"filters": 3, "kernel_size": 2,
                                                    "activation": "relu"}, SEQ),
    "einsum_dense_heads": ("EinsumDense", {"equation": "abc,cde->abde", "output_shape": (None,
                                           2, 3), "bias_axes": "de"}, SEQ),
}


def make(module, case):
    name, kwargs, _ = CASES[case]
    return getattr(module.layers, name)(**kwargs)


@pytest.mark.parametrize("case", sorted(CASES))
def test_matches_keras_3(case):
    keras = keras3()
    x = CASES[case][2]
    theirs, ours = make(keras, case), make(tk, case)
    theirs(x), ours(x)  # built
    weights = [w + RNG.normal(0, 0.3, w.shape) for w in theirs.get_weights()]
    theirs.set_weights(weights)
    ours.set_weights([w.astype(np.float32) for w in weights])
    expected = np.asarray(theirs(x).detach().cpu())
    got = ours(x)
    np.testing.assert_allclose(got.detach().numpy(), expected, rtol=1e-5, atol=1e-6)
    if case == "activity":
        np.testing.assert_allclose(float(ours.losses[0].detach().numpy()),
                                   float(theirs.losses[0].detach().cpu()), rtol=1e-5)


@pytest.mark.parametrize("case", ["rms_two_axes", "adaptive_avg", "adaptive_max",
                                  "einsum_dense_heads", "conv1d_transpose_same"])
def test_gradcheck(case):
    layer = make(tk, case)
    x = tinymm.tensor(CASES[case][2][:1].astype(np.float64), requires_grad=True)
    layer(x.detach())  # build
    if layer.module is not None:
        layer.module.to(np.float64)
    layer.dtype = np.dtype(np.float64)
    assert tinymm.gradcheck(lambda v: layer(v), [x])


@pytest.mark.parametrize("case", sorted(CASES))
def test_get_config_round_trip(case):
    layer = make(tk, case)
    config = layer.get_config()
    assert type(layer).from_config(config).get_config() == config


def test_activity_penalty_joins_the_training_loss():
    tk.utils.set_random_seed(0)
    inp = tk.Input(shape=(4,))
    out = tk.layers.ActivityRegularization(l2=10.0)(tk.layers.Dense(2)(inp))
    model = tk.Model(inp, out)
    model.compile("sgd", "mse")
    x, y = RNG.standard_normal((8, 4)).astype(np.float32), np.zeros((8, 2), np.float32)
    plain = float(np.mean((model.predict(x, verbose=0) - y) ** 2))
    penalty = 10.0 * float(np.sum(model.predict(x, verbose=0) ** 2)) / 8
    np.testing.assert_allclose(model.evaluate(x, y, batch_size=8, verbose=0), plain + penalty,
                               rtol=1e-4)


def test_alpha_dropout_closed_form():
    tk.utils.set_random_seed(1)
    layer = tk.layers.AlphaDropout(0.3)
    x = RNG.standard_normal((400, 50)).astype(np.float32)
    np.testing.assert_array_equal(layer(x, training=False).numpy(), x)
    out = layer(x, training=True).numpy()
    alpha_p = -1.6732632423543772 * 1.0507009873554805
    a = ((1 - 0.3) * (1 + 0.3 * alpha_p ** 2)) ** -0.5
    dropped = np.isclose(out, alpha_p * a - a * alpha_p * 0.3)
    kept = np.isclose(out, x * a - a * alpha_p * 0.3, atol=1e-5)
    assert np.all(dropped | kept) and abs(dropped.mean() - 0.3) < 0.02
    assert abs(out.mean()) < 0.05 and abs(out.std() - 1.0) < 0.05  # SELU's fixed point


def test_errors_name_the_layer():
    with pytest.raises(ValueError, match="AdaptiveMaxPooling2D 'p'.*4-d input"):
        tk.layers.AdaptiveMaxPooling2D(2, name="p")(tk.Input(shape=(5, 3)))
    with pytest.raises(ValueError, match="AdaptiveAveragePooling2D: output_size"):
        tk.layers.AdaptiveAveragePooling2D((2, 0))
    with pytest.raises(ValueError, match="RMSNormalization 'r': axis 3 is outside"):
        tk.layers.RMSNormalization(axis=3, name="r")(tk.Input(shape=(5, 3)))
    with pytest.raises(ValueError, match="AlphaDropout: rate"):
        tk.layers.AlphaDropout(1.0)
