"""Keras weight constraints: projections applied to a weight after every optimizer update.

A layer's ``kernel_constraint`` / ``bias_constraint`` / ``recurrent_constraint`` /
``embeddings_constraint`` (or ``add_weight(constraint=...)``) is called on the weight in
Keras's layout (a Dense kernel is (D, U), so ``axis=0`` is the input axis and each unit's
incoming weights are constrained together), and the result replaces the weight, as Keras's
optimizer does after each ``apply``: in ``fit``, ``train_on_batch`` and a custom
``optimizer.apply_gradients`` alike. With ``eps = 1e-7`` (Keras's ``backend.epsilon()``) and
``n = sqrt(sum(w^2, axis, keepdims=True))``:

    MaxNorm(max_value=2, axis=0):                 w * clip(n, 0, max_value) / (eps + n)
    NonNeg():                                     max(w, 0)
    UnitNorm(axis=0):                             w / (eps + n)
    MinMaxNorm(min_value=0, max_value=1, rate=1, axis=0):
        w * (rate * clip(n, min_value, max_value) + (1 - rate) * n) / (eps + n)

A custom constraint is any callable of the weight (a ``Constraint`` subclass with
``__call__`` and ``get_config``); it receives a Tensor and may use ``keras.ops``.
"""

from __future__ import annotations

import numpy as np

from tinymm.autograd import no_grad
from tinymm.keras import ops
from tinymm.keras.engine import as_eager, by_name
from tinymm.tensor import Tensor

EPSILON = 1e-7


class Constraint:
    """Base class: ``__call__(w)`` returns the projected weight; ``get_config`` its
    arguments (``from_config`` rebuilds it)."""

    def __call__(self, w):
        return w

    def get_config(self) -> dict:
        return {}

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)


def _norms(w, axis):
    return ops.sqrt(ops.sum(ops.square(w), axis=_axes(axis), keepdims=True))


def _axes(axis):
    return tuple(axis) if isinstance(axis, (list, tuple)) else axis


class MaxNorm(Constraint):
    def __init__(self, max_value=2, axis=0):
        self.max_value, self.axis = max_value, axis

    def __call__(self, w):
        norms = _norms(w, self.axis)
        return w * (ops.clip(norms, 0, self.max_value) / (EPSILON + norms))

    def get_config(self) -> dict:
        return {"max_value": self.max_value, "axis": self.axis}


class NonNeg(Constraint):
    def __call__(self, w):
        return ops.maximum(w, 0.0)


class UnitNorm(Constraint):
    def __init__(self, axis=0):
        self.axis = axis

    def __call__(self, w):
        return w / (EPSILON + _norms(w, self.axis))

    def get_config(self) -> dict:
        return {"axis": self.axis}


class MinMaxNorm(Constraint):
    def __init__(self, min_value=0.0, max_value=1.0, rate=1.0, axis=0):
        self.min_value, self.max_value, self.rate, self.axis = min_value, max_value, rate, axis

    def __call__(self, w):
        norms = _norms(w, self.axis)
        desired = self.rate * ops.clip(norms, self.min_value, self.max_value) + \
            (1 - self.rate) * norms
        return w * (desired / (EPSILON + norms))

    def get_config(self) -> dict:
        return {"min_value": self.min_value, "max_value": self.max_value, "rate": self.rate,
                "axis": self.axis}


max_norm, non_neg, unit_norm, min_max_norm = MaxNorm, NonNeg, UnitNorm, MinMaxNorm
_BY_NAME = {"max_norm": MaxNorm, "maxnorm": MaxNorm, "non_neg": NonNeg, "nonneg": NonNeg,
            "unit_norm": UnitNorm, "unitnorm": UnitNorm, "min_max_norm": MinMaxNorm,
            "minmaxnorm": MinMaxNorm}


def get(identifier):
    """None, a name ("max_norm", "NonNeg"...: the defaults), a config dict
    (``{"class_name", "config"}``), a Constraint or any callable of a weight."""
    if identifier is None or callable(identifier):
        return identifier
    if isinstance(identifier, str):
        return by_name("constraint", _BY_NAME, identifier)
    if isinstance(identifier, dict) and "class_name" in identifier:
        by_name("constraint", _BY_NAME, identifier["class_name"])  # a known one, else raise
        cls = _BY_NAME[identifier["class_name"].lower()]
        return cls.from_config(identifier.get("config") or {})
    raise TypeError(f"a constraint must be a name, a config dict, a keras.constraints object "
                    f"or a callable, got {type(identifier).__name__}")


def serialize(constraint):
    """A Constraint as Keras's ``{"module", "class_name", "config", "registered_name"}``
    (None stays None)."""
    if constraint is None:
        return None
    if isinstance(constraint, Constraint) and type(constraint) in _BY_NAME.values():
        return {"module": "keras.constraints", "class_name": type(constraint).__name__,
                "config": constraint.get_config(), "registered_name": None}
    from tinymm.keras.saving import serialize_keras_object

    return serialize_keras_object(constraint)


def attach(view, constraint) -> None:
    """Make ``constraint`` project the weight behind ``view`` (a ``(get, set)`` pair of
    ``Layer.keras_layout``) after each optimizer update of its parameters."""
    if constraint is None:
        return
    get = view[0]
    entry = (constraint, view)
    for p in getattr(get, "params", ()):
        p.keras_constraints = [*getattr(p, "keras_constraints", []), entry]


def apply_constraints(params) -> None:
    """Project every constrained weight among ``params`` that this update changed (a
    trainable parameter with a gradient), each once."""
    done = set()
    with no_grad():
        for p in params:
            if not p.requires_grad or p.grad is None:
                continue
            for constraint, (get, put) in getattr(p, "keras_constraints", ()):
                if id(put) in done:
                    continue
                done.add(id(put))
                out = constraint(as_eager(Tensor._make(np.array(get()))))
                put(np.asarray(out.array if isinstance(out, Tensor) else out))


__all__ = ["Constraint", "MaxNorm", "MinMaxNorm", "NonNeg", "UnitNorm", "apply_constraints",
           "attach", "get", "max_norm", "min_max_norm", "non_neg", "serialize", "unit_norm"]
