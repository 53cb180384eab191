"""Keras metric objects: ``update_state(y_true, y_pred, sample_weight=None)``, ``result()``,
``reset_state()``; ``fit``/``evaluate`` keep one per compiled metric and output, reset at
the start of every epoch, and log ``result()``.

They run on NumPy arrays (metrics take no gradient): y_true as given to ``fit``, y_pred
the model's outputs (probabilities for a softmax output). Dimension letters: N samples,
C classes.

AUC follows Keras's ROC AUC with ``num_thresholds`` evenly spaced thresholds in [0, 1]
(plus -eps and 1+eps at the ends): per threshold t the counts TP(t), FP(t), TN(t), FN(t) of
``y_pred > t`` against ``y_true > 0.5`` accumulate over batches, TPR = TP / (TP + FN),
FPR = FP / (FP + TN), and the area is the trapezoid rule over the (FPR, TPR) points
(Keras's default ``summation_method="interpolation"`` for ROC is this trapezoid).
"""

from __future__ import annotations

import numpy as np

from tinymm.tensor import Tensor


def values_of(x) -> np.ndarray:
    return np.asarray(x.array if isinstance(x, Tensor) else x)


class Metric:
    """Base of Keras metrics: a weighted running value."""

    def __init__(self, name: str | None = None, dtype=None):
        self.name = name or type(self).__name__.lower()
        # tinymm's metrics set up their state in reset_state; a subclass written for Keras
        # makes its variables after super().__init__(), which (as Keras's) does not call it
        if type(self).__module__.startswith("tinymm.keras"):
            self.reset_state()
        else:
            Metric.reset_state(self)

    def add_variable(self, shape, initializer, dtype=None, aggregation: str = "sum",
                     name: str | None = None):
        """A state variable of this metric (Keras's ``Metric.add_variable``): a
        ``keras.Variable`` that ``update_state`` changes with ``assign_add``/``assign``."""
        from tinymm.keras.engine import Variable

        return Variable(initializer, shape=shape, dtype=dtype or "float32", trainable=False,
                        name=name)

    def add_weight(self, shape=(), initializer="zeros", dtype=None, aggregation: str = "sum",
                   name: str | None = None):
        return self.add_variable(shape, initializer, dtype, aggregation, name)

    def reset_state(self) -> None:
        self.total, self.count = 0.0, 0.0

    def update_state(self, y_true, y_pred=None, sample_weight=None) -> None:
        raise NotImplementedError

    def _add(self, values: np.ndarray, sample_weight) -> None:
        """The weighted mean's running sums: one weight per sample, or one per value (an
        output mask, (N, T)), which weighs each value as Keras's samplewise reduction does."""
        values = np.asarray(values, dtype=np.float64)
        if sample_weight is not None and values.ndim > 1 and \
                np.size(values_of(sample_weight)) == values.size:
            w = values_of(sample_weight).astype(np.float64).reshape(values.shape)
            self.total += float((values * w).sum())
            self.count += float(w.sum())
            return
        values = values.reshape(len(values), -1).mean(axis=1)
        w = np.ones_like(values) if sample_weight is None else \
            values_of(sample_weight).astype(np.float64).reshape(values.shape)
        self.total += float((values * w).sum())
        self.count += float(w.sum())

    def result(self) -> float:
        return self.total / self.count if self.count else 0.0

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name}>"


class Mean(Metric):
    """The weighted mean of the values given to ``update_state(values, sample_weight)``."""

    def update_state(self, values, y_pred=None, sample_weight=None) -> None:
        values = values_of(values).astype(np.float64).reshape(-1)
        w = np.ones_like(values) if sample_weight is None else \
            np.broadcast_to(values_of(sample_weight).astype(np.float64).reshape(-1), values.shape)
        self.total += float((values * w).sum())
        self.count += float(w.sum())


class MeanMetricWrapper(Metric):
    """The mean of a per-sample function ``fn(y_true, y_pred)`` (Keras's wrapper for metric
    functions)."""

    def __init__(self, fn, name: str | None = None, **options):
        self.fn, self.options = fn, options
        super().__init__(name or getattr(fn, "__name__", "metric"))

    def update_state(self, y_true, y_pred=None, sample_weight=None) -> None:
        self._add(values_of(self.fn(y_true, y_pred, **self.options)), sample_weight)


def sparse_categorical_accuracy(y_true, y_pred):
    y_true, y_pred = values_of(y_true), values_of(y_pred)
    return (y_pred.argmax(-1) == y_true.reshape(y_pred.shape[:-1])).astype(np.float64)


def categorical_accuracy(y_true, y_pred):
    return (values_of(y_pred).argmax(-1) == values_of(y_true).argmax(-1)).astype(np.float64)


def binary_accuracy(y_true, y_pred, threshold: float = 0.5):
    y_pred = values_of(y_pred)
    true = values_of(y_true).reshape(y_pred.shape) > 0.5
    return ((y_pred > threshold) == true).astype(np.float64)


def mean_squared_error(y_true, y_pred):
    y_pred = values_of(y_pred)
    squared = (y_pred - values_of(y_true).reshape(y_pred.shape)) ** 2
    return squared.reshape(len(y_pred), -1).mean(1)


def mean_absolute_error(y_true, y_pred):
    y_pred = values_of(y_pred)
    return np.abs(y_pred - values_of(y_true).reshape(y_pred.shape)).reshape(len(y_pred), -1).mean(1)


class SparseCategoricalAccuracy(MeanMetricWrapper):
    def __init__(self, name="sparse_categorical_accuracy", dtype=None):
        super().__init__(sparse_categorical_accuracy, name)


class CategoricalAccuracy(MeanMetricWrapper):
    def __init__(self, name="categorical_accuracy", dtype=None):
        super().__init__(categorical_accuracy, name)


class BinaryAccuracy(MeanMetricWrapper):
    def __init__(self, name="binary_accuracy", dtype=None, threshold: float = 0.5):
        super().__init__(binary_accuracy, name, threshold=threshold)


class MeanSquaredError(MeanMetricWrapper):
    def __init__(self, name="mean_squared_error", dtype=None):
        super().__init__(mean_squared_error, name)


class MeanAbsoluteError(MeanMetricWrapper):
    def __init__(self, name="mean_absolute_error", dtype=None):
        super().__init__(mean_absolute_error, name)


def accuracy(y_true, y_pred):
    """Keras's ``accuracy``: 1 where y_pred equals y_true, elementwise (labels against
    predicted labels; y_true is reshaped to y_pred's shape)."""
    y_pred = values_of(y_pred)
    return (values_of(y_true).reshape(y_pred.shape) == y_pred).astype(np.float64)


class Accuracy(MeanMetricWrapper):
    """Keras's ``keras.metrics.Accuracy()``: how often y_pred equals y_true (not the
    ``"accuracy"`` name of ``compile``, which picks from the loss: ``PickedAccuracy``)."""

    def __init__(self, name="accuracy", dtype=None):
        super().__init__(accuracy, name)


class PickedAccuracy(MeanMetricWrapper):
    """``metrics=["accuracy"]``: Keras picks the accuracy from the loss and the shapes
    (binary for one output unit or a binary cross-entropy, categorical for one-hot
    targets, sparse categorical for class indices)."""

    def __init__(self, name="accuracy", dtype=None, loss_name: str | None = None):
        self.loss_name = loss_name
        super().__init__(self._pick, name)

    def _pick(self, y_true, y_pred):
        y_true, y_pred = values_of(y_true), values_of(y_pred)
        if y_pred.ndim >= 2 and y_pred.shape[-1] == 1 or self.loss_name == "binary_crossentropy":
            return binary_accuracy(y_true, y_pred)
        if self.loss_name == "categorical_crossentropy" or y_true.shape == y_pred.shape:
            return categorical_accuracy(y_true, y_pred)
        return sparse_categorical_accuracy(y_true, y_pred)


class AUC(Metric):
    """ROC AUC from thresholded confusion counts (see the module docstring)."""

    def __init__(self, num_thresholds: int = 200, name: str = "auc", dtype=None, curve="ROC"):
        if curve != "ROC":
            raise ValueError(f"AUC: curve={curve!r} is not supported (only 'ROC')")
        if num_thresholds < 2:
            raise ValueError(f"AUC: num_thresholds must be >= 2, got {num_thresholds}")
        eps = 1e-7
        inner = [(i + 1) / (num_thresholds - 1) for i in range(num_thresholds - 2)]
        self.thresholds = np.array([-eps] + inner + [1 + eps])  # (K,)
        super().__init__(name)

    def reset_state(self) -> None:
        K = len(getattr(self, "thresholds", [0]))
        self.tp, self.fp, self.tn, self.fn = (np.zeros(K) for _ in range(4))

    def update_state(self, y_true, y_pred=None, sample_weight=None) -> None:
        pred = values_of(y_pred).astype(np.float64).reshape(-1)  # (M,)
        true = (values_of(y_true).reshape(-1) > 0.5)  # (M,)
        w = np.ones_like(pred) if sample_weight is None else np.broadcast_to(
            values_of(sample_weight).astype(np.float64).reshape(len(values_of(y_pred)), -1),
            values_of(y_pred).reshape(len(values_of(y_pred)), -1).shape).reshape(-1)
        above = pred[None, :] > self.thresholds[:, None]  # (K, M)
        self.tp += (above & true).astype(np.float64) @ w
        self.fp += (above & ~true).astype(np.float64) @ w
        self.fn += (~above & true).astype(np.float64) @ w
        self.tn += (~above & ~true).astype(np.float64) @ w

    def result(self) -> float:
        tpr = self.tp / np.maximum(self.tp + self.fn, 1e-12)  # (K,), falling with t
        fpr = self.fp / np.maximum(self.fp + self.tn, 1e-12)
        return float(np.sum((fpr[:-1] - fpr[1:]) * (tpr[:-1] + tpr[1:]) / 2))


_BY_NAME = {
    "accuracy": PickedAccuracy, "acc": PickedAccuracy,
    "sparse_categorical_accuracy": SparseCategoricalAccuracy,
    "categorical_accuracy": CategoricalAccuracy, "binary_accuracy": BinaryAccuracy,
    "mse": MeanSquaredError, "mean_squared_error": MeanSquaredError,
    "mae": MeanAbsoluteError, "mean_absolute_error": MeanAbsoluteError, "auc": AUC,
}


from tinymm.keras.more_metrics import *  # noqa: E402, F403
from tinymm.keras.more_metrics import EXPORTS, MORE_METRICS  # noqa: E402

_BY_NAME.update(MORE_METRICS)


def get(identifier, loss_name: str | None = None) -> Metric:
    """A fresh metric object from a name, a Metric (used as given) or a function."""
    if isinstance(identifier, str):
        key = identifier.lower()
        if key not in _BY_NAME:
            raise ValueError(f"compile: unknown metric {identifier!r}; known: {sorted(_BY_NAME)}")
        cls = _BY_NAME[key]
        if cls is PickedAccuracy:
            return PickedAccuracy(loss_name=loss_name)
        metric = cls()
        if key in ("mse", "mae"):
            metric.name = key
        return metric
    if isinstance(identifier, Metric):
        return identifier
    if callable(identifier):
        return MeanMetricWrapper(identifier)
    raise TypeError(f"compile: a metric must be a name, a keras.metrics.Metric or a function, "
                    f"got {type(identifier).__name__}")


__all__ = EXPORTS + ["AUC", "Accuracy", "BinaryAccuracy", "CategoricalAccuracy", "Mean",
           "MeanAbsoluteError", "MeanMetricWrapper", "MeanSquaredError", "Metric",
           "PickedAccuracy", "SparseCategoricalAccuracy", "accuracy", "binary_accuracy",
           "categorical_accuracy", "get",
           "mean_absolute_error", "mean_squared_error", "sparse_categorical_accuracy"]
