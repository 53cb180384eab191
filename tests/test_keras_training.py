"""Keras training semantics on tiny models: multi-output losses and weights, sample and class
weights, metric objects, optimizers and schedules, callbacks, custom layers and losses,
introspection and nesting, errors at compile/construction."""

import numpy as np
import pytest

from tinymm import keras
from tinymm.keras import layers

RNG = np.random.default_rng(0)


def two_head_model():
    keras.utils.set_random_seed(1)
    inp = keras.Input(shape=(4,), name="x")
    h = layers.Dense(5, activation="relu", name="trunk")(inp)
    a = layers.Dense(3, activation="softmax", name="cls")(h)
    b = layers.Dense(1, name="reg")(h)
    return keras.Model(inp, [a, b])


def data(n=8):
    x = RNG.standard_normal((n, 4)).astype(np.float32)
    return x, RNG.integers(0, 3, n), RNG.standard_normal((n, 1)).astype(np.float32)


def head_weights(model):
    return [np.array(w.array) for w in model.get_layer("cls").weights
            + model.get_layer("reg").weights]


def test_one_loss_for_two_outputs_trains_both_heads():
    model = two_head_model()
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    x, _, r = data()
    before = head_weights(model)
    model.train_on_batch(x, [np.eye(3)[RNG.integers(0, 3, 8)], r])
    after = head_weights(model)
    assert all(not np.allclose(b, a) for b, a in zip(before, after))


def test_loss_weights_scale_each_heads_gradient():
    x, y, r = data()
    deltas = []
    for weights in ([1.0, 1.0], [1.0, 3.0]):
        model = two_head_model()
        model.compile(optimizer=keras.optimizers.SGD(0.01),
                      loss=["sparse_categorical_crossentropy", "mse"], loss_weights=weights)
        before = head_weights(model)
        model.train_on_batch(x, {"cls": y, "reg": r})
        deltas.append([a - b for a, b in zip(head_weights(model), before)])
    cls_w, cls_b, reg_w, reg_b = range(4)
    np.testing.assert_allclose(deltas[1][cls_w], deltas[0][cls_w], rtol=1e-5, atol=1e-9)
    np.testing.assert_allclose(deltas[1][reg_w], 3 * deltas[0][reg_w], rtol=1e-4, atol=1e-8)
    np.testing.assert_allclose(deltas[1][reg_b], 3 * deltas[0][reg_b], rtol=1e-4, atol=1e-8)


def test_multi_output_logs_and_dict_specs():
    model = two_head_model()
    model.compile(optimizer="adam", loss={"cls": "sparse_categorical_crossentropy",
                                          "reg": "mse"},
                  metrics={"cls": ["accuracy"], "reg": ["mae"]}, loss_weights={"reg": 0.5})
    x, y, r = data(16)
    history = model.fit(x, {"cls": y, "reg": r}, epochs=2, batch_size=8, verbose=0)
    assert set(history.history) == {"loss", "cls_loss", "reg_loss", "cls_accuracy", "reg_mae"}
    results = model.evaluate(x, [y, r], verbose=0, return_dict=True)
    np.testing.assert_allclose(results["loss"], results["cls_loss"] + 0.5 * results["reg_loss"],
                               rtol=1e-5)
    with pytest.raises(ValueError, match=r"names unknown outputs \['nope'\]"):
        model.compile(optimizer="adam", loss={"nope": "mse"})
    with pytest.raises(ValueError, match="list of 3 but the model has 2 outputs"):
        model.compile(optimizer="adam", loss=["mse", "mse", "mse"])


def test_sample_and_class_weights_follow_keras_reduction():
    keras.utils.set_random_seed(2)
    model = keras.Sequential([keras.Input(shape=(4,)), layers.Dense(3, activation="softmax")])
    model.compile(optimizer=keras.optimizers.SGD(0.0), loss="sparse_categorical_crossentropy")
    x, y, _ = data(6)
    p = model.predict(x)
    per_sample = -np.log(p[np.arange(6), y])
    w = np.array([1.0, 0.0, 2.0, 0.5, 1.0, 3.0])
    got = model.evaluate(x, y, sample_weight=w, verbose=0)
    np.testing.assert_allclose(got, (per_sample * w).sum() / 6, rtol=1e-5)  # / N, not / sum(w)
    factors = {0: 2.0, 1: 0.5, 2: 1.0}
    loss = model.train_on_batch(x, y, class_weight=factors)
    np.testing.assert_allclose(loss, (per_sample * np.array([factors[c] for c in y])).mean(),
                               rtol=1e-5)


def test_metric_objects():
    m = keras.metrics.SparseCategoricalAccuracy()
    m.update_state([0, 1, 2], np.eye(3)[[0, 2, 2]])
    m.update_state([1], np.eye(3)[[1]])
    assert m.result() == pytest.approx(0.75)
    m.reset_state()
    assert m.result() == 0.0
    mean = keras.metrics.Mean()
    mean.update_state([1.0, 3.0], sample_weight=[1.0, 3.0])
    assert mean.result() == pytest.approx(2.5)
    b = keras.metrics.BinaryAccuracy()
    b.update_state([1, 0, 1, 0], [0.9, 0.2, 0.4, 0.7])
    assert b.result() == pytest.approx(0.5)
    c = keras.metrics.CategoricalAccuracy()
    c.update_state(np.eye(3)[[0, 1]], np.eye(3)[[0, 2]])
    assert c.result() == pytest.approx(0.5)


def test_auc_matches_the_rank_statistic():
    y = RNG.integers(0, 2, 400)
    scores = np.clip(0.3 * y + RNG.random(400) * 0.7, 0, 1)
    auc = keras.metrics.AUC(num_thresholds=2000)
    auc.update_state(y[:150], scores[:150])
    auc.update_state(y[150:], scores[150:])
    pos, neg = scores[y == 1], scores[y == 0]
    exact = (pos[:, None] > neg[None, :]).mean() + 0.5 * (pos[:, None] == neg[None, :]).mean()
    assert auc.result() == pytest.approx(exact, abs=2e-3)


def _one_param_steps(spec, grads):
    from tinymm.nn.module import Parameter

    p = Parameter(np.array([1.0, -2.0]))
    opt = spec.build([p])
    values = []
    for g in grads:
        p.grad = Parameter(np.array(g))
        opt.step()
        values.append(p.array.copy())
    return values


def test_keras_rmsprop_and_adagrad_formulas():
    grads = [[0.5, -1.0], [0.1, 2.0], [-0.3, 0.4]]
    got = _one_param_steps(keras.optimizers.RMSprop(0.01), grads)
    p, v = np.array([1.0, -2.0]), np.zeros(2)
    for g, out in zip(np.array(grads), got):
        v = 0.9 * v + 0.1 * g * g
        p = p - 0.01 * g / np.sqrt(v + 1e-7)  # epsilon inside the root (Keras 3)
        np.testing.assert_allclose(out, p, rtol=1e-12)
    got = _one_param_steps(keras.optimizers.Adagrad(0.1), grads)
    p, s = np.array([1.0, -2.0]), np.full(2, 0.1)
    for g, out in zip(np.array(grads), got):
        s = s + g * g
        p = p - 0.1 * g / np.sqrt(s + 1e-7)
        np.testing.assert_allclose(out, p, rtol=1e-12)


def test_schedules_and_scheduled_optimizer():
    sched = keras.optimizers.schedules
    e = sched.ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5)
    assert e(0) == pytest.approx(0.1) and e(10) == pytest.approx(0.05)
    assert sched.ExponentialDecay(0.1, 10, 0.5, staircase=True)(19) == pytest.approx(0.05)
    pw = sched.PiecewiseConstantDecay([2, 4], [1.0, 0.5, 0.1])
    assert [pw(t) for t in (0, 2, 3, 4, 5)] == [1.0, 1.0, 0.5, 0.5, 0.1]
    c = sched.CosineDecay(1.0, 10, alpha=0.1)
    assert c(0) == pytest.approx(1.0) and c(10) == pytest.approx(0.1) and c(5) == \
        pytest.approx(0.55)
    values = _one_param_steps(keras.optimizers.SGD(learning_rate=pw), [[1.0, 1.0]] * 4)
    steps = -np.diff(np.concatenate([[[1.0, -2.0]], values]), axis=0)[:, 0]
    np.testing.assert_allclose(steps, [1.0, 1.0, 1.0, 0.5])  # lr(t) for t = 0, 1, 2, 3


def test_reduce_lr_on_plateau_and_csv_logger(tmp_path):
    keras.utils.set_random_seed(3)
    model = keras.Sequential([keras.Input(shape=(4,)), layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(0.0), loss="mse")
    x, _, r = data(8)
    log = tmp_path / "log.csv"
    cb = keras.callbacks.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=1)
    history = model.fit(x, r, epochs=4, verbose=0,
                        callbacks=[cb, keras.callbacks.CSVLogger(str(log))])
    # lr 0: the loss never improves after epoch 1; halved after each further epoch
    assert history.history["learning_rate"] == [0.0, 0.0, 0.0, 0.0]
    model.compile(optimizer=keras.optimizers.SGD(0.001), loss="mse")
    cb = keras.callbacks.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=0,
                                           min_delta=10.0)
    history = model.fit(x, r, epochs=3, verbose=0, callbacks=[cb])
    # as Keras, each epoch logs the rate it trained with, before that epoch's reduction
    assert history.history["learning_rate"] == pytest.approx([0.001, 0.001, 0.0005])
    assert model.optimizer.param_groups[0]["lr"] == pytest.approx(0.00025)
    lines = log.read_text().splitlines()
    assert lines[0] == "epoch,learning_rate,loss" and len(lines) == 5


class Antirectifier(keras.layers.Layer):
    """keras.io's antirectifier recipe: centre, L2-normalise, [relu(x), relu(-x)] @ W."""

    def __init__(self, initializer="he_normal", **kwargs):
        super().__init__(**kwargs)
        self.initializer = keras.initializers.get(initializer)

    def build(self, input_shape):
        self.kernel = self.add_weight(shape=(input_shape[-1] * 2, input_shape[-1]),
                                      initializer=self.initializer, name="kernel")

    def call(self, inputs):
        ops = keras.ops
        inputs = inputs - ops.mean(inputs, axis=-1, keepdims=True)
        pos, neg = ops.relu(inputs), ops.relu(-inputs)
        concatenated = ops.concatenate([pos, neg], axis=-1)
        return ops.matmul(concatenated, self.kernel)


def test_custom_layer_with_add_weight_trains_and_infers_its_shape():
    keras.utils.set_random_seed(4)
    inp = keras.Input(shape=(6,))
    out = layers.Dense(2, activation="softmax")(Antirectifier()(layers.Dense(4)(inp)))
    model = keras.Model(inp, out)
    anti = model.layers[2]
    assert anti.output.shape == (None, 4) and anti.count_params() == 32
    assert [w.shape for w in anti.get_weights()] == [(8, 4)]
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    before = anti.get_weights()[0]
    model.fit(RNG.standard_normal((16, 6)), RNG.integers(0, 2, 16), epochs=1, verbose=0)
    assert not np.allclose(before, anti.get_weights()[0])


def test_custom_loss_subclass_and_errors_at_compile():
    class Scaled(keras.losses.Loss):
        def call(self, y_true, y_pred):
            return 2.0 * keras.ops.mean(keras.ops.square(y_pred - y_true), axis=-1)

    model = keras.Sequential([keras.Input(shape=(4,)), layers.Dense(1)])
    model.compile(optimizer="sgd", loss=Scaled())
    x, _, r = data(8)
    pred = model.predict(x)
    np.testing.assert_allclose(model.evaluate(x, r, verbose=0), 2 * ((pred - r) ** 2).mean(),
                               rtol=1e-5)

    class NoCall(keras.losses.Loss):
        pass

    with pytest.raises(TypeError, match="NoCall .* defines no call"):
        model.compile(optimizer="sgd", loss=NoCall())
    with pytest.raises(ValueError, match="jit_compile=True is not supported"):
        model.compile(optimizer="sgd", loss="mse", jit_compile=True)
    with pytest.raises(ValueError, match="steps_per_epoch=3 is not supported"):
        model.compile(optimizer="sgd", loss="mse")
        model.fit(x, r, steps_per_epoch=3, verbose=0)
    with pytest.raises(ValueError, match="clipnorm=1.0 is not supported"):
        keras.optimizers.RMSprop(clipnorm=1.0)
    with pytest.raises(ValueError, match="reset_after=False is not supported"):
        layers.GRU(4, reset_after=False)
    with pytest.raises(TypeError, match="unexpected keyword argument"):
        layers.Flatten(kernel_constraint="max_norm")  # a layer without a kernel
    with pytest.raises(TypeError, match="does not take datasets or generators, got generator"):
        model.fit((b for b in [x]), r, verbose=0)


def test_kernel_and_bias_initializers():
    dense = layers.Dense(3, kernel_initializer="ones", bias_initializer=keras.initializers.
                         Constant(0.5))
    dense(np.zeros((1, 2), np.float32))
    kernel, bias = dense.get_weights()
    np.testing.assert_array_equal(kernel, np.ones((2, 3)))
    np.testing.assert_array_equal(bias, np.full(3, 0.5))
    conv = layers.Conv1D(2, 3, kernel_initializer="zeros")
    conv(np.zeros((1, 5, 4), np.float32))
    assert conv.get_weights()[0].shape == (3, 4, 2) and not conv.get_weights()[0].any()
    he = layers.Dense(400, kernel_initializer="he_normal")
    he(np.zeros((1, 300), np.float32))
    std = he.get_weights()[0].std()
    assert std == pytest.approx(np.sqrt(2 / 300), rel=0.05)
    with pytest.raises(TypeError, match="Activation: unexpected keyword argument"):
        layers.Activation("relu", kernel_initializer="ones")


def test_introspection_pop_and_nesting():
    keras.utils.set_random_seed(5)
    seq = keras.Sequential([keras.Input(shape=(3,)), layers.Dense(4, name="a"),
                            layers.Dense(2, name="b")])
    assert [la.name for la in seq.layers] == ["a", "b"]  # no InputLayer, as Keras
    assert seq.get_layer("a").output.shape == (None, 4)
    assert seq.get_layer("b").input is seq.get_layer("a").output
    assert len(seq.weights) == 4 and len(seq.trainable_weights) == 4
    popped = seq.pop()
    assert popped.name == "b" and [la.name for la in seq.layers] == ["a"]
    assert seq.count_params() == 16 and "b.weight" not in seq.state_dict()
    inner = keras.Sequential([keras.Input(shape=(3,)), layers.Dense(4, name="in_a")],
                             name="inner")
    inp = keras.Input(shape=(3,))
    outer = keras.Model(inp, layers.Dense(1, name="out")(inner(inp)))
    assert outer.count_params() == 16 + 5
    assert "inner.in_a.weight" in outer.state_dict()
    x = RNG.standard_normal((5, 3)).astype(np.float32)
    np.testing.assert_allclose(outer.predict(x), outer.get_layer("out")(inner(x)).numpy(),
                               rtol=1e-6)
    stacked = keras.Sequential([inner, layers.Dense(2)])
    assert stacked.count_params() == 16 + 10


def test_augmented_assignment_in_a_custom_layer_is_out_of_place():
    import tinymm

    class Center(keras.layers.Layer):  # TF semantics: `-=` rebinds, tensors are immutable
        def call(self, inputs):
            inputs -= keras.ops.mean(inputs, axis=-1, keepdims=True)
            return inputs * inputs

    keras.utils.set_random_seed(6)
    inp = keras.Input(shape=(3,), dtype="float64")
    hidden = layers.Dense(4)(inp)
    model = keras.Model(inp, Center()(hidden))
    model.to(np.float64)
    x = tinymm.tensor(RNG.standard_normal((2, 3)), requires_grad=True)
    assert tinymm.gradcheck(lambda v: model(v), [x])
    h = kept = model.get_layer(hidden.layer.name)(x)
    before = np.array(h.array)
    h -= 1.0
    assert h is not kept and np.array_equal(kept.array, before)  # the old tensor unchanged
    np.testing.assert_allclose(h.array, before - 1.0)


def test_subclassed_model_is_traced_into_a_graph_and_trains():
    class TwoLayer(keras.Model):
        def __init__(self):
            super().__init__()
            self.hidden = layers.Dense(8, activation="relu")
            self.out = layers.Dense(3)

        def call(self, x):
            return self.out(self.hidden(x))

    keras.utils.set_random_seed(7)
    model = TwoLayer()
    with pytest.raises(ValueError, match="not built yet"):
        model.summary()
    model.compile(optimizer=keras.optimizers.Adam(0.05),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x = RNG.standard_normal((32, 4)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64) + (x[:, 1] > 0)
    history = model.fit(x, y, epochs=5, batch_size=8, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert model.name == "two_layer" and model.count_params() == 4 * 8 + 8 + 8 * 3 + 3
    assert model(x[:2]).numpy().shape == (2, 3)

    class ViaNumpy(keras.Model):
        def call(self, x):
            return x.numpy() * 2

    with pytest.raises(TypeError, match="call\\(\\) must combine tensors with Keras layers"):
        ViaNumpy()(x)


def test_ops_and_operators_on_symbolic_tensors_record_op_layers():
    from tinymm.keras import ops

    keras.utils.set_random_seed(8)
    inp = keras.Input(shape=(4,))
    h = layers.Dense(3, name="h")(inp)
    z = ops.concatenate([ops.relu(h), -h * 2 + 1], axis=-1)
    z = z / (ops.mean(ops.square(h), axis=-1, keepdims=True) + 1.0)
    model = keras.Model(inp, layers.Dense(1, name="head")(z))
    assert z.shape == (None, 6) and model.count_params() == 15 + 7
    x = RNG.random((8, 4)).astype(np.float32)
    hv = model.get_layer("h")(x).numpy()
    zz = np.concatenate([np.maximum(hv, 0), -hv * 2 + 1], -1) / ((hv ** 2).mean(-1,
                                                                             keepdims=True) + 1)
    kernel, bias = model.get_layer("head").get_weights()
    np.testing.assert_allclose(model.predict(x), zz @ kernel + bias, rtol=1e-5, atol=1e-6)
    model.compile(optimizer="sgd", loss="mse")
    before = kernel.copy()
    model.fit(x, x[:, :1], epochs=1, verbose=0)
    assert not np.allclose(before, model.get_layer("head").get_weights()[0])
