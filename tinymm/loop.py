"""The one training loop of tinymm: ``fit`` (epochs), ``train_epoch`` (optimizer steps),
``evaluate`` (no-grad passes), the non-finite-loss stop, the progress bar and the
shuffling rule.

Callers: the app's VQA task (``tinymm/app/train.py``, ``run_training`` and ``evaluate``),
the Keras front end (``tinymm/keras/training.py``: ``Model.fit``, ``evaluate``,
``train_on_batch``); any other task (retrieval, captioning) plugs in the same way. A task
supplies:

    model       an ``nn.Module`` (``train()``/``eval()`` are called here)
    loss_fn     ``loss_fn(model, batch) -> (loss, metrics)``: ``loss`` a scalar Tensor (the
                mean over the batch, what ``backward`` differentiates); ``metrics`` a dict:
                ``"samples": n`` (the batch's weight in the logged mean loss, default 1) and
                any number of named values, each either a ``(total, count)`` pair (logged as
                sum of totals / sum of counts over the epoch) or a stateful metric object
                with ``result()`` (logged as its ``result()``; the task resets it). A
                ``loss`` of None means ``loss_fn`` took the optimizer step itself (a Keras
                model's own ``train_step``): nothing is differentiated or stepped here
    batches     any iterable of batches (``loss_fn`` is the only thing that looks inside)
    optimizer   a ``tinymm.optim`` optimizer over the model's parameters

One training step, in PyTorch terms::

    loss, metrics = loss_fn(model, batch)
    (check the loss is finite: a bad step is never applied)
    optimizer.zero_grad(); loss.backward(); optimizer.step()

Callbacks are any objects with some of the hooks ``on_train_begin(logs)``,
``on_epoch_begin(epoch, logs)``, ``on_train_batch_begin(step, logs)``,
``on_train_batch_end(step, logs)``, ``on_epoch_end(epoch, logs)``, ``on_train_end(logs)``
and ``on_interrupt(epoch, step)`` (Ctrl-C; the KeyboardInterrupt is re-raised after it);
missing hooks are skipped. ``on_epoch_end`` may add entries to ``logs`` (validation
numbers); setting ``model.stop_training = True`` in a hook ends training after the current
step (Keras's convention). Epochs and steps count from 0 in hooks, from 1 in messages.
"""

from __future__ import annotations

import math
import sys
import time

from tinymm.autograd import no_grad, nonfinite_origin
from tinymm.data.loader import epoch_order

__all__ = ["NonFiniteLossError", "Progress", "RunningMetrics", "epoch_order", "evaluate",
           "fit", "train_epoch"]


class NonFiniteLossError(FloatingPointError):
    """The training loss became NaN or infinite; the message names the epoch and step. The
    step that produced it was not applied."""


# ---------------------------------------------------------------------------- metrics
class RunningMetrics:
    """The running values of one epoch: ``loss`` (weighted by ``samples``) and what
    ``loss_fn`` reports (see the module docstring)."""

    def __init__(self):
        self.loss_total, self.samples = 0.0, 0
        self.totals: dict[str, list[float]] = {}
        self.stateful: dict = {}

    def update(self, loss_value: float | None, metrics: dict) -> None:
        n = metrics.get("samples", 1)
        if loss_value is not None:
            self.loss_total += loss_value * n
            self.samples += n
        for name, value in metrics.items():
            if name == "samples":
                continue
            if isinstance(value, tuple) and len(value) == 2:
                total = self.totals.setdefault(name, [0.0, 0])
                total[0] += float(value[0])
                total[1] += value[1]
            elif hasattr(value, "result"):
                self.stateful[name] = value
            else:
                raise TypeError(f"loop: metric {name!r} must be a (total, count) pair or an "
                                f"object with result(), got {type(value).__name__}")

    def result(self) -> dict:
        logs = {} if not self.samples else {"loss": self.loss_total / self.samples}
        for name, (total, count) in self.totals.items():
            logs[name] = total / max(count, 1)
        for name, metric in self.stateful.items():
            logs[name] = float(metric.result())
        return logs


# ---------------------------------------------------------------------------- progress bar
class Progress:
    """The progress bar of every loop, in Keras's shape::

        epoch 1/3 12/32 [=========>....................] - ETA: 3s - 1s elapsed, 41ms/step -
        loss: 1.9213 - accuracy: 0.3125

    On a terminal (``stream.isatty()``, or ``dynamic=True``) it redraws in place; elsewhere it
    prints only the finished line (Keras ``fit(verbose=1)``), or nothing at all when
    ``transient=True``, which also erases the live line at the end (the app's bar on stderr).
    """

    def __init__(self, target: int, stream=None, label: str = "", width: int = 30,
                 dynamic: bool | None = None, transient: bool = False):
        self.target, self.width, self.label, self.transient = target, width, label, transient
        self.stream = stream if stream is not None else sys.stdout
        if dynamic is None:
            dynamic = bool(getattr(self.stream, "isatty", lambda: False)())
        self.dynamic = dynamic
        self.start = time.perf_counter()
        self.last_len = 0
        self.last_draw = 0.0

    def _bar(self, current: int) -> str:
        digits = int(math.log10(max(self.target, 1))) + 1
        done = int(self.width * current / max(self.target, 1))
        arrow = "" if current >= self.target or done == 0 else ">"
        bar = "=" * (done - (1 if arrow else 0)) + arrow + "." * (self.width - done)
        return f"{current:{digits}d}/{self.target} [{bar}]"

    def line(self, current: int, values: dict) -> str:
        elapsed = time.perf_counter() - self.start
        per_step = elapsed / max(current, 1)
        if current < self.target:
            timing = f"ETA: {per_step * (self.target - current):.0f}s - {elapsed:.0f}s elapsed,"
        else:
            timing = f"{elapsed:.0f}s"
        timing += f" {per_step * 1e3:.0f}ms/step"
        metrics = "".join(f" - {k}: {_fmt(v)}" for k, v in values.items())
        prefix = f"{self.label} " if self.label else ""
        return f"{prefix}{self._bar(current)} - {timing}{metrics}"

    def update(self, current: int, values: dict, finalize: bool = False) -> None:
        now = time.perf_counter()
        if self.transient and finalize or not self.dynamic and not finalize:
            return  # a transient bar's end is close(); off a terminal only the end shows
        if self.dynamic and not finalize and now - self.last_draw < 0.05:
            return  # redraw at most 20 times a second
        self.last_draw = now
        text = self.line(current, values)
        if self.dynamic:
            pad = " " * max(self.last_len - len(text), 0)
            end = "\n" if finalize and not self.transient else ""
            self.stream.write("\r" + text + pad + end)
        else:
            self.stream.write(text + "\n")
        self.last_len = len(text)
        self.stream.flush()

    def close(self) -> None:
        """Erase a transient live line."""
        if self.dynamic and self.transient:
            self.stream.write("\r" + " " * self.last_len + "\r")
            self.stream.flush()


def _fmt(value) -> str:
    value = float(value)
    return f"{value:.4f}" if abs(value) >= 1e-3 or value == 0 else f"{value:.4e}"


# ---------------------------------------------------------------------------- the loop
def _hook(callbacks, name: str, *args) -> None:
    for cb in callbacks:
        method = getattr(cb, name, None)
        if method is not None:
            method(*args)


def _check_finite(value: float, epoch: int, step: int, steps, who: str, hint: str,
                  loss=None) -> None:
    """Raise NonFiniteLossError for a NaN/Inf loss, saying where in the loss's recorded graph
    the first non-finite value started (``autograd.nonfinite_origin``)."""
    if math.isfinite(value):
        return
    of = f"/{steps}" if steps is not None else ""
    where = nonfinite_origin(loss) if loss is not None else None
    raise NonFiniteLossError(f"{who}: the loss is {value} at epoch {epoch + 1}, step "
                             f"{step + 1}{of}; this step was not applied, so the weights are "
                             f"those after the previous step" + (f". {hint}" if hint else "")
                             + (f". Where the first NaN/Inf started: {where}" if where else ""))


def train_epoch(model, loss_fn, batches, optimizer, *, epoch: int = 0, callbacks=(),
                progress: Progress | None = None, on_nan: str = "raise", who: str = "train",
                hint: str = "") -> dict:
    """One pass of optimizer steps over ``batches``; returns the epoch's logs (running
    means, see RunningMetrics). Callers: ``fit`` below, Keras ``Model.train_on_batch``.

    on_nan: "raise" (NonFiniteLossError; ``hint`` is appended to its message), "stop" (write
    that message to stderr, set ``model.stop_training``, record ``model.nan_step =
    (epoch, step)`` and return), or "continue" (apply the step anyway).
    """
    if on_nan not in ("raise", "stop", "continue"):
        raise ValueError(f"{who}: on_nan must be 'raise', 'stop' or 'continue', got {on_nan!r}")
    steps = len(batches) if hasattr(batches, "__len__") else None
    running = RunningMetrics()
    model.train()
    for step, batch in enumerate(batches):
        _hook(callbacks, "on_train_batch_begin", step, None)
        loss, metrics = loss_fn(model, batch)
        value = None  # a loss of None: loss_fn took the step itself (a Keras train_step)
        if loss is not None:
            value = float(loss.item())
            try:
                _check_finite(value, epoch, step, steps, who, hint, loss)
            except NonFiniteLossError as exc:
                if on_nan == "raise":
                    raise
                if on_nan == "stop":
                    print(exc, file=sys.stderr)
                    model.stop_training = True
                    model.nan_step = (epoch, step)
                    break
            if loss.requires_grad:  # a model with every weight frozen trains nothing (Keras)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
        running.update(value, metrics)
        logs = running.result()
        if progress is not None:
            progress.update(step + 1, logs)
        _hook(callbacks, "on_train_batch_end", step, logs)
        if getattr(model, "stop_training", False):
            break
    return running.result()


def evaluate(model, loss_fn, batches) -> dict:
    """The mean loss and metrics of ``loss_fn`` over ``batches`` in eval mode without
    gradients; the model's training mode is restored afterwards. Callers: ``fit``'s
    validation (through the task), the app's ``evaluate``, Keras ``Model.evaluate``."""
    was_training = model.training
    model.eval()
    running = RunningMetrics()
    try:
        with no_grad():
            for batch in batches:
                loss, metrics = loss_fn(model, batch)
                running.update(None if loss is None else float(loss.item()), metrics)
    finally:
        model.train(was_training)
    return running.result()


def fit(model, loss_fn, batches_for_epoch, optimizer, *, epochs: int, start_epoch: int = 0,
        callbacks=(), progress_for_epoch=None, on_nan: str = "raise", who: str = "train",
        hint_for_epoch=None) -> list[dict]:
    """Train from ``start_epoch`` up to ``epochs``; returns each epoch's logs (after the
    ``on_epoch_end`` hooks added theirs). ``batches_for_epoch(epoch)`` gives the batches of
    that epoch (shuffle them with ``epoch_order(n, seed, epoch)``), ``progress_for_epoch(
    epoch, steps)`` an optional Progress, ``hint_for_epoch(epoch)`` the advice appended to a
    NonFiniteLossError. Training stops early when a hook sets ``model.stop_training``; an
    epoch stopped before its first step gets no ``on_epoch_end``. Callers: the app's
    ``run_training``, Keras ``Model.fit``."""
    model.stop_training, model.nan_step = False, None
    history: list[dict] = []
    counter = _StepCounter()
    _hook(callbacks, "on_train_begin", None)
    epoch = start_epoch
    try:
        for epoch in range(start_epoch, epochs):
            logs = _fit_epoch(model, loss_fn, batches_for_epoch(epoch), optimizer, epoch,
                              [counter, *callbacks], progress_for_epoch, on_nan, who,
                              hint_for_epoch(epoch) if hint_for_epoch else "")
            if logs is None:
                break
            history.append(logs)
            if model.stop_training:
                break
    except KeyboardInterrupt:
        _hook(callbacks, "on_interrupt", epoch, counter.step + 1)
        raise
    _hook(callbacks, "on_train_end", None)
    return history


def _fit_epoch(model, loss_fn, batches, optimizer, epoch, callbacks, progress_for_epoch,
               on_nan, who, hint) -> dict | None:
    """One epoch of ``fit``: hooks, progress bar and ``train_epoch``; None when it was
    stopped before any step."""
    logs: dict = {}
    _hook(callbacks, "on_epoch_begin", epoch, logs)
    steps = len(batches) if hasattr(batches, "__len__") else None
    bar = progress_for_epoch(epoch, steps) if progress_for_epoch else None
    try:
        logs.update(train_epoch(model, loss_fn, batches, optimizer, epoch=epoch,
                                callbacks=callbacks, progress=bar, on_nan=on_nan, who=who,
                                hint=hint))
        if model.stop_training and "loss" not in logs:
            return None
        _hook(callbacks, "on_epoch_end", epoch, logs)
        if bar is not None:
            bar.update(bar.target if steps is None else steps, logs, finalize=True)
    finally:
        if bar is not None:
            bar.close()
    return logs


class _StepCounter:
    """Tracks the last finished step of the current epoch (for interrupt messages)."""

    def __init__(self):
        self.step = -1

    def on_train_batch_begin(self, step, logs=None):
        self.step = step - 1

    def on_train_batch_end(self, step, logs=None):
        self.step = step
