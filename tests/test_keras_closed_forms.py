"""Keras-layer numerics pinned by closed forms, so they hold without Keras 3 installed
(tests/test_keras_layer_parity.py compares with Keras itself when it is)."""

import numpy as np
import pytest

from tinymm import keras as tk


@pytest.mark.parametrize("momentum", [0.9, 0.5])
def test_batch_normalization_moving_statistics_and_inference(momentum):
    # Keras: moving = momentum * moving + (1 - momentum) * batch statistic, with the biased
    # (divide by n) batch variance; inference normalises with the moving statistics
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((6, 3)) * [1.0, 2.0, 0.5] + [0.0, 1.0, -2.0]).astype(np.float32)
    model = tk.Sequential([tk.Input((3,)), tk.layers.BatchNormalization(momentum=momentum,
                                                                         epsilon=1e-3)])
    model.compile(optimizer=tk.optimizers.SGD(0.0), loss="mse")
    model.train_on_batch(x, np.zeros_like(x))
    gamma, beta, mean, var = model.layers[0].get_weights()
    want_mean = (1 - momentum) * x.mean(axis=0)
    want_var = momentum * 1.0 + (1 - momentum) * x.var(axis=0)
    np.testing.assert_allclose(mean, want_mean, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(var, want_var, rtol=1e-5)
    expected = (x - want_mean) / np.sqrt(want_var + 1e-3) * gamma + beta
    np.testing.assert_allclose(model.predict(x), expected, rtol=1e-4, atol=1e-5)
    # a layer called outside fit is inference, as in Keras: the same moving statistics
    np.testing.assert_allclose(model.layers[0](x).numpy(), expected, rtol=1e-4, atol=1e-5)


def test_dropout_called_outside_fit_passes_through():
    x = np.ones((4, 5), np.float32)
    np.testing.assert_array_equal(tk.layers.Dropout(0.5)(x).numpy(), x)
    model = tk.Sequential([tk.Input((5,)), tk.layers.Dropout(0.5)])
    np.testing.assert_array_equal(model(x).numpy(), x)
