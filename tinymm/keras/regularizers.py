"""``keras.regularizers``: penalties on a weight that join the loss (``layer.losses``).

    L1(l1=0.01):            l1 * sum(|w|)
    L2(l2=0.01):            l2 * sum(w^2)
    L1L2(l1=0.0, l2=0.0):   l1 * sum(|w|) + l2 * sum(w^2)

(Keras 3's formulas; no division by the batch size.) ``l1``, ``l2`` and ``l1_l2`` are the
classes' lowercase aliases, as in Keras. A layer takes them as ``kernel_regularizer`` /
``bias_regularizer`` (Dense, Conv1D, Conv2D...) or ``add_weight(regularizer=...)``; its
``losses`` then hold each penalty of the current weights, and ``fit`` adds them.
"""

from __future__ import annotations

from tinymm.keras.engine import by_name


class Regularizer:
    """Base: ``regularizer(weight) -> scalar`` Tensor; ``get_config``/``from_config``."""

    def __call__(self, x):
        raise NotImplementedError

    def get_config(self) -> dict:
        return {}

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)


def _factor(value, name: str, kind: str) -> float:
    value = float(value)
    if value < 0:
        raise ValueError(f"{kind}: {name} must be >= 0, got {value}")
    return value


class L1(Regularizer):
    def __init__(self, l1: float = 0.01):
        self.l1 = _factor(l1, "l1", "L1")

    def __call__(self, x):
        return self.l1 * x.abs().sum()

    def get_config(self) -> dict:
        return {"l1": self.l1}


class L2(Regularizer):
    def __init__(self, l2: float = 0.01):
        self.l2 = _factor(l2, "l2", "L2")

    def __call__(self, x):
        return self.l2 * (x * x).sum()

    def get_config(self) -> dict:
        return {"l2": self.l2}


class L1L2(Regularizer):
    def __init__(self, l1: float = 0.0, l2: float = 0.0):
        self.l1, self.l2 = _factor(l1, "l1", "L1L2"), _factor(l2, "l2", "L1L2")

    def __call__(self, x):
        return self.l1 * x.abs().sum() + self.l2 * (x * x).sum()

    def get_config(self) -> dict:
        return {"l1": self.l1, "l2": self.l2}


l1, l2, l1_l2 = L1, L2, L1L2
_BY_NAME = {"l1": L1, "l2": L2, "l1_l2": L1L2, "l1l2": L1L2}  # lowercase names


def get(identifier):
    """None, a name ("l2": the defaults), a config dict (``serialize``'s), a Regularizer or
    any callable of a weight."""
    if identifier is None or isinstance(identifier, Regularizer):
        return identifier
    if isinstance(identifier, str):
        return by_name("regularizer", _BY_NAME, identifier)
    if isinstance(identifier, dict) and "class_name" in identifier:
        by_name("regularizer", _BY_NAME, identifier["class_name"])  # a known one, else raise
        cls = _BY_NAME[identifier["class_name"].lower()]
        return cls.from_config(identifier.get("config", {}))
    if callable(identifier):
        return identifier
    raise TypeError(f"regularizer must be a name, a config dict, a keras.regularizers object "
                    f"or a callable, got {type(identifier).__name__}")


def serialize(regularizer):
    """A Regularizer as ``{"class_name", "config"}`` (None stays None)."""
    if regularizer is None:
        return None
    if isinstance(regularizer, Regularizer):
        return {"class_name": type(regularizer).__name__, "config": regularizer.get_config()}
    raise ValueError(f"regularizers.serialize: a {type(regularizer).__name__} is not a "
                     "keras.regularizers object, so it cannot be saved")


__all__ = ["L1", "L1L2", "L2", "Regularizer", "get", "l1", "l1_l2", "l2", "serialize"]
