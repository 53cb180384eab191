"""Keras activation names -> functions on Tensors (``Dense(10, activation="softmax")``).

A model whose output layer ends in ``softmax``/``sigmoid`` computes a cross-entropy loss from
the layer's pre-activation (see tinymm/keras/losses.py); the functions here are plain, and
on a KerasTensor (inside a functional graph or a subclassed model's traced ``call``) they
record an OpLayer, as ``keras.ops`` do.
"""

from __future__ import annotations

import functools

from tinymm.keras.engine import KerasTensor, OpLayer
from tinymm.nn import activation as _act
from tinymm.ops.activation import relu, tanh
from tinymm.ops.activation import sigmoid as _sigmoid
from tinymm.ops.softmax import softmax as _softmax


def linear(x):
    return x


def softmax(x, axis: int = -1):
    return _softmax(x, dim=axis)


def sigmoid(x):
    return _sigmoid(x)


def gelu(x, approximate: bool = False):
    """Keras's default is the exact (erf) form; approximate=True the tanh form."""
    return _act.gelu(x, "tanh" if approximate else "none")


def elu(x):
    return _act.elu(x)


def silu(x):
    return _act.silu(x)


def softplus(x):
    return _act.softplus(x)


def leaky_relu(x):
    return _act.leaky_relu(x, 0.2)  # Keras's default negative slope


SELU_ALPHA, SELU_SCALE = 1.6732632423543772, 1.0507009873554805  # Keras's constants


def selu(x):
    """scale * elu(x, alpha): scale x for x > 0, scale alpha (e^x - 1) otherwise."""
    return _act.elu(x, SELU_ALPHA) * SELU_SCALE


def softsign(x):
    return x / (abs(x) + 1.0)


def relu6(x):
    return x.clamp(0.0, 6.0)


def hard_sigmoid(x):
    """Keras 3: relu6(x + 3) / 6."""
    return (x + 3.0).clamp(0.0, 6.0) * (1.0 / 6.0)


def exponential(x):
    return x.exp()


def mish(x):
    return x * tanh(softplus(x))


def _symbolic(fn):
    """``fn`` that records an OpLayer when its input is a KerasTensor."""
    @functools.wraps(fn)
    def activation(x, *args, **kwargs):
        if isinstance(x, KerasTensor):
            return OpLayer.apply(fn, x, *args, **kwargs)
        return fn(x, *args, **kwargs)

    return activation


relu, tanh, sigmoid, softmax, gelu, elu, silu, softplus, leaky_relu, selu, softsign, relu6, \
    hard_sigmoid, exponential, mish = map(_symbolic, (
        relu, tanh, sigmoid, softmax, gelu, elu, silu, softplus, leaky_relu, selu, softsign,
        relu6, hard_sigmoid, exponential, mish))

_BY_NAME = {"linear": linear, "relu": relu, "sigmoid": sigmoid, "tanh": tanh,
            "softmax": softmax, "gelu": gelu, "elu": elu, "silu": silu, "swish": silu,
            "softplus": softplus, "leaky_relu": leaky_relu, "selu": selu,
            "softsign": softsign, "relu6": relu6, "hard_sigmoid": hard_sigmoid,
            "exponential": exponential, "mish": mish}


def get(identifier):
    """None or "linear" -> identity; a name -> its function; a callable -> itself."""
    if identifier is None:
        return linear
    if isinstance(identifier, str):
        from tinymm.keras.utils import custom_objects_by_name

        found = _BY_NAME.get(identifier) or custom_objects_by_name().get(identifier)
        if found is None:
            raise ValueError(f"unknown activation {identifier!r}; known: {sorted(_BY_NAME)}, "
                             "or a function registered with keras.saving."
                             "register_keras_serializable or given in custom_objects")
        return found
    if callable(identifier):
        return identifier
    raise TypeError(f"activation must be a name or a callable, got {type(identifier).__name__}")


def serialize(fn) -> str | None:
    """A built-in activation's name; a custom function's registered key ("package>name"),
    else its ``__name__`` (``load_model`` then needs it in ``custom_objects``)."""
    from tinymm.keras.utils import get_custom_objects

    for name, f in _BY_NAME.items():
        if f is fn:
            return name
    for key, f in get_custom_objects().items():
        if f is fn:
            return key
    return getattr(fn, "__name__", None)
