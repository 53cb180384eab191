"""``Model`` (functional), ``Sequential``, training (``compile``/``fit``/``evaluate``/
``predict``), ``summary()``, and saving (``save``/``load_model``, via tinymm/io.py).

Dimension letters: N samples, C classes.

One training step of ``fit`` is, in PyTorch terms::

    model.train(); out = model(x_batch)            # the layers' nn modules, in graph order
    loss = loss_fn(y_batch, out)                   # mean over the batch
    optimizer.zero_grad(); loss.backward(); optimizer.step()

with the loss checked for NaN/Inf before ``backward`` (so a bad step is never applied).
"""

from __future__ import annotations

import math
import sys
import time

import numpy as np

from tinymm import io
from tinymm import optim as _optim
from tinymm.autograd import no_grad, nonfinite_origin
from tinymm.keras import callbacks as _callbacks
from tinymm.keras import losses as _losses
from tinymm.keras import optimizers as _optimizers
from tinymm.keras.engine import (
    InputLayer,
    KerasTensor,
    Layer,
    as_list,
    flatten_structure,
    fmt_shape,
    map_structure,
    topological_nodes,
    unique_name,
)
from tinymm.nn.module import Module
from tinymm.random import default_generator
from tinymm.tensor import Tensor, as_tensor


class NonFiniteLossError(FloatingPointError):
    """``fit`` met a NaN or infinite loss (the message names the epoch and step)."""


def _to_numpy(x):
    if isinstance(x, Tensor):
        return x.array
    return np.asarray(x)


# ---------------------------------------------------------------- metrics
def _accuracy(y_true: np.ndarray, y_pred: np.ndarray, loss_name: str) -> float:
    """Keras picks the accuracy from the loss and the output's width."""
    if y_pred.ndim >= 2 and y_pred.shape[-1] == 1 or loss_name == "binary_crossentropy":
        return float(np.mean((y_pred.reshape(y_true.shape) > 0.5) == (y_true > 0.5)))
    if loss_name == "categorical_crossentropy" or (y_true.ndim == y_pred.ndim
                                                   and y_true.shape == y_pred.shape):
        return float(np.mean(y_pred.argmax(-1) == y_true.argmax(-1)))
    return float(np.mean(y_pred.argmax(-1) == y_true.reshape(y_pred.shape[:-1])))


def _mae(y_true, y_pred, loss_name):
    return float(np.mean(np.abs(y_pred - y_true.reshape(y_pred.shape))))


def _mse(y_true, y_pred, loss_name):
    return float(np.mean((y_pred - y_true.reshape(y_pred.shape)) ** 2))


_METRICS = {"accuracy": _accuracy, "acc": _accuracy, "sparse_categorical_accuracy": _accuracy,
            "categorical_accuracy": _accuracy, "binary_accuracy": _accuracy, "mae": _mae,
            "mse": _mse}


def _metric(name):
    if callable(name):
        fn = name
        return getattr(fn, "__name__", "metric"), lambda t, p, _: float(_to_numpy(fn(t, p)).mean())
    if name not in _METRICS:
        raise ValueError(f"compile: unknown metric {name!r}; known: {sorted(_METRICS)}")
    return ("accuracy" if name == "acc" else name), _METRICS[name]


# ---------------------------------------------------------------- the model
class Model(Module):
    """The functional model: ``Model(inputs=[a, b], outputs=y)``, an ``nn.Module`` whose
    children are its layers' modules (keys ``<layer name>.<parameter>``)."""

    def __init__(self, inputs=None, outputs=None, name: str | None = None):
        super().__init__()
        self.name = name or unique_name("functional")
        self.compiled = False
        self.stop_training = False
        self.history = None
        self.optimizer = None
        self.built = False
        if inputs is None or outputs is None:
            raise TypeError("Model: give inputs=... and outputs=... (KerasTensors from Input "
                            "and from calling layers); for a stack of layers use Sequential")
        self._init_graph(inputs, outputs)

    # ------------------------------------------------------------ graph
    def _init_graph(self, inputs, outputs) -> None:
        self._single_input = not isinstance(inputs, (list, tuple))
        self._single_output = not isinstance(outputs, (list, tuple))
        self.inputs, self.outputs = as_list(inputs), as_list(outputs)
        for i, t in enumerate(self.inputs):
            if not (isinstance(t, KerasTensor) and isinstance(t.layer, InputLayer)):
                raise TypeError(f"Model '{self.name}': inputs[{i}] must come from "
                                f"keras.Input(shape=...), got {t!r}")
        for i, t in enumerate(self.outputs):
            if not isinstance(t, KerasTensor):
                raise TypeError(f"Model '{self.name}': outputs[{i}] must be a KerasTensor "
                                f"(the result of calling a layer), got {type(t).__name__}")
        self._nodes = topological_nodes(self.outputs)
        given = {id(t) for t in self.inputs}
        for node in self._nodes:
            for t in node.inputs:
                if t.node is None and id(t) not in given:
                    raise ValueError(f"Model '{self.name}': layer '{node.layer.name}' needs the "
                                     f"input '{t.layer.name}' {fmt_shape(t.shape)}, which is not "
                                     "in inputs=[...]; add it (the graph is disconnected)")
        layers = [t.layer for t in self.inputs]
        for node in self._nodes:
            if node.layer not in layers:
                layers.append(node.layer)
        names = [layer.name for layer in layers]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"Model '{self.name}': layer names must be unique, repeated: "
                             f"{duplicates}")
        self.layers = layers
        for layer in layers:
            if layer.module is not None and layer.name not in self._modules:
                self.add_module(layer.name, layer.module)
        self.built = True

    def get_layer(self, name: str) -> Layer:
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise ValueError(f"Model '{self.name}': no layer named {name!r}; layers: "
                         f"{[layer.name for layer in self.layers]}")

    # ------------------------------------------------------------ calling
    def _prepare_inputs(self, x, who: str, keep_tensors: bool = False) -> list:
        """Check count, shapes and sample counts; cast floats to the Inputs' dtype. Tensors
        stay Tensors (so gradients reach them) when ``keep_tensors``."""
        if isinstance(x, dict):
            missing = [t.layer.name for t in self.inputs if t.layer.name not in x]
            if missing:
                raise ValueError(f"{who}: the input dict lacks {missing}; keys must be the "
                                 f"Input names {[t.layer.name for t in self.inputs]}")
            xs = [x[t.layer.name] for t in self.inputs]
        else:
            xs = list(x) if isinstance(x, (list, tuple)) else [x]
        if len(xs) != len(self.inputs):
            expected = ", ".join(f"'{t.layer.name}' {fmt_shape(t.shape)}" for t in self.inputs)
            raise ValueError(f"{who}: model '{self.name}' expects {len(self.inputs)} input(s) "
                             f"({expected}), got {len(xs)}. Pass a list in that order.")
        arrays = []
        for t, value in zip(self.inputs, xs):
            a = value if isinstance(value, Tensor) and keep_tensors else _to_numpy(value)
            want = t.shape
            if a.ndim != len(want) or any(w is not None and w != g for w, g in
                                          zip(want[1:], a.shape[1:])):
                raise ValueError(f"{who}: input '{t.layer.name}' of model '{self.name}' expects "
                                 f"shape {fmt_shape(want)}, got an array of shape {a.shape}"
                                 + (" (images are channels-last: (N, H, W, C))"
                                    if len(want) == 4 else ""))
            if t.dtype.kind == "f" and a.dtype != t.dtype:
                a = a.astype(t.dtype)
            arrays.append(a)
        sizes = {a.shape[0] for a in arrays}
        if len(sizes) > 1:
            raise ValueError(f"{who}: the inputs hold different numbers of samples "
                             f"{[a.shape[0] for a in arrays]}")
        return arrays

    def _run_graph(self, xs: list) -> list:
        values = {id(t): as_tensor(v)
                  for t, v in zip(self.inputs, xs)}
        for node in self._nodes:
            def look_up(t):
                return values[id(t)] if isinstance(t, KerasTensor) else t

            args = map_structure(look_up, node.args)
            kwargs = map_structure(look_up, node.kwargs)
            out = Layer.__call__(node.layer, *args, **kwargs)  # as recorded (no arg rewrapping)
            for t, v in zip(node.outputs, as_list(out) if len(node.outputs) > 1 else [out]):
                values[id(t)] = v
        return [values[id(t)] for t in self.outputs]

    def forward(self, x, training: bool | None = None):
        if isinstance(x, KerasTensor) or any(isinstance(t, KerasTensor)
                                             for t in flatten_structure(x)):
            raise TypeError(f"Model '{self.name}': calling a model on symbolic tensors (nesting "
                            "models) is not supported; build one model from the layers")
        xs = self._prepare_inputs(x, "Model call", keep_tensors=True)
        previous = self.training
        if training is not None:
            self.train(training)
        try:
            outs = self._run_graph(list(xs))
        finally:
            if training is not None:
                self.train(previous)
        return outs[0] if self._single_output else outs

    def __call__(self, x, training: bool | None = None):
        return self.forward(x, training=training)

    # ------------------------------------------------------------ description
    def count_params(self) -> int:
        return self.num_parameters()

    def summary(self, line_length: int | None = None, print_fn=None) -> None:
        print_fn = print_fn or print
        functional = not isinstance(self, Sequential)
        widths = [33, 26, 11, 28] if functional else [33, 26, 11]
        total = sum(widths) if line_length is None else line_length
        headers = ["Layer (type)", "Output Shape", "Param #", "Connected to"][:len(widths)]

        def row(cells):
            return "".join((" " + str(cell)).ljust(w) for cell, w in zip(cells, widths)).rstrip()

        print_fn(f'Model: "{self.name}"')
        print_fn("_" * total)
        print_fn(row(headers))
        print_fn("=" * total)
        layers = self.layers if functional else [la for la in self.layers
                                                 if not isinstance(la, InputLayer)]
        for layer in layers:
            outs = self._output_tensors(layer)
            shape = fmt_shape(outs[0].shape) if len(outs) == 1 else \
                fmt_shape([t.shape for t in outs])
            params = f"{layer.count_params():,}"
            cells = [f"{layer.name} ({type(layer).__name__})", shape, params]
            if functional:
                node = self._node_of(layer)
                sources = [] if node is None else [
                    f"{t.layer.name}[0][{t.index}]" for t in node.inputs]
                cells.append(sources[0] if sources else "[]")
                print_fn(row(cells))
                for extra in sources[1:]:
                    print_fn(row(["", "", "", extra]))
            else:
                print_fn(row(cells))
        print_fn("=" * total)
        trainable = self.num_parameters(trainable_only=True)
        everything = self.num_parameters()
        print_fn(f"Total params: {everything:,} ({_bytes(self)})")
        print_fn(f"Trainable params: {trainable:,}")
        print_fn(f"Non-trainable params: {everything - trainable:,}")
        print_fn("_" * total)

    def _node_of(self, layer):
        for node in self._nodes:
            if node.layer is layer:
                return node
        return None

    def _output_tensors(self, layer) -> list[KerasTensor]:
        if isinstance(layer, InputLayer):
            return [layer.output]
        node = self._node_of(layer)
        return node.outputs

    # ------------------------------------------------------------ compile
    def compile(self, optimizer="rmsprop", loss=None, metrics=None, loss_weights=None,
                **unknown) -> None:
        if unknown:
            raise TypeError(f"compile: unexpected keyword argument(s) {sorted(unknown)}")
        if loss is None:
            raise ValueError("compile: give a loss, e.g. loss='sparse_categorical_crossentropy'")
        if optimizer == "rmsprop":
            raise ValueError("compile: tinymm has no RMSprop; use optimizer='adam' or 'sgd'")
        self.loss_name = loss if isinstance(loss, str) else getattr(
            loss, "__name__", type(loss).__name__)
        self.loss_spec = loss
        self.loss_fn = _losses.get(loss)
        self._optimizer_spec = _optimizers.get(optimizer)
        self.metrics_names_given = list(metrics or [])
        self._metrics = [_metric(m) for m in self.metrics_names_given]
        self.optimizer = None
        if self.built:
            self._ensure_optimizer()
        self.compiled = True

    def _ensure_optimizer(self):
        if self.optimizer is None:
            spec = self._optimizer_spec
            if isinstance(spec, _optim.Optimizer):
                self.optimizer = spec
            else:
                self.optimizer = spec.build(self.parameters())
        return self.optimizer

    @property
    def metrics_names(self) -> list[str]:
        return ["loss"] + [name for name, _ in getattr(self, "_metrics", [])]

    # ------------------------------------------------------------ data checks
    def _prepare_targets(self, y, n: int, who: str) -> np.ndarray:
        if y is None:
            raise ValueError(f"{who}: y (the targets) is missing")
        y = _to_numpy(y)
        if y.shape[0] != n:
            raise ValueError(f"{who}: x has {n} samples but y has {y.shape[0]}")
        out = self.outputs[0]
        C = out.shape[-1]
        if self.loss_name == "sparse_categorical_crossentropy":
            flat = y.reshape(n, -1) if y.ndim > 1 else y
            if y.ndim == 2 and y.shape[1] == 1:
                y = y[:, 0]
            elif y.ndim != 1:
                raise ValueError(f"{who}: sparse_categorical_crossentropy needs one class index "
                                 f"per sample, y of shape ({n},); got {y.shape} (one-hot "
                                 "labels go with loss='categorical_crossentropy')")
            if y.dtype.kind == "f" and not np.all(np.mod(flat, 1) == 0):
                raise ValueError(f"{who}: labels must be integer class indices, got "
                                 "non-integer values")
            y = y.astype(np.int64)
            if y.size and (y.min() < 0 or y.max() >= C):
                bad = int(y.min()) if y.min() < 0 else int(y.max())
                where = int(np.argmax(y == bad))
                raise ValueError(f"{who}: label {bad} (sample {where}) is outside the class "
                                 f"range 0..{C - 1}: the model's output layer has {C} units. "
                                 f"Set num_classes to at least {y.max() + 1} or fix the labels")
        elif y.dtype.kind in "fiub" and out.dtype.kind == "f":
            y = y.astype(out.dtype)  # float targets in the output's dtype, as Keras casts
        return y

    def _batches(self, n: int, batch_size: int, order=None):
        order = np.arange(n) if order is None else order
        for start in range(0, n, batch_size):
            yield order[start:start + batch_size]

    def _loss_and_output(self, xb, yb):
        out = self._run_graph(xb)
        out = out[0]
        if not isinstance(self.loss_fn, _losses.Loss):  # a user's callable gets Tensors
            yb = as_tensor(yb)
        loss = self.loss_fn(yb, out)
        if loss.ndim != 0:
            loss = loss.mean()
        return loss, out

    # ------------------------------------------------------------ training
    def train_on_batch(self, x, y) -> float:
        """One optimizer step on (x, y); returns the loss before the step."""
        self._require_compiled("train_on_batch")
        xs = self._prepare_inputs(x, "train_on_batch")
        yb = self._prepare_targets(y, xs[0].shape[0], "train_on_batch")
        optimizer = self._ensure_optimizer()
        self.train()
        loss, _ = self._loss_and_output(xs, yb)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return float(loss.item())

    def _require_compiled(self, who: str) -> None:
        if not getattr(self, "compiled", False):
            raise RuntimeError(f"{who}: call model.compile(optimizer=..., loss=...) first")

    def fit(self, x=None, y=None, batch_size: int | None = None, epochs: int = 1,
            verbose: int | str = "auto", callbacks=None, validation_split: float = 0.0,
            validation_data=None, shuffle: bool = True, initial_epoch: int = 0,
            on_nan: str = "raise"):
        """Train for ``epochs`` epochs; returns a ``History``.

        on_nan: what a NaN/Inf loss does: "raise" (``NonFiniteLossError`` naming the epoch
        and step; the bad step is not applied), "stop" (print that message and return the
        History), or "continue".
        """
        self._require_compiled("fit")
        if on_nan not in ("raise", "stop", "continue"):
            raise ValueError(f"fit: on_nan must be 'raise', 'stop' or 'continue', got {on_nan!r}")
        batch_size = batch_size or 32
        verbose = 1 if verbose == "auto" else int(verbose)
        xs = self._prepare_inputs(x, "fit")
        n = xs[0].shape[0]
        yt = self._prepare_targets(y, n, "fit")
        val = None
        if validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
                raise ValueError("fit: validation_data must be a pair (x_val, y_val)")
            vx = self._prepare_inputs(validation_data[0], "fit (validation_data)")
            val = (vx, self._prepare_targets(validation_data[1], vx[0].shape[0],
                                             "fit (validation_data)"))
        elif validation_split:
            if not 0 < validation_split < 1:
                raise ValueError(f"fit: validation_split must be in (0, 1), got "
                                 f"{validation_split}")
            n_train = int(n * (1 - validation_split))  # Keras: the LAST samples, unshuffled
            if n_train <= 0 or n_train >= n:
                raise ValueError(f"fit: validation_split={validation_split} of {n} samples "
                                 "leaves an empty training or validation set")
            val = ([a[n_train:] for a in xs], yt[n_train:])
            xs, yt, n = [a[:n_train] for a in xs], yt[:n_train], n_train
        optimizer = self._ensure_optimizer()
        history = _callbacks.History()
        cbs = list(callbacks or []) + [history]  # as Keras: History sees the final logs
        for cb in cbs:
            cb.set_model(self)
        self.history = history
        self.stop_training = False
        steps = math.ceil(n / batch_size)
        for cb in cbs:
            cb.on_train_begin()
        epoch = step = initial_epoch
        try:
            for epoch in range(initial_epoch, epochs):
                for cb in cbs:
                    cb.on_epoch_begin(epoch)
                if verbose == 1:
                    print(f"Epoch {epoch + 1}/{epochs}")
                bar = _callbacks.Progbar(steps) if verbose == 1 else None
                order = default_generator().permutation(n) if shuffle else None
                totals = {"loss": 0.0, **{name: 0.0 for name, _ in self._metrics}}
                seen = 0
                started = time.perf_counter()
                self.train()
                for step, idx in enumerate(self._batches(n, batch_size, order)):
                    for cb in cbs:
                        cb.on_train_batch_begin(step)
                    xb = [a[idx] for a in xs]
                    yb = yt[idx]
                    loss, out = self._loss_and_output(xb, yb)
                    value = float(loss.item())
                    if not math.isfinite(value):
                        message = (f"fit: the loss is {value} at epoch {epoch + 1}, step "
                                   f"{step + 1}/{steps} (samples {int(idx[0])}..); this step "
                                   "was not applied, so the weights are those after the "
                                   "previous step. Lower the learning rate, check the inputs "
                                   "for NaN/Inf, or pass on_nan='continue' to go on. Where "
                                   f"it started: {nonfinite_origin(loss)}.")
                        if on_nan == "raise":
                            raise NonFiniteLossError(message)
                        if on_nan == "stop":
                            print(message, file=sys.stderr)
                            self.stop_training = True
                            history.nan_step = (epoch, step)
                            break
                    optimizer.zero_grad()
                    loss.backward()
                    optimizer.step()
                    k = len(idx)
                    seen += k
                    totals["loss"] += value * k
                    pred = out.array
                    for name, fn in self._metrics:
                        totals[name] += fn(yb, pred, self.loss_name) * k
                    logs = {key: total / seen for key, total in totals.items()}
                    if bar is not None:
                        bar.update(step + 1, logs)
                    for cb in cbs:
                        cb.on_train_batch_end(step, logs)
                if self.stop_training and seen == 0:
                    break
                logs = {key: total / max(seen, 1) for key, total in totals.items()}
                if val is not None:
                    results = self._evaluate_arrays(val[0], val[1], batch_size)
                    logs.update({f"val_{k}": v for k, v in results.items()})
                if bar is not None:
                    bar.update(steps, logs, finalize=True)
                elif verbose == 2:
                    took = time.perf_counter() - started
                    print(f"Epoch {epoch + 1}/{epochs} - {took:.0f}s "
                          f"{took * 1e3 / max(step + 1, 1):.0f}ms/step"
                          + "".join(f" - {k}: {v:.4f}" for k, v in logs.items()))
                for cb in cbs:
                    cb.on_epoch_end(epoch, logs)
                if self.stop_training:
                    break
        except KeyboardInterrupt:
            saved = [cb.last_saved for cb in cbs if getattr(cb, "last_saved", None)]
            print(f"\nfit: interrupted during epoch {epoch + 1}, step {step + 1}; the model "
                  "holds the weights after the last completed step"
                  + (f"; the last checkpoint ({saved[-1]}) is intact" if saved else ""),
                  file=sys.stderr)
            raise
        for cb in cbs:
            cb.on_train_end()
        return history

    def _evaluate_arrays(self, xs, yt, batch_size: int) -> dict:
        totals = {"loss": 0.0, **{name: 0.0 for name, _ in self._metrics}}
        n = xs[0].shape[0]
        was_training = self.training
        self.eval()
        try:
            with no_grad():
                for idx in self._batches(n, batch_size):
                    loss, out = self._loss_and_output([a[idx] for a in xs], yt[idx])
                    k = len(idx)
                    totals["loss"] += float(loss.item()) * k
                    for name, fn in self._metrics:
                        totals[name] += fn(yt[idx], out.array, self.loss_name) * k
        finally:
            self.train(was_training)
        return {key: total / n for key, total in totals.items()}

    def evaluate(self, x=None, y=None, batch_size: int | None = None, verbose="auto",
                 return_dict: bool = False):
        self._require_compiled("evaluate")
        xs = self._prepare_inputs(x, "evaluate")
        yt = self._prepare_targets(y, xs[0].shape[0], "evaluate")
        bar = _callbacks.Progbar(math.ceil(xs[0].shape[0] / (batch_size or 32))) \
            if verbose in (1, "auto") else None
        results = self._evaluate_arrays(xs, yt, batch_size or 32)
        if bar is not None:
            bar.update(bar.target, results, finalize=True)
        if return_dict:
            return results
        values = list(results.values())
        return values[0] if len(values) == 1 else values

    def predict(self, x, batch_size: int | None = None, verbose=0) -> np.ndarray:
        xs = self._prepare_inputs(x, "predict")
        n = xs[0].shape[0]
        batch_size = batch_size or 32
        parts: list[list[np.ndarray]] = [[] for _ in self.outputs]
        was_training = self.training
        self.eval()
        try:
            with no_grad():
                for idx in self._batches(n, batch_size):
                    outs = self._run_graph([a[idx] for a in xs])
                    for store, o in zip(parts, outs):
                        store.append(o.array)
        finally:
            self.train(was_training)
        results = [np.concatenate(p, axis=0) for p in parts]
        return results[0] if self._single_output else results

    # ------------------------------------------------------------ saving
    def get_config(self) -> dict:
        node_index = {id(node): i for i, node in enumerate(self._nodes)}
        input_index = {id(t): i for i, t in enumerate(self.inputs)}

        def ref(t):
            if not isinstance(t, KerasTensor):
                return t
            if id(t) in input_index:
                return {"__input__": input_index[id(t)]}
            return {"__node__": node_index[id(t.node)], "index": t.index}

        return {
            "class_name": type(self).__name__, "name": self.name,
            "layers": [{"class_name": type(la).__name__, "config": la.get_config()}
                       for la in self.layers],
            "inputs": [t.layer.name for t in self.inputs],
            "nodes": [{"layer": node.layer.name, "args": map_structure(ref, list(node.args)),
                       "kwargs": map_structure(ref, node.kwargs)} for node in self._nodes],
            "outputs": [ref(t) for t in self.outputs],
            "single_input": self._single_input, "single_output": self._single_output,
        }

    def _compile_config(self) -> dict | None:
        if not getattr(self, "compiled", False):
            return None
        spec = self._optimizer_spec
        if isinstance(spec, _optimizers.Optimizer):
            opt = {"class_name": type(spec).__name__, "config": spec.get_config()}
        else:
            opt = {"class_name": "tinymm.optim." + type(spec).__name__}
        loss = self.loss_spec if isinstance(self.loss_spec, str) else None
        metrics = [m for m in self.metrics_names_given if isinstance(m, str)]
        return {"optimizer": opt, "loss": loss, "metrics": metrics}

    def save(self, filepath, overwrite: bool = True, metadata: dict | None = None) -> None:
        """Save the architecture, weights, compile settings and optimizer state as a
        tinymm checkpoint (``<stem>.safetensors`` + ``<stem>.json``), atomically.
        ``metadata``: any JSON data to keep beside them (a vocabulary, a data-set name...),
        returned by ``tinymm.io.load_checkpoint`` and kept as ``model.metadata`` on load."""
        if not overwrite and io.checkpoint_paths(filepath)[1].exists():
            raise FileExistsError(f"save: {io.checkpoint_paths(filepath)[1]} exists and "
                                  "overwrite=False")
        tensors = dict(self.state_dict())
        manifest = {"model": self.get_config(), "compile": self._compile_config(),
                    "metadata": metadata or {}}
        if self.optimizer is not None:
            opt_tensors, opt_manifest = io.optimizer_state_to_checkpoint(self.optimizer)
            tensors.update(opt_tensors)
            manifest["optimizer"] = opt_manifest
        if self.history is not None:
            manifest["history"] = self.history.history
        io.save_checkpoint(filepath, tensors, manifest)

    def save_weights(self, filepath, overwrite: bool = True) -> None:
        io.save_checkpoint(filepath, dict(self.state_dict()), {"weights_only": True})

    def load_weights(self, filepath) -> None:
        tensors, _ = io.load_checkpoint(filepath)
        weights = {k: v for k, v in tensors.items() if not k.startswith("optimizer/")}
        io.check_tensors_fit(weights, {k: v.shape for k, v in self.state_dict().items()},
                             where=f"checkpoint {filepath}")
        self.load_state_dict(weights)


def _bytes(model) -> str:
    size = sum(p.array.nbytes for p in model.parameters())
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.2f} {unit}" if unit != "B" else f"{size} B"
        size /= 1024
    return ""


class Sequential(Model):
    """A stack of layers; builds its graph as soon as the input shape is known (an
    ``Input``/``input_shape=`` on the first layer, or the first data it sees)."""

    def __init__(self, layers=None, name: str | None = None):
        Module.__init__(self)
        self.name = name or unique_name("sequential")
        self.compiled = False
        self.stop_training = False
        self.history = None
        self.optimizer = None
        self.built = False
        self._stack: list[Layer] = []
        self._input = None
        self.layers = []
        for layer in layers or []:
            self.add(layer)

    def add(self, layer) -> None:
        if isinstance(layer, KerasTensor) and isinstance(layer.layer, InputLayer):
            self._input = layer
        elif isinstance(layer, InputLayer):
            self._input = layer.output
        elif isinstance(layer, Layer):
            if self._input is None and not self._stack and layer.input_shape_hint is not None:
                from tinymm.keras.engine import Input
                self._input = Input(shape=layer.input_shape_hint)
            self._stack.append(layer)
        else:
            raise TypeError(f"Sequential.add: expected a Keras layer or Input, got "
                            f"{type(layer).__name__}")
        if self._input is not None and self._stack:
            self._build_graph(self._input)

    def _build_graph(self, inputs) -> None:
        x = inputs
        for layer in self._stack:
            x = layer(x)
        self._init_graph(inputs, x)

    def build(self, input_shape) -> None:
        from tinymm.keras.engine import Input
        self._input = Input(shape=tuple(input_shape)[1:])
        self._build_graph(self._input)

    def _lazy_build(self, x) -> None:
        if self.built:
            return
        if not self._stack:
            raise ValueError(f"Sequential '{self.name}': add layers before using the model")
        from tinymm.keras.engine import Input
        a = _to_numpy(x[0] if isinstance(x, (list, tuple)) else x)
        dtype = "int64" if a.dtype.kind in "iu" else "float32"
        self._input = Input(shape=a.shape[1:], dtype=dtype)
        self._build_graph(self._input)

    def _prepare_inputs(self, x, who: str, keep_tensors: bool = False):
        self._lazy_build(x)
        return super()._prepare_inputs(x, who, keep_tensors)

    def summary(self, *args, **kwargs) -> None:
        if not self.built:
            raise ValueError(f"Sequential '{self.name}': the model is not built yet, so its "
                             "shapes and parameter counts are unknown; start it with "
                             "keras.Input(shape=...) or call it on data first")
        super().summary(*args, **kwargs)

    def get_config(self) -> dict:
        config = super().get_config()
        config["class_name"] = "Sequential"
        return config


# ---------------------------------------------------------------- loading
def model_from_config(config: dict, custom_objects: dict | None = None) -> Model:
    from tinymm.keras import layers as _layers
    from tinymm.keras.engine import Input

    registry = {**_layers.LAYERS, **(custom_objects or {})}
    by_name: dict[str, Layer] = {}
    inputs_by_name = {}
    for entry in config["layers"]:
        cls_name, cfg = entry["class_name"], dict(entry["config"])
        if cls_name == "InputLayer":
            t = Input(shape=tuple(cfg["shape"]), dtype=cfg.get("dtype", "float32"),
                      name=cfg["name"])
            inputs_by_name[cfg["name"]] = t
            by_name[cfg["name"]] = t.layer
            continue
        if cls_name not in registry:
            raise io.CheckpointError(f"load_model: unknown layer class {cls_name!r}; pass it "
                                     "in custom_objects={name: class}")
        by_name[cfg["name"]] = registry[cls_name](**cfg)
    inputs = [inputs_by_name[name] for name in config["inputs"]]
    produced: list[list[KerasTensor]] = []

    def resolve(item):
        if isinstance(item, dict) and "__input__" in item:
            return inputs[item["__input__"]]
        if isinstance(item, dict) and "__node__" in item:
            return produced[item["__node__"]][item["index"]]
        return item

    def resolve_all(structure):
        if isinstance(structure, dict) and ("__input__" in structure or "__node__" in structure):
            return resolve(structure)
        if isinstance(structure, list):
            return [resolve_all(s) for s in structure]
        if isinstance(structure, dict):
            return {k: resolve_all(v) for k, v in structure.items()}
        return structure

    for node in config["nodes"]:
        layer = by_name[node["layer"]]
        out = Layer.__call__(layer, *resolve_all(node["args"]), **resolve_all(node["kwargs"]))
        produced.append(as_list(out) if isinstance(out, list) else [out])
    outputs = [resolve(o) for o in config["outputs"]]
    ins = inputs[0] if config.get("single_input") else inputs
    outs = outputs[0] if config.get("single_output") else outputs
    if config["class_name"] == "Sequential":
        model = Sequential(name=config["name"])
        model._stack = [la for la in (by_name[n["layer"]] for n in config["nodes"])]
        model._input = inputs[0]
        model._init_graph(ins, outs)
        return model
    return Model(inputs=ins, outputs=outs, name=config["name"])


def load_model(filepath, custom_objects: dict | None = None, compile: bool = True) -> Model:  # noqa: A002
    """Rebuild a model saved with ``model.save``: architecture, weights, and (with
    ``compile=True``) its loss, metrics and optimizer state, so training resumes exactly."""
    tensors, manifest = io.load_checkpoint(filepath)
    if "model" not in manifest:
        raise io.CheckpointError(f"{filepath}: this checkpoint holds weights only (saved with "
                                 "save_weights); build the model and call load_weights")
    model = model_from_config(manifest["model"], custom_objects)
    weights = {k: v for k, v in tensors.items() if not k.startswith("optimizer/")}
    io.check_tensors_fit(weights, {k: v.shape for k, v in model.state_dict().items()},
                         where=f"checkpoint {filepath}")
    model.load_state_dict(weights)
    model.metadata = manifest.get("metadata", {})
    comp = manifest.get("compile")
    if compile and comp and comp.get("loss"):
        opt = comp["optimizer"]
        spec = getattr(_optimizers, opt["class_name"], None)
        optimizer = spec(**opt.get("config", {})) if spec is not None else "adam"
        model.compile(optimizer=optimizer, loss=comp["loss"], metrics=comp["metrics"])
        if "optimizer" in manifest:
            io.optimizer_state_from_checkpoint(model._ensure_optimizer(), tensors,
                                               manifest["optimizer"])
    return model


__all__ = ["Model", "NonFiniteLossError", "Sequential", "load_model", "model_from_config"]
