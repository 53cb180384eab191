"""Keras's overridable steps on ``Model``: ``train_step``, ``test_step`` and ``predict_step``
(``fit``/``evaluate``/``predict`` call a subclass's own), ``compute_loss``,
``compute_metrics``, ``metrics`` / ``reset_metrics`` / ``get_metrics_result``, and
``add_loss`` / ``losses``.

A custom step, as Keras 3 programs write it for the torch backend::

    def train_step(self, data):
        x, y = data
        self.zero_grad()
        y_pred = self(x, training=True)
        loss = self.compute_loss(y=y, y_pred=y_pred)
        loss.backward()
        self.optimizer.apply([v.value.grad for v in self.trainable_weights],
                             self.trainable_weights)
        for metric in self.metrics:
            metric.update_state(loss) if metric.name == "loss" else metric.update_state(y, y_pred)
        return {m.name: m.result() for m in self.metrics}

``data`` is one batch packed as Keras packs it: ``x`` alone when there are no targets, else
``(x, y)`` or ``(x, y, sample_weight)``, each a Tensor (or the list/dict of Tensors ``x`` was
given as). The returned dict is flattened (a nested dict such as the compiled metrics'
result joins the top level) and logged as the step's values; fit's epoch logs are the last
step's, as in Keras, whose metric objects carry the running means themselves.

``self.metrics``: the loss tracker (``Mean`` named "loss"), then ``CompileMetrics`` (every
metric given to ``compile``, one ``update_state(y, y_pred)`` for all), then any metric held
as an attribute of the model, in assignment order (a subclass may override the property).
"""

from __future__ import annotations

import numpy as np

from tinymm.keras import losses as _losses
from tinymm.keras import metrics as _metrics
from tinymm.keras.engine import KerasTensor, flatten_structure, map_structure
from tinymm.tensor import Tensor, from_numpy


def unpack_x_y_sample_weight(data) -> tuple:
    """``(x, y, sample_weight)`` from a batch: a tuple or list of 1 to 3 items, else ``x``."""
    if isinstance(data, list):
        data = tuple(data)
    if not isinstance(data, tuple):
        return data, None, None
    if not 1 <= len(data) <= 3:
        raise ValueError(f"unpack_x_y_sample_weight: expected (x,), (x, y) or (x, y, "
                         f"sample_weight), got a tuple of {len(data)} items")
    return tuple(data) + (None,) * (3 - len(data))


def pack_x_y_sample_weight(x, y=None, sample_weight=None):
    """The batch structure a step receives (Keras's rule): ``x`` (or ``(x,)`` when ``x`` is
    itself a tuple or list) without targets, else ``(x, y)`` or ``(x, y, sample_weight)``."""
    if y is None:
        return (x,) if isinstance(x, (list, tuple)) else x
    return (x, y) if sample_weight is None else (x, y, sample_weight)


def pythonify_logs(logs: dict) -> dict:
    """Floats from a step's dict: Tensors and arrays become floats, nested dicts are
    flattened into the top level."""
    out = {}
    for key, value in logs.items():
        if isinstance(value, dict):
            out.update(pythonify_logs(value))
            continue
        if isinstance(value, Tensor):
            value = value.detach().cpu().array
        try:
            out[key] = float(np.asarray(value))
        except (TypeError, ValueError):
            out[key] = value
    return out


class CompileMetrics(_metrics.Metric):
    """The metrics given to ``compile``, as one metric (Keras's "compile_metrics"):
    ``update_state(y, y_pred, sample_weight)`` updates every one with its output's part
    (unweighted: Keras 3 weights only ``weighted_metrics``, which tinymm.keras does not
    have), ``result()`` is a dict of their results under their logged names."""

    def __init__(self, model):
        self.model = model
        super().__init__(name="compile_metrics")

    def _pairs(self):
        outputs = getattr(self.model, "_outputs_compiled", [])
        return [(i, self.model._metric_key(o, m), m) for i, o in enumerate(outputs)
                for m in o.metrics]

    def reset_state(self) -> None:
        for _, _, m in self._pairs() if hasattr(self, "model") else []:
            m.reset_state()

    def update_state(self, y_true, y_pred=None, sample_weight=None) -> None:
        pairs = self._pairs()
        if not pairs:
            return
        names = self.model.output_names
        ys = _by_output(y_true, names)
        preds = _by_output(y_pred, names)
        for i, _, m in pairs:
            m.update_state(host_array(ys[i]), host_array(preds[i]))

    def result(self) -> dict:
        return {key: float(m.result()) for _, key, m in self._pairs()}


def host_array(value):
    """A NumPy array of a Tensor's values (metrics run on the host), else the value."""
    return value.detach().cpu().array if isinstance(value, Tensor) else value


def _by_output(value, names: list[str]) -> list:
    if isinstance(value, dict):
        return [value.get(n) for n in names]
    if isinstance(value, (list, tuple)) and len(names) > 1:
        return list(value)
    return [value]


class StepsMixin:
    """The Keras step API of ``Model`` (see the module docstring)."""

    def _overrides(self, name: str) -> bool:
        """True when the model's class defines its own ``name`` (train_step, ...)."""
        return getattr(type(self), name) is not getattr(StepsMixin, name)

    # ------------------------------------------------------------ metrics
    def _trackers(self) -> tuple:
        if "_loss_tracker" not in self.__dict__:
            object.__setattr__(self, "_loss_tracker", _metrics.Mean(name="loss"))
            object.__setattr__(self, "_compile_metrics", CompileMetrics(self))
        return self._loss_tracker, self._compile_metrics

    @property
    def metrics(self) -> list:
        """The loss tracker, the compiled metrics and the metrics held as attributes."""
        found = [m for k, m in vars(self).items() if isinstance(m, _metrics.Metric)
                 and not k.startswith("_")]
        if not getattr(self, "compiled", False):
            return found
        return [*self._trackers(), *found]

    def reset_metrics(self) -> None:
        for m in self.metrics:
            m.reset_state()

    def get_metrics_result(self) -> dict:
        """Every metric's ``result()``, dict results joining the top level."""
        out = {}
        for m in self.metrics:
            result = m.result()
            out.update(result if isinstance(result, dict) else {m.name: result})
        return out

    # ------------------------------------------------------------ losses
    def add_loss(self, loss) -> None:
        """A scalar added to ``compute_loss``'s total (Keras's ``Model.add_loss``). One
        added by ``call`` while tinymm traces it is symbolic: it joins the graph, and each
        run of the graph gives its value for that batch (``losses``)."""
        key = "_symbolic_losses" if isinstance(loss, KerasTensor) else "_added_losses"
        self.__dict__.setdefault(key, []).append(loss)

    @property
    def losses(self) -> list:
        """The losses added by the model's layers during their latest call, then the model's
        own ``add_loss`` ones (those ``call`` added: their values in the latest batch)."""
        found = [loss for layer in self.layers for loss in layer.losses]
        return found + list(self.__dict__.get("_graph_losses", [])) + list(
            self.__dict__.get("_added_losses", []))

    def _compiled_losses(self) -> list:
        """``(output index, Loss, weight)`` per output with a compiled loss."""
        if self.__dict__.get("loss_spec") is None:
            return []
        if self.built and not self._outputs_compiled:
            self._resolve_compile()
        if not self._outputs_compiled:  # a model without a graph (only a train_step)
            return [(0, _losses.get(self.loss_spec), 1.0)]
        return [(i, o.loss, o.weight) for i, o in enumerate(self._outputs_compiled)
                if o.loss is not None]

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None,
                     training: bool = True) -> Tensor:
        """The compiled losses of ``y_pred`` against ``y`` (weighted by ``loss_weights``)
        plus ``self.losses``, a scalar Tensor; zero when there is neither."""
        names = self.output_names if self.built else ["output"]
        ys, preds = _by_output(y, names), _by_output(y_pred, names)
        total = None
        for i, loss_obj, weight in self._compiled_losses():
            if ys[i] is None:
                continue
            pred = preds[i]
            target = ys[i] if isinstance(ys[i], Tensor) else from_numpy(np.asarray(ys[i]))
            part = loss_obj(target, pred, sample_weight=sample_weight)
            part = part.mean() if part.ndim else part
            part = part if weight == 1.0 else part * weight
            total = part if total is None else total + part
        total = with_added_losses(total, self.losses)
        if total is None:
            return from_numpy(np.zeros((), dtype=np.float32))
        return total

    def compute_metrics(self, x, y, y_pred, sample_weight=None) -> dict:
        """Update the compiled metrics with this batch; -> ``get_metrics_result()``."""
        if getattr(self, "compiled", False):
            self._trackers()[1].update_state(y, y_pred, sample_weight)
        return self.get_metrics_result()

    # ------------------------------------------------------------ the steps
    def _require_loss(self, who: str) -> None:
        if not self._compiled_losses() and not self.losses:
            raise ValueError(f"{who}: no loss to compute; give compile() a loss, or override "
                             "train_step/compute_loss")

    def train_step(self, data) -> dict:
        """One optimizer step on a batch (Keras's default, for ``super().train_step``)."""
        x, y, sample_weight = unpack_x_y_sample_weight(data)
        self.zero_grad()
        y_pred = self(x, training=True)
        loss = self.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight)
        self._trackers()[0].update_state(host_array(loss), sample_weight=_batch_size(x))
        loss.backward()
        weights = self.trainable_weights
        self._ensure_optimizer().apply([w.grad for w in weights], weights)
        return self.compute_metrics(x, y, y_pred, sample_weight=sample_weight)

    def test_step(self, data) -> dict:
        """Loss and metrics on a batch, no update (Keras's default)."""
        x, y, sample_weight = unpack_x_y_sample_weight(data)
        y_pred = self(x, training=False)
        loss = self.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight,
                                 training=False)
        self._trackers()[0].update_state(host_array(loss), sample_weight=_batch_size(x))
        return self.compute_metrics(x, y, y_pred, sample_weight=sample_weight)

    def predict_step(self, data):
        """The model's outputs on a batch (Keras's default)."""
        x, _, _ = unpack_x_y_sample_weight(data)
        return self(x, training=False)

    # ------------------------------------------------------------ driving them
    def _step_batches(self, x, y, sample_weight, who: str):
        """(n, take(idx) -> the packed batch of samples idx as Tensors) for the steps."""
        leaves = [a for a in flatten_structure((x, y, sample_weight)) if a is not None]
        if not leaves:
            raise ValueError(f"{who}: x is missing")
        sizes = {int(np.shape(host_array(a))[0]) for a in leaves}
        if len(sizes) > 1:
            raise ValueError(f"{who}: x, y and sample_weight hold different numbers of "
                             f"samples {sorted(sizes)}")
        arrays = map_structure(lambda a: None if a is None else np.asarray(host_array(a)),
                               (x, y, sample_weight))

        def take(idx):
            part = map_structure(lambda a: None if a is None else from_numpy(
                np.ascontiguousarray(a[idx])), arrays)
            return pack_x_y_sample_weight(*part)

        return sizes.pop(), take

    def _prepare_for_steps(self, x) -> None:
        """Before a custom step runs: a subclassed model with a ``call`` gets its graph (a
        symbolic trace, as Keras builds before fit), then the optimizer."""
        if getattr(self, "_subclassed", False) and not self.built and \
                hasattr(type(self), "call"):
            self._trace_call(host_array(x) if not isinstance(x, (list, tuple)) else
                             [host_array(a) for a in x])


def with_added_losses(total, losses: list):
    """``total`` (a scalar Tensor or None) plus the sum of each added loss."""
    for extra in losses:
        extra = extra if isinstance(extra, Tensor) else from_numpy(np.asarray(extra))
        extra = extra.sum() if extra.ndim else extra
        total = extra if total is None else total + extra
    return total


def _batch_size(x) -> int:
    first = next(a for a in flatten_structure(x) if a is not None)
    return int(np.shape(host_array(first))[0])


class StepLogs:
    """One step's flattened logs as loop metrics: each value is logged as the latest step's
    (``result()``), since a custom step's metric objects keep their own running means."""

    def __init__(self, value):
        self.value = value

    def result(self):
        return self.value


def step_metrics(logs: dict, n: int) -> dict:
    return {"samples": n, **{k: StepLogs(v) for k, v in pythonify_logs(logs).items()}}


__all__ = ["CompileMetrics", "StepsMixin", "pack_x_y_sample_weight", "pythonify_logs",
           "unpack_x_y_sample_weight"]
