"""More Keras layers over ``tinymm.nn``/ops (re-exported by ``keras.layers``): activation
layers, reshaping (Permute, RepeatVector, Lambda, TimeDistributed), merging (Subtract,
Average, Maximum, Minimum and the lowercase functional forms), 1-D convolution and pooling,
global 1-D pooling, and BatchNormalization / LayerNormalization.

Dimension letters: N batch, T steps, C channels/features, F filters.

Conv1D and MaxPooling1D/AveragePooling1D run the 2-D conv and pool ops on a unit-height
image: (N, T, C) -> (N, C, 1, T) -> conv2d with a (F, C, 1, k) kernel / pool with a (1, p)
window -> back to (N, T', F). The 2-D kernels are already derived, tested and tuned, and a
height-1 image costs them nothing extra beyond the two permutes, so a dedicated 1-D kernel
is not worth its own derivation here.

BatchNormalization maps Keras's conventions onto ``nn.BatchNorm1d/2d``: Keras's momentum m
(weight of the old moving average, default 0.99) is PyTorch's 1 - m, Keras's epsilon default
is 1e-3, the normalised axis is the last (channels-last), and the moving variance follows
Keras's rule (the biased batch variance; PyTorch's module adds the unbiased one, and the
layer rescales that contribution after each training step, on the (C,) buffer).
"""

from __future__ import annotations

import numpy as np

from tinymm import nn
from tinymm.keras import activations
from tinymm.keras.engine import Layer, fmt_shape, weight_view
from tinymm.keras.layers import (
    Activated,
    Merge,
    Multiply,
    conv_length,
    conv_to_keras,
    float_input,
    keras_init_,
    known_dim,
    need_rank,
    pool_padding,
    same_pool,
)
from tinymm.kernels.geometry import output_size, same_padding_1d
from tinymm.ops.activation import leaky_relu, relu
from tinymm.ops.conv2d import Conv2d as Conv2dOp
from tinymm.ops.pool2d import avg_pool2d, max_pool2d
from tinymm.ops.shape import stack
from tinymm.tensor import from_numpy


# ---------------------------------------------------------------- activation layers
class Softmax(Layer):
    supports_masking = True

    def __init__(self, axis: int = -1, **kwargs):
        super().__init__(**kwargs)
        self.axis = axis

    def call(self, x):
        return activations.softmax(x, axis=self.axis)

    def get_config(self) -> dict:
        return {**super().get_config(), "axis": self.axis}


class ReLU(Layer):
    supports_masking = True

    def __init__(self, max_value=None, negative_slope: float = 0.0, threshold: float = 0.0,
                 **kwargs):
        super().__init__(**kwargs)
        if max_value is not None or negative_slope or threshold:
            raise ValueError(f"ReLU: max_value/negative_slope/threshold are not supported by "
                             f"tinymm.keras (got {max_value}, {negative_slope}, {threshold}); "
                             "use LeakyReLU for a slope")

    def call(self, x):
        return relu(x)


class LeakyReLU(Layer):
    supports_masking = True

    def __init__(self, negative_slope: float = 0.3, **kwargs):
        super().__init__(**kwargs)
        self.negative_slope = float(negative_slope)

    def call(self, x):
        return leaky_relu(x, self.negative_slope)

    def get_config(self) -> dict:
        return {**super().get_config(), "negative_slope": self.negative_slope}


# ---------------------------------------------------------------- reshaping
class Rescaling(Layer):
    """y = x * scale + offset (Keras's preprocessing layer, e.g. ``Rescaling(1 / 255)``)."""

    supports_masking = True

    def __init__(self, scale, offset=0.0, **kwargs):
        super().__init__(**kwargs)
        self.scale, self.offset = float(scale), float(offset)

    def call(self, x):
        y = x * self.scale
        return y + self.offset if self.offset else y

    def get_config(self) -> dict:
        return {**super().get_config(), "scale": self.scale, "offset": self.offset}


class Permute(Layer):
    """Permute the non-batch axes: ``dims`` counts them from 1, as Keras."""

    def __init__(self, dims, **kwargs):
        super().__init__(**kwargs)
        self.dims = tuple(int(d) for d in dims)
        if sorted(self.dims) != list(range(1, len(self.dims) + 1)):
            raise ValueError(f"Permute: dims must be a permutation of 1..{len(self.dims)}, got "
                             f"{self.dims}")

    def compute_output_shape(self, input_shape):
        if len(input_shape) != len(self.dims) + 1:
            raise ValueError(f"Permute '{self.name}': dims {self.dims} need a "
                             f"{len(self.dims) + 1}-d input, got {fmt_shape(input_shape)}")
        return (input_shape[0],) + tuple(input_shape[d] for d in self.dims)

    def call(self, x):
        return x.permute(0, *self.dims)

    def get_config(self) -> dict:
        return {**super().get_config(), "dims": list(self.dims)}


class RepeatVector(Layer):
    """(N, D) -> (N, n, D): the vector repeated n times."""

    def __init__(self, n: int, **kwargs):
        super().__init__(**kwargs)
        self.n = int(n)

    def compute_output_shape(self, input_shape):
        need_rank(f"RepeatVector '{self.name}'", input_shape, 2, "(N, D)")
        return (input_shape[0], self.n, input_shape[1])

    def call(self, x):
        return stack([x] * self.n, axis=1)  # (N, n, D)

    def get_config(self) -> dict:
        return {**super().get_config(), "n": self.n}


class Lambda(Layer):
    """``Lambda(fn)``: any function of Tensors as a layer, without weights. The output shape
    comes from ``output_shape`` or from running ``fn`` on a one-sample zero batch."""

    shape_from_call = True

    def __init__(self, function, output_shape=None, mask=None, arguments=None, **kwargs):
        super().__init__(**kwargs)
        if mask is not None:
            raise ValueError("Lambda: mask= is not supported by tinymm.keras")
        self.function, self.arguments = function, dict(arguments or {})
        self.output_shape_given = output_shape
        if output_shape is not None:
            self.shape_from_call = False

    def compute_output_shape(self, input_shape):
        given = self.output_shape_given
        return given(input_shape) if callable(given) else (input_shape[0],) + tuple(given)

    def call(self, x):
        return self.function(x, **self.arguments)


class TimeDistributed(Layer):
    """Apply ``layer`` to every step: (N, T, ...) -> fold to (N*T, ...) -> layer -> (N, T,
    ...). The wrapped layer's weights are shared over the steps."""

    def __init__(self, layer: Layer, **kwargs):
        super().__init__(**kwargs)
        self.layer = layer

    def compute_output_shape(self, input_shape):
        if len(input_shape) < 3:
            raise ValueError(f"TimeDistributed '{self.name}': needs (N, T, ...) input, got "
                             f"{fmt_shape(input_shape)}")
        inner = self.layer.compute_output_shape((None,) + tuple(input_shape[2:]))
        return (input_shape[0], input_shape[1]) + tuple(inner[1:])

    def build_module(self, input_shape):
        self.layer._maybe_build((None,) + tuple(input_shape[2:]))
        return self.layer.module

    def call(self, x):
        N, T = x.shape[0], x.shape[1]
        y = self.layer.call(x.reshape((N * T,) + tuple(x.shape[2:])))  # (N*T, ...)
        return y.reshape((N, T) + tuple(y.shape[1:]))

    def keras_layout(self) -> list:
        return self.layer.keras_layout()

    def get_config(self) -> dict:
        return {**super().get_config(), "layer": {"class_name": type(self.layer).__name__,
                                                  "config": self.layer.get_config()}}


# ---------------------------------------------------------------- merging
class Subtract(Merge):
    compute_output_shape = Multiply.compute_output_shape

    def call(self, tensors):
        if len(tensors) != 2:
            raise ValueError(f"Subtract '{self.name}': takes exactly 2 tensors, got "
                             f"{len(tensors)}")
        return tensors[0] - tensors[1]


class Average(Merge):
    compute_output_shape = Multiply.compute_output_shape

    def call(self, tensors):
        out = tensors[0]
        for t in tensors[1:]:
            out = out + t
        return out * (1.0 / len(tensors))


class Maximum(Merge):
    compute_output_shape = Multiply.compute_output_shape

    def call(self, tensors):
        return stack(list(tensors), axis=0).max(axis=0)


class Minimum(Merge):
    compute_output_shape = Multiply.compute_output_shape

    def call(self, tensors):
        return -(stack([-t for t in tensors], axis=0).max(axis=0))


# ---------------------------------------------------------------- 1-D convolution / pooling
def _one(value, name: str, layer: str) -> int:
    if isinstance(value, (tuple, list)):
        if len(value) != 1:
            raise ValueError(f"{layer}: {name} must be an int or a 1-tuple, got {value}")
        value = value[0]
    if not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"{layer}: {name} must be a positive int, got {value!r}")
    return int(value)


class Conv1D(Activated):
    """(N, T, C) -> (N, T', filters); the conv2d op on a unit-height image (module
    docstring). padding: "valid", "same" or "causal" (left padding (k - 1) * dilation)."""

    kernel_layout = staticmethod(lambda w: w.permute(2, 3, 1, 0)[0])  # -> (k, C, F)

    has_kernel = True

    def __init__(self, filters: int, kernel_size, strides=1, padding: str = "valid",
                 dilation_rate=1, activation=None, use_bias: bool = True, **kwargs):
        super().__init__(activation, **kwargs)
        if padding not in ("valid", "same", "causal"):
            raise ValueError(f"Conv1D: padding must be 'valid', 'same' or 'causal', got "
                             f"{padding!r}")
        self.filters = _one(filters, "filters", "Conv1D")
        self.kernel_size = _one(kernel_size, "kernel_size", "Conv1D")
        self.strides = _one(strides, "strides", "Conv1D")
        self.dilation_rate = _one(dilation_rate, "dilation_rate", "Conv1D")
        self.padding, self.use_bias = padding, use_bias

    def compute_output_shape(self, input_shape):
        need_rank(f"Conv1D '{self.name}'", input_shape, 3, "(N, T, C)")
        known_dim(f"Conv1D '{self.name}'", input_shape, -1, "channel (last)")
        T = input_shape[1]
        if T is None:
            return (input_shape[0], None, self.filters)
        before, after = self._pads(T)
        T_out = output_size(T, before, after, self.kernel_size, self.strides,
                            self.dilation_rate)
        if T_out <= 0:
            raise ValueError(f"Conv1D '{self.name}': kernel {self.kernel_size} is longer than "
                             f"the input's {T} steps")
        return (input_shape[0], T_out, self.filters)

    def _pads(self, T: int) -> tuple[int, int]:
        if self.padding == "same":
            return same_padding_1d(T, self.kernel_size, self.strides, self.dilation_rate)
        if self.padding == "causal":
            return (self.kernel_size - 1) * self.dilation_rate, 0
        return 0, 0

    def build_module(self, input_shape):
        C, k = int(input_shape[-1]), self.kernel_size
        module = nn.Conv2d(C, self.filters, (1, k), bias=self.use_bias)  # weight (F, C, 1, k)
        keras_init_(module, C * k, self.filters * k)
        return module

    def call_logits(self, x):
        m = self.module
        x = x.permute(0, 2, 1).unsqueeze(2)  # (N, T, C) -> (N, C, 1, T)
        before, after = self._pads(x.shape[3])
        y = Conv2dOp.apply(x, m.weight, m.bias, stride=(1, self.strides),
                           padding=(0, 0, before, after), dilation=(1, self.dilation_rate),
                           layer=f"Conv1D '{self.name}'")  # (N, F, 1, T')
        return y.squeeze(2).permute(0, 2, 1)  # (N, T', F)

    def call(self, x):
        return self.activation(self.call_logits(x))

    def keras_layout(self) -> list:
        m = self.module
        layout = [weight_view(m.weight, _conv1d_to_keras, _conv1d_from_keras)]  # (k, C, F)
        return layout + ([weight_view(m.bias)] if self.use_bias else [])

    def get_config(self) -> dict:
        return {**super().get_config(), "filters": self.filters, "kernel_size": self.kernel_size,
                "strides": self.strides, "padding": self.padding,
                "dilation_rate": self.dilation_rate, "use_bias": self.use_bias}


def _conv1d_to_keras(w):
    return conv_to_keras(w)[0]  # (F, C, 1, k) -> (1, k, C, F) -> (k, C, F)


def _conv1d_from_keras(k):
    return k.transpose(2, 1, 0)[:, :, None, :]  # (k, C, F) -> (F, C, 1, k)


class _Pooling1D(Layer):
    pool = None

    def __init__(self, pool_size=2, strides=None, padding: str = "valid", **kwargs):
        super().__init__(**kwargs)
        kind = type(self).__name__
        self.padding = pool_padding(padding, kind)
        self.pool_size = _one(pool_size, "pool_size", kind)
        self.strides = self.pool_size if strides is None else _one(strides, "strides", kind)

    def compute_output_shape(self, input_shape):
        need_rank(f"{type(self).__name__} '{self.name}'", input_shape, 3, "(N, T, C)")
        T = input_shape[1]
        T_out = conv_length(T, self.pool_size, self.strides, 1, self.padding)
        if T_out is not None and T_out <= 0:
            raise ValueError(f"{type(self).__name__} '{self.name}': pool_size {self.pool_size} "
                             f"is longer than the input's {T} steps")
        return (input_shape[0], T_out, input_shape[2])

    def call(self, x):
        x = x.permute(0, 2, 1).unsqueeze(2)  # (N, C, 1, T)
        kernel, stride = (1, self.pool_size), (1, self.strides)
        y = same_pool(x, type(self).pool, kernel, stride, type(self).pool is avg_pool2d) \
            if self.padding == "same" else type(self).pool(x, kernel, stride)  # (N, C, 1, T')
        return y.squeeze(2).permute(0, 2, 1)  # (N, T', C)

    def get_config(self) -> dict:
        return {**super().get_config(), "pool_size": self.pool_size, "strides": self.strides,
                "padding": self.padding}


class MaxPooling1D(_Pooling1D):
    pool = staticmethod(max_pool2d)


class AveragePooling1D(_Pooling1D):
    pool = staticmethod(avg_pool2d)


class GlobalAveragePooling1D(Layer):
    """(N, T, C) -> (N, C): the mean over the steps; with a mask (from
    ``Embedding(mask_zero=True)``) the mean over the real steps only, as Keras."""

    def compute_output_shape(self, input_shape):
        need_rank(f"{type(self).__name__} '{self.name}'", input_shape, 3, "(N, T, C)")
        return (input_shape[0], input_shape[2])

    def call(self, x, mask=None):
        x = float_input(self, x)  # the mean of int/bool steps, as Keras's ops.mean
        if mask is None:
            return x.mean(axis=1)  # (N, C)
        m = np.asarray(mask, dtype=x.dtype)[:, :, None]  # (N, T, 1)
        counts = np.maximum(m.sum(axis=1), 1.0)  # (N, 1)
        return (x * from_numpy(m)).sum(axis=1) * from_numpy(1.0 / counts)  # (N, C)


class GlobalMaxPooling1D(GlobalAveragePooling1D):
    """(N, T, C) -> (N, C): the maximum over the steps (Keras ignores masks here too)."""

    def call(self, x, mask=None):
        return x.max(axis=1)  # (N, C)


# ---------------------------------------------------------------- normalization
class BatchNormalization(Layer):
    """Keras BatchNormalization over the last axis, on ``nn.BatchNorm1d/2d`` (module
    docstring: momentum convention and the moving variance)."""

    def __init__(self, axis: int = -1, momentum: float = 0.99, epsilon: float = 1e-3,
                 center: bool = True, scale: bool = True, **kwargs):
        super().__init__(**kwargs)
        if axis != -1:
            raise ValueError(f"BatchNormalization: axis={axis} is not supported by "
                             "tinymm.keras (only the last axis, -1)")
        if center != scale:
            raise ValueError("BatchNormalization: center and scale must both be True or both "
                             "False in tinymm.keras")
        self.momentum, self.epsilon, self.affine = momentum, epsilon, center

    def compute_output_shape(self, input_shape):
        if len(input_shape) not in (2, 3, 4):
            raise ValueError(f"BatchNormalization '{self.name}': needs (N, C), (N, T, C) or "
                             f"(N, H, W, C) input, got {fmt_shape(input_shape)}")
        known_dim(f"BatchNormalization '{self.name}'", input_shape, -1, "channel (last)")
        return input_shape

    def build_module(self, input_shape):
        C = int(input_shape[-1])
        cls = nn.BatchNorm2d if len(input_shape) == 4 else nn.BatchNorm1d
        return cls(C, eps=self.epsilon, momentum=1.0 - self.momentum, affine=self.affine)

    def call(self, x):
        m = self.module
        frozen = m.training and not self.trainable  # Keras 3: a frozen BatchNormalization
        if frozen:  # runs in inference mode (its moving statistics), even inside fit
            m.eval()
        try:
            before = np.array(m.running_var.array, copy=True) if m.training else None  # (C,)
            if x.ndim == 2:
                y = m(x)  # (N, C)
            else:
                axes = (0, x.ndim - 1) + tuple(range(1, x.ndim - 1))  # channels to axis 1
                back = (0,) + tuple(range(2, x.ndim)) + (1,)
                y = m(x.permute(*axes)).permute(*back)
        finally:
            if frozen:
                m.train()
        if before is not None:
            self._keras_moving_variance(before, x.numel() // x.shape[-1])
        return y

    def _keras_moving_variance(self, before: np.ndarray, n: int) -> None:
        """Turn PyTorch's update rv = (1 - a) rv + a * unbiased into Keras's
        rv = (1 - a) rv + a * biased, biased = unbiased (n - 1) / n, over n values per
        channel (a = 1 - Keras's momentum); arithmetic on the (C,) buffer only."""
        a, rv = self.module.momentum, self.module.running_var.array
        unbiased = (rv - (1 - a) * before) / a  # (C,)
        rv[...] = (1 - a) * before + a * unbiased * ((n - 1) / max(n, 1))

    def count_params(self) -> int:
        return super().count_params() + 2 * self.module.num_features  # + moving mean, var

    @property
    def weights(self) -> list:
        """gamma, beta (trainable), then the moving mean and variance (non-trainable)."""
        m = self.module
        return [] if m is None else list(m.parameters()) + [m.running_mean, m.running_var]

    def keras_layout(self) -> list:
        m = self.module  # gamma, beta, moving_mean, moving_variance
        params = [weight_view(m.weight), weight_view(m.bias)] if self.affine else []
        return params + [weight_view(m.running_mean), weight_view(m.running_var)]

    def get_config(self) -> dict:
        return {**super().get_config(), "momentum": self.momentum, "epsilon": self.epsilon,
                "center": self.affine, "scale": self.affine}


class LayerNormalization(Layer):
    """Keras LayerNormalization over the last axis: ``nn.LayerNorm(C, eps=epsilon)``."""

    supports_masking = True

    def __init__(self, axis: int = -1, epsilon: float = 1e-3, center: bool = True,
                 scale: bool = True, **kwargs):
        super().__init__(**kwargs)
        if axis != -1:
            raise ValueError(f"LayerNormalization: axis={axis} is not supported by "
                             "tinymm.keras (only the last axis, -1)")
        if not (center and scale):
            raise ValueError("LayerNormalization: center=False / scale=False are not "
                             "supported by tinymm.keras")
        self.epsilon = epsilon

    def compute_output_shape(self, input_shape):
        known_dim(f"LayerNormalization '{self.name}'", input_shape, -1, "last")
        return input_shape

    def build_module(self, input_shape):
        return nn.LayerNorm(int(input_shape[-1]), eps=self.epsilon)

    def call(self, x):
        return self.module(x)

    def get_config(self) -> dict:
        return {**super().get_config(), "epsilon": self.epsilon}


MORE_LAYERS = {cls.__name__: cls for cls in (
    Softmax, ReLU, LeakyReLU, Rescaling, Permute, RepeatVector, Lambda, TimeDistributed, Subtract,
    Average, Maximum, Minimum, Conv1D, MaxPooling1D, AveragePooling1D,
    GlobalAveragePooling1D, GlobalMaxPooling1D, BatchNormalization, LayerNormalization)}

def subtract(inputs, **kwargs):
    return Subtract(**kwargs)(inputs)


def average(inputs, **kwargs):
    return Average(**kwargs)(inputs)


def maximum(inputs, **kwargs):
    return Maximum(**kwargs)(inputs)


def minimum(inputs, **kwargs):
    return Minimum(**kwargs)(inputs)


__all__ = sorted(MORE_LAYERS) + ["average", "maximum", "minimum", "subtract"]
