"""Keras's directory datasets and image helpers (re-exported by ``keras.utils``):
``image_dataset_from_directory``, ``text_dataset_from_directory``, ``load_img``,
``img_to_array``, ``array_to_img`` and ``save_img``.

Images are read and written with Pillow (a clear ImportError when it is missing). Keras returns
a ``tf.data`` dataset; tinymm returns a ``PyDataset`` of batches, which ``fit``/``evaluate``/
``predict`` take, with the same ``class_names`` and ``file_paths``. Keras's rules: class names
are the sorted sub-folders; files are listed per class in sorted order; ``shuffle`` shuffles
the files once with ``seed`` (Keras reshuffles each epoch); ``validation_split`` keeps the
last ``int(split * n)`` files for ``subset="validation"`` and the rest for ``"training"``
(``"both"`` gives the pair). Images are resized to ``image_size`` (bilinear: half-pixel
centres, as ``tf.image.resize`` without antialiasing; or nearest) and are float32 in 0..255.
"""

from __future__ import annotations

import math
import os

import numpy as np

from tinymm.keras.utils import PyDataset, to_categorical

IMAGE_FORMATS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")
COLOUR_CHANNELS = {"grayscale": 1, "rgb": 3, "rgba": 4}
PIL_MODES = {"grayscale": "L", "rgb": "RGB", "rgba": "RGBA"}


def pil_image(caller: str):
    try:
        from PIL import Image
    except ImportError as err:
        raise ImportError(f"{caller}: reading and writing images needs Pillow "
                          "(pip install pillow)") from err
    return Image


def _check_colour(color_mode: str, caller: str) -> None:
    if color_mode not in COLOUR_CHANNELS:
        raise ValueError(f"{caller}: color_mode must be one of {tuple(COLOUR_CHANNELS)}, got "
                         f"{color_mode!r}")


def load_img(path, color_mode: str = "rgb", target_size=None, interpolation: str = "nearest",
             keep_aspect_ratio: bool = False):
    """The image at ``path`` as a Pillow image in ``color_mode``, resized to ``target_size``
    (height, width) with Pillow's ``interpolation`` when given."""
    _check_colour(color_mode, "load_img")
    Image = pil_image("load_img")
    with open(path, "rb") as f:
        img = Image.open(f)
        img.load()
    img = img.convert(PIL_MODES[color_mode])
    if target_size is not None:
        height, width = target_size
        if keep_aspect_ratio:
            left, top, cols, rows = _centre_window(img.width, img.height, width, height)
            img = img.crop((left, top, left + cols, top + rows))
        method = getattr(Image.Resampling, interpolation.upper(), None)
        if method is None:
            raise ValueError(f"load_img: unknown interpolation {interpolation!r}")
        img = img.resize((width, height), method)
    return img


def _centre_window(W: int, H: int, width: int, height: int) -> tuple[int, int, int, int]:
    cols = min(W, int(H * width / height))
    rows = min(H, int(W * height / width))
    return (W - cols) // 2, (H - rows) // 2, cols, rows


def img_to_array(img, data_format=None, dtype=None) -> np.ndarray:
    """A Pillow image as a (H, W, C) array (float32 unless ``dtype``); "channels_first" gives
    (C, H, W)."""
    x = np.asarray(img, dtype=dtype or "float32")
    x = x[..., None] if x.ndim == 2 else x
    return np.moveaxis(x, -1, 0) if data_format == "channels_first" else x


def array_to_img(x, data_format=None, scale: bool = True, dtype=None):
    """A (H, W, C) array (C 1, 3 or 4) as a Pillow image; ``scale`` maps its min..max to
    0..255 first."""
    Image = pil_image("array_to_img")
    x = np.asarray(x, dtype=dtype or "float32")
    if x.ndim != 3:
        raise ValueError(f"array_to_img: expects a 3-d image array, got shape {x.shape}")
    if data_format == "channels_first":
        x = np.moveaxis(x, 0, -1)
    if x.shape[-1] not in (1, 3, 4):
        raise ValueError(f"array_to_img: expects 1, 3 or 4 channels, got {x.shape[-1]}")
    if scale:
        x = x - x.min()
        top = x.max()
        x = x / top * 255 if top != 0 else x
    pixels = np.clip(np.round(x), 0, 255).astype(np.uint8)
    mode = {1: "L", 3: "RGB", 4: "RGBA"}[x.shape[-1]]
    return Image.fromarray(pixels[..., 0] if mode == "L" else pixels, mode)


def save_img(path, x, data_format=None, file_format=None, scale: bool = True, **kwargs):
    """``array_to_img(x)`` written to ``path`` (format from ``file_format`` or the name)."""
    img = array_to_img(x, data_format=data_format, scale=scale)
    if img.mode == "RGBA" and (file_format or str(path).rsplit(".", 1)[-1]).lower() in (
            "jpg", "jpeg"):
        img = img.convert("RGB")
    img.save(path, format=file_format, **kwargs)


class DirectoryDataset(PyDataset):
    """Batches of files read on demand: ``load(path)`` makes one sample; ``labels`` (or
    None) are the per-file targets."""

    def __init__(self, paths, labels, batch_size, load, stack, class_names):
        super().__init__()
        self.file_paths, self.labels = list(paths), labels
        self.batch_size = len(self.file_paths) if batch_size is None else batch_size
        self.load, self.stack, self.class_names = load, stack, class_names

    def __len__(self) -> int:
        return math.ceil(len(self.file_paths) / max(self.batch_size, 1))

    def __getitem__(self, index):
        part = slice(index * self.batch_size, (index + 1) * self.batch_size)
        x = self.stack([self.load(p) for p in self.file_paths[part]])
        return x if self.labels is None else (x, self.labels[part])


def index_directory(directory, labels, formats, class_names, caller: str):
    """(paths, integer labels, class names) of the files under ``directory`` ending in one of
    ``formats``: per class sub-folder (``labels="inferred"``), else all files, sorted."""
    if not os.path.isdir(directory):
        raise ValueError(f"{caller}: directory {str(directory)!r} does not exist")
    if labels == "inferred":
        found = sorted(d for d in os.listdir(directory)
                       if os.path.isdir(os.path.join(directory, d)))
        if class_names is not None and sorted(class_names) != sorted(found):
            raise ValueError(f"{caller}: class_names {list(class_names)} do not match the "
                             f"sub-folders {found}")
        names = list(class_names) if class_names is not None else found
        folders = [(i, os.path.join(directory, name)) for i, name in enumerate(names)]
    else:
        names, folders = None, [(0, directory)]
    paths, ids = [], []
    for i, folder in folders:
        for root, _, files in sorted(os.walk(folder)):
            for name in sorted(files):
                if name.lower().endswith(formats):
                    paths.append(os.path.join(root, name))
                    ids.append(i)
    if not paths:
        raise ValueError(f"{caller}: no files ending in {formats} under {str(directory)!r}")
    if labels not in ("inferred", None):
        ids = list(labels)
        if len(ids) != len(paths):
            raise ValueError(f"{caller}: {len(ids)} labels were given for {len(paths)} files")
    return paths, np.asarray(ids), names


def encode_labels(ids: np.ndarray, label_mode, num_classes: int, caller: str):
    if label_mode is None:
        return None
    if label_mode == "int":
        return ids.astype(np.int32)
    if label_mode == "categorical":
        return to_categorical(ids, num_classes)
    if label_mode == "binary":
        if num_classes != 2:
            raise ValueError(f"{caller}: label_mode='binary' needs exactly 2 classes, got "
                             f"{num_classes}")
        return ids.astype(np.float32).reshape(-1, 1)
    raise ValueError(f"{caller}: label_mode must be 'int', 'categorical', 'binary' or None, "
                     f"got {label_mode!r}")


def split_files(paths, ids, shuffle, seed, validation_split, subset, caller: str):
    """The (paths, ids) pairs of ``subset`` after the seeded shuffle: one pair, or two for
    ``subset="both"``."""
    if shuffle:
        if validation_split and seed is None:
            raise ValueError(f"{caller}: validation_split with shuffle=True needs a seed, so "
                             "the training and validation subsets do not overlap")
        order = np.random.RandomState(np.random.randint(1_000_000) if seed is None
                                      else seed).permutation(len(paths))
        paths, ids = [paths[i] for i in order], ids[order]
    if not validation_split:
        if subset is not None:
            raise ValueError(f"{caller}: subset={subset!r} needs a validation_split")
        return [(paths, ids)]
    if not 0 < validation_split < 1:
        raise ValueError(f"{caller}: validation_split must be in (0, 1), got "
                         f"{validation_split}")
    n_val = int(validation_split * len(paths))
    train, val = (paths[:len(paths) - n_val], ids[:len(paths) - n_val]), \
        (paths[len(paths) - n_val:], ids[len(paths) - n_val:])
    chosen = {"training": [train], "validation": [val], "both": [train, val]}.get(subset)
    if chosen is None:
        raise ValueError(f"{caller}: subset must be 'training', 'validation' or 'both' with a "
                         f"validation_split, got {subset!r}")
    return chosen


def _datasets(parts, label_mode, names, batch_size, load, stack, caller):
    num_classes = len(names) if names else int(max(p[1].max() for p in parts)) + 1
    made = [DirectoryDataset(paths, encode_labels(ids, label_mode, num_classes, caller),
                             batch_size, load, stack, names) for paths, ids in parts]
    return made[0] if len(made) == 1 else tuple(made)


def image_dataset_from_directory(directory, labels="inferred", label_mode="int",
                                 class_names=None, color_mode: str = "rgb",
                                 batch_size: int | None = 32, image_size=(256, 256),
                                 shuffle: bool = True, seed=None, validation_split=None,
                                 subset=None, interpolation: str = "bilinear",
                                 follow_links: bool = False, crop_to_aspect_ratio: bool = False,
                                 pad_to_aspect_ratio: bool = False, data_format=None,
                                 verbose: bool = True):
    """Images in class sub-folders as batches (images (B, H, W, C) float32, labels per
    ``label_mode``); see the module docstring for Keras's rules."""
    caller = "image_dataset_from_directory"
    _check_colour(color_mode, caller)
    pil_image(caller)
    if interpolation not in ("bilinear", "nearest"):
        raise ValueError(f"{caller}: interpolation must be 'bilinear' or 'nearest', got "
                         f"{interpolation!r}")
    if labels is None:
        label_mode = None
    paths, ids, names = index_directory(directory, labels, IMAGE_FORMATS, class_names, caller)
    parts = split_files(paths, ids, shuffle, seed, validation_split, subset, caller)
    height, width = (int(v) for v in image_size)

    def load(path):
        x = img_to_array(load_img(path, color_mode))
        if crop_to_aspect_ratio:
            left, top, cols, rows = _centre_window(x.shape[1], x.shape[0], width, height)
            x = x[top:top + rows, left:left + cols]
        return resize_array(x, height, width, interpolation)

    return _datasets(parts, label_mode, names, batch_size, load, np.stack, caller)


def resize_array(x: np.ndarray, height: int, width: int, interpolation: str) -> np.ndarray:
    from tinymm.keras.simple_layers import resize_matrix

    if x.shape[:2] == (height, width):
        return x
    Rh = resize_matrix(x.shape[0], height, interpolation)  # (height, H)
    Rw = resize_matrix(x.shape[1], width, interpolation)  # (width, W)
    return np.einsum("ih,hwc,jw->ijc", Rh, x, Rw).astype(np.float32)


def text_dataset_from_directory(directory, labels="inferred", label_mode="int",
                                class_names=None, batch_size: int | None = 32,
                                max_length=None, shuffle: bool = True, seed=None,
                                validation_split=None, subset=None, follow_links: bool = False,
                                verbose: bool = True):
    """The .txt files in class sub-folders as batches (an array of strings, each cut to
    ``max_length`` characters, and labels per ``label_mode``)."""
    caller = "text_dataset_from_directory"
    if labels is None:
        label_mode = None
    paths, ids, names = index_directory(directory, labels, (".txt",), class_names, caller)
    parts = split_files(paths, ids, shuffle, seed, validation_split, subset, caller)

    def load(path):
        with open(path, encoding="utf-8") as f:
            text = f.read()
        return text if max_length is None else text[:max_length]

    return _datasets(parts, label_mode, names, batch_size, load, np.array, caller)


__all__ = ["array_to_img", "image_dataset_from_directory", "img_to_array", "load_img",
           "save_img", "text_dataset_from_directory"]
