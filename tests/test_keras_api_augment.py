"""Keras 3's image-augmentation layers (tinymm/keras/augment.py): the identity outside
training; the training transform at a fixed factor against Keras 3 (PyTorch backend) where it
is installed and against closed forms (a quarter turn is np.rot90, zoom 0 the identity, a
one-pixel shift); float64 gradchecks; get_config round trips; errors naming the layer."""

from __future__ import annotations

import numpy as np
import pytest

import tinymm
from tests.keras3 import keras3
from tinymm import keras as tk

RNG = np.random.default_rng(0)
IMAGES = RNG.uniform(0, 255, (2, 5, 6, 3)).astype(np.float32)

FIXED = {  # (class name, kwargs): every random draw is one value, so Keras's must agree
    "rotation_reflect": ("RandomRotation", {"factor": (0.1, 0.1)}),
    "rotation_constant": ("RandomRotation", {"factor": (-0.07, -0.07), "fill_mode": "constant",
                                             "fill_value": 9.0}),
    "rotation_nearest_fill": ("RandomRotation", {"factor": (0.3, 0.3), "fill_mode": "nearest"}),
    "rotation_nearest_interp": ("RandomRotation", {"factor": (0.13, 0.13),
                                                   "interpolation": "nearest"}),
    "rotation_wrap": ("RandomRotation", {"factor": (0.2, 0.2), "fill_mode": "wrap"}),
    "zoom_both": ("RandomZoom", {"height_factor": (0.3, 0.3), "width_factor": (-0.2, -0.2)}),
    "zoom_height_only": ("RandomZoom", {"height_factor": (-0.25, -0.25),
                                        "fill_mode": "constant"}),
    "translation": ("RandomTranslation", {"height_factor": (0.2, 0.2),
                                          "width_factor": (-0.3, -0.3), "fill_mode": "constant"}),
    "translation_reflect_nearest": ("RandomTranslation", {
        "height_factor": (-0.4, -0.4), "width_factor": (0.5, 0.5), "interpolation": "nearest"}),
    "brightness": ("RandomBrightness", {"factor": (0.1, 0.1)}),
    "brightness_unit_range": ("RandomBrightness", {"factor": (-0.3, -0.3),
                                                   "value_range": (0, 1)}),
}
CROPS = {  # deterministic layers or paths
    "center_crop": (("CenterCrop", {"height": 3, "width": 4}), IMAGES),
    "center_crop_upsizes": (("CenterCrop", {"height": 6, "width": 4}), IMAGES),
    "random_crop_upsizes": (("RandomCrop", {"height": 6, "width": 4}), IMAGES),
}


def make(module, spec):
    name, kwargs = spec
    return getattr(module.layers, name)(**kwargs)


@pytest.mark.parametrize("case", sorted(FIXED))
def test_training_transform_matches_keras_3(case):
    keras = keras3()
    x = IMAGES / 255 if "unit" in case else IMAGES
    theirs = np.asarray(make(keras, FIXED[case])(x, training=True).cpu())
    ours = make(tk, FIXED[case])(x, training=True).numpy()
    assert ours.shape == x.shape and ours.dtype == np.float32
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=2e-3)


@pytest.mark.parametrize("case", sorted(CROPS))
def test_crops_match_keras_3(case):
    keras = keras3()
    spec, x = CROPS[case]
    theirs = np.asarray(make(keras, spec)(x, training=True).cpu())
    ours = make(tk, spec)(x, training=True).numpy()
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-3)


def test_identity_outside_training_and_random_inside():
    for spec in list(FIXED.values()) + [("RandomContrast", {"factor": 0.5})]:
        layer = make(tk, spec)
        inp = tk.Input(shape=IMAGES.shape[1:])
        model = tk.Model(inp, layer(inp))
        np.testing.assert_array_equal(model.predict(IMAGES, verbose=0), IMAGES)
        np.testing.assert_array_equal(layer(IMAGES, training=False).numpy(), IMAGES)
        model.train()
        assert not np.allclose(model(IMAGES).numpy(), IMAGES), spec
        model.eval()


def test_closed_forms():
    square = RNG.normal(size=(2, 4, 4, 2)).astype(np.float32)
    quarter = tk.layers.RandomRotation((0.25, 0.25))(square, training=True).numpy()
    np.testing.assert_allclose(quarter, np.rot90(square, 1, axes=(1, 2)), atol=1e-5)
    zoom0 = tk.layers.RandomZoom(0.0)(square, training=True).numpy()
    np.testing.assert_allclose(zoom0, square, atol=1e-6)
    shifted = tk.layers.RandomTranslation((0.25, 0.25), (-0.25, -0.25), fill_mode="constant",
                                          fill_value=7.0)(square, training=True).numpy()
    expected = np.full_like(square, 7.0)
    expected[:, 1:, :3] = square[:, :3, 1:]  # one row down, one column left
    np.testing.assert_allclose(shifted, expected, atol=1e-6)


def test_contrast_and_brightness_closed_forms():
    x = RNG.uniform(50, 200, (4, 3, 3, 2)).astype(np.float32)
    out = tk.layers.RandomContrast((0.2, 0.5), seed=1)(x, training=True).numpy()
    mean = x.mean(axis=(1, 2), keepdims=True)
    ratio = (out - mean) / (x - mean)  # one factor per image, in [1 - 0.2, 1 + 0.5]
    np.testing.assert_allclose(ratio, ratio[:, :1, :1, :1] * np.ones_like(ratio), rtol=1e-3)
    assert np.all((ratio > 0.8 - 1e-4) & (ratio < 1.5 + 1e-4))
    bright = tk.layers.RandomBrightness(0.9, seed=2)(x, training=True).numpy()
    inside = (bright > 0) & (bright < 255)
    for out, image, keep in zip(bright, x, inside):  # one shift per image, then the clip
        delta = (out - image)[keep][0]
        np.testing.assert_allclose(out, np.clip(image + delta, 0, 255), atol=1e-3)
    assert not inside.all()


def test_seed_repeats_and_random_crop_window():
    a = tk.layers.RandomRotation(0.3, seed=5)(IMAGES, training=True).numpy()
    b = tk.layers.RandomRotation(0.3, seed=5)(IMAGES, training=True).numpy()
    np.testing.assert_array_equal(a, b)
    crop = tk.layers.RandomCrop(3, 4, seed=3)(IMAGES, training=True).numpy()
    assert crop.shape == (2, 3, 4, 3)
    windows = [IMAGES[:, i:i + 3, j:j + 4] for i in range(3) for j in range(3)]
    assert any(np.array_equal(crop, w) for w in windows)


@pytest.mark.parametrize("spec", [
    ("RandomRotation", {"factor": (0.06, 0.06), "fill_mode": "constant", "fill_value": 0.5}),
    ("RandomZoom", {"height_factor": (0.3, 0.3), "fill_mode": "reflect"}),
    ("CenterCrop", {"height": 4, "width": 2}),
], ids=lambda s: s[0])
def test_gradcheck(spec):
    layer = make(tk, spec)
    layer.dtype = np.dtype(np.float64)
    x = tinymm.tensor(RNG.normal(size=(1, 3, 3, 2)), requires_grad=True)
    assert tinymm.gradcheck(lambda v: layer(v, training=True), [x])


@pytest.mark.parametrize("spec", list(FIXED.values()) + list(s for s, _ in CROPS.values())
                         + [("RandomContrast", {"factor": 0.3, "seed": 4})],
                         ids=lambda s: s[0])
def test_get_config_round_trip(spec):
    layer = make(tk, spec)
    config = layer.get_config()
    assert type(layer).from_config(config).get_config() == config


def test_fit_runs_with_augmentation():
    tk.utils.set_random_seed(0)
    model = tk.Sequential([tk.Input(shape=(5, 6, 3)), tk.layers.Rescaling(1 / 255),
                           tk.layers.RandomFlip("horizontal"), tk.layers.RandomRotation(0.1),
                           tk.layers.RandomZoom(0.1), tk.layers.RandomTranslation(0.1, 0.1),
                           tk.layers.RandomContrast(0.1), tk.layers.CenterCrop(4, 4),
                           tk.layers.Flatten(), tk.layers.Dense(2)])
    model.compile("adam", "mse")
    history = model.fit(IMAGES, np.zeros((2, 2), np.float32), epochs=2, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    assert model.predict(IMAGES, verbose=0).shape == (2, 2)


def test_errors_name_the_layer():
    with pytest.raises(ValueError, match="RandomRotation: fill_mode"):
        tk.layers.RandomRotation(0.1, fill_mode="mirror")
    with pytest.raises(ValueError, match="RandomZoom: interpolation"):
        tk.layers.RandomZoom(0.1, interpolation="bicubic")
    with pytest.raises(ValueError, match=r"RandomTranslation: height_factor must lie in \(-1"):
        tk.layers.RandomTranslation(-1.0, 0.1)
    with pytest.raises(ValueError, match="RandomContrast: factor must lie in"):
        tk.layers.RandomContrast(1.5)
    with pytest.raises(ValueError, match="RandomBrightness: value_range"):
        tk.layers.RandomBrightness(0.1, value_range=5)
    with pytest.raises(ValueError, match="CenterCrop: height and width"):
        tk.layers.CenterCrop(0, 3)
    with pytest.raises(ValueError, match="RandomRotation 'rot'.*4-d input"):
        tk.layers.RandomRotation(0.1, name="rot")(tk.Input(shape=(5, 3)))
