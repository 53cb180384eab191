"""What the keras.io guides in tests/keras_programs/ need beyond the layers: padding="same"
pooling, add_weight's Variable (assign, assign_add, assign_sub), sublayer tracking in custom
layers, ``trainable`` on layers and models (a frozen BatchNormalization in inference mode),
``optimizer.iterations`` and ``summary(show_trainable=True)``; against Keras 3 (PyTorch
backend) where installed, else closed forms."""

from __future__ import annotations

import numpy as np
import pytest

import tinymm
from tests.keras3 import as_numpy, keras3
from tinymm import keras as tk

RNG = np.random.default_rng(0)
SAME_POOLS = [("MaxPooling2D", (5, 6), 2, 2), ("MaxPooling2D", (5, 5), 3, 1),
              ("AveragePooling2D", (5, 6), 2, 2), ("AveragePooling2D", (6, 6), 3, 2),
              ("AveragePooling2D", (7, 4), 2, 3), ("MaxPooling1D", (5,), 2, 2),
              ("AveragePooling1D", (6,), 3, 2), ("AveragePooling1D", (7,), 3, 1)]


@pytest.mark.parametrize("name, spatial, k, s", SAME_POOLS)
def test_same_pooling_matches_keras_values_and_gradients(name, spatial, k, s):
    keras = keras3()
    import torch

    x = RNG.standard_normal((2, *spatial, 3)).astype(np.float32)
    theirs = getattr(keras.layers, name)(k, s, padding="same")
    ours = getattr(tk.layers, name)(k, s, padding="same")
    xt, xo = torch.tensor(x, requires_grad=True), tinymm.tensor(x, requires_grad=True)
    yt, yo = theirs(xt), ours(xo)
    np.testing.assert_allclose(yo.numpy(), as_numpy(yt), rtol=1e-6, atol=1e-6)
    r = RNG.standard_normal(tuple(yt.shape)).astype(np.float32)
    (yt * torch.tensor(r)).sum().backward()
    (yo * tinymm.tensor(r)).sum().backward()
    np.testing.assert_allclose(xo.grad.numpy(), xt.grad.numpy(), rtol=1e-5, atol=1e-6)
    assert ours.compute_output_shape((None, *spatial, 3)) == tuple(theirs.compute_output_shape(
        (None, *spatial, 3)))


def test_same_average_pooling_closed_form_gradcheck_config_and_errors():
    # 3 cells, pool 2, stride 2, "same": pads one cell after (uneven), the edge repeated
    y = tk.layers.AveragePooling1D(2, 2, padding="same")(np.array([[[1.0], [2.0], [4.0]]]))
    np.testing.assert_allclose(y.numpy()[0, :, 0], [1.5, 4.0])
    # 5 cells, pool 3, stride 2: one cell each side (even): the mean of the real cells only
    y = tk.layers.AveragePooling1D(3, 2, padding="same")(np.arange(5.0).reshape(1, 5, 1))
    np.testing.assert_allclose(y.numpy()[0, :, 0], [0.5, 2.0, 3.5])
    layer = tk.layers.AveragePooling2D(3, 2, padding="same", dtype="float64")
    assert tinymm.gradcheck(lambda t: layer(t), [RNG.standard_normal((1, 5, 4, 2))])
    config = tk.layers.MaxPooling2D(3, 2, padding="SAME").get_config()
    assert config["padding"] == "same"
    again = tk.layers.MaxPooling2D.from_config(config)
    assert (again.pool_size, again.strides, again.padding) == ((3, 3), (2, 2), "same")
    with pytest.raises(ValueError, match="MaxPooling2D: padding must be 'valid' or 'same'"):
        tk.layers.MaxPooling2D(2, padding="causal")
    with pytest.raises(ValueError, match="AveragePooling1D: padding must be"):
        tk.layers.AveragePooling1D(2, padding="full")


class _Sum(tk.layers.Layer):
    def __init__(self, input_dim):
        super().__init__()
        self.total = self.add_weight(initializer="zeros", shape=(input_dim,), trainable=False)

    def call(self, inputs):
        self.total.assign_add(tk.ops.sum(inputs, axis=0))
        return self.total


def test_add_weight_variable_assign_outside_the_graph():
    layer = _Sum(2)
    x = tinymm.tensor(np.ones((2, 2), np.float32), requires_grad=True)
    np.testing.assert_allclose(layer(x).numpy(), [2.0, 2.0])
    np.testing.assert_allclose(layer(x).numpy(), [4.0, 4.0])
    assert layer.total.grad_fn is None and not layer.total.requires_grad
    layer.total.assign_sub(np.array([1.0, 3.0], np.float32))
    layer.total.assign(np.array([5.0, 6.0], np.float32) + layer.total.numpy())
    np.testing.assert_allclose(layer.total.numpy(), [8.0, 7.0])
    assert (len(layer.weights), len(layer.trainable_weights),
            len(layer.non_trainable_weights)) == (1, 0, 1)
    layer.trainable = False
    layer.trainable = True  # add_weight's trainable=False stays non-trainable
    assert len(layer.trainable_weights) == 0


class _Linear(tk.layers.Layer):
    def __init__(self, units):
        super().__init__()
        self.units = units

    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1], self.units), name="w")
        self.b = self.add_weight(shape=(self.units,), initializer="zeros", name="b")

    def call(self, inputs):
        return tk.ops.matmul(inputs, self.w) + self.b


class _Block(tk.layers.Layer):
    def __init__(self):
        super().__init__()
        self.scale = self.add_weight(shape=(), initializer="ones", name="scale")
        self.first = _Linear(4)
        self.rest = [_Linear(3), tk.layers.Dense(2)]

    def call(self, inputs):
        h = tk.activations.relu(self.first(inputs))
        return self.rest[1](self.rest[0](h)) * self.scale


def test_sublayers_weights_train_and_freeze_in_a_model():
    block = _Block()
    x = RNG.standard_normal((8, 5)).astype(np.float32)
    block(x)
    shapes = [tuple(w.shape) for w in block.weights]
    assert shapes == [(), (5, 4), (4,), (4, 3), (3,), (2, 3), (2,)]  # own first, then sub
    assert block.count_params() == 1 + 24 + 15 + 8
    inputs = tk.Input(shape=(5,))
    model = tk.Model(inputs, _Block()(inputs))
    assert model.count_params() == 48 and len(model.trainable_weights) == 7
    model.compile(optimizer="sgd", loss="mse")
    before = [np.array(w.detach()) for w in model.weights]
    model.fit(x, np.ones((8, 2), np.float32), epochs=1, verbose=0)
    assert all(not np.allclose(a, w.detach()) for a, w in zip(before, model.weights))
    model.layers[1].trainable = False  # the block and everything in it
    assert len(model.trainable_weights) == 0 and len(model.non_trainable_weights) == 7
    model.compile(optimizer="sgd", loss="mse")
    frozen = [np.array(w.detach()) for w in model.weights]
    model.fit(x, np.ones((8, 2), np.float32), epochs=1, verbose=0)
    assert all(np.array_equal(a, w.detach()) for a, w in zip(frozen, model.weights))


def test_frozen_base_model_and_batch_normalization_in_inference_mode():
    base = tk.Sequential([tk.Input(shape=(4,)), tk.layers.Dense(3),
                          tk.layers.BatchNormalization()], name="base")
    assert [len(base.layers[1].weights), len(base.layers[1].non_trainable_weights)] == [4, 2]
    base.trainable = False
    assert all(not la.trainable for la in base.layers)
    inputs = tk.Input(shape=(4,))
    outputs = tk.layers.Dense(1)(base(inputs, training=False))
    model = tk.Model(inputs, outputs)
    assert (len(model.trainable_weights), len(model.non_trainable_weights)) == (2, 6)
    model.compile(optimizer="adam", loss="mse")
    frozen = [np.array(w) for w in base.get_weights()]
    x = RNG.standard_normal((16, 4)).astype(np.float32)
    model.fit(x, RNG.standard_normal((16, 1)), epochs=1, batch_size=8, verbose=0)
    for a, b in zip(frozen, base.get_weights()):  # moving statistics included
        np.testing.assert_array_equal(a, b)
    base.trainable = True  # fine-tuning: Keras 3's fit passes training=True over the
    model.compile(optimizer=tk.optimizers.Adam(1e-5), loss="mse")  # training=False above
    model.fit(x, RNG.standard_normal((16, 1)), epochs=1, batch_size=8, verbose=0)
    after = base.get_weights()  # (keras-team/keras#20285), so the moving statistics move
    assert not np.allclose(frozen[0], after[0]) and not np.allclose(frozen[4], after[4])
    lines = []
    model.summary(show_trainable=True, print_fn=lines.append)
    assert "Trainable" in lines[2] and " base (Sequential)" in "\n".join(lines)


def test_optimizer_iterations_count_every_update():
    model = tk.Sequential([tk.Input(shape=(3,)), tk.layers.Dense(1)])
    optimizer = tk.optimizers.SGD(0.1)
    model.compile(optimizer=optimizer, loss="mse")
    assert int(optimizer.iterations) == 0
    model.fit(np.ones((10, 3)), np.ones((10, 1)), batch_size=4, epochs=2, verbose=0)
    assert int(optimizer.iterations) == 6 and optimizer.iterations.numpy() == 6
    schedule = tk.optimizers.schedules.ExponentialDecay(0.1, decay_steps=1, decay_rate=0.5)
    scheduled = tk.optimizers.SGD(schedule)
    model.compile(optimizer=scheduled, loss="mse")
    model.fit(np.ones((8, 3)), np.ones((8, 1)), batch_size=4, epochs=1, verbose=0)
    assert int(scheduled.iterations) == 2
    assert model.optimizer.param_groups[0]["lr"] == pytest.approx(0.05)  # schedule(1)


def test_text_layers_take_a_string_input_inside_a_model():
    texts = np.array([["the cat sat"], ["a dog"], ["the dog ran far"]])
    vectorize = tk.layers.TextVectorization(output_sequence_length=5)
    vectorize.adapt(texts)
    inputs = tk.Input(shape=(1,), dtype="string")
    ids = vectorize(inputs)
    assert ids.shape == (None, 5) and ids.dtype == np.int64
    outputs = tk.layers.GlobalAveragePooling1D()(tk.layers.Embedding(20, 3)(ids))
    model = tk.Model(inputs, outputs)
    direct = model.layers[2](vectorize(texts)).numpy().mean(axis=1)  # the same layers by hand
    np.testing.assert_allclose(model.predict(texts), direct, rtol=1e-6)
    np.testing.assert_allclose(model(texts).detach().numpy(), direct, rtol=1e-6)
    hot = tk.layers.TextVectorization(output_mode="multi_hot")
    hot.adapt(texts)
    counts = hot(tk.Input(shape=(1,), dtype="string"))
    assert counts.shape == (None, hot.vocabulary_size()) and counts.dtype == np.float32
    lookup = tk.layers.StringLookup(vocabulary=["cat", "dog"])
    words = tk.Input(shape=(2,), dtype="string")
    word_model = tk.Model(words, lookup(words))
    np.testing.assert_array_equal(word_model.predict(np.array([["dog", "cow"]])), [[2, 0]])
    with pytest.raises(ValueError, match="expects shape"):
        word_model.predict(np.array([["dog"]]))


@pytest.mark.parametrize("spec", [("L1", {"l1": 0.03}), ("L2", {"l2": 0.2}),
                                  ("L1L2", {"l1": 0.01, "l2": 0.05}), ("L2", {})])
def test_regularizers_match_keras_and_join_the_loss(spec):
    keras = keras3()
    import torch

    name, kwargs = spec
    w = RNG.standard_normal((3, 4)).astype(np.float32)
    theirs, ours = getattr(keras.regularizers, name)(**kwargs), getattr(tk.regularizers, name)(
        **kwargs)
    wt, wo = torch.tensor(w, requires_grad=True), tinymm.tensor(w, requires_grad=True)
    pt, po = theirs(wt), ours(wo)
    np.testing.assert_allclose(as_numpy(po), as_numpy(pt), rtol=1e-6)
    pt.backward()
    po.backward()
    np.testing.assert_allclose(wo.grad.numpy(), wt.grad.numpy(), rtol=1e-6, atol=1e-7)
    assert ours.get_config() == pytest.approx(theirs.get_config())
    again = tk.regularizers.get(tk.regularizers.serialize(ours))
    assert type(again) is type(ours) and again.get_config() == ours.get_config()
    x, y = RNG.standard_normal((8, 3)).astype(np.float32), RNG.standard_normal((8, 4))
    models = []
    for lib in (keras, tk):
        inputs = lib.Input(shape=(3,))
        outputs = lib.layers.Dense(4, kernel_regularizer=getattr(lib.regularizers, name)(
            **kwargs), bias_regularizer="l2")(inputs)
        models.append(lib.Model(inputs, outputs))
    models[1].set_weights(models[0].get_weights())
    losses = []
    for model in models:
        model.compile(optimizer="sgd", loss="mse")
        losses.append(model.evaluate(x, y, verbose=0))
    np.testing.assert_allclose(losses[1], losses[0], rtol=1e-5)
    assert len(models[1].losses) == 2


def test_regularizer_errors_and_gradcheck():
    assert tinymm.gradcheck(lambda t: tk.regularizers.L1L2(0.1, 0.2)(t),
                            [RNG.standard_normal((2, 3)) + 0.5])
    with pytest.raises(ValueError, match="L2: l2 must be >= 0"):
        tk.regularizers.L2(-1.0)
    with pytest.raises(ValueError, match="unknown regularizer 'l3'"):
        tk.layers.Dense(2, kernel_regularizer="l3")
    with pytest.raises(TypeError, match="Dropout: unexpected keyword"):
        tk.layers.Dropout(0.5, kernel_regularizer="l2")


def test_serialize_and_deserialize_keras_objects():
    @tk.saving.register_keras_serializable(package="guides")
    class Scale(tk.layers.Layer):
        def __init__(self, factor=2.0, **kwargs):
            super().__init__(**kwargs)
            self.factor = factor

        def call(self, x):
            return x * self.factor

        def get_config(self):
            return {**super().get_config(), "factor": self.factor}

    config = tk.saving.serialize_keras_object(Scale(3.0, name="s"))
    assert config["class_name"] == "Scale" and config["registered_name"] == "guides>Scale"
    layer = tk.saving.deserialize_keras_object(config)
    assert isinstance(layer, Scale) and layer.factor == 3.0 and layer.name == "s"
    assert tk.saving.get_registered_object("guides>Scale") is Scale
    assert tk.saving.get_registered_name(Scale) == "guides>Scale"
    dense = tk.saving.deserialize_keras_object(tk.saving.serialize_keras_object(
        tk.layers.Dense(3, activation="relu")))
    assert (dense.units, dense.activation_name) == (3, "relu")
    with pytest.raises(ValueError, match="unknown class 'Nope'"):
        tk.saving.deserialize_keras_object({"class_name": "Nope", "config": {}})
    with pytest.raises(ValueError, match="without a get_config|does not have a get_config"):
        tk.saving.register_keras_serializable()(type("NoConfig", (), {}))


def test_activity_regularizer_matches_keras():
    keras = keras3()
    x, y = RNG.standard_normal((6, 3)).astype(np.float32), RNG.standard_normal((6, 2))
    losses, weights = [], []
    for lib in (keras, tk):
        inputs = lib.Input(shape=(3,))
        outputs = lib.layers.Dense(2, activity_regularizer=lib.regularizers.L1(0.1))(inputs)
        model = lib.Model(inputs, outputs)
        if weights:
            model.set_weights(weights)  # Keras's weights in the tinymm model
        weights = model.get_weights()
        model.compile(optimizer="sgd", loss="mse")
        losses.append(model.evaluate(x, y, batch_size=6, verbose=0))
    np.testing.assert_allclose(losses[1], losses[0], rtol=1e-5)
    layer = tk.layers.Dense(2, activity_regularizer="l2", name="act")
    config = layer.get_config()
    assert config["activity_regularizer"] == {"class_name": "L2", "config": {"l2": 0.01}}
    again = tk.layers.Dense.from_config(config)
    out = again(np.ones((4, 3), np.float32))
    np.testing.assert_allclose(again.losses[0].detach().numpy(),
                               0.01 * (out.detach().numpy() ** 2).sum() / 4, rtol=1e-6)
