"""Keras training: ``compile``, ``fit``, ``evaluate``, ``predict``, ``train_on_batch``, as
thin callers of tinymm's one training loop (tinymm/loop.py).

Dimension letters: N samples, C classes.

What ``compile`` resolves, per model output (Keras 3's rules):

- ``loss``: one loss applies to every output; a list gives one per output (in order); a dict
  maps output names (the output layers' names) to losses, an output left out has no loss.
- ``loss_weights``: a list or dict of the same shape; the trained loss is
  ``sum_i loss_weights[i] * loss_i``. ``metrics``: for one output a list; for several, a
  list with one entry (a metric or a list) per output, or a dict by output name.
- targets ``y`` (and ``sample_weight``) in ``fit``/``evaluate``: an array for one output, a
  list in output order or a dict by output name for several; one ``sample_weight`` array
  applies to every output. ``class_weight`` (one output) maps a class to a factor on its
  samples' weights.

One training step (``loss_fn`` below, run by ``loop.train_epoch``)::

    outs = model(x_batch)                                   # and pre-softmax logits
    loss_i = losses[i](y_i, out_i, sample_weight=w_i)       # weighted sum / batch size
    loss = sum_i loss_weights[i] * loss_i
    optimizer.zero_grad(); loss.backward(); optimizer.step()

Logged as Keras does: ``loss`` (the batch-size-weighted mean of the total), with several
outputs also ``<output>_loss``, and each metric as ``<metric>`` (one output) or
``<output>_<metric>``; validation numbers get a ``val_`` prefix.
"""

from __future__ import annotations

import math
import sys
import time

import numpy as np

from tinymm import loop
from tinymm import optim as _optim
from tinymm.keras import activations as _activations
from tinymm.keras import callbacks as _callbacks
from tinymm.keras import losses as _losses
from tinymm.keras import metrics as _metrics
from tinymm.keras import optimizers as _optimizers
from tinymm.keras import steps as _steps
from tinymm.keras import utils as _utils
from tinymm.keras.engine import flatten_structure, map_structure
from tinymm.keras.layers import Activated
from tinymm.nn import init as _init
from tinymm.tensor import Tensor, as_tensor, from_numpy

NonFiniteLossError = loop.NonFiniteLossError

_COMPILE_NEUTRAL = {"run_eagerly": (None, False, True), "steps_per_execution": (1,),
                    "jit_compile": ("auto", False, None), "auto_scale_loss": (None, True, False)}
_FIT_NEUTRAL = {"steps_per_epoch": (None,), "validation_steps": (None,),
                "validation_batch_size": (None,), "validation_freq": (1,)}


def _to_numpy(x):
    return x.array if isinstance(x, Tensor) else np.asarray(x)


def _refuse(who: str, given: dict, neutral: dict) -> None:
    """Keras arguments tinymm accepts only at their neutral values; others raise, naming
    the argument."""
    for name, value in given.items():
        if name not in neutral:
            raise TypeError(f"{who}: unexpected keyword argument {name!r}")
        if not any(value is ok or value == ok for ok in neutral[name]):
            raise ValueError(f"{who}: {name}={value!r} is not supported by tinymm.keras "
                             f"(supported: {neutral[name]})")


class _Output:
    """One model output's compiled loss, weight, metrics and logits rule."""

    def __init__(self, name, tensor, loss, weight, metrics):
        self.name, self.tensor, self.loss, self.weight = name, tensor, loss, float(weight)
        self.metrics = metrics
        act = _activations.serialize(getattr(tensor.layer, "activation", None))
        wants = getattr(loss, "logits_activation", None)
        splits = type(tensor.layer).call_logits is not Activated.call_logits \
            if isinstance(tensor.layer, Activated) else False
        self.logits = (wants is not None and act == wants and splits and not loss.from_logits)
        self.train_loss = loss.with_logits() if self.logits else loss


def _per_output(value, names: list[str], what: str, broadcast: bool) -> list:
    """A Keras structure (single, list or dict by output name) -> one entry per output."""
    if isinstance(value, dict):
        unknown = sorted(set(value) - set(names))
        if unknown:
            raise ValueError(f"compile: {what} names unknown outputs {unknown}; the outputs are "
                             f"{names}")
        return [value.get(n) for n in names]
    if isinstance(value, (list, tuple)) and len(names) > 1:
        if len(value) != len(names):
            raise ValueError(f"compile: {what} is a list of {len(value)} but the model has "
                             f"{len(names)} outputs {names}; give one entry per output or a "
                             "dict by output name")
        return list(value)
    if broadcast or len(names) == 1:
        return [value] * len(names)
    raise ValueError(f"compile: give {what} as a list (one per output) or a dict by output "
                     f"name; the model has {len(names)} outputs {names}")


class TrainingMixin:
    """``compile``/``fit``/``evaluate``/``predict``/``train_on_batch`` for keras ``Model``."""

    # ------------------------------------------------------------ compile
    def compile(self, optimizer="rmsprop", loss=None, metrics=None, loss_weights=None,
                weighted_metrics=None, **options) -> None:
        _refuse("compile", options, _COMPILE_NEUTRAL)
        if weighted_metrics is not None:
            raise ValueError("compile: weighted_metrics is not supported by tinymm.keras "
                             "(the metrics given as metrics=, as in Keras, are not weighted by "
                             "sample_weight or class_weight)")
        for spec in flatten_structure(loss):
            if spec is not None:
                _losses.get(spec)  # an unknown name or a Loss without call() fails here
        self.loss_spec, self.metrics_names_given = loss, metrics
        self.loss_weights_given = loss_weights
        self._outputs_compiled = []
        if self.built and loss is not None:
            self._resolve_compile()
        self._optimizer_spec = _optimizers.get(optimizer)
        self.optimizer = None
        if self.built:
            self._ensure_optimizer()
        self.compiled = True

    def _resolve_compile(self) -> None:
        """Per-output losses, weights and metric objects (the module docstring's rules);
        at compile, or for a Sequential built later, when it is built."""
        loss, metrics, loss_weights = (self.loss_spec, self.metrics_names_given,
                                       self.loss_weights_given)
        names = self.output_names
        loss_list = _per_output(loss, names, "loss", broadcast=True)
        weights = [1.0] * len(names) if loss_weights is None else \
            _per_output(loss_weights, names, "loss_weights", broadcast=False)
        if isinstance(metrics, (list, tuple)) and len(names) > 1 and not all(
                isinstance(m, (list, tuple, type(None))) for m in metrics):
            metrics = [metrics] * len(names) if len(metrics) != len(names) else metrics
        metric_list = [[]] * len(names) if metrics is None else \
            _per_output(metrics, names, "metrics", broadcast=False)
        outputs = []
        for name, tensor, spec, w, ms in zip(names, self.outputs, loss_list, weights,
                                             metric_list):
            loss_obj = None if spec is None else _losses.get(spec)
            ms = [] if ms is None else (list(ms) if isinstance(ms, (list, tuple)) else [ms])
            objs = [_metrics.get(m, getattr(loss_obj, "name", None)) for m in ms]
            outputs.append(_Output(name, tensor, loss_obj, 1.0 if w is None else w, objs))
        if loss is not None and all(o.loss is None for o in outputs):
            raise ValueError("compile: no output has a loss")
        self._outputs_compiled = outputs

    def _ensure_optimizer(self):
        if self.optimizer is None:
            spec = self._optimizer_spec
            self.optimizer = _optimizers.with_apply(spec) if isinstance(
                spec, _optim.Optimizer) else spec.build(self.parameters())
        return self.optimizer

    @property
    def output_names(self) -> list[str]:
        """The outputs' names: the keys of a dict of outputs, else the output layers'."""
        keys = getattr(self, "_output_keys", None)
        return list(keys) if keys is not None else [t.layer.name for t in self.outputs]

    @property
    def metrics_names(self) -> list[str]:
        names = ["loss"]
        if len(self.outputs) > 1:
            names += [f"{o.name}_loss" for o in self._outputs_compiled if o.loss is not None]
        return names + [self._metric_key(o, m) for o in getattr(self, "_outputs_compiled", [])
                        for m in o.metrics]

    def _metric_key(self, out: _Output, metric) -> str:
        return metric.name if len(self.outputs) == 1 else f"{out.name}_{metric.name}"

    def _require_compiled(self, who: str) -> None:
        if not getattr(self, "compiled", False):
            raise RuntimeError(f"{who}: call model.compile(optimizer=..., loss=...) first")

    # ------------------------------------------------------------ data
    def _prepare_data(self, x, y, sample_weight, class_weight, who: str):
        """-> (inputs, per-output targets, per-output sample weights or None)."""
        if x is None or hasattr(x, "__next__") or (hasattr(x, "__iter__") and not isinstance(
                x, (np.ndarray, Tensor, list, tuple, dict))):
            raise TypeError(f"{who}: x must be arrays (one, a list or a dict by input name); "
                            f"tinymm.keras does not take datasets or generators, got "
                            f"{type(x).__name__}")
        xs = self._prepare_inputs(x, who)
        if self.loss_spec is None:
            raise ValueError(f"{who}: no loss to compute; give compile() a loss, or override "
                             "train_step/test_step")
        if not self._outputs_compiled:  # a Sequential compiled before it was built
            self._resolve_compile()
        n = xs[0].shape[0]
        if y is None:
            raise ValueError(f"{who}: y (the targets) is missing")
        names = self.output_names
        if isinstance(y, dict) or (isinstance(y, (list, tuple)) and len(names) > 1):
            ys = _per_output(y, names, "y", broadcast=False)
        else:
            ys = [y] * len(names) if len(names) == 1 else None
            if ys is None:
                raise ValueError(f"{who}: the model has {len(names)} outputs {names}; give y "
                                 "as a list in that order or a dict by output name")
        ys = [None if t is None else self._prepare_target(t, o, n, who)
              for t, o in zip(ys, self._outputs_compiled)]
        sws = self._sample_weights(sample_weight, class_weight, ys, n, who)
        return xs, ys, sws

    def _sample_weights(self, sample_weight, class_weight, ys, n, who) -> list:
        names = self.output_names
        if isinstance(sample_weight, (dict, list, tuple)):
            sws = _per_output(sample_weight, names, "sample_weight", broadcast=False)
        else:
            sws = [sample_weight] * len(names)
        sws = [None if w is None else _to_numpy(w).astype(np.float64).reshape(n)
               for w in sws]
        if class_weight is not None:
            if len(names) > 1:
                raise ValueError(f"{who}: class_weight is for single-output models; give "
                                 "sample_weight per output instead")
            sws[0] = self._class_weights(class_weight, ys[0], n, who) * \
                (1.0 if sws[0] is None else sws[0])
        return sws

    def _class_weights(self, class_weight: dict, y: np.ndarray, n: int, who: str) -> np.ndarray:
        if y.ndim == 2 and y.shape[1] > 1:
            classes = y.argmax(axis=1)
        else:
            classes = np.rint(y.reshape(n)).astype(np.int64)
        missing = sorted(set(np.unique(classes).tolist()) - set(class_weight))
        if missing:
            raise ValueError(f"{who}: class_weight has no entry for classes {missing}")
        return np.array([class_weight[c] for c in classes.tolist()], dtype=np.float64)

    def _prepare_target(self, y, out: _Output, n: int, who: str) -> np.ndarray:
        y = _to_numpy(y)
        if y.shape[0] != n:
            which = f" (output '{out.name}')" if len(self.outputs) > 1 else ""
            raise ValueError(f"{who}: x has {n} samples but y{which} has {y.shape[0]}")
        if out.loss is not None and out.loss.name == "sparse_categorical_crossentropy":
            return _sparse_labels(y, out, n, who)
        if y.dtype.kind in "fiub" and out.tensor.dtype.kind == "f":
            y = y.astype(out.tensor.dtype)  # float targets in the output's dtype, as Keras
        return y

    # ------------------------------------------------------------ one batch
    def _device(self) -> str:
        """Where the weights live: "cuda" after ``model.to("cuda")`` (PyTorch's way: build
        the model, move it, then compile and fit), else "cpu"."""
        return next((p.device.type for p in self.parameters()), "cpu")

    def _batch(self, arrays: list, idx) -> list:
        """The samples ``idx`` of each input, on the model's device (one counted copy each
        to a GPU); the targets stay on the host, where the losses check them."""
        device = self._device()
        if device == "cpu":
            return [a[idx] for a in arrays]
        return [from_numpy(np.ascontiguousarray(a[idx])).to(device) for a in arrays]

    def _batch_loss(self, xs, ys, sws, idx):
        """The loop's loss function on the samples ``idx``: the total loss Tensor and the
        metrics dict (per-output losses, metric objects updated with this batch). On a cuda
        model the inputs go to the device and the outputs come back for the metrics."""
        outs, logits = self._run_graph(self._batch(xs, idx),
                                       [o.logits for o in self._outputs_compiled])
        k = len(idx)
        total, report = None, {"samples": k}
        for o, out, z, y, w in zip(self._outputs_compiled, outs, logits, ys, sws):
            if y is None:
                continue
            yb, wb = y[idx], None if w is None else w[idx]
            if o.loss is not None:
                loss = o.train_loss(as_tensor(yb), z if o.logits else out, sample_weight=wb)
                loss = loss.mean() if loss.ndim else loss
                part = loss if o.weight == 1.0 else loss * o.weight
                total = part if total is None else total + part
                if len(self.outputs) > 1:
                    report[f"{o.name}_loss"] = (float(loss.item()) * k, k)
            for m in o.metrics:  # Keras 3: compile's metrics ignore the sample weights
                m.update_state(yb, out.detach().cpu().array)
                report[self._metric_key(o, m)] = m
        return _steps.with_added_losses(total, self.losses), report

    def _reset_metrics(self, logs=None) -> None:
        self.reset_metrics()  # Keras's hook (a subclass may override it)
        for o in self._outputs_compiled:
            for m in o.metrics:
                m.reset_state()

    def train_on_batch(self, x, y, sample_weight=None, class_weight=None,
                       return_dict: bool = False):
        """One optimizer step on (x, y); returns the loss before the step (and the metrics
        as a list or dict when compiled with metrics)."""
        self._require_compiled("train_on_batch")
        n, loss_fn = self._plan(x, y, sample_weight, class_weight, "train_on_batch",
                                "train_step")
        self._reset_metrics()
        try:
            logs = loop.train_epoch(self, loss_fn, [np.arange(n)], self._ensure_optimizer(),
                                    who="train_on_batch")
        finally:
            self.eval()  # outside fit a call is inference, as in Keras
        return self._format_results(logs, return_dict)

    def test_on_batch(self, x, y=None, sample_weight=None, return_dict: bool = False):
        """The loss (and metrics) on one batch, without an update (Keras's
        ``test_on_batch``); the metrics are reset first."""
        self._require_compiled("test_on_batch")
        n, loss_fn = self._plan(x, y, sample_weight, None, "test_on_batch", "test_step")
        return self._format_results(self._evaluate_plan(n, loss_fn, max(n, 1)), return_dict)

    def _format_results(self, logs: dict, return_dict: bool):
        if return_dict:
            return logs
        names = self.metrics_names if set(logs) <= set(self.metrics_names) else list(logs)
        values = [logs[k] for k in names if k in logs]
        return values[0] if len(values) == 1 else values

    def _uses_steps(self, step: str) -> bool:
        """True when the model's class overrides ``step`` (train_step / test_step) or the
        loss or metric computation the default steps call: then those steps run."""
        return any(self._overrides(name) for name in (step, "compute_loss", "compute_metrics"))

    def _plan(self, x, y, sample_weight, class_weight, who: str, step: str):
        """-> (n samples, loss_fn(model, idx)) for tinymm/loop.py: the compiled losses over
        the model's outputs, or the model's own ``step`` (its loss_fn returns no loss: the
        step updated the weights itself, and its dict is the logs)."""
        if isinstance(x, _utils.PyDataset):
            return self._dataset_plan(x, class_weight, who, step)
        if not self._uses_steps(step):
            xs, ys, sws = self._prepare_data(x, y, sample_weight, class_weight, who)
            return xs[0].shape[0], lambda m, idx: self._batch_loss(xs, ys, sws, idx)
        if class_weight is not None:
            raise ValueError(f"{who}: class_weight is not supported with the model's own "
                             f"{step}; weight the samples in it")
        n, take = self._step_batches(x, y, sample_weight, who)
        self._prepare_for_steps(x)
        run = getattr(self, step)
        return n, lambda m, idx: (None, _steps.step_metrics(run(take(idx)), len(idx)))

    def _dataset_plan(self, dataset, class_weight, who: str, step: str):
        """``_plan`` over a PyDataset: one loop batch per dataset index (``idx`` holds it)."""
        if len(dataset) == 0:
            raise ValueError(f"{who}: the {type(dataset).__name__} has no batches")
        if self._uses_steps(step):
            self._prepare_for_steps(_steps.unpack_x_y_sample_weight(dataset[0])[0])
            run = getattr(self, step)

            def loss_fn(m, idx):
                batch = _steps.unpack_x_y_sample_weight(dataset[int(idx[0])])
                n, take = self._step_batches(*batch, who)
                return None, _steps.step_metrics(run(take(np.arange(n))), n)
            return len(dataset), loss_fn

        def builtin(m, idx):
            xs, ys, sws = self._prepare_data(*_steps.unpack_x_y_sample_weight(
                dataset[int(idx[0])]), class_weight, who)
            return self._batch_loss(xs, ys, sws, np.arange(xs[0].shape[0]))
        return len(dataset), builtin

    # ------------------------------------------------------------ evaluate / predict
    def _evaluate_plan(self, n: int, loss_fn, batch_size: int) -> dict:
        self._reset_metrics()
        return loop.evaluate(self, loss_fn, _IndexBatches(n, batch_size))

    def _evaluate_arrays(self, xs, ys, sws, batch_size: int) -> dict:
        return self._evaluate_plan(xs[0].shape[0],
                                   lambda m, idx: self._batch_loss(xs, ys, sws, idx), batch_size)

    def evaluate(self, x=None, y=None, batch_size: int | None = None, verbose="auto",
                 sample_weight=None, return_dict: bool = False, **options):
        self._require_compiled("evaluate")
        _refuse("evaluate", options, {"steps": (None,), "callbacks": (None,)})
        n, loss_fn = self._plan(x, y, sample_weight, None, "evaluate", "test_step")
        batch_size = 1 if isinstance(x, _utils.PyDataset) else batch_size or 32
        results = self._evaluate_plan(n, loss_fn, batch_size)
        if verbose in (1, 2, "auto"):  # the finished line (Keras: a bar, or one line)
            bar = loop.Progress(math.ceil(n / batch_size), dynamic=False)
            bar.update(bar.target, results, finalize=True)
        return self._format_results(results, return_dict)

    def predict(self, x, batch_size: int | None = None, verbose=0):
        from tinymm.autograd import no_grad

        if isinstance(x, _utils.PyDataset):  # each batch's x, in order
            parts = [self.predict(_steps.unpack_x_y_sample_weight(x[i])[0], batch_size)
                     for i in range(len(x))]
            return _concatenated(parts)
        if self._overrides("predict_step"):
            return self._predict_steps(x, batch_size or 32)
        xs = self._prepare_inputs(x, "predict")
        parts: list[list[np.ndarray]] = [[] for _ in self.outputs]
        was_training = self.training
        self.eval()
        try:
            with no_grad():
                n = xs[0].shape[0]  # no samples: one empty batch, for the outputs' shapes
                for idx in _IndexBatches(n, batch_size or 32) if n else [slice(0, 0)]:
                    outs, _ = self._run_graph(self._batch(xs, idx))
                    for store, o in zip(parts, outs):
                        store.append(o.cpu().array)
        finally:
            self.train(was_training)
        return self._structure_outputs([np.concatenate(p, axis=0) for p in parts])

    def _predict_steps(self, x, batch_size: int):
        """``predict`` through the model's own ``predict_step``, batch by batch; the
        outputs (any structure of Tensors) are concatenated along the batch axis."""
        from tinymm.autograd import no_grad

        n, take = self._step_batches(x, None, None, "predict")
        self._prepare_for_steps(x)
        parts = []
        was_training = self.training
        self.eval()
        try:
            with no_grad():
                for idx in _IndexBatches(n, batch_size):
                    parts.append(map_structure(_steps.host_array, self.predict_step(take(idx))))
        finally:
            self.train(was_training)
        return _concatenated(parts)

    def predict_on_batch(self, x):
        return self.predict(x, batch_size=len(_to_numpy(self._prepare_inputs(x, "predict")[0])))

    # ------------------------------------------------------------ fit
    def fit(self, x=None, y=None, batch_size: int | None = None, epochs: int = 1,
            verbose: int | str = "auto", callbacks=None, validation_split: float = 0.0,
            validation_data=None, shuffle: bool = True, class_weight=None, sample_weight=None,
            initial_epoch: int = 0, on_nan: str = "raise", **options):
        """Train for ``epochs`` epochs through tinymm/loop.py's ``fit``; returns a ``History``.

        on_nan: what a NaN/Inf loss does: "raise" (``NonFiniteLossError`` naming the epoch
        and step; the bad step is not applied), "stop" (print that message and return the
        History, ``history.nan_step = (epoch, step)``), or "continue".
        """
        self._require_compiled("fit")
        _refuse("fit", options, _FIT_NEUTRAL)
        batch_size = 1 if isinstance(x, _utils.PyDataset) else batch_size or 32
        verbose = 1 if verbose == "auto" else int(verbose)
        n, loss_fn, validate = self._fit_plan(x, y, sample_weight, class_weight,
                                              validation_data, validation_split, batch_size)
        seed = int(_init.generator.integers(2**31))  # nn.init.seed / set_random_seed fix it

        def batches(epoch):
            return _IndexBatches(n, batch_size, loop.epoch_order(n, seed, epoch)
                                 if shuffle else None)

        history = _callbacks.History()
        cbs = [_FitReporter(self, epochs, verbose, validate), *(callbacks or []), history]
        if isinstance(x, _utils.PyDataset):
            cbs.insert(1, _callbacks.LambdaCallback(on_epoch_end=lambda e, logs: x.on_epoch_end()))
        for cb in cbs:
            cb.set_model(self)
        self.history, self._fit_callbacks, self._fit_epochs = history, cbs, epochs
        self._fit_steps = math.ceil(n / batch_size)
        for cb in cbs:  # a backup from an interrupted run: continue after its epoch
            if isinstance(cb, _callbacks.BackupAndRestore):
                initial_epoch = max(initial_epoch, cb.restore(self))
        try:
            loop.fit(self, loss_fn, batches, self._ensure_optimizer(), epochs=epochs,
                     start_epoch=initial_epoch, callbacks=cbs, on_nan=on_nan, who="fit",
                     progress_for_epoch=(lambda e, steps: loop.Progress(steps))
                     if verbose == 1 else None,
                     hint_for_epoch=lambda e: "Lower the learning rate, check the inputs for "
                     "NaN/Inf, or pass on_nan='continue' to go on.")
        finally:
            self.eval()  # outside fit a call is inference, as in Keras
        history.nan_step = self.nan_step
        return history

    def _fit_plan(self, x, y, sample_weight, class_weight, validation_data, validation_split,
                  batch_size):
        """-> (n, loss_fn, validate() -> validation logs, or None), as ``_plan``."""
        if isinstance(validation_data, _utils.PyDataset) or isinstance(x, _utils.PyDataset):
            if validation_split:
                raise ValueError("fit: validation_split needs arrays; pass validation_data")
            n, loss_fn = self._plan(x, y, sample_weight, class_weight, "fit", "train_step")
            val = validation_data if isinstance(validation_data, _utils.PyDataset) else \
                _steps.unpack_x_y_sample_weight(validation_data or (None,))
            if validation_data is None:
                return n, loss_fn, None
            plan = self._plan(*(val if isinstance(val, tuple) else (val, None, None)), None,
                              "fit (validation_data)", "test_step")
            size = 1 if isinstance(val, _utils.PyDataset) else 32  # fit's batch_size was 1
            return n, loss_fn, lambda: self._evaluate_plan(*plan, size)
        if self._uses_steps("train_step"):
            if validation_split:
                raise ValueError("fit: validation_split is not supported with the model's own "
                                 "train_step; pass validation_data=(x_val, y_val)")
            n, loss_fn = self._plan(x, y, sample_weight, class_weight, "fit", "train_step")
            if validation_data is None:
                return n, loss_fn, None
            val = _steps.unpack_x_y_sample_weight(validation_data)
            return n, loss_fn, lambda: self._evaluate_plan(*self._plan(
                *val, None, "fit (validation_data)", "test_step"), batch_size)
        xs, ys, sws = self._prepare_data(x, y, sample_weight, class_weight, "fit")
        (xs, ys, sws), val = self._split_validation(xs, ys, sws, validation_data,
                                                    validation_split, batch_size)
        return (xs[0].shape[0], lambda m, idx: self._batch_loss(xs, ys, sws, idx),
                None if val is None else lambda: self._evaluate_arrays(*val, batch_size))

    def _split_validation(self, xs, ys, sws, validation_data, validation_split, batch_size):
        if validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
                raise ValueError("fit: validation_data must be (x_val, y_val) or "
                                 "(x_val, y_val, sample_weight_val)")
            vw = validation_data[2] if len(validation_data) == 3 else None
            return (xs, ys, sws), self._prepare_data(validation_data[0], validation_data[1], vw,
                                                     None, "fit (validation_data)")
        if not validation_split:
            return (xs, ys, sws), None
        if not 0 < validation_split < 1:
            raise ValueError(f"fit: validation_split must be in (0, 1), got {validation_split}")
        n = xs[0].shape[0]
        n_train = int(n * (1 - validation_split))  # Keras: the LAST samples, unshuffled
        if n_train <= 0 or n_train >= n:
            raise ValueError(f"fit: validation_split={validation_split} of {n} samples leaves "
                             "an empty training or validation set")

        def cut(arrays, part):
            return [None if a is None else (a[:n_train] if part == 0 else a[n_train:])
                    for a in arrays]

        return (cut(xs, 0), cut(ys, 0), cut(sws, 0)), (cut(xs, 1), cut(ys, 1), cut(sws, 1))


def _concatenated(parts: list):
    """Batches of one output structure (arrays inside) joined along the batch axis."""
    leaves = iter([np.concatenate(col, axis=0)
                   for col in zip(*[flatten_structure(p) for p in parts])])
    return map_structure(lambda _: next(leaves), parts[0])


class _IndexBatches:
    """The sample indices of each batch, in ``order`` (default: 0..n-1)."""

    def __init__(self, n: int, batch_size: int, order=None):
        self.order = np.arange(n) if order is None else order
        self.batch_size = batch_size

    def __len__(self) -> int:
        return math.ceil(len(self.order) / self.batch_size)

    def __iter__(self):
        for start in range(0, len(self.order), self.batch_size):
            yield self.order[start:start + self.batch_size]


class _FitReporter(_callbacks.Callback):
    """fit's own hooks: reset metrics, print "Epoch e/E", validate into the logs before the
    user's callbacks see them, the verbose=2 line, and the Ctrl-C message."""

    def __init__(self, model, epochs, verbose, validate):
        super().__init__()
        self.epochs, self.verbose, self.validate = epochs, verbose, validate
        self.model = model

    def on_epoch_begin(self, epoch, logs=None):
        self.model._reset_metrics()
        self.started = time.perf_counter()
        if self.verbose == 1:
            print(f"Epoch {epoch + 1}/{self.epochs}")

    def on_epoch_end(self, epoch, logs=None):
        if self.validate is not None:
            results = self.validate()
            logs.update({f"val_{k}": v for k, v in results.items()})
            self.model._reset_metrics()
        if self.verbose == 2:
            took = time.perf_counter() - self.started
            print(f"Epoch {epoch + 1}/{self.epochs} - {took:.0f}s"
                  + "".join(f" - {k}: {v:.4f}" for k, v in logs.items()))

    def on_interrupt(self, epoch, step):
        saved = [cb.last_saved for cb in getattr(self.model, "_fit_callbacks", [])
                 if getattr(cb, "last_saved", None)]
        print(f"\nfit: interrupted during epoch {epoch + 1}, step {step + 1}; the model holds "
              "the weights after the last completed step"
              + (f"; the last checkpoint ({saved[-1]}) is intact" if saved else ""),
              file=sys.stderr)


def _sparse_labels(y: np.ndarray, out: _Output, n: int, who: str) -> np.ndarray:
    """Class indices (n,) checked against the output's width; (n, ...) for an output with
    one prediction per position (n, ..., C) (labels (n, ..., 1) too, as Keras)."""
    C, positions = out.tensor.shape[-1], tuple(out.tensor.shape[1:-1])
    if y.ndim == len(positions) + 2 and y.shape[-1] == 1:
        y = y[..., 0]
    if y.ndim != len(positions) + 1 or any(
            p is not None and p != s for p, s in zip(positions, y.shape[1:])):
        want = ", ".join([str(n)] + ["None" if p is None else str(p) for p in positions]) + \
            ("," if not positions else "")
        raise ValueError(f"{who}: sparse_categorical_crossentropy needs one class index per "
                         f"sample, y of shape ({want}); got {y.shape} (one-hot labels go with "
                         "loss='categorical_crossentropy')")
    if y.dtype.kind == "f" and not np.all(np.mod(y, 1) == 0):
        raise ValueError(f"{who}: labels must be integer class indices, got non-integer values")
    y = y.astype(np.int64)
    if y.size and (y.min() < 0 or y.max() >= C):
        bad = int(y.min()) if y.min() < 0 else int(y.max())
        where = int(np.argmax(y == bad))
        raise ValueError(f"{who}: label {bad} (sample {where}) is outside the class range "
                         f"0..{C - 1}: the model's output layer has {C} units. Set num_classes "
                         f"to at least {y.max() + 1} or fix the labels")
    return y
