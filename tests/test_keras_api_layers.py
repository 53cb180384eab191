"""Keras layers added for programs written by others (tinymm/keras/simple_layers.py and the
aliases): each built in tinymm and in Keras 3 (PyTorch backend) where it is installed, with
the same (perturbed) weights through set_weights, then the same outputs, the same loss
before and after one SGD step (so the same gradients); a get_config round trip; float64
gradchecks; the training-only layers' behaviour; clear errors naming the layer."""

from __future__ import annotations

import os

import numpy as np
import pytest

import tinymm
from tinymm import keras as tk

RNG = np.random.default_rng(0)


def _keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    pytest.importorskip("torch")
    if keras.backend.backend() != "torch":
        pytest.skip("Keras 3 is installed with another backend than torch")
    return keras


def seq(k, T=5, C=4):
    return k.Input(shape=(T, C))


def img(k, H=4, W=5, C=4):
    return k.Input(shape=(H, W, C))


CASES = {
    "identity_elu": lambda k: (seq(k), lambda x: k.layers.ELU(alpha=0.7)(k.layers.Identity()(
        k.layers.Dense(3)(x)))),
    "prelu_shared": lambda k: (img(k), lambda x: k.layers.PReLU(shared_axes=[1, 2])(x)),
    "prelu": lambda k: (seq(k), lambda x: k.layers.PReLU()(x)),
    "masking_average": lambda k: (seq(k), lambda x: k.layers.GlobalAveragePooling1D()(
        k.layers.Masking(mask_value=0.0)(x))),
    "padding_cropping_1d": lambda k: (seq(k), lambda x: k.layers.Cropping1D((1, 2))(
        k.layers.ZeroPadding1D((2, 1))(x))),
    "padding_cropping_2d": lambda k: (img(k), lambda x: k.layers.Cropping2D(((1, 0), (0, 2)))(
        k.layers.ZeroPadding2D(((1, 2), (0, 1)))(x))),
    "upsampling": lambda k: (img(k, 2, 3, 2), lambda x: k.layers.UpSampling2D((2, 3))(x)),
    "upsampling_1d": lambda k: (seq(k, 3, 2), lambda x: k.layers.UpSampling1D(3)(x)),
    "dot_vectors": lambda k: (k.Input(shape=(4,)), lambda x: k.layers.Dot(axes=1)(
        [k.layers.Dense(3)(x), k.layers.Dense(3)(x)])),
    "dot_sequences_normalized": lambda k: (seq(k), lambda x: k.layers.Dot(axes=(2, 2),
                                                                          normalize=True)(
        [k.layers.Dense(3)(x), k.layers.Dense(3)(x)])),
    "dot_axes_1": lambda k: (seq(k), lambda x: k.layers.Dot(axes=1)([x, k.layers.Dense(2)(x)])),
    "unit_normalization": lambda k: (seq(k), lambda x: k.layers.UnitNormalization()(x)),
    "group_normalization": lambda k: (img(k, 3, 3, 4), lambda x: k.layers.GroupNormalization(
        groups=2)(x)),
    "normalization_given": lambda k: (seq(k, 3, 2), lambda x: k.layers.Normalization(
        mean=[0.5, -1.0], variance=[4.0, 0.25])(x)),
    "resizing_bilinear_up": lambda k: (img(k, 3, 4, 2), lambda x: k.layers.Resizing(5, 7)(x)),
    "resizing_bilinear_down": lambda k: (img(k, 6, 5, 2), lambda x: k.layers.Resizing(4, 3)(x)),
    "resizing_nearest": lambda k: (img(k, 3, 4, 2), lambda x: k.layers.Resizing(
        5, 3, interpolation="nearest")(x)),
    "additive_attention": lambda k: (seq(k), lambda x: k.layers.AdditiveAttention()(
        [k.layers.Dense(3)(x), k.layers.Dense(3)(x)])),
    "additive_attention_key_no_scale": lambda k: (seq(k), lambda x: k.layers.AdditiveAttention(
        use_scale=False)([x, k.layers.Dense(2)(x), x])),
    "aliases_and_noise_at_inference": lambda k: (img(k), lambda x: k.layers.GlobalAvgPool2D()(
        k.layers.MaxPool2D()(k.layers.SpatialDropout2D(0.5)(k.layers.GaussianNoise(1.0)(
            k.layers.GaussianDropout(0.3)(k.layers.Convolution2D(3, 2)(x))))))),
    "aliases_1d": lambda k: (seq(k, 6, 3), lambda x: k.layers.concatenate([
        k.layers.GlobalMaxPool1D()(k.layers.AvgPool1D(2)(x)),
        k.layers.GlobalAvgPool1D()(k.layers.MaxPool1D(2)(k.layers.SpatialDropout1D(0.4)(x)))])),
}


def build(k, name):
    inp, body = CASES[name](k)
    return k.Model(inp, k.layers.Dense(2)(k.layers.Flatten()(body(inp))))


def data(name, n=3):
    shape = CASES[name](tk)[0].shape[1:]
    x = RNG.standard_normal((n,) + tuple(shape)).astype(np.float32)
    if name == "masking_average":
        x[0, 3:] = 0.0  # masked steps
        x[1, :2] = 0.0
    return x


@pytest.mark.parametrize("name", sorted(CASES))
def test_layer_matches_keras_3(name):
    keras = _keras()
    keras.utils.set_random_seed(0)
    theirs, ours = build(keras, name), build(tk, name)
    assert ours.count_params() == theirs.count_params()
    theirs.set_weights([w + RNG.normal(0, 0.3, w.shape).astype(w.dtype)
                        for w in theirs.get_weights()])
    ours.set_weights(theirs.get_weights())
    x = data(name)
    y = RNG.standard_normal((len(x), 2)).astype(np.float32)
    np.testing.assert_allclose(ours.predict(x), theirs.predict(x, verbose=0), rtol=1e-4,
                               atol=1e-5)
    for model in (theirs, ours):
        model.compile(optimizer=(keras if model is theirs else tk).optimizers.SGD(0.1),
                      loss="mse")
    if not name.startswith("aliases"):  # their noise layers are random in training
        np.testing.assert_allclose(ours.train_on_batch(x, y), theirs.train_on_batch(x, y),
                                   rtol=1e-4)
        np.testing.assert_allclose(ours.evaluate(x, y, verbose=0),
                                   theirs.evaluate(x, y, verbose=0), rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("name", sorted(CASES))
def test_get_config_round_trip(name):
    tk.utils.set_random_seed(1)
    model = build(tk, name)
    rebuilt = tk.Model.from_config(model.get_config())
    assert [type(a) for a in rebuilt.layers] == [type(b) for b in model.layers]
    rebuilt.set_weights(model.get_weights())
    x = data(name)
    np.testing.assert_allclose(rebuilt.predict(x), model.predict(x), rtol=1e-6)


GRADCHECKED = ["identity_elu", "prelu_shared", "padding_cropping_2d", "upsampling",
               "dot_sequences_normalized", "dot_axes_1", "unit_normalization",
               "group_normalization", "normalization_given", "resizing_bilinear_down",
               "additive_attention"]


@pytest.mark.parametrize("name", GRADCHECKED)
def test_layer_gradcheck(name):
    tk.utils.set_random_seed(2)
    model = build(tk, name)
    model.set_weights([w + RNG.normal(0, 0.3, w.shape) for w in model.get_weights()])
    model.to(np.float64)
    x = tinymm.tensor(data(name).astype(np.float64), requires_grad=True)
    assert tinymm.gradcheck(lambda v: model(v), [x])


def test_training_only_layers_act_in_fit_only():
    tk.utils.set_random_seed(3)
    x = np.ones((8, 3, 3, 6), np.float32)
    for layer in (tk.layers.SpatialDropout2D(0.5), tk.layers.GaussianNoise(0.5),
                  tk.layers.GaussianDropout(0.5), tk.layers.RandomFlip()):
        inp = tk.Input(shape=(3, 3, 6))
        model = tk.Model(inp, layer(inp))
        np.testing.assert_array_equal(model.predict(x), x)  # inference: the identity
        model.train()
        out = model(x).numpy()
        model.eval()
        if isinstance(layer, tk.layers.RandomFlip):
            ramp = np.arange(8 * 9 * 6, dtype=np.float32).reshape(8, 3, 3, 6)
            model.train()
            flipped = model(ramp).numpy()
            assert all(any(np.array_equal(f, g) for g in (r, r[::-1], r[:, ::-1],
                                                          r[::-1, ::-1]))
                       for f, r in zip(flipped, ramp))
            assert not np.array_equal(flipped, ramp)
            continue
        assert not np.allclose(out, x)
        if isinstance(layer, tk.layers.SpatialDropout2D):  # whole channels dropped or x2
            per_channel = out.reshape(8, 9, 6)
            assert np.all(per_channel.min(axis=1) == per_channel.max(axis=1))
            assert set(np.unique(out)) <= {0.0, 2.0}


def test_normalization_adapt():
    data_ = RNG.normal(3.0, 2.0, (50, 4)).astype(np.float32)
    layer = tk.layers.Normalization()
    layer.adapt(data_)
    out = layer(data_).numpy()
    np.testing.assert_allclose(out.mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(out.std(axis=0), 1.0, rtol=1e-4)
    back = tk.layers.Normalization(mean=data_.mean(0), variance=data_.var(0), invert=True)
    np.testing.assert_allclose(back(out).numpy(), data_, rtol=1e-4, atol=1e-4)
    assert [w.shape for w in layer.get_weights()] == [(4,), (4,), ()]


def test_normalization_adapt_matches_keras():
    keras = _keras()
    data_ = RNG.normal(1.0, 3.0, (20, 3, 2)).astype(np.float32)
    theirs, ours = keras.layers.Normalization(), tk.layers.Normalization()
    theirs.adapt(data_)
    ours.adapt(data_)
    np.testing.assert_allclose(ours(data_).numpy(), np.asarray(theirs(data_).cpu()),
                               rtol=1e-4, atol=1e-5)


def test_errors_name_the_layer():
    with pytest.raises(ValueError, match="GroupNormalization 'gn'.*multiple of groups=3"):
        tk.layers.GroupNormalization(groups=3, name="gn")(tk.Input(shape=(4, 4)))
    with pytest.raises(ValueError, match="Cropping1D 'c'.*leaves nothing"):
        tk.layers.Cropping1D((2, 3), name="c")(tk.Input(shape=(5, 2)))
    with pytest.raises(ValueError, match="ZeroPadding2D 'z'.*4-d input"):
        tk.layers.ZeroPadding2D(name="z")(tk.Input(shape=(5, 2)))
    with pytest.raises(ValueError, match="Dot 'd'.*differ in size"):
        tk.layers.Dot(axes=1, name="d")([tk.Input(shape=(3,)), tk.Input(shape=(4,))])
    with pytest.raises(ValueError, match="PReLU 'p'.*shared axis 3"):
        tk.layers.PReLU(shared_axes=[3], name="p")(tk.Input(shape=(5, 2)))
    with pytest.raises(ValueError, match="Resizing: supports"):
        tk.layers.Resizing(2, 2, interpolation="bicubic")
    with pytest.raises(ValueError, match="SpatialDropout1D: rate"):
        tk.layers.SpatialDropout1D(1.5)


@pytest.mark.parametrize("mode", ["one_hot", "multi_hot", "count"])
def test_category_encoding_matches_keras(mode):
    keras = _keras()
    ids = np.array([[0, 2, 2], [3, 1, 0]]) if mode != "one_hot" else np.array([3, 0, 1])
    theirs = keras.layers.CategoryEncoding(num_tokens=5, output_mode=mode)(ids)
    ours = tk.layers.CategoryEncoding(num_tokens=5, output_mode=mode)(ids)
    np.testing.assert_array_equal(ours.numpy(), np.asarray(theirs.cpu()))
    with pytest.raises(ValueError, match="CategoryEncoding 'ce'.*id 5 is outside"):
        tk.layers.CategoryEncoding(num_tokens=5, name="ce")(np.array([[5]]))
