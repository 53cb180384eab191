"""Keras 3 layers (re-exported by ``keras.layers``): EinsumDense, RMSNormalization,
ActivityRegularization, AlphaDropout, AdaptiveAveragePooling2D and AdaptiveMaxPooling2D.

- EinsumDense: einsum(equation, x, kernel) (+ bias over ``bias_axes``), then ``activation``.
  ``output_shape`` gives the sizes of the output's letters from the right (the batch letter
  and a leading "..." come from the input); a kernel letter takes the input's size when the
  input has it, else the output's. The bias spans the output letters from the first bias
  axis on, size 1 along the others.

- RMSNormalization: x / sqrt(mean(x^2 over ``axis``) + epsilon) * scale, scale (ones) of the
  normalised axes' shape.
- ActivityRegularization: the identity; each call adds (l1 sum|x| + l2 sum x^2) / batch to
  the model's loss (Keras 3 divides an activity penalty by the batch size).
- AlphaDropout (training only): dropped units become alpha' = -1.7581 (-selu's alpha *
  scale), then x a + b with a = ((1 - rate)(1 + rate alpha'^2))^-1/2, b = -a alpha' rate, so
  a SELU network keeps its mean and variance.
- Adaptive pooling over (N, H, W, C): output cell i of an axis of size n pools the input rows
  floor(i n / out) .. ceil((i + 1) n / out) - 1 (PyTorch's bins, which Keras's torch backend
  uses).
"""

from __future__ import annotations

import math

import numpy as np

import tinymm
from tinymm import nn
from tinymm.keras import activations
from tinymm.keras.engine import fmt_shape
from tinymm.keras.layers import Layer, float_input, need_rank
from tinymm.keras.simple_layers import TrainingLayer
from tinymm.ops.shape import stack
from tinymm.tensor import from_numpy


class EinsumDense(Layer):
    def __init__(self, equation: str, output_shape, activation=None, bias_axes=None,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        try:
            inputs, out = equation.replace(" ", "").split("->")
            x_spec, k_spec = inputs.split(",")
        except ValueError:
            raise ValueError(f"EinsumDense: equation must read 'x,kernel->out', got "
                             f"{equation!r}") from None
        self.equation, self.specs = equation, (x_spec, k_spec, out)
        self.output_shape_arg = ([output_shape] if isinstance(output_shape, int)
                                 else list(output_shape))
        self.activation = activations.get(activation)
        self.bias_axes = bias_axes
        self.kernel_initializer, self.bias_initializer = kernel_initializer, bias_initializer

    def _sizes(self, input_shape) -> dict:
        x_spec, _, out = self.specs
        explicit_x = x_spec.replace("...", "")
        offset = len(input_shape) - len(explicit_x)  # dims the "..." covers
        sizes = {c: input_shape[offset + i] for i, c in enumerate(explicit_x)}
        explicit_out = out.replace("...", "")
        given = self.output_shape_arg[-len(explicit_out):] if explicit_out else []
        for c, size in zip(explicit_out[len(explicit_out) - len(given):], given):
            sizes.setdefault(c, size)
        return sizes

    def compute_output_shape(self, input_shape):
        x_spec, _, out = self.specs
        sizes = self._sizes(input_shape)
        lead = list(input_shape[:len(input_shape) - len(x_spec.replace("...", ""))])
        return tuple((lead if out.startswith("...") else [])
                     + [sizes.get(c) for c in out.replace("...", "")])

    def build(self, input_shape) -> None:
        _, k_spec, out = self.specs
        sizes = self._sizes(input_shape)
        if any(sizes.get(c) is None for c in k_spec):
            raise ValueError(f"EinsumDense '{self.name}': the kernel letters {k_spec!r} need "
                             f"known sizes, from the input {fmt_shape(input_shape)} or "
                             f"output_shape {self.output_shape_arg}")
        self.kernel = self.add_weight("kernel", [sizes[c] for c in k_spec],
                                      self.kernel_initializer)
        self.bias = None
        if self.bias_axes:
            explicit = out.replace("...", "")
            tail = explicit[min(explicit.index(c) for c in self.bias_axes):]
            self.bias = self.add_weight("bias", [sizes[c] if c in self.bias_axes else 1
                                                 for c in tail], self.bias_initializer)

    def call(self, x):
        y = tinymm.einsum(self.equation, float_input(self, x), self.kernel)
        return self.activation(y if self.bias is None else y + self.bias)

    def get_config(self) -> dict:
        return {**super().get_config(), "equation": self.equation,
                "output_shape": self.output_shape_arg, "bias_axes": self.bias_axes,
                "activation": activations.serialize(self.activation)}


class RMSNormalization(Layer):
    def __init__(self, axis=-1, epsilon: float = 1e-6, **kwargs):
        super().__init__(**kwargs)
        self.axis = list(axis) if isinstance(axis, (list, tuple)) else axis
        self.epsilon = float(epsilon)

    def _axes(self, ndim: int) -> list[int]:
        axes = self.axis if isinstance(self.axis, list) else [self.axis]
        if not all(-ndim <= a < ndim for a in axes):
            raise ValueError(f"RMSNormalization '{self.name}': axis {self.axis} is outside a "
                             f"{ndim}-d input")
        return sorted(a % ndim for a in axes)

    def build(self, input_shape) -> None:
        axes = self._axes(len(input_shape))
        if 0 in axes or any(input_shape[a] is None for a in axes):
            raise ValueError(f"RMSNormalization '{self.name}': axis {self.axis} must be known "
                             f"non-batch axes of {fmt_shape(input_shape)}")
        shape = [input_shape[a] if a in axes else 1 for a in range(len(input_shape))]
        self.scale = self.add_weight("scale", shape[axes[0]:axes[-1] + 1], "ones")
        self._scale_shape = shape[1:]

    def call(self, x):
        x = float_input(self, x)
        axes = tuple(self._axes(x.ndim))
        rms = ((x * x).mean(axes, keepdim=True) + self.epsilon).rsqrt()
        return x * rms * self.scale.reshape(self._scale_shape)

    def get_config(self) -> dict:
        return {**super().get_config(), "axis": self.axis, "epsilon": self.epsilon}


class ActivityRegularization(Layer):
    supports_masking = True

    def __init__(self, l1: float = 0.0, l2: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.l1, self.l2 = float(l1), float(l2)

    def call(self, x):
        penalty = 0.0
        if self.l1:
            penalty = penalty + self.l1 * x.abs().sum()
        if self.l2:
            penalty = penalty + self.l2 * (x * x).sum()
        if self.l1 or self.l2:
            self.add_loss(penalty / max(x.shape[0], 1) if x.ndim else penalty)
        return x

    def get_config(self) -> dict:
        return {**super().get_config(), "l1": self.l1, "l2": self.l2}


SELU_ALPHA_P = -1.6732632423543772848170429916717 * 1.0507009873554804934193349852946


class AlphaDropout(TrainingLayer):
    supports_masking = True

    def __init__(self, rate: float, noise_shape=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not 0 <= rate < 1:
            raise ValueError(f"AlphaDropout: rate must be in [0, 1), got {rate}")
        self.rate, self.seed = float(rate), seed
        self.noise_shape = None if noise_shape is None else tuple(noise_shape)

    def call(self, x, training=None):
        active = self._training() if training is None else bool(training)
        if not active or self.rate == 0:
            return x
        shape = x.shape if self.noise_shape is None else tuple(
            d if n is None else n for d, n in zip(x.shape, self.noise_shape))
        kept = (nn.init.generator.random(shape) >= self.rate).astype(x.dtype)
        a = ((1 - self.rate) * (1 + self.rate * SELU_ALPHA_P ** 2)) ** -0.5
        b = -a * SELU_ALPHA_P * self.rate
        keep = from_numpy(np.broadcast_to(kept, x.shape).copy())
        return (x * keep + SELU_ALPHA_P * (1 - keep)) * a + b

    def get_config(self) -> dict:
        return {**super().get_config(), "rate": self.rate, "seed": self.seed,
                "noise_shape": None if self.noise_shape is None else list(self.noise_shape)}


def adaptive_bins(n: int, out: int) -> list[tuple[int, int]]:
    return [(i * n // out, math.ceil((i + 1) * n / out)) for i in range(out)]


class _AdaptivePooling2D(Layer):
    def __init__(self, output_size, data_format=None, **kwargs):
        super().__init__(**kwargs)
        size = (output_size,) * 2 if isinstance(output_size, int) else tuple(output_size)
        if len(size) != 2 or not all(isinstance(s, int) and s > 0 for s in size):
            raise ValueError(f"{type(self).__name__}: output_size must be a positive int or 2 "
                             f"positive ints, got {output_size!r}")
        if data_format not in (None, "channels_last"):
            raise ValueError(f"{type(self).__name__}: supports data_format 'channels_last', "
                             f"got {data_format!r}")
        self.output_size = size

    def compute_output_shape(self, input_shape):
        need_rank(f"{type(self).__name__} '{self.name}'", input_shape, 4, "(N, H, W, C)")
        return (input_shape[0], *self.output_size, input_shape[3])

    def call(self, x):
        x = float_input(self, x)
        rows = []
        for h0, h1 in adaptive_bins(x.shape[1], self.output_size[0]):
            cells = [self.pool(x[:, h0:h1, w0:w1, :])
                     for w0, w1 in adaptive_bins(x.shape[2], self.output_size[1])]
            rows.append(stack(cells, 1))  # (N, out_w, C)
        return stack(rows, 1)  # (N, out_h, out_w, C)

    def get_config(self) -> dict:
        return {**super().get_config(), "output_size": list(self.output_size)}


class AdaptiveAveragePooling2D(_AdaptivePooling2D):
    @staticmethod
    def pool(window):
        return window.mean((1, 2))


class AdaptiveMaxPooling2D(_AdaptivePooling2D):
    @staticmethod
    def pool(window):
        return window.amax((1, 2))


NORM_POOL_LAYERS = {cls.__name__: cls for cls in (
    EinsumDense, RMSNormalization, ActivityRegularization, AlphaDropout, AdaptiveAveragePooling2D,
    AdaptiveMaxPooling2D)}

__all__ = sorted(NORM_POOL_LAYERS)
