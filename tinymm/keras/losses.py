"""Keras's losses: functions ``(y_true, y_pred) -> per-sample losses (N,)`` and ``Loss``
objects that weight and reduce them, as ``keras.losses`` does.

Dimension letters: N samples, C classes.

``Loss.__call__(y_true, y_pred, sample_weight=None)`` computes ``call(y_true, y_pred)`` (one
value per sample, or per sample and step), multiplies by ``sample_weight`` and reduces with
``reduction``: "sum_over_batch_size" (Keras's default: the weighted sum divided by the number
of values, not by the sum of the weights), "sum", or "none". A subclass overrides ``call``.

Probabilities or logits. Keras models usually end in ``Dense(C, activation="softmax")`` and
use a loss "from probabilities": -log p[y]. Taking the log of a softmax output loses
everything below float32's smallest normal number, so p[y] = 0 and the loss becomes inf.
``Model.compile`` therefore looks at each output layer: when it ends in a softmax (sigmoid)
and its loss is a (sparse) categorical (binary) cross-entropy with ``from_logits=False``, the
model computes that output's loss from the layer's pre-activation with the loss's
``with_logits()`` copy (the fused, stable ``F.cross_entropy`` / log-sum-exp path), the
result TensorFlow reaches by remembering the logits on the softmax output. Other
probability inputs are clipped to [eps, 1 - eps] with Keras's eps = 1e-7.
"""

from __future__ import annotations

import copy

import numpy as np

from tinymm.keras.engine import by_name
from tinymm.ops.cross_entropy import cross_entropy
from tinymm.ops.loss import binary_cross_entropy_with_logits
from tinymm.ops.softmax import log_softmax
from tinymm.tensor import Tensor, as_tensor

EPSILON = 1e-7  # Keras's backend.epsilon(): the clip for probabilities
REDUCTIONS = ("sum_over_batch_size", "sum", "none", None)


def _tensor(x, like: Tensor | None = None) -> Tensor:
    """``x`` as a Tensor; host targets take ``like``'s float dtype and device."""
    if isinstance(x, Tensor):
        return x
    array = np.asarray(x)
    if like is not None and array.dtype.kind in "fb":
        array = array.astype(like.dtype)
    return _on_device_of(as_tensor(array), like)


def _on_device_of(t: Tensor, like: Tensor | None) -> Tensor:
    """``t`` moved to ``like``'s device (one counted copy when that is a GPU)."""
    return t if like is None or like.device == t.device else t.to(like.device)


def _check_same_shape(who: str, y_pred: Tensor, y_true: Tensor) -> None:
    if y_pred.shape != y_true.shape:
        raise ValueError(f"{who}: y_pred has shape {y_pred.shape} but y_true has shape "
                         f"{y_true.shape}; they must match (reshape the targets, e.g. "
                         "y.reshape(-1, 1) for a single output unit)")


def _position_labels(y_true, pred_shape: tuple, who: str) -> np.ndarray:
    """Labels (N, ...) for y_pred (N, ..., C); Keras also takes them as (N, ..., 1)."""
    y = np.asarray(y_true.array if isinstance(y_true, Tensor) else y_true)
    if y.ndim == len(pred_shape) and y.shape[-1] == 1:
        y = y[..., 0]
    if y.shape != tuple(pred_shape[:-1]):
        raise ValueError(f"{who}: y_true must hold one class index per position of y_pred "
                         f"{tuple(pred_shape)}, shape {tuple(pred_shape[:-1])}, got shape "
                         f"{y.shape}")
    return y


def _labels(y_true, who: str, n: int) -> np.ndarray:
    y = np.asarray(y_true.array if isinstance(y_true, Tensor) else y_true)
    if y.ndim == 2 and y.shape[1] == 1:  # Keras accepts (N, 1) sparse labels
        y = y[:, 0]
    if y.ndim != 1 or y.shape[0] != n:
        raise ValueError(f"{who}: y_true must hold one class index per sample, shape ({n},), "
                         f"got shape {y.shape}")
    if y.dtype.kind == "f":
        if not np.all(np.mod(y, 1) == 0):
            raise ValueError(f"{who}: y_true holds non-integer values; sparse labels are class "
                             "indices (use categorical_crossentropy for one-hot or soft labels)")
        y = y.astype(np.int64)
    return y


def sparse_categorical_crossentropy(y_true, y_pred, from_logits: bool = False,
                                    ignore_class: int | None = None):
    """Keras's loss for integer labels: y_true (N,) class indices, y_pred (N, C); or one label
    per position, y_true (N, ...) or (N, ..., 1) for y_pred (N, ..., C) (a per-pixel
    segmentation).

    Returns the per-sample losses (N,), or (N, ...) per position. ``from_logits=False`` means
    y_pred holds probabilities (clipped to [eps, 1 - eps]); ``from_logits=True``: scores
    before softmax.
    """
    pred = _tensor(y_pred)
    who = "sparse_categorical_crossentropy"
    if pred.ndim > 2:  # one label per position: the (N * positions, C) rows
        y = _position_labels(y_true, pred.shape, who)
        flat = sparse_categorical_crossentropy(y.reshape(-1), pred.reshape(-1, pred.shape[-1]),
                                               from_logits, ignore_class)
        return flat.reshape(*pred.shape[:-1])
    if pred.ndim != 2:
        raise ValueError(f"{who}: y_pred must be (N, C) class scores, got shape {pred.shape}")
    y = _labels(y_true, who, pred.shape[0])
    ignore = -100 if ignore_class is None else ignore_class
    if from_logits:
        try:
            target = y if pred.device == "cpu" else _on_device_of(as_tensor(y), pred)
            return cross_entropy(pred, target, ignore_index=ignore, reduction="none")
        except ValueError as err:
            raise ValueError(f"{who}: {err}") from None
    kept = y != ignore  # (N,) the ignored class's samples lose 0, as with logits
    y = np.where(kept, y, 0)
    if y.dtype.kind not in "iu" or (y.size and (y.min() < 0 or y.max() >= pred.shape[1])):
        worst = y.max() if y.size and y.max() >= pred.shape[1] else y.min()
        raise ValueError(f"{who}: y_true holds {worst}, outside the valid class range "
                         f"[0, {pred.shape[1] - 1}] for y_pred with {pred.shape[1]} classes")
    p = pred / pred.sum(axis=-1, keepdims=True)  # Keras renormalises the probabilities
    p = p.clamp(EPSILON, 1 - EPSILON)
    losses = -(p[np.arange(pred.shape[0]), y].log())  # (N,)
    return losses if kept.all() else losses * _on_device_of(as_tensor(kept.astype(
        losses.dtype)), losses)


def categorical_crossentropy(y_true, y_pred, from_logits: bool = False,
                             label_smoothing: float = 0.0, axis: int = -1):
    """Keras's loss for one-hot (or soft) labels: y_true and y_pred (N, C); returns (N,)."""
    pred = _tensor(y_pred)
    target = _tensor(y_true, like=pred)
    _check_same_shape("categorical_crossentropy", pred, target)
    if label_smoothing:
        C = pred.shape[axis]
        target = target * (1.0 - label_smoothing) + label_smoothing / C
    if from_logits:
        return -(target * log_softmax(pred, dim=axis)).sum(axis=axis)
    p = pred / pred.sum(axis=axis, keepdims=True)
    return -(target * p.clamp(EPSILON, 1 - EPSILON).log()).sum(axis=axis)


def binary_crossentropy(y_true, y_pred, from_logits: bool = False, label_smoothing: float = 0.0,
                        axis: int = -1):
    """Keras's loss for 0/1 (or soft) targets: mean over the last axis; returns (N,).
    ``label_smoothing`` e moves the targets toward 1/2: y (1 - e) + e / 2, as Keras."""
    pred = _tensor(y_pred)
    target = _tensor(y_true, like=pred)
    if target.ndim == pred.ndim - 1 and pred.shape[-1] == 1:
        target = target.reshape(target.shape + (1,))
    _check_same_shape("binary_crossentropy", pred, target)
    if label_smoothing:
        target = target * (1.0 - label_smoothing) + 0.5 * label_smoothing
    if from_logits:
        return binary_cross_entropy_with_logits(pred, target, reduction="none").mean(axis=axis)
    p = pred.clamp(EPSILON, 1 - EPSILON)
    loss = -(target * p.log() + (1.0 - target) * (1.0 - p).log())
    return loss.mean(axis=axis)


def regression_pair(name: str, y_true, y_pred):
    """(pred, target) as tensors of one shape: a (N,) target against a (N, 1) prediction gets
    its trailing axis, as Keras; other shapes must match."""
    pred = _tensor(y_pred)
    target = _tensor(y_true, like=pred)
    if target.ndim == pred.ndim - 1 and pred.shape[-1] == 1:
        target = target.reshape(target.shape + (1,))
    _check_same_shape(name, pred, target)
    return pred, target


def mean_squared_error(y_true, y_pred):
    """Keras's ``mse``: mean over the last axis of (y_pred - y_true)^2; returns (N,)."""
    pred, target = regression_pair("mse", y_true, y_pred)
    diff = pred - target
    return (diff * diff).mean(axis=-1)


def mean_absolute_error(y_true, y_pred):
    pred, target = regression_pair("mae", y_true, y_pred)
    return (pred - target).abs().mean(axis=-1)


mse = MSE = mean_squared_error
mae = MAE = mean_absolute_error


class Loss:
    """A Keras loss: ``loss(y_true, y_pred, sample_weight=None)`` -> the reduced loss.
    Subclasses implement ``call(y_true, y_pred)`` returning per-sample values (N, ...)."""

    def __init__(self, name: str | None = None, reduction="sum_over_batch_size", dtype=None):
        if reduction not in REDUCTIONS:
            raise ValueError(f"{type(self).__name__}: reduction={reduction!r} is not supported; "
                             f"use one of {REDUCTIONS}")
        self.name = name or _snake(type(self).__name__)
        self.reduction = reduction

    def call(self, y_true, y_pred):
        raise NotImplementedError(f"{type(self).__name__} defines no call(y_true, y_pred)")

    def __call__(self, y_true, y_pred, sample_weight=None):
        values = self.call(y_true, y_pred)
        values = values if isinstance(values, Tensor) else as_tensor(np.asarray(values))
        if sample_weight is not None:
            w = np.asarray(sample_weight.array if isinstance(sample_weight, Tensor)
                           else sample_weight, dtype=values.dtype)
            if w.ndim > values.ndim or w.shape != values.shape[:w.ndim]:
                raise ValueError(f"{self.name}: sample_weight of shape {w.shape} does not fit "
                                 f"the per-sample losses of shape {values.shape}")
            values = values * _on_device_of(
                as_tensor(w.reshape(w.shape + (1,) * (values.ndim - w.ndim))), values)
        if self.reduction in ("none", None):
            return values
        total = values.sum()
        if self.reduction == "sum":
            return total
        return total / max(self._valid_count(y_true, values), 1)

    def _valid_count(self, y_true, values) -> int:
        """What "sum_over_batch_size" divides by: every value (Keras divides by the
        unmasked ones where a loss masks some, see SparseCategoricalCrossentropy)."""
        return values.numel()

    def get_config(self) -> dict:
        return {"name": self.name, "reduction": self.reduction}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.get_config()})"


def _snake(name: str) -> str:
    out = "".join("_" + c.lower() if c.isupper() else c for c in name).lstrip("_")
    return out


class LossFunctionWrapper(Loss):
    """A loss from a function ``fn(y_true, y_pred, **options) -> per-sample values``."""

    def __init__(self, fn, name: str | None = None, reduction="sum_over_batch_size",
                 **options):
        super().__init__(name=name or getattr(fn, "__name__", "loss"), reduction=reduction)
        self.fn, self.options = fn, options

    def call(self, y_true, y_pred):
        return self.fn(y_true, y_pred, **self.options)

    @property
    def from_logits(self) -> bool:
        return bool(self.options.get("from_logits", False))

    def with_logits(self) -> LossFunctionWrapper:
        """This loss with ``from_logits=True`` (Model.compile uses it on softmax/sigmoid
        outputs, see the module docstring)."""
        twin = copy.copy(self)
        twin.options = {**self.options, "from_logits": True}
        return twin

    def get_config(self) -> dict:
        return {**super().get_config(), **self.options}


class SparseCategoricalCrossentropy(LossFunctionWrapper):
    logits_activation = "softmax"

    def __init__(self, from_logits: bool = False, ignore_class: int | None = None,
                 reduction="sum_over_batch_size", name="sparse_categorical_crossentropy"):
        super().__init__(sparse_categorical_crossentropy, name=name, reduction=reduction,
                         from_logits=from_logits, ignore_class=ignore_class)

    def _valid_count(self, y_true, values) -> int:
        """Keras masks the ``ignore_class`` samples: the mean is over the others (a batch
        of ignored samples only loses 0)."""
        ignore = self.options["ignore_class"]
        if ignore is None:
            return values.numel()
        labels = _labels(y_true, self.name, values.shape[0]) if values.ndim == 1 else \
            _position_labels(y_true, tuple(values.shape) + (0,), self.name)
        return int(np.count_nonzero(labels != ignore))


class CategoricalCrossentropy(LossFunctionWrapper):
    logits_activation = "softmax"

    def __init__(self, from_logits: bool = False, label_smoothing: float = 0.0,
                 reduction="sum_over_batch_size", name="categorical_crossentropy"):
        super().__init__(categorical_crossentropy, name=name, reduction=reduction,
                         from_logits=from_logits, label_smoothing=label_smoothing)


class BinaryCrossentropy(LossFunctionWrapper):
    logits_activation = "sigmoid"

    def __init__(self, from_logits: bool = False, label_smoothing: float = 0.0,
                 reduction="sum_over_batch_size", name="binary_crossentropy"):
        super().__init__(binary_crossentropy, name=name, reduction=reduction,
                         from_logits=from_logits, label_smoothing=label_smoothing)


class MeanSquaredError(LossFunctionWrapper):
    def __init__(self, reduction="sum_over_batch_size", name="mean_squared_error"):
        super().__init__(mean_squared_error, name=name, reduction=reduction)


class MeanAbsoluteError(LossFunctionWrapper):
    def __init__(self, reduction="sum_over_batch_size", name="mean_absolute_error"):
        super().__init__(mean_absolute_error, name=name, reduction=reduction)


_BY_NAME = {
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
    "categorical_crossentropy": CategoricalCrossentropy,
    "binary_crossentropy": BinaryCrossentropy,
    "mse": MeanSquaredError, "mean_squared_error": MeanSquaredError,
    "mae": MeanAbsoluteError, "mean_absolute_error": MeanAbsoluteError,
}


def get(identifier) -> Loss:
    """A Keras loss object from a name ("sparse_categorical_crossentropy"), a Loss, or a
    function ``fn(y_true, y_pred)`` (wrapped, reduced as Keras does). A Loss subclass that
    does not override ``call`` is refused here, so ``compile`` fails, not ``fit``."""
    if isinstance(identifier, str):
        return by_name("loss", _BY_NAME, identifier,
                       " (or pass a callable loss(y_true, y_pred))")
    if isinstance(identifier, Loss):
        if type(identifier).call is Loss.call:
            raise TypeError(f"loss {type(identifier).__name__} subclasses keras.losses.Loss "
                            "but defines no call(self, y_true, y_pred)")
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Loss):
        return get(identifier())
    if callable(identifier):
        return LossFunctionWrapper(identifier)
    raise TypeError(f"a loss must be a name, a keras.losses.Loss or a callable, got "
                    f"{type(identifier).__name__}")


from tinymm.keras.more_losses import *  # noqa: E402, F403
from tinymm.keras.more_losses import EXPORTS, MORE_LOSSES  # noqa: E402

_BY_NAME.update(MORE_LOSSES)

__all__ = EXPORTS + [
    "BinaryCrossentropy", "CategoricalCrossentropy", "Loss", "LossFunctionWrapper", "MAE", "MSE",
    "MeanAbsoluteError", "MeanSquaredError", "SparseCategoricalCrossentropy",
    "binary_crossentropy", "categorical_crossentropy", "get", "mae", "mean_absolute_error",
    "mean_squared_error", "mse", "sparse_categorical_crossentropy",
]
