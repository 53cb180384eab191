"""The Keras-style front end: graph building, lazy shapes, summary() counts from Keras's
formulas, training, callbacks, checkpoints, and the errors a Keras user meets."""

import glob
import os

import numpy as np
import pytest

import tinymm as tf
from tinymm import keras
from tinymm.io import CheckpointError
from tinymm.keras import layers
from tinymm.keras.callbacks import Callback, EarlyStopping, ModelCheckpoint
from tinymm.keras.models import NonFiniteLossError

VOCAB, CLASSES, T, S = 20, 3, 6, 8  # vocabulary, classes, text length, image side


@pytest.fixture(autouse=True)
def _fresh_names():
    keras.clear_session()
    tf.nn.init.seed(0)


def two_input_model(fused_width=16):
    img = keras.Input(shape=(S, S, 3), name="image")
    x = layers.Conv2D(4, (3, 3), activation="relu", padding="same")(img)
    x = layers.MaxPooling2D()(x)
    x = layers.Flatten()(x)
    x = layers.Dense(fused_width)(x)
    txt = keras.Input(shape=(T,), name="text")
    t = layers.Embedding(VOCAB, 8, mask_zero=True)(txt)
    t = layers.LSTM(fused_width)(t)
    h = layers.Multiply()([x, t])
    h = layers.Dense(16, activation="relu")(h)
    out = layers.Dense(CLASSES, activation="softmax")(h)
    return keras.Model(inputs=[img, txt], outputs=out)


def toy_data(n=96, seed=0):
    """Labels from the first token and the image's brightness: both inputs matter."""
    rng = np.random.default_rng(seed)
    text = rng.integers(1, VOCAB, (n, T))
    text[:, 4:] = 0  # right padding
    bright = rng.integers(0, 2, n)
    images = (rng.random((n, S, S, 3)) * 0.5 + bright[:, None, None, None] * 0.5)
    labels = (text[:, 0] % 2 + bright) % CLASSES
    return [images.astype(np.float32), text], labels


def test_import_names_like_tensorflow():
    assert tf.keras.layers.Dense is layers.Dense
    assert tf.keras.Model is keras.Model and tf.keras.Input is keras.Input
    from tinymm.keras.layers import LSTM, Conv2D, Embedding, Multiply  # noqa: F401
    assert tf.keras.models.load_model is keras.models.load_model


def test_article_wiring_gives_clear_width_error():
    img = keras.Input(shape=(32, 32, 3))
    x = layers.Conv2D(32, (3, 3), activation="relu", padding="same")(img)
    x = layers.Conv2D(64, (3, 3), activation="relu", padding="same")(x)
    x = layers.Flatten()(x)
    txt = keras.Input(shape=(10,))
    t = layers.LSTM(128)(layers.Embedding(1000, 128)(txt))
    with pytest.raises(ValueError, match=r"Multiply 'multiply'.*'flatten' gives \(None, 65536\)"
                                         r".*'lstm' gives \(None, 128\).*layers\.Dense\(128\)"):
        layers.Multiply()([x, t])


def test_summary_counts_equal_keras_formulas():
    img = keras.Input(shape=(32, 32, 3))
    x = layers.Conv2D(32, (3, 3), activation="relu", padding="same")(img)
    x = layers.Conv2D(64, (3, 3), activation="relu", padding="same")(x)
    x = layers.Flatten()(x)
    x = layers.Dense(128)(x)
    txt = keras.Input(shape=(10,))
    t = layers.Embedding(1000, 128)(txt)
    t = layers.LSTM(128)(t)
    h = layers.Dense(128, activation="relu")(layers.Multiply()([x, t]))
    out = layers.Dense(10, activation="softmax")(h)
    model = keras.Model(inputs=[img, txt], outputs=out)
    expected = {  # Keras's formulas
        "conv2d": 3 * 3 * 3 * 32 + 32,  # kH kW C_in C_out + C_out = 896
        "conv2d_1": 3 * 3 * 32 * 64 + 64,  # 18,496
        "dense": 32 * 32 * 64 * 128 + 128,  # 8,388,736
        "embedding": 1000 * 128,
        "lstm": 4 * 128 * (128 + 128 + 1),  # 4 U (D + U + 1) = 131,584 (one bias, as Keras)
        "dense_1": 128 * 128 + 128,
        "dense_2": 128 * 10 + 10,
    }
    for name, count in expected.items():
        assert model.get_layer(name).count_params() == count, name
    lines = []
    model.summary(print_fn=lines.append)
    text = "\n".join(lines)
    total = sum(expected.values())
    assert f"Total params: {total:,}" in text
    assert "Trainable params: 8,685,514" in text and total == 8_685_514
    assert "(None, 32, 32, 64)" in text and "(None, 65536)" in text
    assert "lstm (LSTM)" in text and "131,584" in text


def test_lazy_building_and_sequential():
    dense = layers.Dense(5)
    assert not dense.built
    with pytest.raises(ValueError, match="not built yet"):
        dense.count_params()
    y = dense(np.ones((2, 7), dtype=np.float32))
    assert dense.built and dense.module.weight.shape == (5, 7) and y.shape == (2, 5)
    with pytest.raises(ValueError, match=r"built for input shape \(None, 7\) but got "
                                         r"\(None, 3\)"):
        dense(np.ones((2, 3), dtype=np.float32))
    model = keras.Sequential([layers.Dense(8, activation="relu"), layers.Dense(2)])
    assert not model.built
    with pytest.raises(ValueError, match="not built yet"):
        model.summary()
    out = model.predict(np.ones((4, 3), dtype=np.float32))
    assert out.shape == (4, 2) and model.built and model.count_params() == 3 * 8 + 8 + 8 * 2 + 2
    seq = keras.Sequential([keras.Input(shape=(4,)), layers.Dense(3)])
    lines = []
    seq.summary(print_fn=lines.append)
    assert any("dense_" in line and "15" in line for line in lines)


def test_conv2d_channels_last_matches_torch():
    torch = pytest.importorskip("torch")
    conv = layers.Conv2D(5, (3, 3), strides=(2, 2), padding="valid", activation="relu")
    x = np.random.default_rng(0).standard_normal((2, 9, 9, 3)).astype(np.float32)
    y = conv(x)
    ref = torch.nn.functional.conv2d(torch.tensor(x).permute(0, 3, 1, 2),
                                     torch.tensor(conv.module.weight.array),
                                     torch.tensor(conv.module.bias.array), stride=2).relu()
    np.testing.assert_allclose(y.array, ref.permute(0, 2, 3, 1).numpy(), rtol=1e-4, atol=1e-5)
    assert y.shape == (2, 4, 4, 5)


def test_mask_zero_lstm_reads_each_sequence_to_its_end():
    emb = layers.Embedding(VOCAB, 4, mask_zero=True)
    lstm = layers.LSTM(6)
    ids = np.array([[3, 5, 7, 0, 0], [2, 0, 0, 0, 0]])
    full = lstm(emb(ids))
    for row, length in ((0, 3), (1, 1)):
        alone = lstm(emb(ids[row:row + 1, :length]))
        np.testing.assert_allclose(full.array[row], alone.array[0], rtol=1e-5, atol=1e-6)
    seq = layers.LSTM(6, return_sequences=True)(emb(ids))
    assert seq.shape == (2, 5, 6)


def test_other_layers_shapes():
    x = np.random.default_rng(1).standard_normal((2, 6, 6, 3)).astype(np.float32)
    assert layers.GlobalAveragePooling2D()(x).shape == (2, 3)
    assert layers.MaxPooling2D((2, 2))(x).shape == (2, 3, 3, 3)
    q = keras.Input(shape=(4, 8))
    v = keras.Input(shape=(5, 8))
    att = layers.Attention()([q, v])
    mha = layers.MultiHeadAttention(num_heads=2, key_dim=4)(q, v)
    cat = layers.Concatenate()([layers.GlobalAveragePooling2D()(keras.Input(shape=(6, 6, 3))),
                                layers.Dense(2)(keras.Input(shape=(7,)))])
    assert att.shape == (None, 4, 8) and mha.shape == (None, 4, 8) and cat.shape == (None, 5)
    model = keras.Model(inputs=[q, v], outputs=[att, mha])
    rng = np.random.default_rng(2)
    a, b = model.predict([rng.standard_normal((3, 4, 8)), rng.standard_normal((3, 5, 8))])
    assert a.shape == (3, 4, 8) and b.shape == (3, 4, 8)
    assert model.get_layer("multi_head_attention").count_params() == 4 * (8 * 8 + 8)


def test_two_input_model_loss_falls():
    model = two_input_model()
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.01),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    x, y = toy_data()
    history = model.fit(x, y, epochs=6, batch_size=16, verbose=0)
    losses = history.history["loss"]
    assert losses[-1] < 0.7 * losses[0], losses
    assert history.history["accuracy"][-1] > 0.6


def test_fit_validation_split_callbacks_and_progress_bar(tmp_path, capsys):
    model = two_input_model()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    x, y = toy_data(64)
    checkpoint = ModelCheckpoint(str(tmp_path / "best"), monitor="val_loss", save_best_only=True)
    stopper = EarlyStopping(monitor="val_loss", patience=0, min_delta=10.0)  # stops at once
    history = model.fit(x, y, epochs=5, batch_size=16, validation_split=0.25,
                        callbacks=[checkpoint, stopper], verbose=1)
    out = capsys.readouterr().out
    assert "Epoch 1/5" in out and "3/3 [==============================]" in out
    assert "ms/step" in out and "loss: " in out and "val_accuracy: " in out
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert len(history.history["loss"]) == 2  # epoch 1 sets the best, epoch 2 fails min_delta
    assert stopper.stopped_epoch == 1
    restored = keras.models.load_model(tmp_path / "best")
    assert os.path.exists(tmp_path / "best.safetensors")
    assert restored.predict(x).shape == (64, CLASSES)
    with pytest.raises(KeyError, match="monitor='val_auc' is not among"):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[EarlyStopping(monitor="val_auc")],
                  validation_data=(x, y))


def test_save_load_resume_identical_next_step(tmp_path):
    model = two_input_model()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    x, y = toy_data(32)
    model.fit(x, y, epochs=1, batch_size=16, verbose=0, shuffle=False)
    model.save(tmp_path / "model.keras")
    loaded = keras.models.load_model(tmp_path / "model.keras")
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    loss_a = model.train_on_batch([a[:16] for a in x], y[:16])
    loss_b = loaded.train_on_batch([a[:16] for a in x], y[:16])
    assert loss_a == loss_b
    for (k, v), (k2, v2) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert k == k2
        np.testing.assert_array_equal(v, v2)


def test_checkpoint_shape_mismatch_and_corruption(tmp_path):
    model = two_input_model()
    model.save(tmp_path / "m")
    keras.clear_session()  # the same layer names (weights are matched by name)
    other = two_input_model(fused_width=12)
    with pytest.raises(CheckpointError, match=r"tensor 'dense\.weight' has shape \(16, 64\).*"
                                              r"needs \(12, 64\)"):
        other.load_weights(tmp_path / "m")
    weights = tmp_path / "m.safetensors"
    weights.write_bytes(weights.read_bytes()[:-100])
    with pytest.raises(CheckpointError, match="truncated"):
        keras.models.load_model(tmp_path / "m")
    (tmp_path / "x.json").write_text("[1, 2, 3]")
    with pytest.raises(CheckpointError, match="not a tinymm checkpoint"):
        keras.models.load_model(tmp_path / "x")


def test_wrong_inputs_and_labels_are_reported():
    model = two_input_model()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    x, y = toy_data(16)
    with pytest.raises(ValueError, match=r"expects 2 input\(s\) \('image' \(None, 8, 8, 3\), "
                                         r"'text' \(None, 6\)\), got 1"):
        model.fit(x[0], y, verbose=0)
    with pytest.raises(ValueError, match=r"input 'image' .* expects shape \(None, 8, 8, 3\), "
                                         r"got an array of shape \(16, 3, 8, 8\).*channels-last"):
        model.fit([x[0].transpose(0, 3, 1, 2), x[1]], y, verbose=0)
    bad = y.copy()
    bad[5] = 7
    with pytest.raises(ValueError, match=r"label 7 \(sample 5\) is outside the class range "
                                         r"0\.\.2.*3 units"):
        model.fit(x, bad, verbose=0)
    with pytest.raises(ValueError, match="x has 16 samples but y has 15"):
        model.fit(x, y[:15], verbose=0)
    with pytest.raises(RuntimeError, match="call model.compile"):
        two_input_model().fit(x, y)


def test_nan_loss_stops_naming_the_step(capsys):
    inp = keras.Input(shape=(4,))
    model = keras.Model(inp, layers.Dense(CLASSES, activation="softmax")(layers.Dense(8)(inp)))
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((48, 4)).astype(np.float32), rng.integers(0, CLASSES, 48)
    x[20] = np.nan  # sample 20 is in the second batch of 16 when not shuffled
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(NonFiniteLossError, match=r"loss is nan at epoch 1, step 2/3.*Where the "
                                                 r"first NaN/Inf started: input 0 of Linear "
                                                 r".* a leaf tensor "
                                                 r"\(a parameter or an input\) of shape "
                                                 r"\(16, 4\) that holds NaN \(4 of 64"):
        model.fit(x, y, batch_size=16, shuffle=False, verbose=0)
    after = model.state_dict()
    assert all(np.all(np.isfinite(v)) for v in after.values())  # the bad step was not applied
    assert any(not np.array_equal(before[k], after[k]) for k in before)  # step 1 was
    history = model.fit(x, y, batch_size=16, shuffle=False, verbose=0, on_nan="stop")
    assert history.nan_step == (0, 1)
    assert "step 2/3" in capsys.readouterr().err


def test_keyboard_interrupt_keeps_last_checkpoint(tmp_path):
    model = two_input_model()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    x, y = toy_data(32)

    class Interrupt(Callback):
        def on_train_batch_end(self, batch, logs=None):
            if self.model.history.epoch:  # during the second epoch
                raise KeyboardInterrupt

    path = str(tmp_path / "ck_{epoch:02d}")
    with pytest.raises(KeyboardInterrupt):
        model.fit(x, y, epochs=3, batch_size=16, verbose=0,
                  callbacks=[ModelCheckpoint(path, save_best_only=False), Interrupt()])
    saved = sorted(os.path.basename(p) for p in glob.glob(str(tmp_path / "*")))
    assert saved == ["ck_01.json", "ck_01.safetensors"]  # no temporary files, nothing partial
    restored = keras.models.load_model(tmp_path / "ck_01")
    assert restored.predict(x).shape == (32, CLASSES)


def test_sequential_binary_and_regression_losses():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((64, 4)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 0).astype(np.float32)
    model = keras.Sequential([layers.Dense(8, activation="tanh", input_shape=(4,)),
                              layers.Dropout(0.1), layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss="binary_crossentropy",
                  metrics=["accuracy"])
    history = model.fit(x, y, epochs=8, batch_size=16, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    loss, acc = model.evaluate(x, y, verbose=0)
    assert acc > 0.8
    reg = keras.Sequential([layers.Dense(1)])
    reg.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    target = x @ np.array([1.0, -1.0, 0.5, 0.0], dtype=np.float32)
    reg.fit(x, target, epochs=30, batch_size=64, verbose=0)
    assert reg.evaluate(x, target, verbose=0) < 1e-2


def test_sequential_save_load_with_metadata(tmp_path):
    model = keras.Sequential([keras.Input(shape=(T,), dtype="int64"),
                              layers.Embedding(VOCAB, 4, mask_zero=True),
                              layers.LSTM(5, return_sequences=True), layers.LSTM(3),
                              layers.Dense(CLASSES, activation="softmax")])
    model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    _, y = toy_data(16)
    text = toy_data(16)[0][1]
    model.fit(text, y, epochs=1, verbose=0)
    model.save(tmp_path / "seq", metadata={"vocabulary": ["<pad>", "red", "cube"]})
    loaded = keras.models.load_model(tmp_path / "seq")
    assert isinstance(loaded, keras.Sequential)
    assert loaded.metadata == {"vocabulary": ["<pad>", "red", "cube"]}
    np.testing.assert_array_equal(loaded.predict(text), model.predict(text))
    assert loaded.train_on_batch(text, y) == model.train_on_batch(text, y)


def test_conv2d_same_with_stride_pads_like_keras():
    torch = pytest.importorskip("torch")
    for side, k, stride in ((8, 3, 2), (7, 3, 2), (9, 4, 3)):
        conv = layers.Conv2D(4, k, strides=stride, padding="same")
        x = np.random.default_rng(side).random((2, side, side, 3)).astype(np.float32)
        y = conv(x)
        total = max((-(-side // stride) - 1) * stride + k - side, 0)  # Keras's 'same'
        before, after = total // 2, total - total // 2
        xt = torch.nn.functional.pad(torch.tensor(x).permute(0, 3, 1, 2),
                                     (before, after, before, after))
        ref = torch.nn.functional.conv2d(xt, torch.tensor(conv.module.weight.array),
                                         torch.tensor(conv.module.bias.array), stride=stride)
        assert y.shape[1:] == conv.compute_output_shape((None, side, side, 3))[1:]
        np.testing.assert_allclose(y.array, ref.permute(0, 2, 3, 1).numpy(), rtol=1e-5,
                                   atol=1e-5)


def test_keras_layers_gradcheck_float64():
    rng = np.random.default_rng(4)
    dense = layers.Dense(3, activation="tanh", dtype="float64")
    conv = layers.Conv2D(2, 3, strides=2, padding="same", dtype="float64")
    x2 = tf.tensor(rng.standard_normal((2, 4)), requires_grad=True)
    x4 = tf.tensor(rng.standard_normal((1, 5, 5, 2)), requires_grad=True)
    assert tf.gradcheck(dense, [x2])
    assert tf.gradcheck(conv, [x4])


def test_progress_bar_live_redraw():
    import io as _io

    from tinymm.keras.callbacks import Progbar

    stream = _io.StringIO()
    bar = Progbar(4, stream=stream, dynamic=True)
    bar.update(1, {"loss": 1.5, "accuracy": 0.25})
    bar.update(4, {"loss": 1.25, "accuracy": 0.5}, finalize=True)
    text = stream.getvalue()
    first, last = text.split("\r")[1:]
    assert first.startswith("1/4 [======>.......................] - ETA: ")
    assert "s elapsed, " in first
    assert "ms/step - loss: 1.5000 - accuracy: 0.2500" in first
    assert last.startswith("4/4 [==============================] - ") and last.endswith("\n")
    assert "ms/step - loss: 1.2500 - accuracy: 0.5000" in last


def test_to_categorical_and_categorical_training():
    y = keras.utils.to_categorical([0, 2, 1], 3)
    np.testing.assert_array_equal(y, np.eye(3)[[0, 2, 1]])
    with pytest.raises(ValueError, match=r"labels must be in \[0, 1\]"):
        keras.utils.to_categorical([0, 2], 2)
    rng = np.random.default_rng(5)
    x = rng.standard_normal((60, 3)).astype(np.float32)
    labels = x.argmax(1)
    model = keras.Sequential([layers.Dense(3, activation="softmax")])
    model.compile(optimizer=keras.optimizers.Adam(0.1), loss="categorical_crossentropy",
                  metrics=["accuracy"])
    history = model.fit(x, keras.utils.to_categorical(labels, 3), epochs=10, verbose=0)
    assert history.history["accuracy"][-1] > 0.8


def test_model_call_on_tensors_keeps_the_graph():
    a = keras.Input(shape=(3,), dtype="float64")
    b = keras.Input(shape=(3,), dtype="float64")
    h = layers.Multiply(dtype="float64")([layers.Dense(4, activation="tanh", dtype="float64")(a),
                           layers.Dense(4, dtype="float64")(b)])
    model = keras.Model([a, b], layers.Dense(2, activation="softmax", dtype="float64")(h))
    rng = np.random.default_rng(6)
    xa = tf.tensor(rng.standard_normal((2, 3)), requires_grad=True)
    xb = tf.tensor(rng.standard_normal((2, 3)), requires_grad=True)
    assert tf.gradcheck(lambda p, q: model([p, q]), [xa, xb])
    with pytest.raises(ValueError, match=r"input 'input_layer_1' .* expects shape \(None, 3\)"):
        model([xa, tf.tensor(np.zeros((2, 4)))])


def test_custom_callable_loss():
    rng = np.random.default_rng(8)
    x = rng.standard_normal((32, 2)).astype(np.float32)
    y = x.sum(1, keepdims=True)

    def my_mse(y_true, y_pred):
        return ((y_pred - y_true) ** 2).mean()

    model = keras.Sequential([layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss=my_mse)
    history = model.fit(x, y, epochs=20, batch_size=32, verbose=0)
    assert history.history["loss"][-1] < 0.05 * history.history["loss"][0]


def test_learning_rate_scheduler():
    from tinymm.keras.callbacks import LearningRateScheduler

    rng = np.random.default_rng(9)
    x, y = rng.standard_normal((16, 2)).astype(np.float32), rng.integers(0, 2, 16)
    model = keras.Sequential([layers.Dense(2, activation="softmax")])
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
    history = model.fit(x, y, epochs=3, verbose=0,
                        callbacks=[LearningRateScheduler(lambda epoch, lr: lr * 0.5)])
    assert history.history["learning_rate"] == [0.05, 0.025, 0.0125]
    with pytest.raises(ValueError, match="returned nan for epoch 0"):
        model.fit(x, y, verbose=0, callbacks=[LearningRateScheduler(lambda e, lr: float("nan"))])


@pytest.mark.parametrize("kind", ["Dense", "Conv2D"])
def test_use_bias_false_means_no_bias_even_after_training(kind):
    """No bias weight exists, the parameter count is the kernel's alone, and after training
    on zero inputs the output for a zero input is still exactly zero (a hidden, trained bias
    would move it)."""
    if kind == "Dense":
        inp = keras.Input(shape=(5,))
        layer = layers.Dense(3, use_bias=False)
        kernel_params = 5 * 3
        x = np.zeros((16, 5), np.float32)
    else:
        inp = keras.Input(shape=(S, S, 2))
        layer = layers.Conv2D(3, (3, 3), padding="same", use_bias=False)
        kernel_params = 3 * 2 * 3 * 3
        x = np.zeros((16, S, S, 2), np.float32)
    model = keras.Model(inp, layer(inp))
    assert layer.count_params() == kernel_params and model.count_params() == kernel_params
    assert len(layer.weights) == 1
    assert not any("bias" in name for name in model.state_dict())
    model.compile(optimizer="sgd", loss="mse")
    target = np.ones(model.predict(x).shape, np.float32)  # pulls any bias towards 1
    model.fit(x, target, epochs=3, batch_size=8, verbose=0)
    np.testing.assert_array_equal(model.predict(x), 0.0)


def test_layers_autocast_floating_inputs_to_their_dtype():
    """Keras casts floating-point inputs to the layer's dtype when it is called (float64 NumPy
    data into float32 weights), keeps integer inputs, and autocast=False turns it off."""
    rng = np.random.default_rng(3)
    x64 = rng.standard_normal((4, 5))
    dense = layers.Dense(3)
    y = dense(x64)
    assert y.dtype == np.float32
    kernel, bias = dense.get_weights()
    expected = x64.astype(np.float32) @ kernel + bias
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-5, atol=1e-6)
    xt = tf.tensor(x64, requires_grad=True)
    dense(xt).sum().backward()  # the cast is differentiable: the grad arrives in float64
    assert xt.grad.dtype == np.float64
    np.testing.assert_allclose(xt.grad.numpy(), np.tile(kernel.sum(1), (4, 1)), rtol=1e-6)
    assert layers.Dense(3, dtype="float64")(x64.astype(np.float32)).dtype == np.float64
    assert layers.Embedding(10, 2)(np.array([[1, 2]])).dtype == np.float32
    with pytest.raises(TypeError, match="Dense .*float64"):
        layers.Dense(3, autocast=False)(x64)


def test_model_to_float64_moves_the_layers_dtype():
    inp = keras.Input(shape=(3,))
    model = keras.Model(inp, layers.Multiply()([layers.Dense(2)(inp), layers.Dense(2)(inp)]))
    model.to(np.float64)
    assert all(layer.dtype == np.float64 for layer in model.layers)
    x = tf.tensor(np.random.default_rng(4).standard_normal((2, 3)), requires_grad=True)
    assert model(x).dtype == np.float64
    assert tf.gradcheck(lambda v: model(v), [x])
