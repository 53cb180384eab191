"""Keras 3's image-augmentation layers (re-exported by ``keras.layers``): RandomRotation,
RandomZoom, RandomTranslation, RandomContrast, RandomBrightness, RandomCrop and CenterCrop.

Images are (N, H, W, C), channels-last. The random layers act only in training (during
``fit``, or when called with ``training=True``); otherwise they return their input (RandomCrop
then crops and resizes to its target, as Keras documents). ``seed`` (an int) gives
the layer its own NumPy generator; without one draws come from the generator
``keras.utils.set_random_seed`` seeds. The draws are NumPy's, so they differ from Keras's for
the same seed; the transform for a given draw is Keras's:

- The geometric layers map each output pixel (x, y) to the input point
  (a0 x + a1 y + a2, b0 x + b1 y + b2) and sample it ("bilinear": the four neighbours weighted
  by their distances; "nearest": the rounded point). Points outside the image follow
  ``fill_mode``: "reflect" (d c b a | a b c d | d c b a), "wrap" (a b c d | a b c d),
  "nearest" (a a | a b c d | d d), "constant" (each outside neighbour is ``fill_value``).
- RandomRotation: angle = U(lower, upper) * 360 degrees (``factor`` f means (-f, f)), about
  the centre ((W - 1) / 2, (H - 1) / 2); a0 = cos, a1 = -sin, b0 = sin, b1 = cos.
- RandomZoom: z = 1 + U(lower, upper) per axis (positive: zoom out), a0 = zx, b1 = zy,
  offsets (size - 1) / 2 * (1 - z); ``width_factor=None`` uses the height's draw.
- RandomTranslation: shifts of U(lower, upper) * size, a2 = -dx, b2 = -dy.
- RandomContrast: (x - mean_HW) * U(1 - lower, 1 + upper) + mean_HW per image and channel
  (``factor`` f means (0, f)),
  clipped to ``value_range``. RandomBrightness: x + U(lower, upper) * (high - low), clipped.
- RandomCrop: a random (height, width) window, one offset per batch. Outside training, or
  for an input not larger than the target, Keras's rule: the (height, width) slice from the
  top-left corner of the largest centred window of the target's aspect ratio, resized
  (bilinear, half-pixel) when that slice is smaller.
- CenterCrop: the centre window, offsets (H - height) // 2; an input smaller than the target
  is cropped to the target's aspect ratio and resized, as Keras's ``smart_resize``.
"""

from __future__ import annotations

import math

import numpy as np

from tinymm import nn
from tinymm.keras.layers import float_input, need_rank
from tinymm.keras.simple_layers import TrainingLayer, resize_images
from tinymm.tensor import Tensor, from_numpy

FILL_MODES = ("reflect", "wrap", "constant", "nearest")
INTERPOLATIONS = ("bilinear", "nearest")


def factor_range(value, layer: str, name: str, low: float = -1.0,
                 high: float = 1.0) -> tuple[float, float]:
    """Keras's ``factor`` argument: f gives (-|f|, |f|) (clamped at ``low``), a pair its sorted
    bounds; every bound in [low, high]."""
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        f = abs(float(value))
        pair = (max(-f, low), f)
    elif isinstance(value, (tuple, list)) and len(value) == 2:
        pair = tuple(sorted(float(v) for v in value))
    else:
        raise ValueError(f"{layer}: {name} must be a number or a pair of numbers, got {value!r}")
    if not all(low <= v <= high for v in pair):
        raise ValueError(f"{layer}: {name} must lie in [{low}, {high}], got {value!r}")
    return pair


def _fix_index(index: np.ndarray, size: int, fill_mode: str) -> np.ndarray:
    if fill_mode == "wrap":
        return index % size
    if fill_mode == "reflect":  # half-sample symmetric: -1 -> 0, size -> size - 1
        period = 2 * size
        index = index % period
        return np.where(index < size, index, period - 1 - index)
    return np.clip(index, 0, size - 1)


def _nodes(coord: np.ndarray, interpolation: str):
    """[(integer index, weight)] that sample each coordinate along one axis."""
    if interpolation == "nearest":
        return [(np.round(coord).astype(np.int64), np.ones_like(coord))]
    lower = np.floor(coord)
    frac = coord - lower
    return [(lower.astype(np.int64), 1.0 - frac), (lower.astype(np.int64) + 1, frac)]


def affine_transform(x: Tensor, transforms: np.ndarray, interpolation: str, fill_mode: str,
                     fill_value: float) -> Tensor:
    """Images (N, H, W, C) resampled by one (8,) transform per image (Keras's layout
    a0 a1 a2 b0 b1 b2 c0 c1, the last two 0): a gather of the sampled neighbours, so the
    gradient flows back to the pixels they came from."""
    N, H, W, C = x.shape
    t = np.asarray(transforms, np.float64).reshape(N, 8, 1, 1)
    ys, xs = np.meshgrid(np.arange(H, dtype=np.float64), np.arange(W, dtype=np.float64),
                         indexing="ij")
    x_in = t[:, 0] * xs + t[:, 1] * ys + t[:, 2]  # (N, H, W)
    y_in = t[:, 3] * xs + t[:, 4] * ys + t[:, 5]
    base = (np.arange(N) * H * W).reshape(N, 1, 1)
    flat = x.reshape(N * H * W, C)
    out, fill = None, np.zeros((N, H, W))
    for yi, wy in _nodes(y_in, interpolation):
        for xi, wx in _nodes(x_in, interpolation):
            weight = wy * wx
            if fill_mode == "constant":
                valid = (yi >= 0) & (yi < H) & (xi >= 0) & (xi < W)
                fill += weight * ~valid
                weight = weight * valid
            index = base + _fix_index(yi, H, fill_mode) * W + _fix_index(xi, W, fill_mode)
            part = flat.index_select(0, from_numpy(index.reshape(-1))) * from_numpy(
                weight.reshape(-1, 1).astype(x.dtype))
            out = part if out is None else out + part
    out = out.reshape(N, H, W, C)
    if fill_mode == "constant" and fill_value != 0:
        out = out + from_numpy((fill * fill_value)[..., None].astype(x.dtype))
    return out


def aspect_window(H: int, W: int, height: int, width: int) -> tuple[int, int, int, int]:
    """(top, left, rows, columns) of the largest centred window of height:width's aspect."""
    crop_h = max(min(H, int(W * height / width)), 1)
    crop_w = max(min(W, int(H * width / height)), 1)
    return int((H - crop_h) / 2), int((W - crop_w) / 2), crop_h, crop_w


def crop_resize(x: Tensor, window, height: int, width: int) -> Tensor:
    """``x``'s (top, left, rows, columns) window, resized to (height, width) when it differs
    (bilinear, half-pixel)."""
    h0, w0, rows, cols = window
    x = x[:, h0:h0 + rows, w0:w0 + cols, :]
    if x.shape[1:3] == (height, width):
        return x
    return resize_images(x, height, width, "bilinear")


class _Augment(TrainingLayer):
    """An image layer that may draw random numbers: rank-4 input, its own generator when
    seeded, ``training`` from the call or else from the model's mode."""

    def __init__(self, seed=None, **kwargs):
        super().__init__(**kwargs)
        if seed is not None and not isinstance(seed, (int, np.integer)):
            raise TypeError(f"{type(self).__name__}: seed must be None or an int, got "
                            f"{type(seed).__name__}")
        self.seed = None if seed is None else int(seed)
        self._rng = None if seed is None else np.random.default_rng(self.seed)

    def _uniform(self, low: float, high: float, size) -> np.ndarray:
        return (self._rng or nn.init.generator).uniform(low, high, size)

    def _active(self, training) -> bool:
        return self._training() if training is None else bool(training)

    def compute_output_shape(self, input_shape):
        need_rank(f"{type(self).__name__} '{self.name}'", input_shape, 4, "(N, H, W, C)")
        return input_shape

    def get_config(self) -> dict:
        return {**super().get_config(), "seed": self.seed}


class _Geometric(_Augment):
    """The layers that resample through ``affine_transform``."""

    def __init__(self, fill_mode: str = "reflect", interpolation: str = "bilinear", seed=None,
                 fill_value: float = 0.0, data_format=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        layer = type(self).__name__
        if fill_mode not in FILL_MODES:
            raise ValueError(f"{layer}: fill_mode must be one of {FILL_MODES}, got {fill_mode!r}")
        if interpolation not in INTERPOLATIONS:
            raise ValueError(f"{layer}: interpolation must be one of {INTERPOLATIONS}, got "
                             f"{interpolation!r}")
        if data_format not in (None, "channels_last"):
            raise ValueError(f"{layer}: supports data_format 'channels_last', got "
                             f"{data_format!r}")
        self.fill_mode, self.interpolation = fill_mode, interpolation
        self.fill_value = float(fill_value)

    def transforms(self, n: int, height: int, width: int) -> np.ndarray:
        raise NotImplementedError

    def call(self, x, training=None):
        if not self._active(training):
            return x
        x = float_input(self, x)
        t = self.transforms(x.shape[0], x.shape[1], x.shape[2])
        return affine_transform(x, t, self.interpolation, self.fill_mode, self.fill_value)

    def get_config(self) -> dict:
        return {**super().get_config(), "fill_mode": self.fill_mode,
                "interpolation": self.interpolation, "fill_value": self.fill_value}


def rotation_matrices(degrees: np.ndarray, height: int, width: int) -> np.ndarray:
    """(N, 8) rotations by ``degrees`` about the image centre (Keras's layout)."""
    theta = np.asarray(degrees, np.float64) * math.pi / 180.0
    cos, sin = np.cos(theta), np.sin(theta)
    cx, cy = 0.5 * (width - 1), 0.5 * (height - 1)
    zero = np.zeros_like(theta)
    return np.stack([cos, -sin, cx - cx * cos + cy * sin, sin, cos, cy - cx * sin - cy * cos,
                     zero, zero], axis=1)


class RandomRotation(_Geometric):
    def __init__(self, factor, fill_mode: str = "reflect", interpolation: str = "bilinear",
                 seed=None, fill_value: float = 0.0, **kwargs):
        super().__init__(fill_mode, interpolation, seed, fill_value, **kwargs)
        self.factor = factor_range(factor, "RandomRotation", "factor")

    def transforms(self, n, height, width):
        degrees = self._uniform(self.factor[0] * 360.0, self.factor[1] * 360.0, n)
        return rotation_matrices(degrees, height, width)

    def get_config(self) -> dict:
        return {**super().get_config(), "factor": list(self.factor)}


def _shift_factor(value, layer: str, name: str) -> tuple[float, float]:
    """RandomZoom's/RandomTranslation's factor: every bound in (-1, 1]."""
    pair = factor_range(value, layer, name)
    if pair[0] <= -1.0:
        raise ValueError(f"{layer}: {name} must lie in (-1, 1], got {value!r}")
    return pair


class RandomZoom(_Geometric):
    def __init__(self, height_factor, width_factor=None, fill_mode: str = "reflect",
                 interpolation: str = "bilinear", seed=None, fill_value: float = 0.0,
                 **kwargs):
        super().__init__(fill_mode, interpolation, seed, fill_value, **kwargs)
        self.height_factor = _shift_factor(height_factor, "RandomZoom", "height_factor")
        self.width_factor = (None if width_factor is None else
                             _shift_factor(width_factor, "RandomZoom", "width_factor"))

    def transforms(self, n, height, width):
        zy = 1.0 + self._uniform(*self.height_factor, n)
        zx = zy if self.width_factor is None else 1.0 + self._uniform(*self.width_factor, n)
        zero = np.zeros(n)
        return np.stack([zx, zero, (width - 1) / 2 * (1 - zx), zero, zy,
                         (height - 1) / 2 * (1 - zy), zero, zero], axis=1)

    def get_config(self) -> dict:
        return {**super().get_config(), "height_factor": list(self.height_factor),
                "width_factor": None if self.width_factor is None else list(self.width_factor)}


class RandomTranslation(_Geometric):
    def __init__(self, height_factor, width_factor, fill_mode: str = "reflect",
                 interpolation: str = "bilinear", seed=None, fill_value: float = 0.0,
                 **kwargs):
        super().__init__(fill_mode, interpolation, seed, fill_value, **kwargs)
        self.height_factor = _shift_factor(height_factor, "RandomTranslation", "height_factor")
        self.width_factor = _shift_factor(width_factor, "RandomTranslation", "width_factor")

    def transforms(self, n, height, width):
        dy = self._uniform(*self.height_factor, n) * height
        dx = self._uniform(*self.width_factor, n) * width
        one, zero = np.ones(n), np.zeros(n)
        return np.stack([one, zero, -dx, zero, one, -dy, zero, zero], axis=1)

    def get_config(self) -> dict:
        return {**super().get_config(), "height_factor": list(self.height_factor),
                "width_factor": list(self.width_factor)}


def _value_range(value, layer: str) -> tuple[float, float]:
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise ValueError(f"{layer}: value_range must be a pair (low, high), got {value!r}")
    low, high = sorted(float(v) for v in value)
    return low, high


class _Colour(_Augment):
    """RandomContrast/RandomBrightness: a per-image draw, then clipping to ``value_range``;
    ``factor`` bounds lie in [factor_low, 1]."""

    factor_low = -1.0

    def __init__(self, factor, value_range=(0, 255), seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.factor = factor_range(factor, type(self).__name__, "factor", low=self.factor_low)
        self.value_range = _value_range(value_range, type(self).__name__)

    def adjust(self, x: Tensor, draws: np.ndarray) -> Tensor:
        raise NotImplementedError

    def call(self, x, training=None):
        if not self._active(training):
            return x
        x = float_input(self, x)
        out = self.adjust(x, self._uniform(*self.bounds(), (x.shape[0], 1, 1, 1)))
        return out.clamp(*self.value_range)

    def get_config(self) -> dict:
        return {**super().get_config(), "factor": list(self.factor),
                "value_range": list(self.value_range)}


class RandomContrast(_Colour):
    factor_low = 0.0

    def bounds(self):
        return 1.0 - self.factor[0], 1.0 + self.factor[1]

    def adjust(self, x, draws):
        mean = x.mean(dim=(1, 2), keepdim=True)
        return (x - mean) * from_numpy(draws.astype(x.dtype)) + mean


class RandomBrightness(_Colour):
    def bounds(self):
        return self.factor

    def adjust(self, x, draws):
        low, high = self.value_range
        return x + from_numpy((draws * (high - low)).astype(x.dtype))


class _Crop(_Augment):
    def __init__(self, height: int, width: int, seed=None, data_format=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        if not all(isinstance(v, (int, np.integer)) and v > 0 for v in (height, width)):
            raise ValueError(f"{type(self).__name__}: height and width must be positive ints, "
                             f"got {height!r}, {width!r}")
        if data_format not in (None, "channels_last"):
            raise ValueError(f"{type(self).__name__}: supports data_format 'channels_last', "
                             f"got {data_format!r}")
        self.height, self.width = int(height), int(width)

    def compute_output_shape(self, input_shape):
        super().compute_output_shape(input_shape)
        return (input_shape[0], self.height, self.width, input_shape[3])

    def get_config(self) -> dict:
        return {**super().get_config(), "height": self.height, "width": self.width}


class RandomCrop(_Crop):
    def call(self, x, training=None):
        H, W = x.shape[1], x.shape[2]
        if self._active(training) and H > self.height and W > self.width:
            h0 = int(self._uniform(0, H - self.height + 1, None))
            w0 = int(self._uniform(0, W - self.width + 1, None))
            return x[:, h0:h0 + self.height, w0:w0 + self.width, :]
        h0, w0, _, _ = aspect_window(H, W, self.height, self.width)  # Keras: the target's
        return crop_resize(float_input(self, x), (h0, w0, self.height, self.width),  # size there
                           self.height, self.width)


class CenterCrop(_Crop):
    def __init__(self, height: int, width: int, data_format=None, **kwargs):
        super().__init__(height, width, data_format=data_format, **kwargs)

    def call(self, x, training=None):
        H, W = x.shape[1], x.shape[2]
        if H >= self.height and W >= self.width:
            h0, w0 = (H - self.height) // 2, (W - self.width) // 2
            return x[:, h0:h0 + self.height, w0:w0 + self.width, :]
        return crop_resize(float_input(self, x), aspect_window(H, W, self.height, self.width),
                           self.height, self.width)

    def get_config(self) -> dict:
        config = super().get_config()
        config.pop("seed")
        return config


AUGMENT_LAYERS = {cls.__name__: cls for cls in (
    RandomRotation, RandomZoom, RandomTranslation, RandomContrast, RandomBrightness,
    RandomCrop, CenterCrop)}

__all__ = sorted(AUGMENT_LAYERS)
