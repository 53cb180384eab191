"""More of ``keras.metrics`` (re-exported there), on NumPy arrays as the others:

- confusion counts: TruePositives, FalsePositives, TrueNegatives, FalseNegatives (weighted
  counts of ``y_pred > threshold`` against ``y_true`` != 0, per threshold), Precision =
  TP / (TP + FP) and Recall = TP / (TP + FN) (0 when the denominator is 0);
- F1Score / FBetaScore: per class c, precision p_c and recall r_c from the counts of
  ``y_pred > threshold`` (or the argmax when ``threshold`` is None), then
  (1 + b^2) p r / (b^2 p + r + eps); ``average`` None (per class), "micro" (counts summed
  over classes first), "macro" (mean) or "weighted" (by each class's true count);
- TopKCategoricalAccuracy / SparseTopKCategoricalAccuracy: 1 when the true class's score is
  at least the k-th largest score (ties count as in);
- RootMeanSquaredError: sqrt of the weighted mean of the per-sample mean squared errors;
- R2Score: per output, 1 - sum (y - y_hat)^2 / sum (y - mean y)^2 over everything seen, then
  averaged ("uniform_average") or weighted by variance ("variance_weighted_average"), with
  ``num_regressors`` for the adjusted score;
- Sum; the cross-entropy metrics (the losses' per-sample values, averaged).
"""

from __future__ import annotations

import numpy as np

from tinymm.keras import losses as _losses
from tinymm.keras.metrics import MeanMetricWrapper, Metric, values_of

EPSILON = 1e-7


def _per_element_weights(sample_weight, shape) -> np.ndarray:
    if sample_weight is None:
        return np.ones(shape)
    w = values_of(sample_weight).astype(np.float64)
    return np.broadcast_to(w.reshape(w.shape + (1,) * (len(shape) - w.ndim)), shape)


class _Confusion(Metric):
    """Weighted confusion counts at ``thresholds`` (a float or a list)."""

    kind = "tp"

    def __init__(self, thresholds=None, name=None, dtype=None, top_k=None, class_id=None):
        if top_k is not None or class_id is not None:
            raise ValueError(f"{type(self).__name__}: top_k and class_id are not supported by "
                             "tinymm.keras")
        self.scalar = thresholds is None or np.ndim(thresholds) == 0
        self.thresholds = np.atleast_1d(0.5 if thresholds is None else thresholds).astype(
            np.float64)
        super().__init__(name)

    def reset_state(self) -> None:
        K = len(getattr(self, "thresholds", [0]))
        self.counts = {k: np.zeros(K) for k in ("tp", "fp", "tn", "fn")}

    def update_state(self, y_true, y_pred=None, sample_weight=None) -> None:
        pred = values_of(y_pred).astype(np.float64)
        true = values_of(y_true).reshape(pred.shape) != 0
        w = _per_element_weights(sample_weight, pred.shape).reshape(-1)
        above = pred.reshape(1, -1) > self.thresholds[:, None]  # (K, M)
        true = true.reshape(1, -1)
        self.counts["tp"] += (above & true) @ w
        self.counts["fp"] += (above & ~true) @ w
        self.counts["tn"] += (~above & ~true) @ w
        self.counts["fn"] += (~above & true) @ w

    def _values(self) -> np.ndarray:
        return self.counts[self.kind]

    def result(self):
        values = self._values()
        return float(values[0]) if self.scalar else values


class TruePositives(_Confusion):
    kind = "tp"


class FalsePositives(_Confusion):
    kind = "fp"


class TrueNegatives(_Confusion):
    kind = "tn"


class FalseNegatives(_Confusion):
    kind = "fn"


def _ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.divide(a, b, out=np.zeros_like(a), where=b != 0)


class Precision(_Confusion):
    def _values(self) -> np.ndarray:
        c = self.counts
        return _ratio(c["tp"], c["tp"] + c["fp"])


class Recall(_Confusion):
    def _values(self) -> np.ndarray:
        c = self.counts
        return _ratio(c["tp"], c["tp"] + c["fn"])


class FBetaScore(Metric):
    def __init__(self, average=None, beta: float = 1.0, threshold=None, name="fbeta_score",
                 dtype=None):
        if average not in (None, "micro", "macro", "weighted"):
            raise ValueError(f"{type(self).__name__}: average must be None, 'micro', 'macro' or "
                             f"'weighted', got {average!r}")
        self.average, self.beta, self.threshold = average, float(beta), threshold
        super().__init__(name)

    def reset_state(self) -> None:
        self.tp = self.fp = self.fn = self.support = 0.0

    def update_state(self, y_true, y_pred=None, sample_weight=None) -> None:
        pred = values_of(y_pred).astype(np.float64)
        true = values_of(y_true).astype(np.float64).reshape(pred.shape)
        if self.threshold is None:
            hot = (pred == pred.max(axis=-1, keepdims=True)).astype(np.float64)
        else:
            hot = (pred > self.threshold).astype(np.float64)
        w = _per_element_weights(sample_weight, pred.shape)
        axis = None if self.average == "micro" else 0
        self.tp = self.tp + (hot * true * w).sum(axis=axis)
        self.fp = self.fp + (hot * (1 - true) * w).sum(axis=axis)
        self.fn = self.fn + ((1 - hot) * true * w).sum(axis=axis)
        self.support = self.support + (true * w).sum(axis=axis)

    def result(self):
        precision = self.tp / (self.tp + self.fp + EPSILON)
        recall = self.tp / (self.tp + self.fn + EPSILON)
        b2 = self.beta ** 2
        score = (1 + b2) * precision * recall / (b2 * precision + recall + EPSILON)
        if self.average == "weighted":
            return float(np.sum(score * self.support / (np.sum(self.support) + EPSILON)))
        if self.average is not None:
            return float(np.mean(score))
        return np.asarray(score)


class F1Score(FBetaScore):
    def __init__(self, average=None, threshold=None, name="f1_score", dtype=None):
        super().__init__(average=average, beta=1.0, threshold=threshold, name=name)


def top_k_categorical_accuracy(y_true, y_pred, k: int = 5):
    return sparse_top_k_categorical_accuracy(values_of(y_true).argmax(-1), y_pred, k)


def sparse_top_k_categorical_accuracy(y_true, y_pred, k: int = 5):
    pred = values_of(y_pred).astype(np.float64)
    true = values_of(y_true).reshape(pred.shape[:-1]).astype(np.int64)
    k = min(k, pred.shape[-1])
    kth = np.sort(pred, axis=-1)[..., -k]  # the k-th largest score
    score = np.take_along_axis(pred, true[..., None], axis=-1)[..., 0]
    return (score >= kth).astype(np.float64)


class TopKCategoricalAccuracy(MeanMetricWrapper):
    def __init__(self, k: int = 5, name="top_k_categorical_accuracy", dtype=None):
        super().__init__(top_k_categorical_accuracy, name, k=k)


class SparseTopKCategoricalAccuracy(MeanMetricWrapper):
    def __init__(self, k: int = 5, name="sparse_top_k_categorical_accuracy", dtype=None):
        super().__init__(sparse_top_k_categorical_accuracy, name, k=k)


def _squared_error(y_true, y_pred):
    pred = values_of(y_pred).astype(np.float64)
    return (pred - values_of(y_true).reshape(pred.shape)) ** 2


class RootMeanSquaredError(MeanMetricWrapper):
    def __init__(self, name="root_mean_squared_error", dtype=None):
        super().__init__(_squared_error, name)

    def result(self) -> float:
        return float(np.sqrt(super().result()))


class Sum(Metric):
    """The weighted sum of the values given to ``update_state(values, sample_weight)``."""

    def update_state(self, values, y_pred=None, sample_weight=None) -> None:
        values = values_of(values).astype(np.float64)
        self.total += float((values * _per_element_weights(sample_weight, values.shape)).sum())

    def result(self) -> float:
        return self.total


class R2Score(Metric):
    def __init__(self, class_aggregation="uniform_average", num_regressors: int = 0,
                 name="r2_score", dtype=None):
        if class_aggregation not in (None, "uniform_average", "variance_weighted_average"):
            raise ValueError(f"R2Score: class_aggregation must be None, 'uniform_average' or "
                             f"'variance_weighted_average', got {class_aggregation!r}")
        self.class_aggregation, self.num_regressors = class_aggregation, int(num_regressors)
        super().__init__(name)

    def reset_state(self) -> None:
        self.sums = self.squares = self.residual = self.weight = 0.0
        self.samples = 0

    def update_state(self, y_true, y_pred=None, sample_weight=None) -> None:
        pred = values_of(y_pred).astype(np.float64)
        pred = pred.reshape(len(pred), -1)
        true = values_of(y_true).astype(np.float64).reshape(pred.shape)
        w = _per_element_weights(sample_weight, pred.shape)
        self.sums = self.sums + (true * w).sum(axis=0)
        self.squares = self.squares + (true * true * w).sum(axis=0)
        self.residual = self.residual + ((true - pred) ** 2 * w).sum(axis=0)
        self.weight = self.weight + w.sum(axis=0)
        self.samples += len(pred)

    def result(self):
        mean = self.sums / self.weight
        total = self.squares - self.sums * mean
        scores = 1.0 - self.residual / total
        if self.class_aggregation == "uniform_average":
            score = float(np.mean(scores))
        elif self.class_aggregation == "variance_weighted_average":
            score = float(np.sum(scores * total / np.sum(total)))
        else:
            return scores
        n, p = self.samples, self.num_regressors
        if p and n - p - 1 > 0:
            score = 1.0 - (1.0 - score) * (n - 1) / (n - p - 1)
        return score


def _crossentropy_metric(fn, class_name: str, default_name: str, **defaults):
    def __init__(self, name=default_name, dtype=None, **options):
        unknown = sorted(set(options) - set(defaults))
        if unknown:
            raise TypeError(f"{class_name}: unexpected keyword argument(s) {unknown}")
        MeanMetricWrapper.__init__(self, fn, name, **{**defaults, **options})

    return type(class_name, (MeanMetricWrapper,), {
        "__init__": __init__, "__module__": __name__,
        "__doc__": f"The mean of ``keras.losses.{fn.__name__}`` over the samples."})


CategoricalCrossentropy = _crossentropy_metric(
    _losses.categorical_crossentropy, "CategoricalCrossentropy", "categorical_crossentropy",
    from_logits=False, label_smoothing=0.0, axis=-1)
SparseCategoricalCrossentropy = _crossentropy_metric(
    _losses.sparse_categorical_crossentropy, "SparseCategoricalCrossentropy",
    "sparse_categorical_crossentropy", from_logits=False)
BinaryCrossentropy = _crossentropy_metric(
    _losses.binary_crossentropy, "BinaryCrossentropy", "binary_crossentropy",
    from_logits=False)

MORE_METRICS = {
    "precision": Precision, "recall": Recall, "top_k_categorical_accuracy":
    TopKCategoricalAccuracy, "sparse_top_k_categorical_accuracy": SparseTopKCategoricalAccuracy,
    "root_mean_squared_error": RootMeanSquaredError, "r2_score": R2Score,
    "categorical_crossentropy": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
    "binary_crossentropy": BinaryCrossentropy,
}
EXPORTS = ["BinaryCrossentropy", "CategoricalCrossentropy", "F1Score", "FBetaScore",
           "FalseNegatives", "FalsePositives", "Precision", "R2Score", "Recall",
           "RootMeanSquaredError", "SparseCategoricalCrossentropy",
           "SparseTopKCategoricalAccuracy", "Sum", "TopKCategoricalAccuracy", "TrueNegatives",
           "TruePositives", "sparse_top_k_categorical_accuracy", "top_k_categorical_accuracy"]
__all__ = EXPORTS
