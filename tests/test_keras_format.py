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
    theirs = seq2seq(real)
    theirs.save(tmp_path / "keras.keras")
    ours = keras.models.load_model(tmp_path / "keras.keras")
    np.testing.assert_allclose(ours.predict(x, verbose=0), as_numpy(theirs.predict(
        x, verbose=0)), rtol=1e-5, atol=1e-6)
    mine = seq2seq(keras)
    scramble(mine)
    mine.save(tmp_path / "tinymm.keras")
    back = real.models.load_model(tmp_path / "tinymm.keras")
    np.testing.assert_allclose(as_numpy(back.predict(x, verbose=0)), mine.predict(
        x, verbose=0), rtol=1e-5, atol=1e-6)
