"""Differential tests: the same Keras 3 program line on tinymm.keras and on Keras 3 (PyTorch
backend), on the same inputs: optimizers' update rules with Keras's defaults, learning-rate
schedules, layers' default initialisation (weight statistics), weight lists, and freezing
layers (``trainable = False``), which Keras applies at once."""

import numpy as np
import pytest

import tinymm
from tests.keras3 import as_numpy, keras3
from tinymm import keras as tk

keras = keras3()

_R = np.random.default_rng(0)
_W0 = [_R.standard_normal((3, 4)).astype(np.float32), _R.standard_normal(4).astype(np.float32)]
_GRADS = [[_R.standard_normal(w.shape).astype(np.float32) * (1 + s) for w in _W0]
          for s in range(5)]


# ---------------------------------------------------------------- optimizers and schedules
def _o(m):
    return m.optimizers


OPTIMIZERS = {
    "SGD (lr 0.01)": lambda m: _o(m).SGD(),
    "SGD momentum": lambda m: _o(m).SGD(0.1, momentum=0.5),
    "SGD nesterov": lambda m: _o(m).SGD(0.1, momentum=0.9, nesterov=True),
    "Adam (epsilon 1e-7)": lambda m: _o(m).Adam(),
    "Adam epsilon before bias correction": lambda m: _o(m).Adam(0.01, beta_1=0.5, beta_2=0.6,
                                                                epsilon=1e-3),
    "Adam amsgrad": lambda m: _o(m).Adam(0.01, amsgrad=True, epsilon=1e-2),
    "AdamW (weight_decay 0.004)": lambda m: _o(m).AdamW(),
    "AdamW weight_decay epsilon": lambda m: _o(m).AdamW(0.01, weight_decay=0.1, epsilon=1e-2),
    "RMSprop (epsilon inside the root)": lambda m: _o(m).RMSprop(),
    "RMSprop centered momentum": lambda m: _o(m).RMSprop(0.01, momentum=0.9, centered=True),
    "Adagrad (accumulator 0.1)": lambda m: _o(m).Adagrad(),
    "Adagrad accumulator": lambda m: _o(m).Adagrad(0.1, initial_accumulator_value=0.5),
    "Adadelta": lambda m: _o(m).Adadelta(),
    "Adadelta rho": lambda m: _o(m).Adadelta(1.0, rho=0.5),
    "Adamax": lambda m: _o(m).Adamax(),
    "Nadam (momentum schedule 0.96^t)": lambda m: _o(m).Nadam(),
    "Nadam lr": lambda m: _o(m).Nadam(0.01),
    "Lion": lambda m: _o(m).Lion(),
    "ExponentialDecay": lambda m: _o(m).SGD(_o(m).schedules.ExponentialDecay(0.1, 2, 0.5)),
    "ExponentialDecay staircase": lambda m: _o(m).SGD(
        _o(m).schedules.ExponentialDecay(0.1, 2, 0.5, staircase=True)),
    "PiecewiseConstantDecay": lambda m: _o(m).SGD(
        _o(m).schedules.PiecewiseConstantDecay([1, 3], [0.1, 0.05, 0.01])),
    "CosineDecay": lambda m: _o(m).SGD(_o(m).schedules.CosineDecay(0.1, 4)),
}


def _apply_keras(make):
    variables = [keras.Variable(w.copy()) for w in _W0]
    optimizer = make(keras)
    for grads in _GRADS:
        optimizer.apply([keras.ops.convert_to_tensor(g) for g in grads], variables)
    return [as_numpy(keras.ops.convert_to_numpy(v)) for v in variables]


def _apply_ours(make):
    variables = [tinymm.nn.Parameter(tinymm.tensor(w.copy())) for w in _W0]
    optimizer = make(tk)
    for grads in _GRADS:
        optimizer.apply([tinymm.tensor(g) for g in grads], variables)
    return [v.detach().numpy() for v in variables]


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_optimizer_updates_match_keras(name):
    for ours, theirs in zip(_apply_ours(OPTIMIZERS[name]), _apply_keras(OPTIMIZERS[name])):
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------- default initialisation
def _l(m):
    return m.layers


# name: (layer, input shape); every weight's Keras-layout shape and its statistics compared
LAYERS = {
    "Dense glorot_uniform, zeros": (lambda m: _l(m).Dense(300), (2, 200)),
    "Conv2D glorot_uniform": (lambda m: _l(m).Conv2D(32, 3), (1, 8, 8, 16)),
    "Conv1D glorot_uniform": (lambda m: _l(m).Conv1D(32, 5), (1, 9, 16)),
    "LSTM glorot, orthogonal, unit_forget_bias": (lambda m: _l(m).LSTM(64), (2, 3, 20)),
    "GRU (reset_after)": (lambda m: _l(m).GRU(64), (2, 3, 20)),
    "SimpleRNN orthogonal recurrent kernel": (lambda m: _l(m).SimpleRNN(64), (2, 3, 20)),
    "Embedding uniform(-0.05, 0.05)": (lambda m: _l(m).Embedding(1000, 64), (2, 3)),
    "BatchNormalization ones, zeros, moving stats": (lambda m: _l(m).BatchNormalization(),
                                                     (4, 16)),
    "LayerNormalization": (lambda m: _l(m).LayerNormalization(), (4, 16)),
    "MultiHeadAttention glorot per projection": (
        lambda m: _l(m).MultiHeadAttention(4, 16), (2, 3, 64)),
    "MultiHeadAttention two heads": (lambda m: _l(m).MultiHeadAttention(2, 24), (2, 3, 48)),
}


def _built_weights(m, name):
    make, shape = LAYERS[name]
    layer = make(m)
    x = np.zeros(shape, np.int64 if "Embedding" in name else np.float32)
    inputs = (x, x) if "MultiHead" in name else (x,)
    layer(*(tinymm.tensor(a) for a in inputs) if m is tk else inputs)
    return layer.get_weights()


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_default_initialisation_matches_keras(name):
    keras.utils.set_random_seed(0)
    ours, theirs = _built_weights(tk, name), _built_weights(keras, name)
    assert [w.shape for w in ours] == [w.shape for w in theirs]
    for a, b in zip(ours, theirs):
        a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
        assert a.dtype == b.dtype
        if b.std() == 0:  # a constant: zeros, ones, the forget-gate ones
            np.testing.assert_array_equal(a, b)
            continue
        assert abs(a.std() - b.std()) < 0.08 * b.std(), (a.std(), b.std())
        assert abs(np.abs(a).max() - np.abs(b).max()) < 0.25 * np.abs(b).max()
        assert abs(a.mean() - b.mean()) < 5 * b.std() / np.sqrt(b.size) + 1e-6


# ---------------------------------------------------------------- weight lists and freezing
def _x_y(n=16):
    rng = np.random.default_rng(1)
    return (rng.standard_normal((n, 3)).astype(np.float32) * 3 + 2,
            rng.standard_normal((n, 3)).astype(np.float32))


def test_batch_normalization_lists_its_moving_statistics_as_non_trainable_weights():
    def counts(m):
        model = m.Sequential([m.Input((3,)), m.layers.BatchNormalization(), m.layers.Dense(2)])
        layer = model.layers[0]
        return (len(layer.weights), len(layer.trainable_weights),
                len(layer.non_trainable_weights), len(model.weights),
                len(model.non_trainable_weights), model.count_params())

    assert counts(tk) == counts(keras) == (4, 2, 2, 6, 2, 20)


def _fit_with_first_layer_frozen(m):
    model = m.Sequential([m.Input((3,)), m.layers.Dense(4), m.layers.Dense(3)])
    model.layers[0].trainable = False  # after build: Keras applies it at once
    before = model.get_weights()
    model.compile(optimizer="sgd", loss="mse")
    model.fit(*_x_y(), epochs=1, verbose=0)
    after = model.get_weights()
    return ([not np.allclose(a, b) for a, b in zip(before, after)],
            len(model.trainable_weights), len(model.non_trainable_weights))


def test_freezing_a_built_layer_stops_its_training():
    assert _fit_with_first_layer_frozen(tk) == _fit_with_first_layer_frozen(keras) == (
        [False, False, True, True], 2, 2)


def _transfer(m):
    """A frozen base model inside a new model, then unfrozen (fine-tuning)."""
    base = m.Sequential([m.Input((3,)), m.layers.Dense(4)])
    model = m.Sequential([base, m.layers.Dense(3)])
    base.trainable = False
    kernel = base.get_weights()[0].copy()
    model.compile(optimizer="sgd", loss="mse")
    model.fit(*_x_y(), epochs=1, verbose=0)
    frozen = (np.allclose(kernel, base.get_weights()[0]), len(model.trainable_weights),
              base.layers[0].trainable)
    base.trainable = True
    model.compile(optimizer="sgd", loss="mse")
    model.fit(*_x_y(), epochs=1, verbose=0)
    return frozen, np.allclose(kernel, base.get_weights()[0]), len(model.trainable_weights)


def test_a_frozen_base_model_stays_frozen_until_unfrozen():
    assert _transfer(tk) == _transfer(keras) == ((True, 2, False), False, 4)


def _frozen_batch_norm(m):
    model = m.Sequential([m.Input((3,)), m.layers.BatchNormalization(),
                          m.layers.Dense(3, kernel_initializer="ones")])
    model.layers[0].trainable = False
    model.compile(optimizer="sgd", loss="mse")
    history = model.fit(*_x_y(), epochs=1, batch_size=16, verbose=0)
    return model.get_weights(), history.history["loss"]


def test_a_frozen_batch_normalization_runs_in_inference_mode():
    (ours, ours_loss), (theirs, theirs_loss) = _frozen_batch_norm(tk), _frozen_batch_norm(keras)
    for a, b in zip(ours, theirs):  # moving statistics unchanged, the batch normalised by them
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ours_loss, theirs_loss, rtol=1e-5)


# ---------------------------------------------------------------- losses and metrics
_N, _C = 6, 4
_LOGITS = _R.standard_normal((_N, _C)).astype(np.float32)
_PROBS = np.exp(_LOGITS) / np.exp(_LOGITS).sum(1, keepdims=True)
_ONEHOT = np.eye(_C, dtype=np.float32)[[1, 2, 3, 1, 1, 3]]
_SPARSE = _ONEHOT.argmax(1)
_BITS = (_R.random((_N, _C)) > 0.5).astype(np.float32)
_SIG = 1 / (1 + np.exp(-_LOGITS))
_REAL = _R.standard_normal((_N, _C)).astype(np.float32)
_SW = _R.random(_N).astype(np.float32)


def _ls(m):
    return m.losses


LOSSES = {
    "CategoricalCrossentropy": lambda m, t: _ls(m).CategoricalCrossentropy()(_ONEHOT, t(_PROBS)),
    "CategoricalCrossentropy from_logits label_smoothing": lambda m, t: _ls(m)
    .CategoricalCrossentropy(from_logits=True, label_smoothing=0.2)(_ONEHOT, t(_LOGITS)),
    "CategoricalCrossentropy renormalises and clips": lambda m, t: (
        _ls(m).CategoricalCrossentropy()(_ONEHOT, t(_PROBS * 2)),
        _ls(m).CategoricalCrossentropy()(_ONEHOT, t(_ONEHOT[::-1].copy()))),
    "CategoricalCrossentropy sample_weight, sum, none": lambda m, t: (
        _ls(m).CategoricalCrossentropy()(_ONEHOT, t(_PROBS), sample_weight=_SW),
        _ls(m).CategoricalCrossentropy(reduction="sum")(_ONEHOT, t(_PROBS)),
        _ls(m).CategoricalCrossentropy(reduction=None)(_ONEHOT, t(_PROBS))),
    "SparseCategoricalCrossentropy probabilities and logits": lambda m, t: (
        _ls(m).SparseCategoricalCrossentropy()(_SPARSE, t(_PROBS)),
        _ls(m).SparseCategoricalCrossentropy()(_SPARSE[:, None], t(_PROBS)),
        _ls(m).SparseCategoricalCrossentropy(from_logits=True)(_SPARSE, t(_LOGITS),
                                                               sample_weight=_SW)),
    "SparseCategoricalCrossentropy ignore_class averages over the rest": lambda m, t: (
        _ls(m).SparseCategoricalCrossentropy(from_logits=True, ignore_class=1)(
            _SPARSE, t(_LOGITS)),
        _ls(m).SparseCategoricalCrossentropy(from_logits=True, ignore_class=1)(
            _SPARSE, t(_LOGITS), sample_weight=_SW),
        _ls(m).SparseCategoricalCrossentropy(ignore_class=1, reduction="sum")(
            _SPARSE, t(_PROBS))),
    "SparseCategoricalCrossentropy ignore_class on probabilities": lambda m, t: (
        _ls(m).SparseCategoricalCrossentropy(ignore_class=1)(_SPARSE, t(_PROBS)),
        _ls(m).SparseCategoricalCrossentropy(ignore_class=1, reduction=None)(
            _SPARSE, t(_PROBS)),
        _ls(m).SparseCategoricalCrossentropy(ignore_class=1)(np.ones(_N, np.int64),
                                                             t(_PROBS))),
    "BinaryCrossentropy": lambda m, t: (
        _ls(m).BinaryCrossentropy()(_BITS, t(_SIG)),
        _ls(m).BinaryCrossentropy(from_logits=True)(_BITS, t(_LOGITS)),
        _ls(m).BinaryCrossentropy()(_BITS, t(_BITS[::-1].copy())),
        _ls(m).BinaryCrossentropy()(_BITS[:, 0], t(_SIG[:, 0]))),
    "MeanSquaredError, MeanAbsoluteError, Huber": lambda m, t: (
        _ls(m).MeanSquaredError()(_REAL, t(_LOGITS)),
        _ls(m).MeanSquaredError()(_REAL, t(_LOGITS), sample_weight=_SW),
        _ls(m).MeanSquaredError()(_REAL[:, 0], t(_LOGITS[:, 0])),
        _ls(m).MeanAbsoluteError()(_REAL, t(_LOGITS)), _ls(m).Huber()(_REAL, t(_LOGITS))),
    "CosineSimilarity axis": lambda m, t: (_ls(m).CosineSimilarity()(_REAL, t(_LOGITS)),
                                           _ls(m).CosineSimilarity(axis=0)(_REAL, t(_LOGITS))),
    "loss functions": lambda m, t: (
        _ls(m).mean_squared_error(_REAL, t(_LOGITS)),
        _ls(m).categorical_crossentropy(_ONEHOT, t(_PROBS)),
        _ls(m).sparse_categorical_crossentropy(_SPARSE, t(_LOGITS), from_logits=True),
        _ls(m).binary_crossentropy(_BITS, t(_SIG)),
        _ls(m).kl_divergence(_ONEHOT * 0.9 + 0.025, t(_PROBS))),
}


def _values(out):
    outs = out if isinstance(out, tuple) else (out,)
    return [np.array(keras.ops.convert_to_numpy(o), copy=True) if not isinstance(o, tinymm.Tensor)
            else o.detach().numpy() for o in outs]


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_losses_match_keras(name):
    ours = _values(LOSSES[name](tk, tinymm.tensor))
    theirs = _values(LOSSES[name](keras, lambda a: a))
    for a, b in zip(ours, theirs):
        assert a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def _ms(m):
    return m.metrics


# name: (metric, the update_state calls' (y_true, y_pred, sample_weight))
METRICS = {
    "Accuracy is elementwise equality": (lambda m: _ms(m).Accuracy(), [
        (_SPARSE, _SPARSE[::-1].copy(), None), (_SPARSE, _SPARSE, _SW)]),
    "CategoricalAccuracy": (lambda m: _ms(m).CategoricalAccuracy(), [
        (_ONEHOT, _PROBS, None), (_ONEHOT, _PROBS[::-1].copy(), _SW)]),
    "SparseCategoricalAccuracy": (lambda m: _ms(m).SparseCategoricalAccuracy(), [
        (_SPARSE, _PROBS, None), (_SPARSE, _PROBS[::-1].copy(), _SW)]),
    "BinaryAccuracy threshold": (lambda m: _ms(m).BinaryAccuracy(threshold=0.7), [
        (_BITS, _SIG, None), (_BITS, _SIG[::-1].copy(), None)]),
    "TopKCategoricalAccuracy": (lambda m: _ms(m).TopKCategoricalAccuracy(k=2), [
        (_ONEHOT, _PROBS, None)]),
    "SparseTopKCategoricalAccuracy": (lambda m: _ms(m).SparseTopKCategoricalAccuracy(k=2), [
        (_SPARSE, _PROBS, None)]),
    "MeanSquaredError weighted": (lambda m: _ms(m).MeanSquaredError(), [
        (_REAL, _LOGITS, None), (_REAL, _LOGITS * 2, _SW)]),
    "RootMeanSquaredError": (lambda m: _ms(m).RootMeanSquaredError(), [
        (_REAL, _LOGITS, None), (_REAL, _LOGITS * 2, None)]),
    "CategoricalCrossentropy metric": (lambda m: _ms(m).CategoricalCrossentropy(), [
        (_ONEHOT, _PROBS, None), (_ONEHOT, _PROBS[::-1].copy(), None)]),
    "Precision": (lambda m: _ms(m).Precision(), [
        (_BITS, _SIG, None), (_BITS, _SIG[::-1].copy(), None)]),
    "Recall": (lambda m: _ms(m).Recall(), [(_BITS, _SIG, None), (_BITS, _SIG[::-1].copy(), None)]),
    "AUC": (lambda m: _ms(m).AUC(), [(_BITS, _SIG, None), (_BITS, _SIG[::-1].copy(), None)]),
    "F1Score macro threshold": (lambda m: _ms(m).F1Score(average="macro", threshold=0.3), [
        (_ONEHOT, _PROBS, None)]),
    "TruePositives": (lambda m: _ms(m).TruePositives(), [(_BITS, _SIG, None)]),
    "R2Score": (lambda m: _ms(m).R2Score(), [(_REAL, _LOGITS, None)]),
}


def _accumulated(m, name):
    make, calls = METRICS[name]
    metric = make(m)
    for y_true, y_pred, weight in calls:
        kwargs = {} if weight is None else {"sample_weight": weight}
        metric.update_state(y_true, tinymm.tensor(y_pred) if m is tk else y_pred, **kwargs)
    return _values(metric.result())[0]


@pytest.mark.parametrize("name", sorted(METRICS))
def test_metrics_accumulate_as_keras(name):
    np.testing.assert_allclose(_accumulated(tk, name), _accumulated(keras, name), rtol=1e-5,
                               atol=1e-6)


# ---------------------------------------------------------------- fit, evaluate, predict
_FX = _R.standard_normal((40, 4)).astype(np.float32)
_FY = (_FX.sum(1) > 0).astype(np.int64)

FITS = {
    "validation_split takes the last samples": ({"optimizer": "adam"},
                                                {"epochs": 2, "validation_split": 0.25}),
    "batch_size": ({"optimizer": "rmsprop"}, {"epochs": 2, "batch_size": 7}),
    "sample_weight weights the loss, not the metrics": (
        {"optimizer": "sgd"}, {"epochs": 2, "sample_weight": np.linspace(0.1, 1, 40)}),
    "class_weight weights the loss, not the metrics": (
        {"optimizer": "sgd"}, {"epochs": 2, "class_weight": {0: 0.3, 1: 2.0}}),
    "validation_data": ({"optimizer": "adam"}, {"epochs": 2,
                                                "validation_data": (_FX[:10], _FY[:10])}),
}


def _fit(m, name):
    compile_kw, fit_kw = FITS[name]
    model = m.Sequential([m.Input((4,)), m.layers.Dense(8, activation="relu"),
                          m.layers.Dense(2, activation="softmax")])
    model.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"], **compile_kw)
    return model


@pytest.mark.parametrize("name", sorted(FITS))
def test_fit_history_evaluate_and_predict_match_keras(name):
    theirs, ours = _fit(keras, name), _fit(tk, name)
    ours.set_weights(theirs.get_weights())
    fit_kw = {"shuffle": False, "verbose": 0, **FITS[name][1]}
    h_theirs, h_ours = theirs.fit(_FX, _FY, **fit_kw).history, ours.fit(_FX, _FY, **fit_kw).history
    assert sorted(h_ours) == sorted(h_theirs)
    for key in h_theirs:
        np.testing.assert_allclose(h_ours[key], h_theirs[key], rtol=2e-4, atol=1e-5)
    weights = {"sample_weight": np.linspace(1, 0.1, 40)}
    np.testing.assert_allclose(ours.evaluate(_FX, _FY, verbose=0, **weights),
                               theirs.evaluate(_FX, _FY, verbose=0, **weights), rtol=2e-4)
    np.testing.assert_allclose(ours.predict(_FX, verbose=0), theirs.predict(_FX, verbose=0),
                               rtol=2e-4, atol=1e-6)


# ---------------------------------------------------------------- callbacks
def _cb(m):
    return m.callbacks


CALLBACKS = {
    "EarlyStopping patience counts from the first flat epoch": (
        lambda m: [_cb(m).EarlyStopping(monitor="loss", patience=1, min_delta=0.05)], {}),
    "EarlyStopping baseline never stops an improving run": (
        lambda m: [_cb(m).EarlyStopping(monitor="loss", patience=2, baseline=0.1)], {}),
    "EarlyStopping restore_best_weights": (lambda m: [_cb(m).EarlyStopping(
        monitor="val_loss", patience=1, restore_best_weights=True, min_delta=0.01)],
        {"validation_split": 0.5}),
    "EarlyStopping start_from_epoch": (lambda m: [_cb(m).EarlyStopping(
        monitor="loss", patience=0, start_from_epoch=3, min_delta=0.5)], {}),
    "ReduceLROnPlateau logs the epoch's rate": (lambda m: [_cb(m).ReduceLROnPlateau(
        monitor="loss", patience=1, factor=0.5, min_delta=0.05)], {}),
    "ReduceLROnPlateau cooldown and min_lr": (lambda m: [_cb(m).ReduceLROnPlateau(
        monitor="loss", patience=0, factor=0.5, min_delta=0.5, cooldown=1, min_lr=0.02)], {}),
    "LearningRateScheduler": (lambda m: [_cb(m).LearningRateScheduler(
        lambda epoch, lr: lr * 0.5 if epoch > 1 else lr)], {}),
}


def _fit_with_callbacks(m, name, weights):
    make, fit_kw = CALLBACKS[name]
    model = m.Sequential([m.Input((4,)), m.layers.Dense(8, activation="relu"),
                          m.layers.Dense(2, activation="softmax")])
    model.set_weights(weights)
    model.compile(optimizer=m.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
    history = model.fit(_FX, _FY, epochs=7, shuffle=False, verbose=0, callbacks=make(m),
                        **fit_kw).history
    return history, model.get_weights()


@pytest.mark.parametrize("name", sorted(CALLBACKS))
def test_callbacks_match_keras(name):
    weights = _fit(keras, "batch_size").get_weights()  # one fixed initialisation for both
    (h_ours, w_ours), (h_theirs, w_theirs) = (_fit_with_callbacks(tk, name, weights),
                                              _fit_with_callbacks(keras, name, weights))
    assert sorted(h_ours) == sorted(h_theirs)
    for key in h_theirs:  # the same number of epochs, losses and logged rates
        np.testing.assert_allclose(h_ours[key], h_theirs[key], rtol=2e-4, atol=1e-6)
    for a, b in zip(w_ours, w_theirs):  # restored or final weights
        np.testing.assert_allclose(a, b, rtol=2e-4, atol=1e-6)


# ---------------------------------------------------------------- keras.ops values
_I = np.array([-7, -3, 0, 3, 7])
_D = np.array([2, -2, 3, 3, -4])
_H = np.array([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5], np.float32)
_G = np.array([[1.0, 3, 3], [5, 5, 1]], np.float32)

# name: (op, whether the dtype kind is compared too); values always
OPS = {
    "mean of int gives float": (lambda o: o.mean(_I), True),
    "floor_divide floors negatives, ints stay ints": (lambda o: o.floor_divide(_I, _D), True),
    "floor_divide floats": (lambda o: o.floor_divide(_H, np.float32(-2.0)), True),
    "mod takes the divisor's sign": (lambda o: o.mod(_I, _D), True),
    "round half to even": (lambda o: o.round(_H), True),
    "argmax and argmin take the first tie": (lambda o: (o.argmax(_G, axis=1), o.argmin(_G)),
                                             True),
    "std and var are population": (lambda o: (o.std(_H), o.var(_G, axis=1)), True),
    "clip": (lambda o: o.clip(_H, -1, 1), True),
    "softmax and log_softmax axes": (lambda o: (o.softmax(_G), o.log_softmax(_G, axis=0)), True),
    "activations": (lambda o: (o.sigmoid(_H), o.gelu(_H), o.gelu(_H, approximate=False),
                               o.relu6(_H * 3), o.silu(_H), o.leaky_relu(_H), o.elu(_H),
                               o.selu(_H), o.softplus(_H), o.hard_sigmoid(_H)), True),
    "sort, argsort, top_k": (lambda o: (o.sort(_G, axis=0), o.argsort(np.array([3, 1, 2, 1, 3])),
                                        o.top_k(np.array([1.0, 5, 3, 4, 2], np.float32), 2)[1]),
                             False),
    "median of even length averages": (lambda o: o.median(np.array([1.0, 4, 2, 3])), False),
    "cumsum and cumprod": (lambda o: (o.cumsum(_I), o.cumprod(_H)), False),
    "linspace and arange": (lambda o: (o.linspace(0, 1, 5), o.arange(0, 1, 0.25)), True),
    "norm and normalize": (lambda o: (o.norm(_G), o.norm(_G, axis=1), o.normalize(_G)), True),
    "moments and logsumexp": (lambda o: (*o.moments(_G, axes=[0]), o.logsumexp(_G, axis=1)),
                              True),
    "average with weights": (lambda o: o.average(_G, axis=1, weights=np.array([1.0, 2, 3])),
                             False),
}


def _ops_values(m, name):
    out = OPS[name][0](m.ops)
    outs = out if isinstance(out, tuple) else (out,)
    return [o.detach().numpy() if isinstance(o, tinymm.Tensor)
            else np.array(keras.ops.convert_to_numpy(o), copy=True) for o in outs]


@pytest.mark.parametrize("name", sorted(OPS))
def test_keras_ops_match_keras(name):
    for a, b in zip(_ops_values(tk, name), _ops_values(keras, name)):
        assert a.shape == b.shape
        if OPS[name][1]:
            assert a.dtype.kind == b.dtype.kind, (a.dtype, b.dtype)
        np.testing.assert_allclose(a.astype(np.float64), b.astype(np.float64), rtol=1e-5,
                                   atol=1e-6)
