"""Weight initialisation, with PyTorch's formulas so default layers match ``torch.nn``.

``kaiming_uniform_(w, a=sqrt(5))`` is what PyTorch's Linear and Conv layers use by default:
bound = gain * sqrt(3 / fan_in) with gain = sqrt(2 / (1 + a^2)), which works out to
bound = 1 / sqrt(fan_in). Biases draw from U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
All functions draw from the global generator, ``tinymm.random.default_generator`` (seed it
with ``tinymm.manual_seed``; ``init.seed`` is the same call), or from ``generator=`` when given.
They change the tensor's values in place, outside autograd (as PyTorch's, which run under
``no_grad``). ``init.generator`` is the NumPy generator the global one draws from.
"""

from __future__ import annotations

import math

import numpy as np

from tinymm.random import default_generator, manual_seed, rng_of
from tinymm.tensor import Tensor


def seed(value: int) -> None:
    """Reseed the global generator (``tinymm.manual_seed``): initialisation, dropout, rand."""
    manual_seed(value)


def __getattr__(name: str):
    if name == "generator":  # the NumPy generator behind the global one, read at call time
        return default_generator.rng
    raise AttributeError(f"module 'tinymm.nn.init' has no attribute {name!r}")


def _fill(t: Tensor, values) -> Tensor:
    t.array[...] = values
    t._version_box[0] += 1  # an in-place change, as PyTorch counts it
    return t


def fan_in_and_fan_out(shape: tuple[int, ...]) -> tuple[int, int]:
    if len(shape) < 2:
        raise ValueError(f"init: fan in/out needs at least 2 dimensions, got shape {shape}")
    receptive = int(np.prod(shape[2:])) if len(shape) > 2 else 1
    return shape[1] * receptive, shape[0] * receptive


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """PyTorch's recommended gains (selu's 3/4 is its self-normalising choice)."""
    if nonlinearity in ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d",
                        "conv_transpose2d", "conv_transpose3d", "sigmoid"):
        return 1.0
    if nonlinearity == "selu":
        return 3.0 / 4
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else param
        return math.sqrt(2.0 / (1 + slope**2))
    raise ValueError(f"calculate_gain: unknown nonlinearity {nonlinearity!r}")


def uniform_(t: Tensor, a: float = 0.0, b: float = 1.0, generator=None) -> Tensor:
    return _fill(t, rng_of(generator).uniform(a, b, size=t.shape))


def normal_(t: Tensor, mean: float = 0.0, std: float = 1.0, generator=None) -> Tensor:
    return _fill(t, rng_of(generator).normal(mean, std, size=t.shape))


def zeros_(t: Tensor) -> Tensor:
    return _fill(t, 0)


def ones_(t: Tensor) -> Tensor:
    return _fill(t, 1)


def kaiming_uniform_(t: Tensor, a: float = 0.0, mode: str = "fan_in",
                     nonlinearity: str = "leaky_relu", generator=None) -> Tensor:
    fan_in, fan_out = fan_in_and_fan_out(t.shape)
    fan = fan_in if mode == "fan_in" else fan_out
    bound = calculate_gain(nonlinearity, a) * math.sqrt(3.0 / fan)
    return uniform_(t, -bound, bound, generator)


def xavier_uniform_(t: Tensor, gain: float = 1.0, generator=None) -> Tensor:
    fan_in, fan_out = fan_in_and_fan_out(t.shape)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(t, -bound, bound, generator)


def default_bias_(bias: Tensor, fan_in: int) -> Tensor:
    bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
    return uniform_(bias, -bound, bound)


def default_weight_and_bias(module, weight_shape: tuple[int, ...], bias_size: int, bias: bool,
                            dtype) -> None:
    """PyTorch's default parameters of Linear and the convolutions, set on ``module``:
    ``weight`` (weight_shape) from kaiming_uniform(a=sqrt(5)), then ``bias`` (bias_size,)
    uniform in +-1/sqrt(fan_in) with fan_in from the weight's shape, as PyTorch computes it;
    ``bias=False`` registers no bias."""
    from tinymm.nn.module import Parameter

    module.weight = Parameter(np.empty(weight_shape, dtype=dtype))
    kaiming_uniform_(module.weight, a=math.sqrt(5))
    if bias:
        module.bias = Parameter(np.empty(bias_size, dtype=dtype))
        default_bias_(module.bias, fan_in_and_fan_out(tuple(weight_shape))[0])
    else:
        module.register_parameter("bias", None)


def constant_(t: Tensor, value: float) -> Tensor:
    return _fill(t, value)


def kaiming_normal_(t: Tensor, a: float = 0.0, mode: str = "fan_in",
                    nonlinearity: str = "leaky_relu", generator=None) -> Tensor:
    fan_in, fan_out = fan_in_and_fan_out(t.shape)
    fan = fan_in if mode == "fan_in" else fan_out
    return normal_(t, 0.0, calculate_gain(nonlinearity, a) / math.sqrt(fan), generator)


def xavier_normal_(t: Tensor, gain: float = 1.0, generator=None) -> Tensor:
    fan_in, fan_out = fan_in_and_fan_out(t.shape)
    return normal_(t, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)), generator)


def orthogonal_(t: Tensor, gain: float = 1.0, generator=None) -> Tensor:
    """A (semi-)orthogonal matrix from the QR decomposition of a Gaussian one, as PyTorch:
    rows = shape[0], cols = prod(shape[1:]); the signs of R's diagonal fix Q uniquely."""
    if t.ndim < 2:
        raise ValueError(f"orthogonal_: needs at least 2 dimensions, got shape {tuple(t.shape)}")
    rows, cols = t.shape[0], int(np.prod(t.shape[1:]))
    flat = rng_of(generator).normal(0.0, 1.0, size=(rows, cols))  # (rows, cols)
    if rows < cols:
        flat = flat.T  # (cols, rows): QR needs a tall matrix
    q, r = np.linalg.qr(flat)
    q *= np.sign(np.diag(r))  # (tall, short)
    if rows < cols:
        q = q.T  # (rows, cols)
    return _fill(t, (gain * q).reshape(t.shape))


def trunc_normal_(t: Tensor, mean: float = 0.0, std: float = 1.0, a: float = -2.0,
                  b: float = 2.0, generator=None) -> Tensor:
    """Normal(mean, std) truncated to [a, b] (absolute bounds, as PyTorch), drawn by
    rejection: values outside [a, b] are drawn again until every one lies inside."""
    if not a < b:
        raise ValueError(f"trunc_normal_: need a < b, got a={a}, b={b}")
    if std <= 0:
        raise ValueError(f"trunc_normal_: std must be positive, got {std}")
    rng = rng_of(generator)
    values = rng.normal(mean, std, size=t.shape)
    outside = (values < a) | (values > b)
    while outside.any():
        values[outside] = rng.normal(mean, std, size=int(outside.sum()))
        outside = (values < a) | (values > b)
    return _fill(t, values)


def eye_(t: Tensor) -> Tensor:
    """The identity matrix (ones on the diagonal of a 2-d tensor, zeros elsewhere)."""
    if t.ndim != 2:
        raise ValueError(f"eye_: only tensors with 2 dimensions are supported, got shape "
                         f"{tuple(t.shape)}")
    return _fill(t, np.eye(*t.shape))
