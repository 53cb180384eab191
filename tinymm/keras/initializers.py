"""Keras initializers: ``initializer(shape, dtype) -> np.ndarray``, in Keras's weight layouts
(a Dense kernel (D, U), a Conv2D kernel (kH, kW, C, F)), drawn from
``tinymm.nn.init.generator`` (seed it with ``tinymm.nn.init.seed`` or
``keras.utils.set_random_seed``). ``Layer.add_weight(initializer=...)`` takes a name or one
of these objects.

Fans as Keras computes them: for a shape (..., fan_in, fan_out) with receptive field r =
prod(shape[:-2]), fan_in = shape[-2] r and fan_out = shape[-1] r; a vector has fan_in =
fan_out = its length.
"""

from __future__ import annotations

import math

import numpy as np

from tinymm.keras.engine import by_name
from tinymm.nn import init as _init


def fans(shape) -> tuple[int, int]:
    shape = tuple(int(s) for s in shape)
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive = int(np.prod(shape[:-2])) if len(shape) > 2 else 1
    return shape[-2] * receptive, shape[-1] * receptive


class Initializer:
    def __call__(self, shape, dtype=None) -> np.ndarray:
        raise NotImplementedError

    def get_config(self) -> dict:
        return dict(vars(self))


class Zeros(Initializer):
    def __call__(self, shape, dtype=None):
        return np.zeros(shape, dtype or np.float32)


class Ones(Initializer):
    def __call__(self, shape, dtype=None):
        return np.ones(shape, dtype or np.float32)


class Constant(Initializer):
    def __init__(self, value=0.0):
        self.value = value

    def __call__(self, shape, dtype=None):
        return np.full(shape, self.value, dtype or np.float32)


class RandomUniform(Initializer):
    def __init__(self, minval=-0.05, maxval=0.05, seed=None):
        self.minval, self.maxval = minval, maxval

    def __call__(self, shape, dtype=None):
        return _init.generator.uniform(self.minval, self.maxval, shape).astype(dtype or "f4")


class RandomNormal(Initializer):
    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        self.mean, self.stddev = mean, stddev

    def __call__(self, shape, dtype=None):
        return _init.generator.normal(self.mean, self.stddev, shape).astype(dtype or "f4")


class TruncatedNormal(RandomNormal):
    """Normal values redrawn until within two standard deviations of the mean."""

    def __call__(self, shape, dtype=None):
        out = _init.generator.normal(0.0, 1.0, shape)
        bad = np.abs(out) > 2
        while bad.any():
            out[bad] = _init.generator.normal(0.0, 1.0, int(bad.sum()))
            bad = np.abs(out) > 2
        return (self.mean + self.stddev * out).astype(dtype or "f4")


class VarianceScaling(Initializer):
    """Keras's family: variance = scale / n with n = fan_in, fan_out or their mean;
    "uniform" draws from +-sqrt(3 variance), "truncated_normal" from a normal of std
    sqrt(variance) / .87962566 truncated at 2 std, "untruncated_normal" plain normal."""

    def __init__(self, scale=1.0, mode="fan_in", distribution="truncated_normal", seed=None):
        if mode not in ("fan_in", "fan_out", "fan_avg"):
            raise ValueError(f"VarianceScaling: mode={mode!r} is not one of fan_in, fan_out, "
                             "fan_avg")
        if distribution not in ("uniform", "truncated_normal", "untruncated_normal"):
            raise ValueError(f"VarianceScaling: distribution={distribution!r} is not supported")
        self.scale, self.mode, self.distribution = scale, mode, distribution
        self.seed = seed

    def __call__(self, shape, dtype=None):
        fan_in, fan_out = fans(shape)
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[self.mode]
        variance = self.scale / max(1.0, n)
        if self.distribution == "uniform":
            limit = math.sqrt(3.0 * variance)
            return _init.generator.uniform(-limit, limit, shape).astype(dtype or "f4")
        if self.distribution == "untruncated_normal":
            return _init.generator.normal(0.0, math.sqrt(variance), shape).astype(dtype or "f4")
        std = math.sqrt(variance) / 0.87962566103423978
        return TruncatedNormal(0.0, std)(shape, dtype)


class _Preset(VarianceScaling):
    """A named VarianceScaling whose config is only its seed, as Keras's."""

    def get_config(self) -> dict:
        return {"seed": self.seed}


class GlorotUniform(_Preset):
    def __init__(self, seed=None):
        super().__init__(1.0, "fan_avg", "uniform", seed)


class GlorotNormal(_Preset):
    def __init__(self, seed=None):
        super().__init__(1.0, "fan_avg", "truncated_normal", seed)


class HeUniform(_Preset):
    def __init__(self, seed=None):
        super().__init__(2.0, "fan_in", "uniform", seed)


class HeNormal(_Preset):
    def __init__(self, seed=None):
        super().__init__(2.0, "fan_in", "truncated_normal", seed)


class LecunNormal(_Preset):
    def __init__(self, seed=None):
        super().__init__(1.0, "fan_in", "truncated_normal", seed)


class Orthogonal(Initializer):
    """A (semi-)orthogonal matrix from the QR decomposition of a normal draw, times gain."""

    def __init__(self, gain=1.0, seed=None):
        self.gain = gain

    def __call__(self, shape, dtype=None):
        rows, cols = int(np.prod(shape[:-1])), int(shape[-1])
        a = _init.generator.normal(0.0, 1.0, (max(rows, cols), min(rows, cols)))
        q, r = np.linalg.qr(a)
        q = q * np.sign(np.diag(r))
        q = q if rows >= cols else q.T
        return (self.gain * q.reshape(shape)).astype(dtype or "f4")


_BY_NAME = {"zeros": Zeros, "ones": Ones, "constant": Constant, "random_uniform": RandomUniform,
            "uniform": RandomUniform, "random_normal": RandomNormal, "normal": RandomNormal,
            "truncated_normal": TruncatedNormal,
            "glorot_uniform": GlorotUniform, "glorot_normal": GlorotNormal,
            "he_uniform": HeUniform, "he_normal": HeNormal, "lecun_normal": LecunNormal,
            "orthogonal": Orthogonal, "variance_scaling": VarianceScaling}


def get(identifier) -> Initializer:
    if isinstance(identifier, str):
        return by_name("initializer", _BY_NAME, identifier)
    if callable(identifier):
        return identifier
    raise TypeError(f"an initializer must be a name or a callable, got "
                    f"{type(identifier).__name__}")


__all__ = ["Constant", "GlorotNormal", "GlorotUniform", "HeNormal", "HeUniform", "Initializer",
           "LecunNormal", "Ones", "Orthogonal", "RandomNormal", "RandomUniform",
           "TruncatedNormal", "VarianceScaling", "Zeros", "fans", "get"]
