"""Simple Keras layers over tinymm's Tensor ops (re-exported by ``keras.layers``): Identity,
ELU, PReLU, Masking, the noise layers (SpatialDropout1D/2D, GaussianNoise, GaussianDropout,
RandomFlip: active during ``fit`` only), padding, cropping and up-sampling, Dot,
UnitNormalization, GroupNormalization, Normalization (with ``adapt``) and Resizing.

Dimension letters: N batch, T steps, H/W height/width, C channels (channels-last, as Keras).

Every formula is Keras's:

- ELU: x if x > 0 else alpha (e^x - 1). PReLU: relu(x) - alpha relu(-x), alpha a weight of
  the input's shape (without the batch axis; 1 along ``shared_axes``), initialised to 0.
- Masking: y = x where any(x[..., c] != mask_value) over the last axis, else 0; the mask
  (N, T) marks those steps.
- SpatialDropout: one Bernoulli(1 - rate) draw per (sample, channel), scaled by 1/(1-rate).
  GaussianNoise: x + N(0, stddev^2). GaussianDropout: x * N(1, rate / (1 - rate)).
- UnitNormalization: x / max(||x||_2, 1e-12) along ``axis`` (Keras: x * min(rsqrt(sum x^2),
  1e12), the same numbers).
- GroupNormalization: channels split into G groups of C/G; each (sample, group) normalised
  over its spatial positions and channels with the biased variance,
  (x - mean) / sqrt(var + epsilon), then gamma (C,) and beta (C,).
- Normalization: (x - mean) / max(sqrt(variance), 1e-7) per feature of ``axis``; ``adapt``
  takes the mean and (biased) variance of the data; ``invert=True`` maps back.
- Resizing: each output pixel samples the input at (i + 0.5) * in/out - 0.5 (half-pixel
  centres); "bilinear" mixes the two nearest rows and columns (clamped at the edges),
  "nearest" takes floor((i + 0.5) * in/out). Both are linear maps, applied as (H', H) and
  (W', W) matrices, so the gradient is their transpose.
"""

from __future__ import annotations

import numpy as np

from tinymm import nn
from tinymm.keras import initializers
from tinymm.keras.engine import Layer, fmt_shape
from tinymm.keras.layers import Attention, float_input, need_rank
from tinymm.ops.activation import elu, relu
from tinymm.ops.shape import pad
from tinymm.tensor import Tensor, from_numpy


def _positive_ints(value, n: int, name: str, layer: str) -> tuple[int, ...]:
    if isinstance(value, (int, np.integer)):
        value = (int(value),) * n
    value = tuple(value)
    if len(value) != n or not all(isinstance(v, (int, np.integer)) and v >= 0 for v in value):
        raise ValueError(f"{layer}: {name} must be an int or {n} non-negative ints, got {value}")
    return tuple(int(v) for v in value)


def _pairs(value, n: int, name: str, layer: str) -> tuple[tuple[int, int], ...]:
    """Keras's padding/cropping argument: an int, n ints (symmetric), or n pairs."""
    if isinstance(value, (int, np.integer)):
        return ((int(value), int(value)),) * n
    value = tuple(value)
    if n == 1 and len(value) == 2 and all(isinstance(v, (int, np.integer)) for v in value):
        return (_positive_ints(value, 2, name, layer),)
    if len(value) != n:
        raise ValueError(f"{layer}: {name} must be an int, {n} ints or {n} pairs, got {value}")
    return tuple(_positive_ints(v, 2, name, layer) for v in value)


class TrainingLayer(Layer):
    """A layer whose call depends on training mode: it holds a weightless module that the
    model's ``train()``/``eval()`` switch (on during ``fit``)."""

    def build_module(self, input_shape):
        return nn.Module()

    def _training(self) -> bool:
        return self.module is not None and self.module.training


class Identity(Layer):
    supports_masking = True

    def call(self, x):
        return x


class ELU(Layer):
    supports_masking = True

    def __init__(self, alpha: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        self.alpha = float(alpha)

    def call(self, x):
        return elu(float_input(self, x), self.alpha)

    def get_config(self) -> dict:
        return {**super().get_config(), "alpha": self.alpha}


class PReLU(Layer):
    def __init__(self, alpha_initializer="zeros", shared_axes=None, **kwargs):
        super().__init__(**kwargs)
        self.alpha_initializer = alpha_initializer
        axes = [] if shared_axes is None else ([shared_axes] if isinstance(shared_axes, int)
                                               else list(shared_axes))
        self.shared_axes = axes

    def build(self, input_shape) -> None:
        shape = list(input_shape[1:])
        for axis in self.shared_axes:
            if not 1 <= axis <= len(shape):
                raise ValueError(f"PReLU '{self.name}': shared axis {axis} is outside the "
                                 f"input's axes 1..{len(shape)} of {fmt_shape(input_shape)}")
            shape[axis - 1] = 1
        if any(d is None for d in shape):
            raise ValueError(f"PReLU '{self.name}': every non-batch axis must be known (or "
                             f"shared) to create alpha, got {fmt_shape(input_shape)}")
        self.alpha = self.add_weight("alpha", shape, self.alpha_initializer)

    def call(self, x):
        x = float_input(self, x)
        return relu(x) - self.alpha * relu(-x)

    def get_config(self) -> dict:
        init = self.alpha_initializer
        return {**super().get_config(), "alpha_initializer": init if isinstance(init, str)
                else "zeros", "shared_axes": self.shared_axes or None}


class Masking(Layer):
    """Steps whose features all equal ``mask_value`` become 0 and are masked out."""

    def __init__(self, mask_value: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.mask_value = float(mask_value)

    def _symbolic_mask(self, args) -> bool:
        return True

    def _keep(self, x) -> np.ndarray:
        return np.any(np.asarray(x.array) != self.mask_value, axis=-1)  # (N, T)

    def call(self, x):
        keep = self._keep(x)[..., None].astype(x.dtype)  # (N, T, 1)
        return x * from_numpy(keep)

    def compute_mask(self, inputs, mask=None):
        return self._keep(inputs)

    def get_config(self) -> dict:
        return {**super().get_config(), "mask_value": self.mask_value}


class _SpatialDropout(TrainingLayer):
    rank = 3

    def __init__(self, rate: float, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not 0 <= rate < 1:
            raise ValueError(f"{type(self).__name__}: rate must be in [0, 1), got {rate}")
        self.rate = float(rate)

    def compute_output_shape(self, input_shape):
        need_rank(f"{type(self).__name__} '{self.name}'", input_shape, self.rank,
                  "(N, T, C)" if self.rank == 3 else "(N, H, W, C)")
        return input_shape

    def call(self, x):
        if not self._training() or self.rate == 0:
            return x
        shape = (x.shape[0],) + (1,) * (self.rank - 2) + (x.shape[-1],)
        keep = nn.init.generator.random(shape) >= self.rate  # one draw per sample, channel
        return x * from_numpy((keep / (1 - self.rate)).astype(x.dtype))

    def get_config(self) -> dict:
        """Keras's keys: its SpatialDropout constructors take no ``trainable``."""
        config = {**super().get_config(), "rate": self.rate}
        config.pop("trainable", None)
        return config


class SpatialDropout1D(_SpatialDropout):
    rank = 3


class SpatialDropout2D(_SpatialDropout):
    rank = 4


class GaussianNoise(TrainingLayer):
    supports_masking = True

    def __init__(self, stddev: float, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.stddev = float(stddev)

    def call(self, x):
        if not self._training():
            return x
        noise = nn.init.generator.normal(0.0, self.stddev, x.shape).astype(x.dtype)
        return x + from_numpy(noise)

    def get_config(self) -> dict:
        return {**super().get_config(), "stddev": self.stddev}


class GaussianDropout(TrainingLayer):
    supports_masking = True

    def __init__(self, rate: float, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not 0 <= rate < 1:
            raise ValueError(f"GaussianDropout: rate must be in [0, 1), got {rate}")
        self.rate = float(rate)

    def call(self, x):
        if not self._training() or self.rate == 0:
            return x
        std = np.sqrt(self.rate / (1.0 - self.rate))
        return x * from_numpy(nn.init.generator.normal(1.0, std, x.shape).astype(x.dtype))

    def get_config(self) -> dict:
        return {**super().get_config(), "rate": self.rate}


class RandomFlip(TrainingLayer):
    """Flips each image left-right and/or up-down with probability 1/2, during ``fit``
    only (Keras's augmentation layer); outside training it passes images through."""

    def __init__(self, mode: str = "horizontal_and_vertical", seed=None, **kwargs):
        super().__init__(**kwargs)
        if mode not in ("horizontal", "vertical", "horizontal_and_vertical"):
            raise ValueError(f"RandomFlip: mode must be 'horizontal', 'vertical' or "
                             f"'horizontal_and_vertical', got {mode!r}")
        self.mode = mode

    def compute_output_shape(self, input_shape):
        need_rank(f"RandomFlip '{self.name}'", input_shape, 4, "(N, H, W, C)")
        return input_shape

    def call(self, x):
        if not self._training():
            return x
        axes = [axis for axis, on in ((2, "horizontal" in self.mode),
                                      (1, "vertical" in self.mode)) if on]
        for axis in axes:
            flip = nn.init.generator.random(x.shape[0]) < 0.5  # (N,)
            index = np.arange(x.shape[axis])[::-1].copy()
            flipped = x.index_select(axis, from_numpy(index))
            chosen = from_numpy(flip.reshape(-1, 1, 1, 1).astype(x.dtype))
            x = flipped * chosen + x * (1 - chosen)
        return x

    def get_config(self) -> dict:
        return {**super().get_config(), "mode": self.mode}


# ---------------------------------------------------------------- padding, cropping, up-sampling
class _Spatial(Layer):
    """Layers over the spatial axes of (N, T, C) (``dims`` 1) or (N, H, W, C) (``dims`` 2)."""

    dims = 1
    supports_masking = False

    def _check(self, input_shape) -> None:
        need_rank(f"{type(self).__name__} '{self.name}'", input_shape, self.dims + 2,
                  "(N, T, C)" if self.dims == 1 else "(N, H, W, C)")


class _ZeroPadding(_Spatial):
    def __init__(self, padding=1, **kwargs):
        super().__init__(**kwargs)
        self.padding = _pairs(padding, self.dims, "padding", type(self).__name__)

    def compute_output_shape(self, input_shape):
        self._check(input_shape)
        sizes = [None if d is None else d + a + b for d, (a, b) in
                 zip(input_shape[1:-1], self.padding)]
        return (input_shape[0], *sizes, input_shape[-1])

    def call(self, x):
        widths = [0, 0]  # channels (last axis) unpadded; then the spatial axes, last first
        for a, b in reversed(self.padding):
            widths += [a, b]
        return pad(x, widths)

    def get_config(self) -> dict:
        return {**super().get_config(), "padding": [list(p) for p in self.padding]}


class ZeroPadding1D(_ZeroPadding):
    dims = 1


class ZeroPadding2D(_ZeroPadding):
    dims = 2


class _Cropping(_Spatial):
    default = (1, 1)

    def __init__(self, cropping=None, **kwargs):
        super().__init__(**kwargs)
        cropping = self.default if cropping is None else cropping
        self.cropping = _pairs(cropping, self.dims, "cropping", type(self).__name__)

    def compute_output_shape(self, input_shape):
        self._check(input_shape)
        sizes = []
        for d, (a, b) in zip(input_shape[1:-1], self.cropping):
            if d is not None and d - a - b <= 0:
                raise ValueError(f"{type(self).__name__} '{self.name}': cropping "
                                 f"{self.cropping} leaves nothing of {fmt_shape(input_shape)}")
            sizes.append(None if d is None else d - a - b)
        return (input_shape[0], *sizes, input_shape[-1])

    def call(self, x):
        index = (slice(None),) + tuple(slice(a, x.shape[i + 1] - b) for i, (a, b) in
                                       enumerate(self.cropping))
        return x[index]

    def get_config(self) -> dict:
        return {**super().get_config(), "cropping": [list(c) for c in self.cropping]}


class Cropping1D(_Cropping):
    dims = 1


class Cropping2D(_Cropping):
    dims = 2
    default = ((0, 0), (0, 0))


class _UpSampling(_Spatial):
    def __init__(self, size=2, **kwargs):
        super().__init__(**kwargs)
        self.size = _positive_ints(size, self.dims, "size", type(self).__name__)
        if min(self.size) < 1:
            raise ValueError(f"{type(self).__name__}: size must be positive, got {self.size}")

    def compute_output_shape(self, input_shape):
        self._check(input_shape)
        sizes = [None if d is None else d * s for d, s in zip(input_shape[1:-1], self.size)]
        return (input_shape[0], *sizes, input_shape[-1])

    def call(self, x):
        for axis, s in enumerate(self.size, start=1):  # repeat each row/column s times
            if s > 1:
                x = x.index_select(axis, from_numpy(np.repeat(np.arange(x.shape[axis]), s)))
        return x


class UpSampling1D(_UpSampling):
    dims = 1

    def get_config(self) -> dict:
        return {**super().get_config(), "size": self.size[0]}


class UpSampling2D(_UpSampling):
    dims = 2

    def __init__(self, size=(2, 2), data_format=None, interpolation: str = "nearest",
                 **kwargs):
        super().__init__(size, **kwargs)
        if interpolation != "nearest" or data_format not in (None, "channels_last"):
            raise ValueError(f"UpSampling2D: only interpolation='nearest' on channels-last "
                             f"images is supported, got {interpolation!r}, {data_format!r}")

    def get_config(self) -> dict:
        return {**super().get_config(), "size": list(self.size)}


# ---------------------------------------------------------------- merging and normalising
def _l2_normalize(x, axis):
    return x / (x * x).sum(axis=axis, keepdims=True).sqrt().clamp(min=1e-12)


class Dot(Layer):
    """The dot product of two batched tensors along ``axes`` (Keras's batch_dot): (N, D) and
    (N, D) -> (N, 1); (N, T, D) and (N, S, D) with axes 2 -> (N, T, S)."""

    def __init__(self, axes, normalize: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.axes = [axes, axes] if isinstance(axes, int) else list(axes)
        self.normalize = bool(normalize)

    def _axes(self, shapes):
        if not isinstance(shapes, list) or len(shapes) != 2:
            raise ValueError(f"Dot '{self.name}': expects a list of 2 inputs, got "
                             f"{fmt_shape(shapes) if isinstance(shapes, list) else shapes}")
        axes = [a % len(s) for a, s in zip(self.axes, shapes)]
        a, b = shapes
        if len(a) not in (2, 3) or len(b) not in (2, 3) or 0 in axes:
            raise ValueError(f"Dot '{self.name}': supports rank-2 or rank-3 inputs and "
                             f"non-batch axes, got {fmt_shape(shapes)} with axes {self.axes}")
        if a[axes[0]] is not None and b[axes[1]] is not None and a[axes[0]] != b[axes[1]]:
            raise ValueError(f"Dot '{self.name}': the dotted axes differ in size: "
                             f"{fmt_shape(shapes)} along axes {self.axes}")
        return axes

    def compute_output_shape(self, input_shape):
        ia, ib = self._axes(input_shape)
        a, b = input_shape
        rest = [d for i, d in enumerate(a) if i not in (0, ia)] + \
            [d for i, d in enumerate(b) if i not in (0, ib)]
        return (a[0], *rest) if rest else (a[0], 1)

    def call(self, tensors):
        ia, ib = self._axes([(None,) + tuple(t.shape[1:]) for t in tensors])
        a, b = tensors
        if self.normalize:
            a, b = _l2_normalize(a, ia), _l2_normalize(b, ib)
        if a.ndim == 2 and b.ndim == 2:
            return (a * b).sum(axis=1, keepdims=True)  # (N, 1)
        a = a.unsqueeze(1) if a.ndim == 2 else (a if ia == 2 else a.transpose(1, 2))
        b = b.unsqueeze(2) if b.ndim == 2 else (b if ib == 1 else b.transpose(1, 2))
        out = a @ b  # (N, rest of a, rest of b)
        if tensors[0].ndim == 2:
            out = out.squeeze(1)
        elif tensors[1].ndim == 2:
            out = out.squeeze(2)
        return out

    def get_config(self) -> dict:
        return {**super().get_config(), "axes": self.axes, "normalize": self.normalize}


class UnitNormalization(Layer):
    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = axis if isinstance(axis, int) else tuple(axis)

    def call(self, x):
        return _l2_normalize(float_input(self, x), self.axis)

    def get_config(self) -> dict:
        axis = self.axis if isinstance(self.axis, int) else list(self.axis)
        return {**super().get_config(), "axis": axis}


class GroupNormalization(Layer):
    def __init__(self, groups: int = 32, axis: int = -1, epsilon: float = 1e-3,
                 center: bool = True, scale: bool = True, **kwargs):
        super().__init__(**kwargs)
        if axis != -1:
            raise ValueError(f"GroupNormalization: only axis=-1 (channels-last) is supported, "
                             f"got {axis}")
        self.groups, self.axis, self.epsilon = int(groups), axis, float(epsilon)
        self.center, self.scale = bool(center), bool(scale)

    def build(self, input_shape) -> None:
        C = input_shape[-1]
        if C is None or len(input_shape) < 2 or C % self.groups:
            raise ValueError(f"GroupNormalization '{self.name}': the channels ({C}) must be "
                             f"known and a multiple of groups={self.groups}, got input "
                             f"{fmt_shape(input_shape)}")
        if self.scale:
            self.gamma = self.add_weight("gamma", (C,), "ones")
        if self.center:
            self.beta = self.add_weight("beta", (C,), "zeros")

    def call(self, x):
        x = float_input(self, x)
        N, C = x.shape[0], x.shape[-1]
        G = self.groups
        grouped = x.reshape(N, -1, G, C // G)  # (N, positions, G, C/G)
        mean = grouped.mean(axis=(1, 3), keepdims=True)
        centred = grouped - mean
        var = (centred * centred).mean(axis=(1, 3), keepdims=True)
        y = (centred / (var + self.epsilon).sqrt()).reshape(x.shape)
        if self.scale:
            y = y * self.gamma
        return y + self.beta if self.center else y

    def get_config(self) -> dict:
        return {**super().get_config(), "groups": self.groups, "axis": self.axis,
                "epsilon": self.epsilon, "center": self.center, "scale": self.scale}


class Normalization(Layer):
    """(x - mean) / max(sqrt(variance), 1e-7) per feature of the last axis; the statistics
    come from ``mean=``/``variance=`` or from ``adapt(data)``."""

    def __init__(self, axis: int = -1, mean=None, variance=None, invert: bool = False,
                 **kwargs):
        super().__init__(**kwargs)
        if axis != -1:
            raise ValueError(f"Normalization: only axis=-1 is supported, got {axis}")
        if (mean is None) != (variance is None):
            raise ValueError("Normalization: give both mean and variance, or neither (and "
                             "call adapt)")
        self.axis, self.invert = axis, bool(invert)
        self.given = None if mean is None else (np.asarray(mean, np.float64),
                                                np.asarray(variance, np.float64))

    def build(self, input_shape) -> None:
        if self.given is not None:
            return
        C = input_shape[-1]
        if C is None:
            raise ValueError(f"Normalization '{self.name}': the last axis must be known, got "
                             f"{fmt_shape(input_shape)}")
        self.mean = self.add_weight("mean", (C,), "zeros", trainable=False)
        self.variance = self.add_weight("variance", (C,), "ones", trainable=False)
        self.count = self.add_weight("count", (), "zeros", trainable=False)

    def adapt(self, data) -> None:
        """The mean and biased variance of ``data`` (N, ..., C) over all but the last axis."""
        data = np.asarray(data.array if isinstance(data, Tensor) else data, np.float64)
        if data.ndim < 1 or data.shape[0] == 0:
            raise ValueError(f"Normalization '{self.name}': adapt needs a non-empty array, "
                             f"got shape {data.shape}")
        if self.given is not None:
            raise ValueError(f"Normalization '{self.name}': mean and variance were given; "
                             "adapt is for a layer built without them")
        self._maybe_build((None,) + data.shape[1:])
        flat = data.reshape(-1, data.shape[-1])
        self.set_weights([flat.mean(axis=0), flat.var(axis=0), np.array(float(len(flat)))])

    def _stats(self):
        if self.given is not None:
            return tuple(from_numpy(a.astype(self.dtype)) for a in self.given)
        return self.mean, self.variance

    def call(self, x):
        x = float_input(self, x)
        mean, variance = self._stats()
        scale = variance.sqrt().clamp(min=1e-7)
        return mean + x * scale if self.invert else (x - mean) / scale

    def get_config(self) -> dict:
        given = {} if self.given is None else {"mean": self.given[0].tolist(),
                                               "variance": self.given[1].tolist()}
        return {**super().get_config(), "axis": self.axis, "invert": self.invert, **given}


def resize_matrix(n_in: int, n_out: int, interpolation: str) -> np.ndarray:
    """(n_out, n_in): row i samples the input at (i + 0.5) * n_in / n_out - 0.5."""
    scale = n_in / n_out
    M = np.zeros((n_out, n_in))
    rows = np.arange(n_out)
    if interpolation == "nearest":
        M[rows, np.minimum(np.floor((rows + 0.5) * scale).astype(int), n_in - 1)] = 1.0
        return M
    src = np.maximum((rows + 0.5) * scale - 0.5, 0.0)
    i0 = np.minimum(np.floor(src).astype(int), n_in - 1)
    i1 = np.minimum(i0 + 1, n_in - 1)
    frac = src - i0
    np.add.at(M, (rows, i0), 1.0 - frac)
    np.add.at(M, (rows, i1), frac)
    return M


def resize_images(x: Tensor, height: int, width: int, interpolation: str) -> Tensor:
    """Float images (N, H, W, C) -> (N, height, width, C) through the two resize matrices."""
    Rh = from_numpy(resize_matrix(x.shape[1], height, interpolation).astype(x.dtype))  # (H', H)
    Rw = from_numpy(resize_matrix(x.shape[2], width, interpolation).T.astype(x.dtype))  # (W, W')
    images = x.permute(0, 3, 1, 2)  # (N, C, H, W)
    return (Rh @ images @ Rw).permute(0, 2, 3, 1)  # (N, H', W', C)


class Resizing(Layer):
    """Images (N, H, W, C) -> (N, height, width, C), bilinear or nearest (half-pixel)."""

    def __init__(self, height: int, width: int, interpolation: str = "bilinear",
                 crop_to_aspect_ratio: bool = False, **kwargs):
        super().__init__(**kwargs)
        if interpolation not in ("bilinear", "nearest") or crop_to_aspect_ratio:
            raise ValueError(f"Resizing: supports interpolation 'bilinear' or 'nearest' without "
                             f"crop_to_aspect_ratio, got {interpolation!r}, "
                             f"{crop_to_aspect_ratio}")
        self.height, self.width, self.interpolation = int(height), int(width), interpolation

    def compute_output_shape(self, input_shape):
        need_rank(f"Resizing '{self.name}'", input_shape, 4, "(N, H, W, C)")
        return (input_shape[0], self.height, self.width, input_shape[3])

    def call(self, x):
        return resize_images(float_input(self, x), self.height, self.width, self.interpolation)

    def get_config(self) -> dict:
        return {**super().get_config(), "height": self.height, "width": self.width,
                "interpolation": self.interpolation}



class AdditiveAttention(Attention):
    """Keras's additive (Bahdanau) attention: ``([query, value])`` or ``([query, value,
    key])``, scores[n, i, j] = sum_d scale[d] tanh(q[n, i, d] + k[n, j, d]) (``scale`` (D,),
    glorot_uniform, when ``use_scale``; else the plain sum), softmax over Tv, times value."""

    def __init__(self, use_scale: bool = True, **kwargs):
        super().__init__(use_scale=use_scale, **kwargs)

    def build_module(self, input_shape):
        if not self.use_scale:
            return None
        D = input_shape[0][-1]
        module = nn.Module()
        module.scale = nn.Parameter(initializers.get("glorot_uniform")((D,), np.float32))
        return module

    def scores(self, q, k):
        pairs = (q.unsqueeze(2) + k.unsqueeze(1)).tanh()  # (N, Tq, Tv, D)
        return (pairs * self.module.scale if self.use_scale else pairs).sum(axis=-1)


def encode_ids(ids: np.ndarray, num_tokens: int, mode: str, dtype) -> np.ndarray:
    """Integer ids in [0, num_tokens) -> (..., num_tokens) as CategoryEncoding's
    ``output_mode`` says: "one_hot" (one id per row), "multi_hot" or "count"."""
    if mode == "one_hot" and (ids.ndim == 1 or ids.shape[-1] != 1):
        ids = ids[..., None]
    if ids.ndim == 1:
        ids = ids[:, None]
    onehot = ids[..., None] == np.arange(num_tokens)  # (..., T, num_tokens)
    counts = onehot.sum(axis=-2)
    return (counts if mode == "count" else counts > 0).astype(dtype)


class CategoryEncoding(Layer):
    """Integer ids (N,) or (N, T) in [0, num_tokens) -> (N, num_tokens): "one_hot" (ids of
    shape (N,) or (N, 1)), "multi_hot" (1 where an id occurs) or "count" (how often)."""

    def __init__(self, num_tokens: int | None = None, output_mode: str = "multi_hot",
                 sparse: bool = False, **kwargs):
        super().__init__(**kwargs)
        if num_tokens is None or int(num_tokens) <= 0:
            raise ValueError(f"CategoryEncoding: num_tokens must be a positive int, got "
                             f"{num_tokens}")
        if output_mode not in ("one_hot", "multi_hot", "count") or sparse:
            raise ValueError(f"CategoryEncoding: output_mode must be 'one_hot', 'multi_hot' "
                             f"or 'count' (dense), got {output_mode!r}")
        self.num_tokens, self.output_mode = int(num_tokens), output_mode

    def compute_output_shape(self, input_shape):
        if self.output_mode == "one_hot" and len(input_shape) > 1 and input_shape[-1] != 1:
            return tuple(input_shape) + (self.num_tokens,)
        return (input_shape[0], self.num_tokens) if len(input_shape) <= 2 else \
            tuple(input_shape[:-1]) + (self.num_tokens,)

    def call(self, ids):
        data = np.asarray(ids.array if isinstance(ids, Tensor) else ids)
        if data.dtype.kind == "f" and not np.all(np.mod(data, 1) == 0):
            raise ValueError(f"CategoryEncoding '{self.name}': expects integer ids, got "
                             "non-integer values")
        data = data.astype(np.int64)
        if data.size and (data.min() < 0 or data.max() >= self.num_tokens):
            worst = int(data.min() if data.min() < 0 else data.max())
            raise ValueError(f"CategoryEncoding '{self.name}': id {worst} is outside [0, "
                             f"{self.num_tokens}) (num_tokens={self.num_tokens})")
        return from_numpy(encode_ids(data, self.num_tokens, self.output_mode, self.dtype))

    def get_config(self) -> dict:
        return {**super().get_config(), "num_tokens": self.num_tokens,
                "output_mode": self.output_mode}


SIMPLE_LAYERS = {cls.__name__: cls for cls in (
    Identity, ELU, PReLU, Masking, SpatialDropout1D, SpatialDropout2D, GaussianNoise,
    GaussianDropout, RandomFlip, ZeroPadding1D, ZeroPadding2D, Cropping1D, Cropping2D,
    UpSampling1D, UpSampling2D, Dot, UnitNormalization, GroupNormalization, Normalization,
    Resizing, AdditiveAttention, CategoryEncoding)}


def dot(inputs, axes=-1, **kwargs):
    return Dot(axes=axes, **kwargs)(inputs)


__all__ = sorted(SIMPLE_LAYERS) + ["dot"]
