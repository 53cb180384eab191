"""The Keras 3 ``.keras`` zip and ``.weights.h5`` files (tinymm/keras/keras_file.py): tinymm
reads what it writes, and, where Keras 3 is installed, a model saved by either library loads
in the other with the same predictions."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest

from tests.keras3 import as_numpy, keras3
from tinymm import keras
from tinymm.keras import layers

pytest.importorskip("h5py")


def block_class(lib, registered: bool = True):
    """The same custom layer written against ``lib`` (tinymm.keras or Keras 3): sublayers
    held as attributes and a weight of its own."""
    class Block(lib.layers.Layer):
        def __init__(self, units, **kwargs):
            super().__init__(**kwargs)
            self.units = units
            self.inner = lib.layers.Dense(units)
            self.norm = lib.layers.LayerNormalization()

        def build(self, input_shape):
            self.scale = self.add_weight(shape=(self.units,), initializer="random_normal",
                                         name="scale")

        def call(self, x):
            return self.norm(self.inner(x)) * self.scale

        def get_config(self):
            return {**super().get_config(), "units": self.units}

    if not registered:  # a name nothing registered (the registered one is found by class name)
        Block.__name__ = Block.__qualname__ = "LooseBlock"
    else:
        Block = lib.saving.register_keras_serializable(package="format_test")(Block)
    return Block


def zoo(lib, block):
    """Two inputs, two outputs: embedding, attention, LSTM, Bidirectional GRU, Conv1D,
    pooling, BatchNormalization, a custom layer and a nested Sequential."""
    L = lib.layers
    tokens, feats = lib.Input((5,), dtype="int32", name="tokens"), lib.Input((4,), name="feats")
    e = L.Embedding(10, 4)(tokens)
    a = L.LayerNormalization()(L.MultiHeadAttention(2, 2)(e, e))
    b = L.Bidirectional(L.GRU(2))(L.LSTM(3, return_sequences=True)(a))
    c = L.GlobalAveragePooling1D()(L.Conv1D(2, 3, activation="relu")(e))
    d = L.BatchNormalization()(L.Dense(3, activation="tanh")(feats))
    x = block(3)(L.Concatenate()([b, c, d]))
    head = lib.Sequential([lib.Input((3,)), L.Dense(2)], name="head")
    return lib.Model([tokens, feats], [head(x), L.Dense(1, activation="sigmoid", name="aux")(x)])


def inputs():
    rng = np.random.default_rng(0)
    return [rng.integers(0, 10, (3, 5)).astype("int32"),
            rng.standard_normal((3, 4)).astype("float32")]


def predict(model) -> np.ndarray:
    return np.concatenate([as_numpy(p) for p in model.predict(inputs(), verbose=0)], axis=1)


def scramble(model) -> None:
    rng = np.random.default_rng(1)
    model.set_weights([rng.standard_normal(w.shape).astype(w.dtype) * 0.5
                       for w in model.get_weights()])


def crosses(real, tmp_path, theirs, mine, x) -> None:
    """Keras's ``theirs`` loads in tinymm, and tinymm's ``mine`` (``None``: the loaded model,
    scrambled) loads in Keras, each with the same predictions as the model saved."""
    theirs.save(tmp_path / "keras.keras")
    ours = keras.models.load_model(tmp_path / "keras.keras")
    np.testing.assert_allclose(ours.predict(x, verbose=0), as_numpy(theirs.predict(
        x, verbose=0)), rtol=1e-5, atol=1e-6)
    if mine is None:
        mine = ours
    if mine.get_weights():
        scramble(mine)
    mine.save(tmp_path / "tinymm.keras")
    back = real.models.load_model(tmp_path / "tinymm.keras")
    np.testing.assert_allclose(as_numpy(back.predict(x, verbose=0)), mine.predict(
        x, verbose=0), rtol=1e-5, atol=1e-6)


def test_keras_file_round_trip_on_tinymm(tmp_path):
    model = zoo(keras, block_class(keras))
    scramble(model)
    model.compile("adam", ["mse", "binary_crossentropy"], metrics=[["mae"], ["accuracy"]])
    model.save(tmp_path / "m.keras")
    with zipfile.ZipFile(tmp_path / "m.keras") as archive:
        assert set(archive.namelist()) == {"config.json", "metadata.json", "model.weights.h5"}
        config = json.loads(archive.read("config.json"))
    assert config["class_name"] == "Functional"
    assert [entry["class_name"] for entry in config["config"]["layers"]][:3] == [
        "InputLayer", "Embedding", "MultiHeadAttention"]
    loaded = keras.models.load_model(tmp_path / "m.keras")
    np.testing.assert_array_equal(predict(loaded), predict(model))
    assert loaded.compiled and [la.name for la in loaded.layers] == [
        la.name for la in model.layers]
    history = loaded.fit(inputs(), [np.zeros((3, 2)), np.ones((3, 1))], verbose=0)
    assert np.isfinite(history.history["loss"][0])


def test_save_model_functions(tmp_path):
    model = keras.Sequential([keras.Input((3,)), layers.Dense(2)])
    keras.saving.save_model(model, tmp_path / "a.keras")
    keras.models.save_model(model, tmp_path / "b.keras", overwrite=True)
    x = np.ones((1, 3), np.float32)
    for name in ("a.keras", "b.keras"):
        np.testing.assert_array_equal(keras.saving.load_model(tmp_path / name).predict(
            x, verbose=0), model.predict(x, verbose=0))
    with pytest.raises(FileExistsError, match="overwrite=False"):
        keras.saving.save_model(model, tmp_path / "a.keras", overwrite=False)
    with pytest.raises(ValueError, match="zipped=False"):
        keras.saving.save_model(model, tmp_path / "c.keras", zipped=False)


def test_weights_h5_round_trip_and_errors(tmp_path):
    block = block_class(keras)
    model = zoo(keras, block)
    scramble(model)
    model.save_weights(tmp_path / "m.weights.h5")
    fresh = zoo(keras, block)
    fresh.load_weights(tmp_path / "m.weights.h5")
    np.testing.assert_array_equal(predict(fresh), predict(model))
    other = keras.Sequential([keras.Input((4,)), layers.Dense(7)])
    with pytest.raises(ValueError, match=r"weight 0 of layer 'dense.*has shape \(4, 7\)"):
        other.load_weights(tmp_path / "m.weights.h5")
    with pytest.raises(ValueError, match="no weights for layer 'conv"):
        keras.Sequential([keras.Input((4, 4, 2)), layers.Conv2D(2, 1)]).load_weights(
            tmp_path / "m.weights.h5")


def test_custom_objects_unknown_classes_and_lambda_are_named(tmp_path):
    unregistered = block_class(keras, registered=False)
    model = zoo(keras, unregistered)
    model.save(tmp_path / "m.keras")
    with pytest.raises(ValueError, match="unknown layer class 'LooseBlock'.*register"):
        keras.models.load_model(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras",
                                     custom_objects={"LooseBlock": unregistered})
    np.testing.assert_array_equal(predict(loaded), predict(model))
    x = keras.Input((2,))
    lam = keras.Model(x, layers.Lambda(lambda t: t * 2.0)(x))
    lam.save(tmp_path / "lambda.keras")
    with pytest.raises(ValueError, match="Lambda.*does not run it"):
        keras.models.load_model(tmp_path / "lambda.keras")


def test_legacy_checkpoints_keep_loading(tmp_path):
    model = keras.Sequential([keras.Input((3,)), layers.Dense(2)])
    model.save(tmp_path / "legacy.keras", metadata={"vocabulary": ["a"]})  # json+safetensors
    assert (tmp_path / "legacy.json").exists() and not (tmp_path / "legacy.keras").exists()
    loaded = keras.models.load_model(tmp_path / "legacy.keras")
    assert loaded.metadata == {"vocabulary": ["a"]}
    x = np.ones((2, 3), np.float32)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    model.save(tmp_path / "plain")
    np.testing.assert_array_equal(keras.models.load_model(tmp_path / "plain").predict(
        x, verbose=0), model.predict(x, verbose=0))


def test_a_model_saved_by_either_library_loads_in_the_other(tmp_path):
    real = keras3()
    theirs = zoo(real, block_class(real))
    theirs.compile("adam", ["mse", "binary_crossentropy"], metrics=[["mae"], ["accuracy"]])
    theirs.save(tmp_path / "keras.keras")
    theirs.save_weights(tmp_path / "keras.weights.h5")
    want = predict(theirs)

    ours = keras.models.load_model(tmp_path / "keras.keras")
    np.testing.assert_allclose(predict(ours), want, rtol=1e-5, atol=1e-6)
    assert ours.compiled
    rebuilt = zoo(keras, block_class(keras))
    rebuilt.load_weights(tmp_path / "keras.weights.h5")
    np.testing.assert_allclose(predict(rebuilt), want, rtol=1e-5, atol=1e-6)

    scramble(rebuilt)
    rebuilt.save(tmp_path / "tinymm.keras")
    rebuilt.save_weights(tmp_path / "tinymm.weights.h5")
    ours_want = predict(rebuilt)
    back = real.models.load_model(tmp_path / "tinymm.keras")
    np.testing.assert_allclose(predict(back), ours_want, rtol=1e-5, atol=1e-6)
    again = zoo(real, block_class(real))
    again.load_weights(tmp_path / "tinymm.weights.h5")
    np.testing.assert_allclose(predict(again), ours_want, rtol=1e-5, atol=1e-6)


def test_keras_sequential_file_with_conv_layers_loads(tmp_path):
    real = keras3()
    theirs = real.Sequential([
        real.Input((8, 8, 3)), real.layers.Conv2D(4, 3, padding="same", activation="relu"),
        real.layers.MaxPooling2D(), real.layers.Dropout(0.2), real.layers.Flatten(),
        real.layers.Dense(5, activation="softmax")], name="convnet")
    theirs.compile("rmsprop", "sparse_categorical_crossentropy", metrics=["accuracy"])
    theirs.save(tmp_path / "conv.keras")
    x = np.random.default_rng(2).standard_normal((2, 8, 8, 3)).astype("float32")
    ours = keras.models.load_model(tmp_path / "conv.keras")
    assert ours.name == "convnet" and len(ours.layers) == 5
    np.testing.assert_allclose(ours.predict(x, verbose=0), as_numpy(theirs.predict(
        x, verbose=0)), rtol=1e-5, atol=1e-6)
    ours.save(tmp_path / "back.keras")
    back = real.models.load_model(tmp_path / "back.keras")
    np.testing.assert_allclose(as_numpy(back.predict(x, verbose=0)), ours.predict(
        x, verbose=0), rtol=1e-5, atol=1e-6)


def seq2seq(lib):
    """An encoder whose states start a decoder: tensors passed as a keyword argument."""
    enc_in, dec_in = lib.Input((None, 3)), lib.Input((None, 4))
    _, h, c = lib.layers.LSTM(5, return_state=True)(enc_in)
    seq = lib.layers.LSTM(5, return_sequences=True)(dec_in, initial_state=[h, c])
    return lib.Model([enc_in, dec_in], lib.layers.Dense(4, activation="softmax")(seq))


def test_keyword_tensor_arguments_cross_both_ways(tmp_path):
    real = keras3()
    rng = np.random.default_rng(4)
    x = [rng.standard_normal((2, 3, 3)).astype("float32"),
         rng.standard_normal((2, 2, 4)).astype("float32")]
    crosses(real, tmp_path, seq2seq(real), seq2seq(keras), x)


IMAGE, STEPS = (6, 6, 3), (5, 4)
LAYERS = [  # (name, input shape, the layer from a layers module)
    ("conv2d_transpose", IMAGE, lambda L: L.Conv2DTranspose(2, 3, strides=2, padding="same")),
    ("separable", IMAGE, lambda L: L.SeparableConv2D(4, 3)),
    ("depthwise", IMAGE, lambda L: L.DepthwiseConv2D(3)),
    ("average_pooling", IMAGE, lambda L: L.AveragePooling2D(2)),
    ("global_max", IMAGE, lambda L: L.GlobalMaxPooling2D()),
    ("upsampling", IMAGE, lambda L: L.UpSampling2D()),
    ("zero_padding", IMAGE, lambda L: L.ZeroPadding2D(1)),
    ("prelu", IMAGE, lambda L: L.PReLU()),
    ("group_norm", IMAGE, lambda L: L.GroupNormalization(3)),
    ("simple_rnn", STEPS, lambda L: L.SimpleRNN(3)),
    ("time_distributed", STEPS, lambda L: L.TimeDistributed(L.Dense(2))),
    ("bidirectional_lstm", STEPS, lambda L: L.Bidirectional(L.LSTM(2))),
    ("conv1d_strided", STEPS, lambda L: L.Conv1D(3, 2, padding="same", strides=2)),
    ("permute", STEPS, lambda L: L.Permute((2, 1))),
    ("spatial_dropout", STEPS, lambda L: L.SpatialDropout1D(0.2)),
    ("attention", STEPS, lambda L: L.Attention()),
    ("selu_dense", (4,), lambda L: L.Dense(3, kernel_initializer="he_normal",
                                           activation="selu")),
    ("masked_lstm", (5,), None),
    ("operators", (4,), None),
]


def one_layer_model(lib, name, shape, make):
    L = lib.layers
    if name == "masked_lstm":  # Keras records the mask as a NotEqual operation
        ids = lib.Input(shape, dtype="int32")
        return lib.Model(ids, L.LSTM(2)(L.Embedding(9, 3, mask_zero=True)(ids)))
    x = lib.Input(shape)
    if name == "operators":  # a + b and a * b on symbolic tensors: Add, Multiply operations
        a, b = L.Dense(2)(x), L.Dense(2)(x)
        return lib.Model(x, (a + b) * b)
    return lib.Model(x, make(L)([x, x]) if name == "attention" else make(L)(x))


@pytest.mark.parametrize(("name", "shape", "make"), LAYERS, ids=[c[0] for c in LAYERS])
def test_each_layer_crosses_both_ways(tmp_path, name, shape, make):
    real = keras3()
    rng = np.random.default_rng(5)
    x = rng.integers(1, 9, (2,) + shape).astype("int32") if name == "masked_lstm" else \
        rng.standard_normal((2,) + shape).astype("float32")
    crosses(real, tmp_path, one_layer_model(real, name, shape, make),
            one_layer_model(keras, name, shape, make), x)


def test_an_unsupported_keras_option_is_named(tmp_path):
    real = keras3()
    x = real.Input((5, 4))
    real.Model(x, real.layers.LayerNormalization(center=False)(x)).save(tmp_path / "ln.keras")
    with pytest.raises(ValueError, match="LayerNormalization.*center=False"):
        keras.models.load_model(tmp_path / "ln.keras")


def stack_class(lib):
    """A custom layer holding a list of layers (Keras's h5 groups: blocks/dense,
    blocks/dense_1) and a Sequential."""
    @lib.saving.register_keras_serializable(package="format_test")
    class Stack(lib.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.blocks = [lib.layers.Dense(3, activation="tanh"), lib.layers.Dense(2)]
            self.head = lib.Sequential([lib.layers.Dense(2)])

        def call(self, x):
            for block in self.blocks:
                x = block(x)
            return self.head(x)

    return Stack


def test_a_custom_layer_with_a_list_and_a_sequential_crosses(tmp_path):
    real = keras3()
    x = np.random.default_rng(6).standard_normal((2, 4)).astype("float32")
    theirs_in = real.Input((4,))
    theirs = real.Model(theirs_in, stack_class(real)()(theirs_in))
    stack_class(keras)  # the same class, registered on tinymm's side
    crosses(real, tmp_path, theirs, None, x)


def adam_model(lib):
    inputs = lib.Input((4,))
    h = lib.layers.BatchNormalization()(lib.layers.Dense(3, activation="tanh")(inputs))
    return lib.Model(inputs, lib.layers.Dense(2)(h))


def adam_data():
    rng = np.random.default_rng(7)
    return rng.standard_normal((8, 4)).astype("float32"), \
        rng.standard_normal((8, 2)).astype("float32")


def test_training_resumes_from_a_keras_adam_state(tmp_path):
    real = keras3()
    x, y = adam_data()
    build = adam_model
    theirs = build(real)
    theirs.compile(real.optimizers.Adam(0.05), "mse")
    for _ in range(3):
        theirs.train_on_batch(x, y)
    theirs.save(tmp_path / "adam.keras")
    ours = keras.models.load_model(tmp_path / "adam.keras")
    assert int(np.asarray(ours.optimizer.iterations)) == 3
    for _ in range(2):
        want, got = theirs.train_on_batch(x, y), ours.train_on_batch(x, y)
        np.testing.assert_allclose(got, want, rtol=1e-5)
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(a, as_numpy(b), rtol=1e-5, atol=1e-6)


def test_keras_resumes_from_a_tinymm_adam_state(tmp_path):
    real = keras3()
    x, y = adam_data()
    ours = adam_model(keras)
    ours.compile(keras.optimizers.Adam(0.05), "mse")
    for _ in range(3):
        ours.train_on_batch(x, y)
    ours.save(tmp_path / "adam.keras")
    theirs = real.models.load_model(tmp_path / "adam.keras")
    assert int(as_numpy(theirs.optimizer.iterations)) == 3
    for _ in range(2):
        want, got = ours.train_on_batch(x, y), theirs.train_on_batch(x, y)
        np.testing.assert_allclose(got, want, rtol=1e-5)
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(as_numpy(b), a, rtol=1e-5, atol=1e-6)
