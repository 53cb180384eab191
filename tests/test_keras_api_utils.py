"""Optimizers (Adamax, Lion), callbacks (LambdaCallback, ProgbarLogger, BackupAndRestore)
and utils (custom-object registry, normalize, split_dataset,
timeseries_dataset_from_array, PyDataset in fit/evaluate/predict, clear_session): against
Keras 3 (PyTorch backend) where it is installed, else closed forms."""

from __future__ import annotations

import numpy as np
import pytest

from tests.keras3 import keras3
from tinymm import keras as tk
from tinymm.nn.module import Parameter

RNG = np.random.default_rng(0)
X = RNG.standard_normal((20, 3)).astype(np.float32)
Y = RNG.standard_normal((20, 1)).astype(np.float32)
GRADS = [[0.5, -1.0], [0.1, 2.0], [-0.3, 0.4], [0.0, -0.2]]


def _ours(spec):
    p = Parameter(np.array([1.0, -2.0], np.float32))
    opt = spec.build([p])
    out = []
    for g in GRADS:
        opt.apply([np.array(g, np.float32)], [p])
        out.append(p.array.copy())
    return out


@pytest.mark.parametrize("name,options", [("Adamax", {"learning_rate": 0.1}),
                                          ("Lion", {"learning_rate": 0.05, "beta_1": 0.8})])
def test_optimizer_matches_keras(name, options):
    keras = keras3()
    var = keras.Variable(np.array([1.0, -2.0], np.float32))
    opt = getattr(keras.optimizers, name)(**options)
    theirs = []
    for g in GRADS:
        opt.apply([keras.ops.convert_to_tensor(np.array(g, np.float32))], [var])
        theirs.append(np.asarray(var.numpy()))
    np.testing.assert_allclose(_ours(getattr(tk.optimizers, name)(**options)), theirs,
                               rtol=1e-5, atol=1e-6)


def test_optimizer_closed_forms():
    lion = _ours(tk.optimizers.Lion(0.1))  # first step: -lr sign(g)
    np.testing.assert_allclose(lion[0], [1.0 - 0.1, -2.0 + 0.1])
    adamax = _ours(tk.optimizers.Adamax(0.1))  # first step: -lr g / (|g| + eps)
    np.testing.assert_allclose(adamax[0], [0.9, -1.9], rtol=1e-5)
    assert isinstance(tk.optimizers.get("lion"), tk.optimizers.Lion)


def _model(seed=0):
    tk.utils.set_random_seed(seed)
    model = tk.Sequential([tk.Input(shape=(3,)), tk.layers.Dense(4, activation="relu"),
                           tk.layers.Dense(1)])
    model.compile(optimizer=tk.optimizers.Adam(0.01), loss="mse")
    return model


def test_backup_and_restore_resumes_as_an_uninterrupted_run(tmp_path):
    straight = _model()
    straight.fit(X, Y, epochs=4, batch_size=5, shuffle=False, verbose=0)

    class StopAfter(tk.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                self.model.stop_training = True

    first = _model()
    first.fit(X, Y, epochs=4, batch_size=5, shuffle=False, verbose=0,
              callbacks=[tk.callbacks.BackupAndRestore(tmp_path), StopAfter()])
    resumed = _model(seed=7)  # other initial weights: the backup replaces them
    epochs = []
    history = resumed.fit(X, Y, epochs=4, batch_size=5, shuffle=False, verbose=0, callbacks=[
        tk.callbacks.BackupAndRestore(tmp_path),
        tk.callbacks.LambdaCallback(on_epoch_begin=lambda e, logs: epochs.append(e))])
    assert epochs == [2, 3] and history.epoch == [2, 3]
    for a, b in zip(resumed.get_weights(), straight.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6)
    assert not list(tmp_path.iterdir())  # a finished run deletes the backup


def test_lambda_callback_and_progbar_logger(capsys):
    calls = []
    model = _model()
    model.fit(X, Y, epochs=2, batch_size=10, verbose=0, callbacks=[
        tk.callbacks.LambdaCallback(on_train_begin=lambda logs: calls.append("begin"),
                                    on_batch_end=lambda b, logs: calls.append(b),
                                    on_epoch_end=lambda e, logs: calls.append(("e", e))),
        tk.callbacks.ProgbarLogger()])
    assert calls == ["begin", 0, 1, ("e", 0), 0, 1, ("e", 1)]
    out = capsys.readouterr().out
    assert "Epoch 1/2" in out and "Epoch 2/2" in out and out.count("2/2 [") == 2


class _Batches(tk.utils.PyDataset):
    def __init__(self, batch_size):
        super().__init__()
        self.batch_size, self.ends = batch_size, 0

    def __len__(self):
        return int(np.ceil(len(X) / self.batch_size))

    def __getitem__(self, i):
        part = slice(i * self.batch_size, (i + 1) * self.batch_size)
        return X[part], Y[part]

    def on_epoch_end(self):
        self.ends += 1


def test_py_dataset_trains_as_the_arrays():
    arrays, batches = _model(), _model()
    h_arrays = arrays.fit(X, Y, epochs=3, batch_size=6, shuffle=False, verbose=0).history
    data = _Batches(6)
    h_batches = batches.fit(data, epochs=3, shuffle=False, verbose=0,
                            validation_data=_Batches(10)).history
    np.testing.assert_allclose(h_batches["loss"], h_arrays["loss"], rtol=1e-6)
    assert data.ends == 3 and len(h_batches["val_loss"]) == 3
    np.testing.assert_allclose(batches.evaluate(_Batches(7), verbose=0),
                               arrays.evaluate(X, Y, verbose=0), rtol=1e-6)
    np.testing.assert_allclose(batches.predict(_Batches(7)), arrays.predict(X), rtol=1e-6)
    assert tk.utils.Sequence is tk.utils.PyDataset


def test_timeseries_and_split_dataset():
    data = np.arange(20).reshape(10, 2)
    ts = tk.utils.timeseries_dataset_from_array(data, np.arange(10) * 10, sequence_length=3,
                                                sequence_stride=2, sampling_rate=2,
                                                batch_size=2, start_index=1)
    windows = [w for i in range(len(ts)) for w in ts[i][0]]
    targets = [t for i in range(len(ts)) for t in ts[i][1]]
    # start 1: windows at 1, 3, 5 (steps 1, 3, 5 / 3, 5, 7 / 5, 7, 9), targets at 1, 3, 5
    np.testing.assert_array_equal(windows, [data[[1, 3, 5]], data[[3, 5, 7]], data[[5, 7, 9]]])
    assert targets == [10, 30, 50] and len(ts) == 2
    left, right = tk.utils.split_dataset((X, Y), left_size=0.75)
    assert left[0].shape == (15, 3) and right[1].shape == (5, 1)
    np.testing.assert_array_equal(np.concatenate([left[0], right[0]]), X)
    a, b = tk.utils.split_dataset(np.arange(10), right_size=3, shuffle=True, seed=1)
    assert len(a) == 7 and sorted(np.concatenate([a, b]).tolist()) == list(range(10))
    with pytest.raises(ValueError, match="left_size"):
        tk.utils.split_dataset(np.arange(10), left_size=1.5)


def test_normalize_matches_keras():
    keras = keras3()
    x = RNG.standard_normal((4, 3))
    np.testing.assert_allclose(tk.utils.normalize(x), np.asarray(keras.utils.normalize(x)),
                               rtol=1e-6)
    np.testing.assert_allclose(tk.utils.normalize(x, order=1),
                               np.asarray(keras.utils.normalize(x, order=1)), rtol=1e-6)
    np.testing.assert_allclose(tk.utils.normalize(x, axis=0, order=1),
                               x / np.abs(x).sum(axis=0), rtol=1e-6)


def test_custom_objects_load_a_saved_custom_layer(tmp_path):
    @tk.utils.register_keras_serializable(package="tests")
    class Doubler(tk.layers.Layer):
        def call(self, x):
            return x * 2.0

    assert tk.utils.get_custom_objects()["tests>Doubler"] is Doubler
    inp = tk.Input(shape=(3,))
    model = tk.Model(inp, tk.layers.Dense(2)(Doubler()(inp)))
    model.save(tmp_path / "m")
    np.testing.assert_allclose(tk.models.load_model(tmp_path / "m").predict(X), model.predict(X))

    class Tripler(tk.layers.Layer):
        def call(self, x):
            return x * 3.0

    model = tk.Model(inp, Tripler()(inp))
    config = model.get_config()
    with pytest.raises(Exception, match="unknown layer class 'Tripler'"):
        tk.Model.from_config(config)
    with tk.utils.custom_object_scope({"Tripler": Tripler}):
        np.testing.assert_allclose(tk.Model.from_config(config).predict(X), 3 * X, rtol=1e-6)
    assert "Tripler" not in tk.utils.get_custom_objects()
    tk.utils.clear_session()
    assert tk.layers.Dense(1).name == "dense"


def test_keras_random():
    a = tk.random.normal((2, 3), seed=5).numpy()
    np.testing.assert_array_equal(a, tk.random.normal((2, 3), seed=5).numpy())  # int: fixed
    gen = tk.random.SeedGenerator(1)
    first, second = tk.random.uniform((4,), seed=gen), tk.random.uniform((4,), seed=gen)
    assert not np.array_equal(first.numpy(), second.numpy())
    again = tk.random.SeedGenerator(1)
    np.testing.assert_array_equal(tk.random.uniform((4,), seed=again).numpy(), first.numpy())
    assert a.dtype == np.float32 and np.all(np.abs(tk.random.truncated_normal(
        (500,), seed=0).numpy()) <= 2.0)
    ints = tk.random.randint((100,), 2, 5, seed=0).numpy()
    assert ints.dtype == np.int32 and set(np.unique(ints)) <= {2, 3, 4}
    shuffled = tk.random.shuffle(np.arange(6), seed=0).numpy()
    assert sorted(shuffled.tolist()) == list(range(6))
    dropped = tk.random.dropout(np.ones((50, 4), np.float32), 0.5, noise_shape=(50, 1),
                                seed=0).numpy()
    assert set(np.unique(dropped)) <= {0.0, 2.0}
    assert np.all(dropped.min(axis=1) == dropped.max(axis=1))  # one draw per row
