"""TensorFlow-style names for Keras programs: ``from tinymm import tf`` in place of
``import tensorflow as tf``.

Why a separate module instead of ``import tinymm as tf``: tinymm's top level follows
PyTorch (``tinymm.nn`` is ``torch.nn``'s analogue: ``nn.Linear``, ``nn.Conv2d`` in NCHW,
modules with ``forward``), while TensorFlow's ``tf.nn`` is a namespace of functions
(``tf.nn.softmax``, ``tf.nn.relu``) and its top level holds ``reduce_mean``, ``one_hot``,
``matmul`` with TensorFlow's argument names and channels-last conventions. Putting both under
one name would give ``tinymm.nn`` two meanings, so ``tinymm.tf`` holds the TensorFlow view
and leaves ``tinymm.nn`` as it is. Programs that only use ``tf.keras`` may still write
``import tinymm as tf``.

Everything returns tinymm Tensors (``.numpy()`` gives the array), built from the same ops as
``keras.ops``, so gradients flow through them.
"""

from __future__ import annotations

import numpy as np

from tinymm import keras
from tinymm.keras import ops as _ops
from tinymm.nn import init as _init

float16, float32, float64 = np.float16, np.float32, np.float64
int32, int64, bool_ = np.int32, np.int64, np.bool_


def constant(value, dtype=None):
    return _ops.convert_to_tensor(value, dtype)


convert_to_tensor = constant


def _reduce(name):
    op = getattr(_ops, name)

    def reduce(input_tensor, axis=None, keepdims: bool = False):
        return op(input_tensor, axis=axis, keepdims=keepdims)

    reduce.__name__ = f"reduce_{name}"
    return reduce


reduce_mean, reduce_sum = _reduce("mean"), _reduce("sum")
reduce_max, reduce_min = _reduce("max"), _reduce("min")
square, sqrt, exp, log, abs = _ops.square, _ops.sqrt, _ops.exp, _ops.log, _ops.abs  # noqa: A001
matmul, reshape, cast, maximum, minimum = (_ops.matmul, _ops.reshape, _ops.cast, _ops.maximum,
                                           _ops.minimum)


def one_hot(indices, depth: int, dtype=np.float32):
    return _ops.one_hot(indices, depth, dtype=dtype)


def argmax(input, axis=None):  # noqa: A002 (TensorFlow's name)
    return _ops.argmax(input, axis=0 if axis is None else axis)


def transpose(a, perm=None):
    return _ops.transpose(a, perm)


def concat(values, axis: int):
    return _ops.concatenate(values, axis=axis)


def stack(values, axis: int = 0):
    return _ops.stack(values, axis=axis)


class _Namespace:
    def __init__(self, **names):
        self.__dict__.update(names)


nn = _Namespace(softmax=lambda logits, axis=-1: _ops.softmax(logits, axis),
                log_softmax=lambda logits, axis=-1: _ops.log_softmax(logits, axis),
                relu=_ops.relu, sigmoid=_ops.sigmoid, tanh=_ops.tanh)
math = _Namespace(reduce_mean=reduce_mean, reduce_sum=reduce_sum, reduce_max=reduce_max,
                  reduce_min=reduce_min, square=square, sqrt=sqrt, exp=exp, log=log, abs=abs,
                  maximum=maximum, minimum=minimum, argmax=argmax, sigmoid=_ops.sigmoid,
                  tanh=_ops.tanh, softmax=nn.softmax)
random = _Namespace(set_seed=_init.seed)

__all__ = ["abs", "argmax", "cast", "concat", "constant", "convert_to_tensor", "exp", "keras",
           "log", "math", "matmul", "maximum", "minimum", "nn", "one_hot", "random",
           "reduce_max", "reduce_mean", "reduce_min", "reduce_sum", "reshape", "sqrt",
           "square", "stack", "transpose"]
