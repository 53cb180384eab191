"""keras.utils's directory datasets and image helpers (tinymm/keras/datasets_from_directory.py)
over a tiny directory in tmp_path: Keras's class order, label modes, seeded shuffle and
validation split, batches fit and evaluate take; the image round trip through Pillow; and
pack/unpack_x_y_sample_weight, is_keras_tensor."""

from __future__ import annotations

import numpy as np
import pytest

from tinymm import keras as tk

RNG = np.random.default_rng(0)


@pytest.fixture
def image_dir(tmp_path):
    Image = pytest.importorskip("PIL.Image")
    pixels = {}
    for c, name in enumerate(["dogs", "cats"]):  # listed out of order: classes are sorted
        (tmp_path / name).mkdir()
        for i in range(3 + c):
            array = RNG.integers(0, 256, (4, 6, 3), dtype=np.uint8)
            path = tmp_path / name / f"im{i}.png"
            Image.fromarray(array).save(path)
            pixels[str(path)] = array
    (tmp_path / "cats" / "notes.md").write_text("not an image")
    return tmp_path, pixels


def test_image_dataset_labels_order_and_pixels(image_dir):
    root, pixels = image_dir
    ds = tk.utils.image_dataset_from_directory(root, image_size=(4, 6), batch_size=3,
                                               shuffle=False)
    assert ds.class_names == ["cats", "dogs"] and len(ds) == 3
    x, y = ds[0]
    assert x.shape == (3, 4, 6, 3) and x.dtype == np.float32 and y.dtype == np.int32
    labels = np.concatenate([ds[i][1] for i in range(len(ds))])
    np.testing.assert_array_equal(labels, [0, 0, 0, 0, 1, 1, 1])
    np.testing.assert_array_equal(x[0], pixels[ds.file_paths[0]])  # same size: the pixels
    assert "cats" in ds.file_paths[0] and ds.file_paths[0].endswith("im0.png")


def test_label_modes_resize_and_colour(image_dir):
    root, pixels = image_dir
    cat = tk.utils.image_dataset_from_directory(root, label_mode="categorical",
                                                image_size=(2, 3), shuffle=False,
                                                color_mode="grayscale")
    x, y = cat[0]
    assert x.shape == (7, 2, 3, 1) and y.shape == (7, 2) and np.all(y.sum(1) == 1)
    binary = tk.utils.image_dataset_from_directory(root, label_mode="binary", image_size=(8, 12),
                                                   shuffle=False, interpolation="nearest")
    x, y = binary[0]
    assert y.shape == (7, 1) and y.dtype == np.float32
    first = pixels[binary.file_paths[0]].astype(np.float32)
    np.testing.assert_array_equal(x[0], first.repeat(2, 0).repeat(2, 1))  # nearest, x2
    images_only = tk.utils.image_dataset_from_directory(root, labels=None, image_size=(4, 6))
    assert images_only[0].shape == (7, 4, 6, 3)


def test_shuffle_seed_and_validation_split(image_dir):
    root, _ = image_dir
    kwargs = dict(image_size=(4, 6), validation_split=0.3, seed=7)
    train, val = tk.utils.image_dataset_from_directory(root, subset="both", **kwargs)
    again = tk.utils.image_dataset_from_directory(root, subset="training", **kwargs)
    assert again.file_paths == train.file_paths  # the seed fixes the shuffle
    assert len(val.file_paths) == int(0.3 * 7) and len(train.file_paths) == 7 - 2
    assert not set(train.file_paths) & set(val.file_paths)
    with pytest.raises(ValueError, match="image_dataset_from_directory: validation_split.*seed"):
        tk.utils.image_dataset_from_directory(root, validation_split=0.3, subset="training")
    with pytest.raises(ValueError, match="label_mode='binary' needs exactly 2"):
        tk.utils.image_dataset_from_directory(root, label_mode="binary", labels=[0, 1, 2, 0, 1,
                                                                                 2, 0])


def test_fit_and_evaluate_take_the_dataset(image_dir):
    root, _ = image_dir
    ds = tk.utils.image_dataset_from_directory(root, image_size=(4, 6), batch_size=4, seed=1)
    model = tk.Sequential([tk.Input(shape=(4, 6, 3)), tk.layers.Rescaling(1 / 255),
                           tk.layers.Flatten(), tk.layers.Dense(2)])
    model.compile("adam", tk.losses.SparseCategoricalCrossentropy(from_logits=True))
    history = model.fit(ds, epochs=2, verbose=0)
    assert len(history.history["loss"]) == 2
    assert np.isfinite(model.evaluate(ds, verbose=0))


def test_image_round_trip(tmp_path):
    pytest.importorskip("PIL")
    array = RNG.integers(0, 256, (3, 5, 3)).astype(np.float32)
    tk.utils.save_img(tmp_path / "a.png", array, scale=False)
    back = tk.utils.img_to_array(tk.utils.load_img(tmp_path / "a.png"))
    np.testing.assert_array_equal(back, array)
    small = tk.utils.load_img(tmp_path / "a.png", target_size=(6, 10), color_mode="grayscale")
    assert tk.utils.img_to_array(small).shape == (6, 10, 1)
    scaled = tk.utils.img_to_array(tk.utils.array_to_img(array / 1000))
    assert scaled.min() == 0 and scaled.max() == 255
    assert tk.utils.img_to_array(small, data_format="channels_first").shape == (1, 6, 10)
    with pytest.raises(ValueError, match="array_to_img: expects 1, 3 or 4 channels"):
        tk.utils.array_to_img(np.zeros((2, 2, 2)))


def test_text_dataset(tmp_path):
    for name, texts in {"neg": ["bad", "awful film"], "pos": ["good", "great", "fine"]}.items():
        (tmp_path / name).mkdir()
        for i, text in enumerate(texts):
            (tmp_path / name / f"{i}.txt").write_text(text)
    ds = tk.utils.text_dataset_from_directory(tmp_path, batch_size=2, shuffle=False,
                                              max_length=4)
    assert ds.class_names == ["neg", "pos"] and len(ds) == 3
    x, y = ds[0]
    assert list(x) == ["bad", "awfu"] and list(y) == [0, 0]
    with pytest.raises(ValueError, match="text_dataset_from_directory: directory"):
        tk.utils.text_dataset_from_directory(tmp_path / "missing")


def test_pack_unpack_and_is_keras_tensor():
    x, y, w = np.ones(2), np.zeros(2), np.full(2, 0.5)
    assert tk.utils.unpack_x_y_sample_weight(tk.utils.pack_x_y_sample_weight(x, y, w))[2] is w
    assert tk.utils.unpack_x_y_sample_weight((x, y))[2] is None
    assert tk.utils.unpack_x_y_sample_weight(x)[0] is x
    assert tk.utils.pack_x_y_sample_weight(x) is x
    assert tk.utils.is_keras_tensor(tk.Input(shape=(2,)))
    assert not tk.utils.is_keras_tensor(np.ones(2))
    with pytest.raises(ValueError, match="unpack_x_y_sample_weight: expected"):
        tk.utils.unpack_x_y_sample_weight((x, y, w, w))


def test_get_source_inputs():
    a, b = tk.Input(shape=(2,)), tk.Input(shape=(3,))
    out = tk.layers.Concatenate()([tk.layers.Dense(2)(a), tk.layers.Dense(3)(b)])
    assert tk.utils.get_source_inputs(tk.layers.Dense(1)(out)) == [a, b]
    assert tk.utils.get_source_inputs(a) == [a]


@pytest.mark.parametrize("make", [
    lambda k: k.layers.Dense(3, activation="relu", name="d"),
    lambda k: k.losses.MeanSquaredError(),
    lambda k: k.optimizers.Adam(learning_rate=0.01),
    lambda k: k.initializers.GlorotUniform(seed=1),
    lambda k: k.initializers.VarianceScaling(scale=2.0, mode="fan_out"),
], ids=["dense", "mse", "adam", "glorot", "variance_scaling"])
def test_serialize_round_trip(make):
    obj = make(tk)
    config = tk.utils.serialize_keras_object(obj)
    assert config["class_name"] == type(obj).__name__ and config["module"].startswith("keras.")
    back = tk.utils.deserialize_keras_object(config)
    assert type(back) is type(obj) and back.get_config() == obj.get_config()
    with pytest.raises(ValueError, match="deserialize_keras_object: unknown class 'Nope'"):
        tk.utils.deserialize_keras_object({"class_name": "Nope", "config": {}})


def test_serialize_matches_keras_3_names():
    from tests.keras3 import keras3

    keras = keras3()
    for make in (lambda k: k.layers.Dense(3), lambda k: k.initializers.GlorotUniform(seed=1)):
        theirs = keras.utils.serialize_keras_object(make(keras))
        ours = tk.utils.serialize_keras_object(make(tk))
        assert (ours["module"], ours["class_name"]) == (theirs["module"], theirs["class_name"])
    assert ours["config"]["seed"] == theirs["config"]["seed"] == 1
