"""Keras layers, each a small adapter over a ``tinymm.nn`` module (PyTorch layout inside).

Dimension letters: N batch, T time, D features, H/W height/width, C channels (Keras images
are channels-last (N, H, W, C); ``nn.Conv2d`` is NCHW, so Conv2D and pooling permute in and
out), U units.

Adding a layer = one class: ``build_module(input_shape)`` creates the nn module from the first
input shape it sees (lazy shape inference), ``compute_output_shape`` gives the symbolic output
shape (and raises the clear error when shapes cannot work), ``call`` runs it. Weights start
with Keras's default initialisers (glorot_uniform kernels, zero biases, orthogonal recurrent
kernels, uniform(-0.05, 0.05) embeddings), so parameter counts and training behaviour match
Keras; the layouts are PyTorch's.
"""

from __future__ import annotations

import math

import numpy as np

from tinymm import nn
from tinymm.keras import activations, regularizers
from tinymm.keras.attention_heads import HeadWeights, attend
from tinymm.keras.engine import (
    Input,
    InputLayer,
    KerasTensor,
    Layer,
    as_eager,
    fmt_shape,
    shape_list,
    weight_view,
)
from tinymm.kernels.geometry import conv_padding, output_size, same_padding_1d
from tinymm.ops.conv2d import Conv2d as Conv2dOp
from tinymm.ops.conv2d import Conv2dReLU as Conv2dReLUOp
from tinymm.ops.pool2d import avg_pool2d, max_pool2d
from tinymm.ops.shape import pad
from tinymm.tensor import Tensor, as_tensor


def transpose_weight(a):
    return a.T


def conv_to_keras(w):
    return w.transpose(2, 3, 1, 0)  # (F, C, kH, kW) -> (kH, kW, C, F)


def conv_from_keras(k):
    return k.transpose(3, 2, 0, 1)  # (kH, kW, C, F) -> (F, C, kH, kW)


def pair_option(value, name: str, layer: str) -> tuple[int, int]:
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        value = (int(value), int(value))
    value = tuple(value)
    if len(value) != 2 or not all(isinstance(v, int) and v > 0 for v in value):
        raise ValueError(f"{layer}: {name} must be an int or a pair of positive ints, got "
                         f"{value}")
    return value


def float_input(layer, x):
    """``x`` itself when it is a float tensor, else ``x`` in the layer's float dtype."""
    return x if np.dtype(x.dtype).kind == "f" else x.type(layer.dtype)


def glorot_uniform_(p, fan_in: int, fan_out: int) -> None:
    limit = math.sqrt(6.0 / (fan_in + fan_out))
    nn.init.uniform_(p, -limit, limit)


def keras_init_(module, fan_in: int, fan_out: int) -> None:
    """Keras's defaults for a kernel layer: glorot_uniform weight, zero bias (if it has one)."""
    glorot_uniform_(module.weight, fan_in, fan_out)
    if module.bias is not None:
        nn.init.zeros_(module.bias)


def need_rank(layer: str, shape, ndim: int, layout: str) -> None:
    if len(shape) != ndim:
        raise ValueError(f"{layer}: expects a {ndim}-d input {layout} (batch included), got "
                         f"shape {fmt_shape(shape)}")


def known_dim(layer: str, shape, axis: int, what: str) -> int:
    if shape[axis] is None:
        raise ValueError(f"{layer}: the {what} dimension of the input must be known to create "
                         f"the weights, got shape {fmt_shape(shape)}")
    return int(shape[axis])


class Activated(Layer):
    """A layer with an ``activation=`` argument; layers with a kernel (``has_kernel``: Dense,
    Conv1D, Conv2D) also take ``kernel_initializer`` / ``bias_initializer`` (a
    ``keras.initializers`` name or object, applied in Keras's layout after the default
    glorot_uniform / zeros draw)."""

    has_kernel = False

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "constraint_args" not in vars(cls):
            cls.constraint_args = ("kernel_constraint", "bias_constraint") if cls.has_kernel \
                else ()

    def __init__(self, activation=None, kernel_initializer=None, bias_initializer=None,
                 kernel_regularizer=None, bias_regularizer=None, **kwargs):
        if not self.has_kernel and (kernel_initializer or bias_initializer or
                                    kernel_regularizer or bias_regularizer):
            raise TypeError(f"{type(self).__name__}: unexpected keyword argument "
                            "'kernel_initializer'/'bias_initializer'/'*_regularizer'")
        super().__init__(**kwargs)
        self.initializers = (kernel_initializer, bias_initializer)
        try:
            self.regularizers = (regularizers.get(kernel_regularizer),
                                 regularizers.get(bias_regularizer))
        except (TypeError, ValueError) as err:
            raise type(err)(f"{type(self).__name__} '{self.name}': {err}") from None
        try:
            self.activation = activations.get(activation)
        except (TypeError, ValueError) as err:  # name the layer the argument was given to
            raise type(err)(f"{type(self).__name__} '{self.name}': {err}") from None
        self.activation_name = activation if isinstance(activation, str) or activation is None \
            else activations.serialize(activation)

    kernel_layout = None  # a kernel layer's module weight (Tensor) -> Keras's layout

    @property
    def kernel(self):
        """The kernel in Keras's layout (Dense (D, U), Conv2D (kH, kW, C, F), Conv1D (k, C,
        F)), computed from the module's weight, so gradients reach it and ``numpy()`` reads
        it; a new tensor on every access (``assign`` is not available on it). A layer that
        keeps its kernel as its own weight (``self.kernel = add_weight(...)``) gets that."""
        if "kernel" in self.__dict__:
            return self.__dict__["kernel"]
        layout = type(self).kernel_layout
        if layout is None or self.__dict__.get("module") is None:
            raise AttributeError(f"{type(self).__name__} '{self.name}' has no kernel "
                                 + ("yet: build it (call it on data) first" if layout else ""))
        return as_eager(layout(self.module.weight))

    @kernel.setter
    def kernel(self, value) -> None:
        self.__dict__["kernel"] = value

    @property
    def bias(self):
        """The bias weight (None with use_bias=False), the module's own Parameter, or the
        layer's own ``self.bias`` weight when it set one."""
        if "bias" in self.__dict__:
            return self.__dict__["bias"]
        if type(self).kernel_layout is None or self.__dict__.get("module") is None:
            raise AttributeError(f"{type(self).__name__} '{self.name}' has no bias yet")
        return self.module.bias

    @bias.setter
    def bias(self, value) -> None:
        self.__dict__["bias"] = value

    def get_config(self) -> dict:
        config = {**super().get_config(), "activation": self.activation_name}
        if self.has_kernel:
            config["kernel_regularizer"] = regularizers.serialize(self.regularizers[0])
            config["bias_regularizer"] = regularizers.serialize(self.regularizers[1])
        return config

    def build(self, input_shape) -> None:
        super().build(input_shape)
        from tinymm.keras import initializers

        views = self.keras_layout() if self.module is not None else []
        for (get, put), spec, default in zip(views, self.initializers,
                                             ("glorot_uniform", "zeros")):
            if spec is not None and spec != default:  # the default is drawn already
                put(initializers.get(spec)(get().shape, get().dtype))
        if self.module is not None:  # (kernel, bias): the module's weight and bias
            for weight, regularizer in zip(self.module.parameters(), self.regularizers):
                self.regularize(weight, regularizer)

    def call_logits(self, x):
        """The layer's value before its activation, for layers that have one apart (Dense,
        Activation); None otherwise. Model.compile computes a softmax/sigmoid output's
        cross-entropy from it (see tinymm/keras/losses.py)."""
        return None


# ---------------------------------------------------------------- dense and activation
class Dense(Activated):
    """y = activation(x W^T + b) over the last axis; ``nn.Linear(D, units)``. A mask on the
    input (per step) passes through, as in Keras."""

    kernel_layout = staticmethod(lambda w: w.T)  # (U, D) -> (D, U)

    has_kernel = True
    supports_masking = True

    def __init__(self, units: int, activation=None, use_bias: bool = True, **kwargs):
        if not isinstance(units, (int, np.integer)) or units <= 0:
            raise ValueError(f"Dense: units must be a positive int, got {units!r}")
        super().__init__(activation, **kwargs)
        self.units, self.use_bias = int(units), use_bias

    def compute_output_shape(self, input_shape):
        if isinstance(input_shape, list):
            raise ValueError(f"Dense '{self.name}': takes one tensor, got {len(input_shape)}")
        if len(input_shape) < 2:
            raise ValueError(f"Dense '{self.name}': needs an input of at least 2 dims (N, D), "
                             f"got {fmt_shape(input_shape)}")
        known_dim(f"Dense '{self.name}'", input_shape, -1, "last")
        return tuple(input_shape[:-1]) + (self.units,)  # (..., U)

    def build_module(self, input_shape):
        D = int(input_shape[-1])
        module = nn.Linear(D, self.units, bias=self.use_bias)
        keras_init_(module, D, self.units)
        return module

    def call(self, x):
        return self.activation(self.module(x))  # (..., U)

    def call_logits(self, x):
        return self.module(x)  # (..., U)

    def keras_layout(self) -> list:
        m = self.module
        layout = [weight_view(m.weight, transpose_weight, transpose_weight)]  # kernel W^T
        return layout + ([weight_view(m.bias)] if self.use_bias else [])

    def get_config(self) -> dict:
        return {**super().get_config(), "units": self.units, "use_bias": self.use_bias}


class Activation(Activated):
    supports_masking = True

    def call(self, x):
        return self.activation(x)

    def call_logits(self, x):
        return x


class Dropout(Layer):
    """``nn.Dropout(rate)``: active during ``fit`` only."""

    supports_masking = True

    def __init__(self, rate: float, **kwargs):
        super().__init__(**kwargs)
        if not 0 <= rate < 1:
            raise ValueError(f"Dropout: rate must be in [0, 1), got {rate}")
        self.rate = rate

    def build_module(self, input_shape):
        return nn.Dropout(self.rate)

    def call(self, x):
        return self.module(x)

    def get_config(self) -> dict:
        return {**super().get_config(), "rate": self.rate}


class Flatten(Layer):
    """(N, d1, d2, ...) -> (N, d1*d2*...), in channels-last order as Keras."""

    def compute_output_shape(self, input_shape):
        if len(input_shape) < 2:
            raise ValueError(f"Flatten '{self.name}': needs at least 2 dims, got "
                             f"{fmt_shape(input_shape)}")
        rest = input_shape[1:]
        width = None if any(d is None for d in rest) else int(np.prod(rest))
        return (input_shape[0], width)  # (N, D)

    def call(self, x):
        return x.reshape(x.shape[0], int(np.prod(x.shape[1:])))  # (N, D); -1 fails for N = 0


class Reshape(Layer):
    def __init__(self, target_shape, **kwargs):
        super().__init__(**kwargs)
        self.target_shape = tuple(target_shape)

    def compute_output_shape(self, input_shape):
        known = input_shape[1:]
        if all(d is not None for d in known) and -1 not in self.target_shape:
            if int(np.prod(known)) != int(np.prod(self.target_shape)):
                raise ValueError(f"Reshape '{self.name}': cannot reshape "
                                 f"{fmt_shape(input_shape)} to (None, "
                                 f"{', '.join(map(str, self.target_shape))})")
        if -1 in self.target_shape and all(d is not None for d in known):
            rest = int(np.prod([d for d in self.target_shape if d != -1]))
            return (None,) + tuple(int(np.prod(known)) // rest if d == -1 else d
                                   for d in self.target_shape)
        return (None,) + self.target_shape

    def call(self, x):
        return x.reshape((x.shape[0],) + self.target_shape)

    def get_config(self) -> dict:
        return {**super().get_config(), "target_shape": list(self.target_shape)}


# ---------------------------------------------------------------- images (channels-last)
def conv_length(size, k: int, stride: int, dilation: int, padding: str):
    if size is None:
        return None
    before, after = same_padding_1d(size, k, stride, dilation) if padding == "same" else (0, 0)
    return output_size(size, before, after, k, stride, dilation)  # "same": ceil(size / stride)


class Conv2D(Activated):
    """Keras Conv2D on (N, H, W, C) -> (N, H', W', filters); ``nn.Conv2d`` inside (NCHW
    weight (filters, C, kH, kW)). ``activation="relu"`` uses the fused conv+bias+ReLU."""

    kernel_layout = staticmethod(lambda w: w.permute(2, 3, 1, 0))  # -> (kH, kW, C, F)

    has_kernel = True

    def __init__(self, filters: int, kernel_size, strides=(1, 1), padding: str = "valid",
                 activation=None, use_bias: bool = True, dilation_rate=(1, 1), **kwargs):
        super().__init__(activation, **kwargs)
        if not isinstance(filters, (int, np.integer)) or filters <= 0:
            raise ValueError(f"Conv2D: filters must be a positive int, got {filters!r}")
        padding = padding.lower()
        if padding not in ("valid", "same"):
            raise ValueError(f"Conv2D: padding must be 'valid' or 'same', got {padding!r}")
        self.filters = int(filters)
        self.kernel_size = pair_option(kernel_size, "kernel_size", "Conv2D")
        self.strides = pair_option(strides, "strides", "Conv2D")
        self.dilation_rate = pair_option(dilation_rate, "dilation_rate", "Conv2D")
        self.padding, self.use_bias = padding, use_bias

    def compute_output_shape(self, input_shape):
        need_rank(f"Conv2D '{self.name}'", input_shape, 4, "(N, H, W, C), channels-last")
        known_dim(f"Conv2D '{self.name}'", input_shape, -1, "channel (last)")
        H, W = input_shape[1], input_shape[2]
        Ho = conv_length(H, self.kernel_size[0], self.strides[0], self.dilation_rate[0],
                          self.padding)
        Wo = conv_length(W, self.kernel_size[1], self.strides[1], self.dilation_rate[1],
                          self.padding)
        if (Ho is not None and Ho <= 0) or (Wo is not None and Wo <= 0):
            raise ValueError(f"Conv2D '{self.name}': a {self.kernel_size} kernel does not fit "
                             f"in the input {fmt_shape(input_shape)} with padding='valid'; use "
                             "padding='same' or a larger input")
        return (input_shape[0], Ho, Wo, self.filters)  # (N, H', W', filters)

    def build_module(self, input_shape):
        C = int(input_shape[-1])
        fused = self.activation_name == "relu"
        kwargs = {"activation": "relu"} if fused else {}
        # 'same' with stride 1 is PyTorch's padding="same"; with a larger stride the padding
        # depends on the input size (kernels/geometry.py), so call() passes it four-sided
        self._explicit_same = self.padding == "same" and self.strides != (1, 1)
        padding = 0 if self._explicit_same else self.padding
        module = nn.Conv2d(C, self.filters, self.kernel_size, stride=self.strides,
                           padding=padding, dilation=self.dilation_rate,
                           bias=self.use_bias, **kwargs)
        kH, kW = self.kernel_size
        keras_init_(module, C * kH * kW, self.filters * kH * kW)
        self._fused = fused
        return module

    def call(self, x):
        x = x.permute(0, 3, 1, 2)  # (N, H, W, C) -> (N, C, H, W)
        m = self.module
        padding = m.padding
        if self._explicit_same:
            padding = conv_padding("same", self.kernel_size, self.dilation_rate, self.strides,
                                   x.shape[2:4])  # (top, bottom, left, right)
        op = Conv2dReLUOp if self._fused else Conv2dOp
        y = op.apply(x, m.weight, m.bias, stride=m.stride, padding=padding,
                     dilation=m.dilation, layer=f"Conv2D '{self.name}'")  # (N, filters, H', W')
        y = y.permute(0, 2, 3, 1)  # (N, H', W', filters)
        return y if self._fused else self.activation(y)

    def keras_layout(self) -> list:
        m = self.module
        layout = [weight_view(m.weight, conv_to_keras, conv_from_keras)]  # (kH, kW, C, F)
        return layout + ([weight_view(m.bias)] if self.use_bias else [])

    def get_config(self) -> dict:
        return {**super().get_config(), "filters": self.filters,
                "kernel_size": list(self.kernel_size), "strides": list(self.strides),
                "padding": self.padding, "use_bias": self.use_bias,
                "dilation_rate": list(self.dilation_rate)}


def pool_padding(padding, kind: str) -> str:
    """A pooling layer's ``padding``: "valid" or "same" (any case), else a ValueError."""
    if not isinstance(padding, str) or padding.lower() not in ("valid", "same"):
        raise ValueError(f"{kind}: padding must be 'valid' or 'same', got {padding!r}")
    return padding.lower()


def same_pool(x, pool, kernel: tuple, stride: tuple, average: bool):
    """Keras 3's (torch backend) "same" pooling of x (N, C, H, W) -> (N, C, ceil(H / sH),
    ceil(W / sW)). Per axis the padding is same_padding_1d's (before, after). Even padding
    on every axis: a max ignores the padded cells, an average counts only the real ones
    (sum over the window / number of real cells). Uneven padding: the edge values are
    repeated ("replicate") and the window pools them like real cells."""
    pads = [same_padding_1d(n, k, s) for n, k, s in zip(x.shape[2:], kernel, stride)]
    (pt, pb), (pl, pr) = pads
    if average and pt == pb and pl == pr:
        ones = Tensor._make(np.ones((1, 1) + tuple(x.shape[2:]), dtype=x.dtype))
        summed = pool(pad(x, (pl, pr, pt, pb)), kernel, stride)  # (N, C, H', W')
        return summed / pool(pad(ones, (pl, pr, pt, pb)), kernel, stride)  # real cells only
    # a replicated edge cell is already in every window that reaches it: max is unchanged
    return pool(pad(x, (pl, pr, pt, pb), mode="replicate"), kernel, stride)


class _Pooling2D(Layer):
    nn_name = ""

    def __init__(self, pool_size=(2, 2), strides=None, padding: str = "valid", **kwargs):
        super().__init__(**kwargs)
        kind = type(self).__name__
        self.pool_size = pair_option(pool_size, "pool_size", kind)
        self.strides = self.pool_size if strides is None else pair_option(strides, "strides", kind)
        self.padding = pool_padding(padding, kind)

    def compute_output_shape(self, input_shape):
        need_rank(f"{type(self).__name__} '{self.name}'", input_shape, 4, "(N, H, W, C)")
        H, W, C = input_shape[1:]
        Ho = conv_length(H, self.pool_size[0], self.strides[0], 1, self.padding)
        Wo = conv_length(W, self.pool_size[1], self.strides[1], 1, self.padding)
        if (Ho is not None and Ho <= 0) or (Wo is not None and Wo <= 0):
            raise ValueError(f"{type(self).__name__} '{self.name}': pool {self.pool_size} is "
                             f"larger than the input {fmt_shape(input_shape)}")
        return (input_shape[0], Ho, Wo, C)  # (N, H', W', C)

    def build_module(self, input_shape):
        return getattr(nn, self.nn_name)(self.pool_size, stride=self.strides)

    def call(self, x):
        x = x.permute(0, 3, 1, 2)  # (N, C, H, W)
        if self.padding == "same":
            y = same_pool(x, type(self).pool, self.pool_size, self.strides,
                          type(self).pool is avg_pool2d)  # (N, C, H', W')
        else:
            y = self.module(x)  # (N, C, H', W')
        return y.permute(0, 2, 3, 1)  # (N, H', W', C)

    def get_config(self) -> dict:
        return {**super().get_config(), "pool_size": list(self.pool_size),
                "strides": list(self.strides), "padding": self.padding}


class MaxPooling2D(_Pooling2D):
    nn_name = "MaxPool2d"
    pool = staticmethod(max_pool2d)


class AveragePooling2D(_Pooling2D):
    nn_name = "AvgPool2d"
    pool = staticmethod(avg_pool2d)


class GlobalAveragePooling2D(Layer):
    """(N, H, W, C) -> (N, C): the mean over H and W."""

    def compute_output_shape(self, input_shape):
        need_rank(f"{type(self).__name__} '{self.name}'", input_shape, 4, "(N, H, W, C)")
        return (input_shape[0], input_shape[3])

    def call(self, x):
        return float_input(self, x).mean(axis=(1, 2))  # (N, C); int/bool: as Keras's ops.mean


class GlobalMaxPooling2D(GlobalAveragePooling2D):
    def call(self, x):
        return x.max(axis=(1, 2))  # (N, C)


# ---------------------------------------------------------------- sequences
class Embedding(Layer):
    """Integer ids (N, T) -> vectors (N, T, output_dim); ``nn.Embedding`` inside. Ids of any
    rank work, as in Keras: (T,) positions -> (T, output_dim).

    ``mask_zero=True``: id 0 is padding; the output carries a mask (N, T) that LSTM reads.
    ``embeddings_initializer`` (Keras's default: uniform in [-0.05, 0.05]) and
    ``embeddings_regularizer`` (its penalty joins the losses) act on the (input_dim,
    output_dim) table, the same layout in both libraries.
    """

    checked_axes = ()  # any (N, T) works with the same table

    constraint_args = ("embeddings_constraint",)

    def __init__(self, input_dim: int, output_dim: int, mask_zero: bool = False,
                 input_length=None, embeddings_initializer="uniform",
                 embeddings_regularizer=None, **kwargs):
        super().__init__(**kwargs)
        from tinymm.keras import initializers, regularizers

        try:
            self.embeddings_initializer = None if embeddings_initializer == "uniform" else \
                initializers.get(embeddings_initializer)
            self.embeddings_regularizer = regularizers.get(embeddings_regularizer)
        except (TypeError, ValueError) as err:
            raise type(err)(f"Embedding '{self.name}': {err}") from None
        if input_dim <= 0 or output_dim <= 0:
            raise ValueError(f"Embedding: input_dim and output_dim must be positive, got "
                             f"{input_dim} and {output_dim}")
        self.input_dim, self.output_dim, self.mask_zero = input_dim, output_dim, mask_zero
        if input_length is not None and self.input_shape_hint is None:
            self.input_shape_hint = (input_length,)

    def compute_output_shape(self, input_shape):
        if len(input_shape) < 1:
            raise ValueError(f"Embedding '{self.name}': expects ids of any rank >= 1 ((N, T), "
                             f"or (T,) positions), got {fmt_shape(input_shape)}")
        return tuple(input_shape) + (self.output_dim,)  # (..., E): (N, T, E) for (N, T)

    def _symbolic_mask(self, args) -> bool:
        return self.mask_zero

    def build_module(self, input_shape):
        module = nn.Embedding(self.input_dim, self.output_dim)
        table = module.weight
        if self.embeddings_initializer is None:  # Keras's default, "uniform"
            nn.init.uniform_(table, -0.05, 0.05)
        else:
            table.array[...] = self.embeddings_initializer(table.shape, table.dtype)
        self.regularize(table, self.embeddings_regularizer)
        return module

    def call(self, ids):
        data = ids.array if isinstance(ids, Tensor) else np.asarray(ids)
        if data.dtype.kind == "f":  # Keras feeds float Inputs to Embedding: cast to ids
            if not np.all(np.mod(data, 1) == 0):
                raise ValueError(f"Embedding '{self.name}': got non-integer ids")
            data = data.astype(np.int64)
        if data.size and (data.min() < 0 or data.max() >= self.input_dim):
            worst = data.min() if data.min() < 0 else data.max()
            raise ValueError(f"Embedding '{self.name}': id {int(worst)} is outside the "
                             f"vocabulary [0, {self.input_dim - 1}] (input_dim="
                             f"{self.input_dim}); raise input_dim or fix the tokenizer")
        return self.module(as_tensor(data))  # (N, T, E)

    def compute_mask(self, inputs, mask=None):
        if not self.mask_zero:
            return None
        data = inputs.array if isinstance(inputs, Tensor) else np.asarray(inputs)
        return data != 0  # (N, T) True = real token

    def get_config(self) -> dict:
        from tinymm.keras import regularizers

        return {**super().get_config(), "input_dim": self.input_dim,
                "output_dim": self.output_dim, "mask_zero": self.mask_zero,
                "embeddings_regularizer": regularizers.serialize(self.embeddings_regularizer)}


def carry_last_output(output, lengths):
    """Keras's masked return_sequences: at each padded step t >= length[n] the output is the
    last real step's, output[n, length[n] - 1] (PyTorch's packed layers leave 0 there);
    output (N, T, U), lengths (N,) or None (no mask)."""
    if lengths is None:
        return output
    N, T = output.shape[0], output.shape[1]
    last = np.minimum(np.arange(T)[None, :], np.asarray(lengths)[:, None] - 1)  # (N, T)
    return output[np.arange(N)[:, None], last]  # (N, T, U), gradients summed into the last


class LSTM(Layer):
    """Keras LSTM on (N, T, D): ``nn.LSTM(D, units, batch_first=True)`` inside.

    Keras has one bias per gate; PyTorch has two (bias_ih + bias_hh), which only ever appear
    summed. The adapter keeps PyTorch's layout but drops ``bias_hh_l0`` (the op adds no
    second bias when it is None), so the parameters, and their count 4 U (D + U + 1), are
    Keras's. Gate order is i, f, g
    (Keras's c), o in both. Keras initialisation: glorot_uniform input kernel, orthogonal
    recurrent kernel, zero bias with the forget gate's bias at 1 (unit_forget_bias).
    ``initial_state=[h0, c0]`` (each (N, U)) starts from those states (a seq2seq decoder
    from its encoder's), as in Keras.

    With a mask from ``Embedding(mask_zero=True)``, the padded steps (id 0, at the end) are
    skipped: the last output is the state after each sequence's own last real token.
    """

    constraint_args = ("kernel_constraint", "recurrent_constraint", "bias_constraint")

    def __init__(self, units: int, return_sequences: bool = False, return_state: bool = False,
                 **kwargs):
        super().__init__(**kwargs)
        if units <= 0:
            raise ValueError(f"LSTM: units must be positive, got {units}")
        self.units, self.return_sequences, self.return_state = units, return_sequences, \
            return_state

    def compute_output_shape(self, input_shape):
        need_rank(f"LSTM '{self.name}'", input_shape, 3, "(N, T, D)")
        known_dim(f"LSTM '{self.name}'", input_shape, -1, "feature (last)")
        N, T = input_shape[0], input_shape[1]
        out = (N, T, self.units) if self.return_sequences else (N, self.units)
        if self.return_state:
            return [out, (N, self.units), (N, self.units)]
        return out

    def _symbolic_mask(self, args) -> bool:
        return bool(self.return_sequences and isinstance(args[0], KerasTensor)
                    and args[0].has_mask)

    def build_module(self, input_shape):
        D, U = int(input_shape[-1]), self.units
        module = nn.LSTM(D, U, batch_first=True)
        glorot_uniform_(module.weight_ih_l0, D, 4 * U)  # Keras: kernel (D, 4U)
        recurrent = nn.init.orthogonal_(Tensor._make(np.empty((U, 4 * U))))  # Keras's (U, 4U)
        module.weight_hh_l0.array[...] = recurrent.array.T  # (4U, U)
        module.bias_ih_l0.array[...] = 0
        module.bias_ih_l0.array[U:2 * U] = 1.0  # unit_forget_bias
        module._parameters.pop("bias_hh_l0")  # one Keras bias: bias_ih carries it alone
        object.__setattr__(module, "bias_hh_l0", None)
        return module

    def call(self, x, mask=None, initial_state=None):
        from tinymm.keras.recurrent import initial_states

        hx = None if initial_state is None else tuple(
            initial_states(f"LSTM '{self.name}'", initial_state, 2, self.units))
        lengths = None
        if mask is not None:
            mask = np.asarray(mask, dtype=bool)  # (N, T)
            lengths = mask.sum(axis=1)  # (N,)
            prefix = np.arange(mask.shape[1])[None, :] < lengths[:, None]  # (N, T)
            if not np.array_equal(prefix, mask):
                raise ValueError(f"LSTM '{self.name}': the mask has padding before real tokens;"
                                 " tinymm supports right-padded sequences (pad with 0 at the "
                                 "end)")
            lengths = np.maximum(lengths, 1)  # an all-padding row reads its first step
        output, (h_n, c_n) = self.module(x, hx, lengths=lengths)  # (N, T, U), (1, N, U) x 2
        out = carry_last_output(output, lengths) if self.return_sequences else h_n[0]
        if self.return_state:
            return [out, h_n[0], c_n[0]]
        return out

    def compute_mask(self, inputs, mask=None):
        return mask if self.return_sequences else None

    def keras_layout(self) -> list:
        m = self.module  # kernel (D, 4U), recurrent_kernel (U, 4U), bias (4U,); gates i f c o
        return [weight_view(m.weight_ih_l0, transpose_weight, transpose_weight),
                weight_view(m.weight_hh_l0, transpose_weight, transpose_weight),
                weight_view(m.bias_ih_l0)]

    def get_config(self) -> dict:
        return {**super().get_config(), "units": self.units,
                "return_sequences": self.return_sequences, "return_state": self.return_state}


# ---------------------------------------------------------------- merging
class Merge(Layer):
    """Layers taking a list of tensors of one shape."""

    def _check_list(self, input_shape):
        kind = type(self).__name__
        if not isinstance(input_shape, list) or len(input_shape) < 2:
            raise ValueError(f"{kind} '{self.name}': call it on a list of at least 2 tensors, "
                             f"e.g. {kind}()([a, b])")

    def _inbound_names(self, args) -> list[str]:
        names = []
        for t in (args[0] if args else []):
            layer = getattr(t, "layer", None)
            names.append(f"'{layer.name}'" if layer is not None else "an input")
        return names

    def __call__(self, *args, **kwargs):
        self._last_names = self._inbound_names(args)
        return super().__call__(*args, **kwargs)


class Multiply(Merge):
    """Element-wise product of equal-shaped tensors; ``nn.Multiply`` inside."""

    def compute_output_shape(self, input_shape):
        self._check_list(input_shape)
        first = input_shape[0]
        for shape in input_shape[1:]:
            if len(shape) != len(first) or any(a is not None and b is not None and a != b
                                               for a, b in zip(first[1:], shape[1:])):
                names = getattr(self, "_last_names", [])
                listed = ", ".join(f"{n} gives {fmt_shape(s)}" for n, s in
                                   zip(names, input_shape)) if names else \
                    ", ".join(fmt_shape(s) for s in input_shape)
                widths = [s[-1] for s in input_shape]
                wide = int(np.argmax([w or 0 for w in widths]))
                narrow = int(np.argmin([w if w is not None else np.inf for w in widths]))
                wide_name = names[wide] if names else f"input {wide}"
                raise ValueError(
                    f"Multiply '{self.name}': element-wise product needs inputs of one shape, "
                    f"but {listed}: widths {' vs '.join(str(w) for w in widths)}. Project "
                    f"the wider input to width {widths[narrow]} first: add "
                    f"layers.Dense({widths[narrow]}) after {wide_name} (or project the other "
                    f"input up to {widths[wide]}), or fuse with Concatenate() instead, which "
                    "accepts different widths.")
        return first

    def build_module(self, input_shape):
        return nn.Multiply()

    def call(self, tensors):
        return self.module(*tensors)


class Add(Merge):
    compute_output_shape = Multiply.compute_output_shape

    def call(self, tensors):
        out = tensors[0]
        for t in tensors[1:]:
            out = out + t
        return out


class Concatenate(Merge):
    """Concatenation along ``axis`` (default the last); ``nn.Concatenate`` inside."""

    def __init__(self, axis: int = -1, **kwargs):
        super().__init__(**kwargs)
        self.axis = axis

    def compute_output_shape(self, input_shape):
        self._check_list(input_shape)
        nd = len(input_shape[0])
        axis = self.axis % nd
        if axis == 0:
            raise ValueError(f"Concatenate '{self.name}': cannot concatenate along the batch "
                             "axis")
        for shape in input_shape:
            if len(shape) != nd or any(a is not None and b is not None and a != b for i, (a, b)
                                       in enumerate(zip(input_shape[0], shape))
                                       if i not in (0, axis)):
                raise ValueError(f"Concatenate '{self.name}': inputs must match on every axis "
                                 f"except {self.axis}, got "
                                 f"{', '.join(fmt_shape(s) for s in input_shape)}")
        sizes = [s[axis] for s in input_shape]
        total = None if any(s is None for s in sizes) else sum(sizes)
        return tuple(input_shape[0][:axis]) + (total,) + tuple(input_shape[0][axis + 1:])

    def build_module(self, input_shape):
        return nn.Concatenate(dim=self.axis)

    def call(self, tensors):
        return self.module(*tensors)

    def get_config(self) -> dict:
        return {**super().get_config(), "axis": self.axis}


# ---------------------------------------------------------------- attention
class Attention(Layer):
    """Keras's dot-product attention: ``Attention()([query, value])`` or
    ``([query, value, key])``; query (N, Tq, D), value/key (N, Tv, D) -> (N, Tq, D).
    scores = query key^T (times a learned scalar if ``use_scale``), softmax over Tv."""

    def __init__(self, use_scale: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.use_scale = use_scale

    def compute_output_shape(self, input_shape):
        if not isinstance(input_shape, list) or len(input_shape) not in (2, 3):
            raise ValueError(f"Attention '{self.name}': call it on [query, value] or "
                             "[query, value, key]")
        q, v = input_shape[0], input_shape[1]
        k = input_shape[2] if len(input_shape) == 3 else v
        if len(q) != 3 or len(v) != 3 or q[-1] != k[-1]:
            raise ValueError(f"Attention '{self.name}': query (N, Tq, D) and key (N, Tv, D) "
                             f"must share D, got query {fmt_shape(q)}, key {fmt_shape(k)}")
        return (q[0], q[1], v[2])

    def build_module(self, input_shape):
        if not self.use_scale:
            return None
        module = nn.Module()
        module.scale = nn.Parameter(np.ones((), dtype=np.float32))
        return module

    def scores(self, q, k):
        scores = q @ k.transpose(1, 2)  # (N, Tq, Tv)
        return scores * self.module.scale if self.use_scale else scores

    def call(self, tensors):
        q, v = tensors[0], tensors[1]
        k = tensors[2] if len(tensors) == 3 else v
        weights = activations.softmax(self.scores(q, k))  # (N, Tq, Tv)
        return weights @ v  # (N, Tq, D)

    def get_config(self) -> dict:
        return {**super().get_config(), "use_scale": self.use_scale}


class MultiHeadAttention(Layer):
    """Keras's MultiHeadAttention over ``nn.MultiheadAttention(batch_first=True)``:
    ``layer(query, value, key=None, attention_mask=None)``, query (N, Tq, E) -> (N, Tq, E).

    When num_heads * key_dim is the query width and value_dim is key_dim, the PyTorch module
    (one fused kernel) does the work; otherwise the heads are computed with tensor ops on
    weights in Keras's layout (keras/attention_heads.py). Either way the parameters and their
    count are Keras's. ``attention_mask`` (N, Tq, Tv) or (N, Tv): True = attend.
    """

    def __init__(self, num_heads: int, key_dim: int, value_dim=None, use_bias: bool = True,
                 **kwargs):
        super().__init__(**kwargs)
        self.num_heads, self.key_dim, self.use_bias = num_heads, key_dim, use_bias
        self.value_dim = value_dim or key_dim

    def __call__(self, query, value, key=None, attention_mask=None,
                 return_attention_scores: bool = False):
        self._return_scores = return_attention_scores
        args = [query, value] if key is None else [query, value, key]
        out = super().__call__(args, attention_mask=attention_mask)
        return out

    def compute_output_shape(self, input_shape):
        q, v = input_shape[0], input_shape[1]
        k = input_shape[2] if len(input_shape) == 3 else v
        if len(q) != 3 or len(v) != 3:
            raise ValueError(f"MultiHeadAttention '{self.name}': query and value must be "
                             f"(N, T, D), got {fmt_shape(q)} and {fmt_shape(v)}")
        if q[-1] is None or v[-1] is None or k[-1] is None:
            raise ValueError(f"MultiHeadAttention '{self.name}': the query, value and key "
                             f"widths must be known, got {fmt_shape(q)}, {fmt_shape(v)} and "
                             f"{fmt_shape(k)}")
        out = (q[0], q[1], q[-1])
        if self._return_scores:
            return [out, (q[0], self.num_heads, q[1], k[1])]
        return out

    def build_module(self, input_shape):
        q, v = input_shape[0], input_shape[1]
        k = input_shape[2] if len(input_shape) == 3 else v
        self._fused = self.num_heads * self.key_dim == q[-1] and self.value_dim == self.key_dim
        if not self._fused:
            return HeadWeights((q[-1], k[-1], v[-1]), self.num_heads, self.key_dim,
                               self.value_dim, q[-1], self.use_bias)
        return nn.MultiheadAttention(q[-1], self.num_heads, bias=self.use_bias, batch_first=True,
                                     kdim=k[-1], vdim=v[-1])

    def build(self, input_shape) -> None:
        """The module, then Keras's initialisation: each kernel glorot_uniform over its 2-D
        form (query/key/value (D_in, heads * key_dim), output (heads * key_dim, E)), the
        biases zeros (PyTorch's packed xavier and Linear draws differ in scale)."""
        super().build(input_shape)
        from tinymm.keras import initializers

        glorot = initializers.GlorotUniform()
        kernels = [(get, put) for get, put in self.keras_layout() if get().ndim == 3]
        for i, (get, put) in enumerate(kernels):  # query, key, value (D_in, h, d); (h, d, E)
            shape = get().shape
            flat = (shape[0], shape[1] * shape[2]) if i < 3 else (shape[0] * shape[1], shape[2])
            put(glorot(flat, get().dtype).reshape(shape))

    def call(self, tensors, attention_mask=None):
        q, v = tensors[0], tensors[1]
        k = tensors[2] if len(tensors) == 3 else v
        if not self._fused:
            out, scores = attend(self.module, q, v, k, attention_mask)
            return [out, scores] if self._return_scores else out
        attn_mask = key_padding_mask = None
        if attention_mask is not None:
            m = np.asarray(getattr(attention_mask, "data", attention_mask), dtype=bool)
            if m.ndim == 2:  # (N, Tv) True = attend -> PyTorch's key_padding_mask True = ignore
                key_padding_mask = ~m
            else:  # (N, Tq, Tv) -> (N * heads, Tq, Tv) True = ignore
                attn_mask = np.repeat(~m, self.num_heads, axis=0)
        out, weights = self.module(q, k, v, key_padding_mask=key_padding_mask,
                                   need_weights=self._return_scores, attn_mask=attn_mask,
                                   average_attn_weights=False)
        return [out, weights] if self._return_scores else out

    def keras_node_arguments(self, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
        """Keras records ``(query, value[, key])`` as positional arguments."""
        return tuple(args[0]), kwargs

    def keras_build_config(self) -> dict:
        """Keras builds MultiHeadAttention from its query, value (and key) shapes."""
        names = ("query_shape", "value_shape", "key_shape")
        return {"shapes_dict": dict(zip(names, shape_list(self.built_input_shape)))}

    def keras_layout(self) -> list:
        """Keras's order and layouts: query/key/value kernels (D_in, heads, key_dim) and
        biases (heads, key_dim), then the output kernel (heads, key_dim, E) and bias (E,);
        PyTorch's W_q is (E, D_in) with heads as consecutive blocks of key_dim rows."""
        if not self._fused:
            return [weight_view(getattr(self.module, name)) for name in self.module.names]
        m, h, d = self.module, self.num_heads, self.key_dim
        E = h * d
        views = []
        for slot, name in enumerate("qkv"):
            weight = m.in_proj_weight if m._qkv_same_embed_dim else \
                getattr(m, f"{name}_proj_weight")
            rows = slice(slot * E, (slot + 1) * E) if m._qkv_same_embed_dim else slice(0, E)
            views.append(_block_view(weight, rows, lambda w: w.T.reshape(w.shape[1], h, d),
                                     lambda k: k.reshape(k.shape[0], E).T))
            if self.use_bias:
                views.append(_block_view(m.in_proj_bias, slice(slot * E, (slot + 1) * E),
                                         lambda b: b.reshape(h, d), lambda k: k.reshape(E)))
        views.append(weight_view(m.out_proj.weight, lambda w: w.T.reshape(h, d, E),
                                 lambda k: k.reshape(E, E).T))
        return views + ([weight_view(m.out_proj.bias)] if self.use_bias else [])

    def get_config(self) -> dict:
        return {**super().get_config(), "num_heads": self.num_heads, "key_dim": self.key_dim,
                "value_dim": self.value_dim, "use_bias": self.use_bias}


def _block_view(p, rows: slice, to_keras, from_keras) -> tuple:
    """A (get, set) view of the rows ``rows`` of parameter ``p`` (a packed projection)."""
    def get():
        return to_keras(p.array[rows])

    def put(a):
        p.array[rows] = from_keras(np.asarray(a))

    return get, put


LAYERS = {cls.__name__: cls for cls in (
    Activation, Add, Attention, AveragePooling2D, Concatenate, Conv2D, Dense, Dropout,
    Embedding, Flatten, GlobalAveragePooling2D, GlobalMaxPooling2D, InputLayer, LSTM,
    MaxPooling2D, MultiHeadAttention, Multiply, Reshape)}


def _functional(cls):
    def merge(inputs, **kwargs):
        return cls(**kwargs)(inputs)

    merge.__name__ = cls.__name__.lower()
    merge.__doc__ = f"``layers.{merge.__name__}([a, b, ...])``: a {cls.__name__} layer applied."
    return merge


add, multiply, concatenate = _functional(Add), _functional(Multiply), _functional(Concatenate)

# the rest of keras.layers (they import the helpers above)
from tinymm.keras.augment import *  # noqa: E402, F403
from tinymm.keras.augment import AUGMENT_LAYERS  # noqa: E402
from tinymm.keras.cells import *  # noqa: E402, F403
from tinymm.keras.cells import CELL_LAYERS  # noqa: E402
from tinymm.keras.conv_layers import *  # noqa: E402, F403
from tinymm.keras.conv_layers import CONV_LAYERS  # noqa: E402
from tinymm.keras.more_layers import *  # noqa: E402, F403
from tinymm.keras.more_layers import MORE_LAYERS, average, maximum, minimum, subtract  # noqa: E402
from tinymm.keras.norm_pool_layers import *  # noqa: E402, F403
from tinymm.keras.norm_pool_layers import NORM_POOL_LAYERS  # noqa: E402
from tinymm.keras.recurrent import GRU, RECURRENT_LAYERS, Bidirectional, SimpleRNN  # noqa: E402
from tinymm.keras.simple_layers import *  # noqa: E402, F403
from tinymm.keras.simple_layers import SIMPLE_LAYERS, dot  # noqa: E402
from tinymm.keras.text import *  # noqa: E402, F403
from tinymm.keras.text import TEXT_LAYERS  # noqa: E402

LAYERS.update(MORE_LAYERS)
LAYERS.update(RECURRENT_LAYERS)
LAYERS.update(SIMPLE_LAYERS)
LAYERS.update(AUGMENT_LAYERS)
LAYERS.update(NORM_POOL_LAYERS)
LAYERS.update(CELL_LAYERS)
LAYERS.update(TEXT_LAYERS)
LAYERS.update(CONV_LAYERS)
# Keras's other names for the same layers
ALIASES = {"MaxPool2D": "MaxPooling2D", "AvgPool2D": "AveragePooling2D",
           "MaxPool1D": "MaxPooling1D", "AvgPool1D": "AveragePooling1D",
           "GlobalAvgPool2D": "GlobalAveragePooling2D", "GlobalMaxPool2D": "GlobalMaxPooling2D",
           "GlobalAvgPool1D": "GlobalAveragePooling1D", "GlobalMaxPool1D": "GlobalMaxPooling1D",
           "Convolution2D": "Conv2D", "Convolution1D": "Conv1D"}
for _alias, _name in ALIASES.items():
    globals()[_alias] = LAYERS[_alias] = LAYERS[_name]

__all__ = sorted(LAYERS) + ["Input", "Layer", "add", "average", "concatenate", "dot", "maximum",
                            "minimum", "multiply", "subtract"]
_exported = (GRU, Bidirectional, SimpleRNN, average, dot, maximum, minimum, subtract)
