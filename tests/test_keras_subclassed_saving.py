"""A subclassed keras.Model in the .keras format, as Keras 3 saves it: its registered class,
get_config() (or the auto-generated constructor arguments) and build shape in config.json,
its weights in groups named after its attributes; loaded by constructing the registered
class, on tinymm and across to and from Keras 3 (skipped without it)."""

from __future__ import annotations

import io
import json
import zipfile

import h5py
import numpy as np
import pytest

from tests.keras3 import as_numpy, keras3
from tinymm import keras


def model_classes(lib, package: str = "subclassed_test"):
    """``Tower``: an own get_config, a list attribute, an attribute (``out``) that sorts after
    ``layers`` (Keras saves it under layers/), BatchNormalization and its own weight;
    ``Auto``: no get_config, so Keras generates one from its constructor arguments."""
    register = lib.saving.register_keras_serializable(package=package)

    @register
    class Tower(lib.Model):
        def __init__(self, units=3, depth=2, **kwargs):
            super().__init__(**kwargs)
            self.units, self.depth = units, depth
            self.first = lib.layers.Dense(units, activation="tanh")
            self.blocks = [lib.layers.Dense(units) for _ in range(depth)]
            self.norm = lib.layers.BatchNormalization()
            self.out = lib.layers.Dense(2)
            self.scale = self.add_weight(name="scale", shape=(2,), initializer="ones")

        def call(self, x):
            x = self.first(x)
            for block in self.blocks:
                x = block(x)
            return self.out(self.norm(x)) * self.scale

        def get_config(self):
            return {**super().get_config(), "units": self.units, "depth": self.depth}

    @register
    class Auto(lib.Model):
        def __init__(self, units=4, **kwargs):
            super().__init__(**kwargs)
            self.hidden = lib.layers.Dense(units, activation="relu")
            self._head = lib.layers.Dense(1)

        def call(self, x):
            return self._head(self.hidden(x))

    return Tower, Auto


X = np.random.default_rng(0).standard_normal((3, 5)).astype("float32")


def scramble(model) -> None:
    rng = np.random.default_rng(1)
    model.set_weights([rng.standard_normal(w.shape).astype(w.dtype) * 0.5
                       for w in model.get_weights()])


def groups(path) -> dict:
    """The weights file's datasets (the layers' and the model's own) -> shapes."""
    found = {}

    def visit(name, obj):
        if isinstance(obj, h5py.Dataset) and not name.startswith(("optimizer", "tinymm")):
            found[name] = obj.shape

    with zipfile.ZipFile(path) as archive, h5py.File(
            io.BytesIO(archive.read("model.weights.h5"))) as f:
        f.visititems(visit)
    return found


def config_of(path) -> dict:
    with zipfile.ZipFile(path) as archive:
        return json.loads(archive.read("config.json"))


def test_a_subclassed_model_saves_by_its_class_and_reloads(tmp_path):
    tower_cls, auto_cls = model_classes(keras)
    model = tower_cls(units=4, depth=3, name="tower")
    model(X)
    scramble(model)
    model.compile(keras.optimizers.SGD(0.1, momentum=0.9), "mse")
    model.save(tmp_path / "t.keras")
    config = config_of(tmp_path / "t.keras")
    assert (config["class_name"], config["registered_name"]) == ("Tower", "subclassed_test>Tower")
    assert {k: config["config"][k] for k in ("units", "depth", "name")} == {
        "units": 4, "depth": 3, "name": "tower"}
    assert config["build_config"] == {"input_shape": [3, 5]}
    saved = groups(tmp_path / "t.keras")
    assert {"first/vars/0", "blocks/dense/vars/0", "blocks/dense_2/vars/1", "vars/0",
            "layers/batch_normalization/vars/3", "layers/dense_4/vars/0"} <= set(saved)
    # (norm and out sort after the pseudo-attribute layers, so Keras saves them there)
    assert saved["first/vars/0"] == (5, 4) and saved["vars/0"] == (2,)
    loaded = keras.models.load_model(tmp_path / "t.keras")
    assert type(loaded) is tower_cls and loaded.units == 4 and len(loaded.blocks) == 3
    np.testing.assert_array_equal(loaded.predict(X, verbose=0), model.predict(X, verbose=0))
    assert loaded.compiled

    auto = auto_cls(units=6)
    auto(X)
    assert auto.get_config() == {"name": auto.name, "units": 6, "trainable": True,
                                 "dtype": "float32"}
    auto.save(tmp_path / "a.keras")
    assert set(groups(tmp_path / "a.keras")) == {  # _head: private names sort after layers
        "hidden/vars/0", "hidden/vars/1", "layers/dense_1/vars/0", "layers/dense_1/vars/1"}
    again = keras.models.load_model(tmp_path / "a.keras")
    np.testing.assert_array_equal(again.predict(X, verbose=0), auto.predict(X, verbose=0))


def test_loading_constructs_only_registered_classes(tmp_path):
    class Loose(keras.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.dense = keras.layers.Dense(2)

        def call(self, x):
            return self.dense(x)

    model = Loose()
    model(X)
    model.save(tmp_path / "l.keras")
    with pytest.raises(ValueError, match="unknown model class 'Loose'.*register"):
        keras.models.load_model(tmp_path / "l.keras")
    loaded = keras.models.load_model(tmp_path / "l.keras", custom_objects={"Loose": Loose})
    np.testing.assert_array_equal(loaded.predict(X, verbose=0), model.predict(X, verbose=0))

    class Opaque(keras.Model):  # a constructor argument Keras cannot put in a config
        def __init__(self, layer, **kwargs):
            super().__init__(**kwargs)
            self.layer = layer

        def call(self, x):
            return self.layer(x)

    opaque = Opaque(keras.layers.Dense(2))
    opaque(X)
    with pytest.raises(NotImplementedError, match="Opaque.*define get_config"):
        opaque.save(tmp_path / "o.keras")


def test_subclassed_models_cross_to_and_from_keras_3(tmp_path):
    real = keras3()
    theirs_cls, their_auto = model_classes(real)
    ours_cls, our_auto = model_classes(keras)
    theirs = theirs_cls(units=4, depth=3)
    theirs(X)
    scramble(theirs)
    theirs.save(tmp_path / "keras.keras")
    ours = keras.models.load_model(tmp_path / "keras.keras")
    assert type(ours) is ours_cls and ours.units == 4
    np.testing.assert_allclose(ours.predict(X, verbose=0), as_numpy(theirs.predict(
        X, verbose=0)), rtol=1e-5, atol=1e-6)

    mine = ours_cls(units=3, depth=1)
    mine(X)
    scramble(mine)
    mine.save(tmp_path / "tinymm.keras")
    back = real.models.load_model(tmp_path / "tinymm.keras")
    assert type(back) is theirs_cls and back.units == 3
    np.testing.assert_allclose(as_numpy(back.predict(X, verbose=0)), mine.predict(
        X, verbose=0), rtol=1e-5, atol=1e-6)

    # auto-generated configs: Keras 3's own records the defaults (Model.__new__ drops the
    # arguments), tinymm's the arguments given; both load on either side
    auto = their_auto()
    auto(X)
    auto.save(tmp_path / "keras_auto.keras")
    np.testing.assert_allclose(keras.models.load_model(tmp_path / "keras_auto.keras").predict(
        X, verbose=0), as_numpy(auto.predict(X, verbose=0)), rtol=1e-5, atol=1e-6)
    mine = our_auto(units=7)
    mine(X)
    mine.save(tmp_path / "tinymm_auto.keras")
    back = real.models.load_model(tmp_path / "tinymm_auto.keras")
    np.testing.assert_allclose(as_numpy(back.predict(X, verbose=0)), mine.predict(
        X, verbose=0), rtol=1e-5, atol=1e-6)


def test_training_resumes_across_for_a_subclassed_model(tmp_path):
    # (Auto, without BatchNormalization: Keras 3's train_on_batch on a subclassed model with
    # one reports a loss its own training-mode forward pass does not give)
    real = keras3()
    _, theirs_cls = model_classes(real)
    model_classes(keras)
    y = np.random.default_rng(2).standard_normal((3, 1)).astype("float32")
    theirs = theirs_cls()
    theirs.compile(real.optimizers.Adam(0.05), "mse")
    for _ in range(2):
        theirs.train_on_batch(X, y)
    theirs.save(tmp_path / "adam.keras")
    ours = keras.models.load_model(tmp_path / "adam.keras")
    for _ in range(2):
        np.testing.assert_allclose(ours.train_on_batch(X, y), theirs.train_on_batch(X, y),
                                   rtol=1e-5)
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(a, as_numpy(b), rtol=1e-5, atol=1e-6)


def test_layers_and_weights_are_listed_as_keras_lists_them():
    real = keras3()
    theirs_cls, _ = model_classes(real, package="listing_test")
    ours_cls, _ = model_classes(keras, package="listing_test")
    theirs, ours = theirs_cls(units=4), ours_cls(units=4)
    theirs(X), ours(X)
    assert [type(la).__name__ for la in ours.layers] == [
        type(la).__name__ for la in theirs.layers]  # no InputLayer, assignment order
    assert [w.shape for w in ours.get_weights()] == [
        tuple(w.shape) for w in theirs.get_weights()]  # the model's own weight first
    ours.set_weights(theirs.get_weights())
    np.testing.assert_allclose(ours.predict(X, verbose=0), as_numpy(theirs.predict(
        X, verbose=0)), rtol=1e-5, atol=1e-6)
