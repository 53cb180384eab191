"""More of ``keras.losses`` (re-exported there): Huber, KLDivergence, CosineSimilarity,
Hinge, SquaredHinge, CategoricalHinge, LogCosh, Poisson, MeanAbsolutePercentageError,
MeanSquaredLogarithmicError and BinaryFocalCrossentropy, each a per-sample function
``(y_true, y_pred) -> (N,)`` (or (N, ...) without the last axis) on Tensors, so gradients
flow, and its ``Loss`` class. e = y_pred - y_true, means and sums over the last axis,
eps = 1e-7 (Keras's epsilon):

- huber: 0.5 e^2 where |e| <= delta, else delta (|e| - 0.5 delta), as
  0.5 q^2 + delta (|e| - q) with q = min(|e|, delta); log_cosh: e + softplus(-2e) - log 2.
- kl_divergence: sum t log(t / p), t and p clipped to [eps, 1].
- cosine_similarity: -sum(t/||t|| * p/||p||), norms floored at eps.
- hinge: mean max(1 - t p, 0); squared_hinge: its square; 0/1 labels become -1/1 first.
  categorical_hinge: max(max((1 - t) p) - sum t p + 1, 0).
- poisson: mean p - t log(p + eps). MAPE: 100 mean |t - p| / max(|t|, eps).
  MSLE: mean (log(max(p, eps) + 1) - log(max(t, eps) + 1))^2.
- binary_focal_crossentropy: (1 - p_t)^gamma bce, p_t = t p + (1 - t)(1 - p), bce on p
  clipped to [eps, 1 - eps]; with ``apply_class_balancing`` times t alpha + (1 - t)(1 - alpha);
  ``label_smoothing`` moves t to t (1 - s) + s / 2; ``from_logits`` takes sigmoid(p) first.
"""

from __future__ import annotations

import math

import numpy as np

from tinymm.keras.losses import EPSILON, LossFunctionWrapper, regression_pair
from tinymm.ops.activation import relu, sigmoid, softplus


def huber(y_true, y_pred, delta: float = 1.0):
    pred, target = regression_pair("huber", y_true, y_pred)
    err = (pred - target).abs()
    q = err.clamp(max=delta)
    return (0.5 * q * q + delta * (err - q)).mean(axis=-1)


def log_cosh(y_true, y_pred):
    pred, target = regression_pair("log_cosh", y_true, y_pred)
    e = pred - target
    return (e + softplus(-2.0 * e) - math.log(2.0)).mean(axis=-1)


def kl_divergence(y_true, y_pred):
    pred, target = regression_pair("kl_divergence", y_true, y_pred)
    t, p = target.clamp(EPSILON, 1.0), pred.clamp(EPSILON, 1.0)
    return (t * (t / p).log()).sum(axis=-1)


def _unit(x, axis: int):
    return x / (x * x).sum(axis=axis, keepdims=True).sqrt().clamp(min=EPSILON)


def cosine_similarity(y_true, y_pred, axis: int = -1):
    pred, target = regression_pair("cosine_similarity", y_true, y_pred)
    return -(_unit(target, axis) * _unit(pred, axis)).sum(axis=axis)


def _hinge_labels(target):
    """0/1 labels as -1/1 (Keras's rule: only when every label is 0 or 1)."""
    values = np.asarray(target.detach().cpu().array)
    return 2.0 * target - 1.0 if np.all((values == 0) | (values == 1)) else target


def hinge(y_true, y_pred):
    pred, target = regression_pair("hinge", y_true, y_pred)
    return relu(1.0 - _hinge_labels(target) * pred).mean(axis=-1)


def squared_hinge(y_true, y_pred):
    pred, target = regression_pair("squared_hinge", y_true, y_pred)
    margin = relu(1.0 - _hinge_labels(target) * pred)
    return (margin * margin).mean(axis=-1)


def categorical_hinge(y_true, y_pred):
    pred, target = regression_pair("categorical_hinge", y_true, y_pred)
    positive = (target * pred).sum(axis=-1)
    negative = ((1.0 - target) * pred).amax(dim=-1)
    return relu(negative - positive + 1.0)


def poisson(y_true, y_pred):
    pred, target = regression_pair("poisson", y_true, y_pred)
    return (pred - target * (pred + EPSILON).log()).mean(axis=-1)


def mean_absolute_percentage_error(y_true, y_pred):
    pred, target = regression_pair("mean_absolute_percentage_error", y_true, y_pred)
    return 100.0 * ((target - pred).abs() / target.abs().clamp(min=EPSILON)).mean(axis=-1)


def mean_squared_logarithmic_error(y_true, y_pred):
    pred, target = regression_pair("mean_squared_logarithmic_error", y_true, y_pred)
    diff = (pred.clamp(min=EPSILON) + 1.0).log() - (target.clamp(min=EPSILON) + 1.0).log()
    return (diff * diff).mean(axis=-1)


def binary_focal_crossentropy(y_true, y_pred, apply_class_balancing: bool = False,
                              alpha: float = 0.25, gamma: float = 2.0,
                              from_logits: bool = False, label_smoothing: float = 0.0,
                              axis: int = -1):
    pred, target = regression_pair("binary_focal_crossentropy", y_true, y_pred)
    if label_smoothing:
        target = target * (1.0 - label_smoothing) + 0.5 * label_smoothing
    p = sigmoid(pred) if from_logits else pred
    clipped = p.clamp(EPSILON, 1.0 - EPSILON)
    bce = -(target * clipped.log() + (1.0 - target) * (1.0 - clipped).log())
    p_t = target * p + (1.0 - target) * (1.0 - p)
    focal = (1.0 - p_t) ** gamma * bce
    if apply_class_balancing:
        focal = (target * alpha + (1.0 - target) * (1.0 - alpha)) * focal
    return focal.mean(axis=axis)


def _loss_class(fn, class_name: str, doc: str, default_name: str | None = None, **defaults):
    """A ``LossFunctionWrapper`` subclass named ``class_name`` over ``fn``, whose arguments
    (positional in ``defaults``' order, or by keyword) are ``fn``'s options, as Keras's loss
    classes take them."""
    order = list(defaults)

    def __init__(self, *args, reduction="sum_over_batch_size",
                 name=default_name or fn.__name__, **options):
        if len(args) > len(order):
            raise TypeError(f"{class_name}: takes at most {len(order)} positional arguments "
                            f"{order}, got {len(args)}")
        unknown = sorted(set(options) - set(defaults))
        if unknown:
            raise TypeError(f"{class_name}: unexpected keyword argument(s) {unknown}")
        LossFunctionWrapper.__init__(self, fn, name=name, reduction=reduction,
                                     **{**defaults, **dict(zip(order, args)), **options})

    return type(class_name, (LossFunctionWrapper,), {"__init__": __init__, "__doc__": doc,
                                                     "__module__": __name__})


Huber = _loss_class(huber, "Huber", "Keras's Huber loss (``delta=1.0``).", "huber_loss",
                    delta=1.0)
LogCosh = _loss_class(log_cosh, "LogCosh", "log(cosh(y_pred - y_true)), averaged.")
KLDivergence = _loss_class(kl_divergence, "KLDivergence", "sum y_true log(y_true / y_pred).")
CosineSimilarity = _loss_class(cosine_similarity, "CosineSimilarity",
                               "Minus the cosine similarity (``axis=-1``).", axis=-1)
Hinge = _loss_class(hinge, "Hinge", "mean max(1 - y_true y_pred, 0).")
SquaredHinge = _loss_class(squared_hinge, "SquaredHinge", "mean max(1 - y_true y_pred, 0)^2.")
CategoricalHinge = _loss_class(categorical_hinge, "CategoricalHinge",
                               "max(max((1 - t) p) - sum t p + 1, 0).")
Poisson = _loss_class(poisson, "Poisson", "mean y_pred - y_true log(y_pred + eps).")
MeanAbsolutePercentageError = _loss_class(
    mean_absolute_percentage_error, "MeanAbsolutePercentageError",
    "100 mean |y_true - y_pred| / |y_true|.")
MeanSquaredLogarithmicError = _loss_class(
    mean_squared_logarithmic_error, "MeanSquaredLogarithmicError",
    "mean (log(y_pred + 1) - log(y_true + 1))^2.")
BinaryFocalCrossentropy = _loss_class(
    binary_focal_crossentropy, "BinaryFocalCrossentropy",
    "Keras's binary focal cross-entropy (see the module docstring).",
    apply_class_balancing=False, alpha=0.25, gamma=2.0, from_logits=False,
    label_smoothing=0.0, axis=-1)

MORE_LOSSES = {
    "huber": Huber, "log_cosh": LogCosh, "logcosh": LogCosh, "kl_divergence": KLDivergence,
    "kld": KLDivergence, "cosine_similarity": CosineSimilarity, "hinge": Hinge,
    "squared_hinge": SquaredHinge, "categorical_hinge": CategoricalHinge, "poisson": Poisson,
    "mean_absolute_percentage_error": MeanAbsolutePercentageError,
    "mape": MeanAbsolutePercentageError,
    "mean_squared_logarithmic_error": MeanSquaredLogarithmicError,
    "msle": MeanSquaredLogarithmicError, "binary_focal_crossentropy": BinaryFocalCrossentropy,
}
kld = kl_divergence
mape = mean_absolute_percentage_error
msle = mean_squared_logarithmic_error

EXPORTS = ["BinaryFocalCrossentropy", "CategoricalHinge", "CosineSimilarity", "Hinge", "Huber",
           "KLDivergence", "LogCosh", "MeanAbsolutePercentageError",
           "MeanSquaredLogarithmicError", "Poisson", "SquaredHinge", "binary_focal_crossentropy",
           "categorical_hinge", "cosine_similarity", "hinge", "huber", "kl_divergence", "kld",
           "log_cosh", "mape", "mean_absolute_percentage_error",
           "mean_squared_logarithmic_error", "msle", "poisson", "squared_hinge"]
__all__ = EXPORTS
