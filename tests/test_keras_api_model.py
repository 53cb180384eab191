"""The Model API that custom training code uses: an overridden ``train_step`` /
``test_step`` / ``predict_step`` called by fit/evaluate/predict, ``compute_loss``,
``metrics``, ``add_loss``/``losses``, ``optimizer.apply``, ``test_on_batch``,
``reset_metrics``, ``to_json``/``model_from_json``, ``from_config``, ``Model.input``/
``output``, ``build(input_shape)`` and the ``*_variables`` names; against Keras 3 (PyTorch
backend) where it is installed, from the same weights."""

from __future__ import annotations

import contextlib
import os

import numpy as np
import pytest

import tinymm
from tinymm import keras as tk

RNG = np.random.default_rng(0)
X = RNG.standard_normal((12, 3)).astype(np.float32)
Y = RNG.standard_normal((12, 1)).astype(np.float32)


def _keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    pytest.importorskip("torch")
    if keras.backend.backend() != "torch":
        pytest.skip("Keras 3 is installed with another backend than torch")
    return keras


def custom_step_model(k, no_grad):
    """The Keras guide's custom train_step (torch backend), written once for both."""

    class CustomModel(k.Model):
        def train_step(self, data):
            x, y = data
            self.zero_grad()
            y_pred = self(x, training=True)
            loss = self.compute_loss(y=y, y_pred=y_pred)
            loss.backward()
            weights = [v for v in self.trainable_weights]
            with no_grad():
                self.optimizer.apply([v.value.grad for v in weights], weights)
            for metric in self.metrics:
                if metric.name == "loss":
                    metric.update_state(loss)
                else:
                    metric.update_state(y, y_pred)
            return {m.name: m.result() for m in self.metrics}

    inputs = k.Input(shape=(3,))
    outputs = k.layers.Dense(1)(k.layers.Dense(4, activation="tanh")(inputs))
    model = CustomModel(inputs, outputs)
    model.compile(optimizer=k.optimizers.SGD(0.1), loss="mse", metrics=["mae"])
    return model


def test_custom_train_step_trains_as_in_keras():
    keras = _keras()
    import torch

    keras.utils.set_random_seed(0)
    theirs = custom_step_model(keras, torch.no_grad)
    ours = custom_step_model(tk, tinymm.no_grad)
    ours.set_weights(theirs.get_weights())
    h_theirs = theirs.fit(X, Y, batch_size=4, epochs=3, shuffle=False, verbose=0).history
    h_ours = ours.fit(X, Y, batch_size=4, epochs=3, shuffle=False, verbose=0).history
    assert set(h_ours) == set(h_theirs) == {"loss", "mae"}
    for key in h_ours:
        np.testing.assert_allclose(h_ours[key], h_theirs[key], rtol=1e-4)
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(ours.evaluate(X, Y, verbose=0),
                               theirs.evaluate(X, Y, verbose=0), rtol=1e-4)
    np.testing.assert_allclose(ours.test_on_batch(X[:5], Y[:5]),
                               theirs.test_on_batch(X[:5], Y[:5]), rtol=1e-4)


def test_custom_train_step_runs_without_keras():
    tk.utils.set_random_seed(0)
    model = custom_step_model(tk, contextlib.nullcontext)
    history = model.fit(X, Y, batch_size=4, epochs=4, verbose=0).history
    assert history["loss"][-1] < history["loss"][0]
    assert [m.name for m in model.metrics] == ["loss", "compile_metrics"]
    model.reset_metrics()
    assert model.metrics[0].result() == 0.0


class _Tracked(tk.Model):
    """A subclassed model with its own loss (compute_loss), an added loss from a layer, its
    own metric held as an attribute, and test/predict steps."""

    def __init__(self):
        super().__init__()
        self.hidden = tk.layers.Dense(4, activation="relu")
        self.head = tk.layers.Dense(1)
        self.seen = tk.metrics.Mean(name="seen")

    def call(self, x):
        return self.head(self.hidden(x))

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        return tk.ops.mean((y_pred - y) ** 2) * 2.0

    def test_step(self, data):
        x, y = data
        self.seen.update_state(np.full(len(x.array), 1.0))
        return {"twice_mse": self.compute_loss(y=y, y_pred=self(x)), "seen": self.seen.result()}

    def predict_step(self, data):
        return {"y": self(data), "neg": -self(data)}


def test_subclassed_overrides_build_and_variables():
    tk.utils.set_random_seed(2)
    model = _Tracked()
    model.build((None, 3))
    assert model.input.shape == (None, 3) and model.output.shape == (None, 1)
    assert len(model.variables) == len(model.trainable_variables) == 4
    assert model.non_trainable_variables == []
    model.compile(optimizer=tk.optimizers.SGD(0.05))  # no compiled loss: compute_loss is own
    before = model.evaluate(X, Y, verbose=0, return_dict=True)
    mse = float(np.mean((model.predict_step(tinymm.tensor(X))["y"].numpy() - Y) ** 2))
    np.testing.assert_allclose(before["twice_mse"], 2 * mse, rtol=1e-5)
    assert model.metrics[-1] is model.seen and before["seen"] == 1.0
    history = model.fit(X, Y, batch_size=6, epochs=3, verbose=0).history
    assert history["loss"][-1] < history["loss"][0]  # default train_step, own compute_loss
    out = model.predict(X, batch_size=5)
    assert set(out) == {"y", "neg"} and out["y"].shape == (12, 1)
    np.testing.assert_allclose(out["neg"], -out["y"])


class _Penalised(tk.layers.Layer):
    def call(self, x):
        self.add_loss(tk.ops.sum(x * x) * 0.5)
        return x


def test_add_loss_joins_the_trained_loss():
    tk.utils.set_random_seed(3)
    inp = tk.Input(shape=(3,))
    model = tk.Model(inp, tk.layers.Dense(1)(_Penalised()(inp)))
    model.compile(optimizer=tk.optimizers.SGD(0.0), loss="mse")
    loss = model.evaluate(X, Y, batch_size=12, verbose=0)
    mse = float(np.mean((model.predict(X) - Y) ** 2))
    np.testing.assert_allclose(loss, mse + 0.5 * float((X * X).sum()), rtol=1e-5)
    model(X[:2])
    np.testing.assert_allclose(model.losses[0].numpy(), 0.5 * (X[:2] ** 2).sum(), rtol=1e-6)


def test_optimizer_apply_updates_only_the_given_variables():
    tk.utils.set_random_seed(4)
    a, b = tk.layers.Dense(2), tk.layers.Dense(2)
    a(X), b(X)
    opt = tk.optimizers.SGD(0.5)
    grads = [np.ones(w.shape, np.float32) for w in a.trainable_weights]
    before_a, before_b = a.get_weights(), b.get_weights()
    opt.apply_gradients(zip(grads, a.trainable_weights))
    for new, old in zip(a.get_weights(), before_a):
        np.testing.assert_allclose(new, old - 0.5)
    for new, old in zip(b.get_weights(), before_b):
        np.testing.assert_array_equal(new, old)
    with pytest.raises(ValueError, match="not among"):
        opt.apply(grads, b.trainable_weights)
    with pytest.raises(ValueError, match="2 gradients for 1"):
        opt.apply(grads, a.trainable_weights[:1])


def test_json_and_config_round_trip():
    tk.utils.set_random_seed(5)
    inp = tk.Input(shape=(3,), name="x")
    model = tk.Model(inp, tk.layers.Dense(2, activation="softmax", name="probs")(
        tk.layers.Dense(4, name="h")(inp)))
    for rebuilt in (tk.models.model_from_json(model.to_json()),
                    tk.Model.from_config(model.get_config())):
        assert [la.name for la in rebuilt.layers] == ["x", "h", "probs"]
        assert rebuilt.count_params() == model.count_params()
        rebuilt.set_weights(model.get_weights())
        np.testing.assert_allclose(rebuilt.predict(X), model.predict(X), rtol=1e-6)


def test_clear_errors():
    model = tk.Sequential([tk.Input(shape=(3,)), tk.layers.Dense(1)])
    model.compile(optimizer="sgd")
    with pytest.raises(ValueError, match="no loss to compute"):
        model.fit(X, Y, verbose=0)
    with pytest.raises(AttributeError, match="has no input yet"):
        _ = _Tracked().input
    with pytest.raises(ValueError, match="validation_split"):
        m = custom_step_model(tk, contextlib.nullcontext)
        m.fit(X, Y, validation_split=0.5, verbose=0)
