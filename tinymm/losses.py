"""Loss functions: PyTorch's (``cross_entropy``, ``binary_cross_entropy_with_logits``,
``mse_loss``) and Keras's (``sparse_categorical_crossentropy``, ``categorical_crossentropy``,
``binary_crossentropy``, ``mse``).

Dimension letters: N samples, C classes.

PyTorch-style functions take ``(input, target)`` and reduce with ``reduction`` ("mean" by
default). Keras-style functions take ``(y_true, y_pred)`` in Keras's order and return one loss
per sample (N,), as ``keras.losses.<name>`` does; the classes (``SparseCategoricalCrossentropy``
...) and ``Model.compile`` average them over the batch.

Probabilities or logits. Keras models usually end in ``Dense(C, activation="softmax")`` and
use a loss "from probabilities": -log p[y]. Taking the log of a softmax output loses
everything below float32's smallest normal number, so p[y] = 0 and the loss becomes inf.
Like TensorFlow, tinymm remembers the logits on the output of a softmax (or sigmoid)
activation (``y_pred._keras_logits``) and, when a loss with ``from_logits=False`` receives
such an output, computes the loss from the logits with the fused, stable
``F.cross_entropy`` (log-sum-exp) instead. Other probability inputs are clipped to
[eps, 1 - eps] with Keras's eps = 1e-7.

Binary cross-entropy from logits x and targets y in [0, 1], stable for any x::

    loss = max(x, 0) - x y + log(1 + exp(-|x|))          (= -y log s(x) - (1-y) log(1-s(x)))
    dloss/dx = sigmoid(x) - y

is written as one Function (``BinaryCrossEntropyWithLogits``) because composing it from
relu/abs gives the wrong gradient at exactly x = 0 (both kinks have derivative 0 there).
"""

from __future__ import annotations

import numpy as np

from tinymm.autograd import Function
from tinymm.ops._checks import check_float
from tinymm.ops.cross_entropy import cross_entropy
from tinymm.ops.softmax import log_softmax
from tinymm.tensor import Tensor, as_tensor

EPSILON = 1e-7  # Keras's backend.epsilon(): the clip for probabilities
REDUCTIONS = ("mean", "sum", "none")


def _tensor(x, like: Tensor | None = None) -> Tensor:
    if isinstance(x, Tensor):
        return x
    array = np.asarray(x)
    if like is not None and array.dtype.kind in "fb":
        array = array.astype(like.dtype)
    return as_tensor(array)


def _reduce(loss: Tensor, reduction: str, who: str) -> Tensor:
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    if reduction == "none":
        return loss
    raise ValueError(f"{who}: reduction must be one of {REDUCTIONS}, got {reduction!r}")


def _check_same_shape(who: str, input: Tensor, target: Tensor) -> None:  # noqa: A002
    if input.shape != target.shape:
        raise ValueError(f"{who}: input has shape {input.shape} but target has shape "
                         f"{target.shape}; they must match (reshape the target, e.g. "
                         "y.reshape(-1, 1) for a single output unit)")


# ---------------------------------------------------------------- PyTorch names
class BinaryCrossEntropyWithLogits(Function):
    @staticmethod
    def forward(ctx, x, y, pos_weight=None):
        check_float("binary_cross_entropy_with_logits", "input (logits)", x)
        y = y.astype(x.dtype, copy=False)
        log_weight = 1.0 if pos_weight is None else 1.0 + (pos_weight - 1.0) * y  # (like x)
        softplus_neg = np.log1p(np.exp(-np.abs(x))) + np.maximum(-x, 0)  # log(1 + e^-x)
        loss = (1.0 - y) * x + log_weight * softplus_neg  # (like x)
        ctx.save_for_backward(x, y, pos_weight, log_weight, softplus_neg)
        return loss.astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, dloss):
        x, y, pos_weight, log_weight, softplus_neg = ctx.saved
        s = np.exp(-softplus_neg)  # sigmoid(x), no overflow
        dx = dloss * ((1.0 - y) - log_weight * (1.0 - s))  # d/dx of the forward line
        dy = -x if pos_weight is None else -x + (pos_weight - 1.0) * softplus_neg  # d/dy
        return dx.astype(x.dtype, copy=False), (dloss * dy).astype(x.dtype, copy=False)


def binary_cross_entropy_with_logits(input, target, reduction: str = "mean",  # noqa: A002
                                     pos_weight=None):
    """PyTorch's ``F.binary_cross_entropy_with_logits``: input and target of one shape."""
    x = _tensor(input)
    y = _tensor(target, like=x)
    _check_same_shape("binary_cross_entropy_with_logits", x, y)
    pw = None if pos_weight is None else np.asarray(
        pos_weight.array if isinstance(pos_weight, Tensor) else pos_weight, dtype=x.dtype)
    loss = BinaryCrossEntropyWithLogits.apply(x, y, pos_weight=pw)
    return _reduce(loss, reduction, "binary_cross_entropy_with_logits")


def mse_loss(input, target, reduction: str = "mean"):  # noqa: A002
    """PyTorch's ``F.mse_loss``: (input - target)^2, reduced."""
    x = _tensor(input)
    y = _tensor(target, like=x)
    _check_same_shape("mse_loss", x, y)
    diff = x - y
    return _reduce(diff * diff, reduction, "mse_loss")




# ---------------------------------------------------------------- Keras names
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
    """Keras's loss for integer labels: y_true (N,) class indices, y_pred (N, C).

    Returns the per-sample losses (N,). ``from_logits=False`` means y_pred holds
    probabilities; if they come from a softmax activation tinymm uses its logits (stable).
    """
    pred = _tensor(y_pred)
    who = "sparse_categorical_crossentropy"
    if pred.ndim != 2:
        raise ValueError(f"{who}: y_pred must be (N, C) class scores, got shape {pred.shape}")
    y = _labels(y_true, who, pred.shape[0])
    ignore = -100 if ignore_class is None else ignore_class
    logits = pred if from_logits else getattr(pred, "_keras_logits", None)
    if logits is not None:
        try:
            return cross_entropy(logits, y, ignore_index=ignore, reduction="none")
        except ValueError as err:
            raise ValueError(f"{who}: {err}") from None
    if y.dtype.kind not in "iu" or (y.size and (y.min() < 0 or y.max() >= pred.shape[1])):
        worst = y.max() if y.size and y.max() >= pred.shape[1] else y.min()
        raise ValueError(f"{who}: y_true holds {worst}, outside the valid class range "
                         f"[0, {pred.shape[1] - 1}] for y_pred with {pred.shape[1]} classes")
    p = pred / pred.sum(axis=-1, keepdims=True)  # Keras renormalises the probabilities
    p = p.clamp(EPSILON, 1 - EPSILON)
    return -(p[np.arange(pred.shape[0]), y].log())  # (N,)


def categorical_crossentropy(y_true, y_pred, from_logits: bool = False,
                             label_smoothing: float = 0.0, axis: int = -1):
    """Keras's loss for one-hot (or soft) labels: y_true and y_pred (N, C); returns (N,)."""
    pred = _tensor(y_pred)
    target = _tensor(y_true, like=pred)
    _check_same_shape("categorical_crossentropy", pred, target)
    if label_smoothing:
        C = pred.shape[axis]
        target = target * (1.0 - label_smoothing) + label_smoothing / C
    logits = pred if from_logits else getattr(pred, "_keras_logits", None)
    if logits is not None:
        return -(target * log_softmax(logits, dim=axis)).sum(axis=axis)
    p = pred / pred.sum(axis=axis, keepdims=True)
    return -(target * p.clamp(EPSILON, 1 - EPSILON).log()).sum(axis=axis)


def binary_crossentropy(y_true, y_pred, from_logits: bool = False, axis: int = -1):
    """Keras's loss for 0/1 (or soft) targets: mean over the last axis; returns (N,)."""
    pred = _tensor(y_pred)
    target = _tensor(y_true, like=pred)
    if target.ndim == pred.ndim - 1 and pred.shape[-1] == 1:
        target = target.reshape(target.shape + (1,))
    _check_same_shape("binary_crossentropy", pred, target)
    logits = pred if from_logits else getattr(pred, "_keras_logits_sigmoid", None)
    if logits is not None:
        return binary_cross_entropy_with_logits(logits, target, reduction="none").mean(axis=axis)
    p = pred.clamp(EPSILON, 1 - EPSILON)
    loss = -(target * p.log() + (1.0 - target) * (1.0 - p).log())
    return loss.mean(axis=axis)


def mean_squared_error(y_true, y_pred):
    """Keras's ``mse``: mean over the last axis of (y_pred - y_true)^2; returns (N,)."""
    pred = _tensor(y_pred)
    target = _tensor(y_true, like=pred)
    if target.ndim == pred.ndim - 1 and pred.shape[-1] == 1:
        target = target.reshape(target.shape + (1,))
    _check_same_shape("mse", pred, target)
    diff = pred - target
    return (diff * diff).mean(axis=-1)


def mean_absolute_error(y_true, y_pred):
    pred = _tensor(y_pred)
    target = _tensor(y_true, like=pred)
    if target.ndim == pred.ndim - 1 and pred.shape[-1] == 1:
        target = target.reshape(target.shape + (1,))
    _check_same_shape("mae", pred, target)
    return (pred - target).abs().mean(axis=-1)


mse = MSE = mean_squared_error
mae = MAE = mean_absolute_error


class Loss:
    """A Keras loss object: ``loss(y_true, y_pred)`` is the batch mean of ``fn``."""

    fn = None

    def __init__(self, **options):
        self.options = options

    def __call__(self, y_true, y_pred):
        return type(self).fn(y_true, y_pred, **self.options).mean()

    def get_config(self) -> dict:
        return dict(self.options)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.options})"


class SparseCategoricalCrossentropy(Loss):
    fn = staticmethod(sparse_categorical_crossentropy)

    def __init__(self, from_logits: bool = False, ignore_class: int | None = None):
        super().__init__(from_logits=from_logits, ignore_class=ignore_class)


class CategoricalCrossentropy(Loss):
    fn = staticmethod(categorical_crossentropy)

    def __init__(self, from_logits: bool = False, label_smoothing: float = 0.0):
        super().__init__(from_logits=from_logits, label_smoothing=label_smoothing)


class BinaryCrossentropy(Loss):
    fn = staticmethod(binary_crossentropy)

    def __init__(self, from_logits: bool = False):
        super().__init__(from_logits=from_logits)


class MeanSquaredError(Loss):
    fn = staticmethod(mean_squared_error)


class MeanAbsoluteError(Loss):
    fn = staticmethod(mean_absolute_error)


_BY_NAME = {
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
    "categorical_crossentropy": CategoricalCrossentropy,
    "binary_crossentropy": BinaryCrossentropy,
    "mse": MeanSquaredError, "mean_squared_error": MeanSquaredError,
    "mae": MeanAbsoluteError, "mean_absolute_error": MeanAbsoluteError,
}


def get(identifier):
    """A Keras loss from a name ("sparse_categorical_crossentropy"), a Loss or a callable."""
    if isinstance(identifier, str):
        key = identifier.lower()
        if key not in _BY_NAME:
            raise ValueError(f"unknown loss {identifier!r}; known names: {sorted(_BY_NAME)} (or "
                             "pass a callable loss(y_true, y_pred))")
        return _BY_NAME[key]()
    if callable(identifier):
        return identifier
    raise TypeError(f"a loss must be a name or a callable, got {type(identifier).__name__}")


__all__ = [
    "BinaryCrossentropy", "CategoricalCrossentropy", "Loss", "MeanAbsoluteError",
    "MeanSquaredError", "SparseCategoricalCrossentropy", "binary_cross_entropy_with_logits",
    "binary_crossentropy", "categorical_crossentropy", "cross_entropy", "get", "mae",
    "mean_absolute_error", "mean_squared_error", "mse", "mse_loss",
    "sparse_categorical_crossentropy",
]
