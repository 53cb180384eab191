"""Training callbacks (``History``, ``EarlyStopping``, ``ModelCheckpoint``,
``LearningRateScheduler``, ``ReduceLROnPlateau``, ``CSVLogger``); ``fit`` runs them through
tinymm/loop.py's hooks. ``Progbar`` is the loop's one progress bar, in Keras's shape::

    Epoch 1/3
    12/32 [=========>....................] - 1s 41ms/step - loss: 1.9213 - accuracy: 0.3125

On a terminal the line redraws in place after every step; elsewhere (logs, pytest capture)
only the finished line of each epoch is printed.
"""

from __future__ import annotations

import math
import pathlib

from tinymm import io
from tinymm.loop import Progress


class Callback:
    """Hooks ``fit`` calls; ``self.model`` is set before training starts."""

    def __init__(self):
        self.model = None

    def set_model(self, model) -> None:
        self.model = model

    def on_train_begin(self, logs=None): ...
    def on_train_end(self, logs=None): ...
    def on_epoch_begin(self, epoch, logs=None): ...
    def on_epoch_end(self, epoch, logs=None): ...
    def on_batch_begin(self, batch, logs=None): ...
    def on_batch_end(self, batch, logs=None): ...

    def on_train_batch_begin(self, batch, logs=None):
        """Keras's default: the older ``on_batch_begin`` name."""
        self.on_batch_begin(batch, logs=logs)

    def on_train_batch_end(self, batch, logs=None):
        """Keras's default: the older ``on_batch_end`` name."""
        self.on_batch_end(batch, logs=logs)

    def on_test_begin(self, logs=None): ...
    def on_test_end(self, logs=None): ...
    def on_test_batch_begin(self, batch, logs=None): ...
    def on_test_batch_end(self, batch, logs=None): ...
    def on_predict_begin(self, logs=None): ...
    def on_predict_end(self, logs=None): ...


class History(Callback):
    """``fit`` returns it: ``history.history["loss"]`` is one value per epoch."""

    def __init__(self):
        super().__init__()
        self.history: dict[str, list[float]] = {}
        self.epoch: list[int] = []

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)


def _monitor_mode(monitor: str, mode: str) -> str:
    if mode not in ("auto", "min", "max"):
        raise ValueError(f"mode must be 'auto', 'min' or 'max', got {mode!r}")
    if mode != "auto":
        return mode
    return "max" if ("acc" in monitor or monitor.endswith("auc")) else "min"


def _get_monitored(logs, monitor: str, who: str):
    if monitor not in (logs or {}):
        raise KeyError(f"{who}: monitor={monitor!r} is not among the logged values "
                       f"{sorted(logs or {})}; give fit validation data for 'val_*' values")
    return logs[monitor]


def _snapshot(model) -> dict:
    """A copy of ``model``'s weights (its state_dict's Tensors share the live storage)."""
    return {k: v.clone() for k, v in model.state_dict().items()}


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by ``min_delta`` for ``patience`` epochs."""

    def __init__(self, monitor: str = "val_loss", min_delta: float = 0.0, patience: int = 0,
                 verbose: int = 0, mode: str = "auto", baseline=None,
                 restore_best_weights: bool = False, start_from_epoch: int = 0):
        super().__init__()
        self.monitor, self.min_delta, self.patience = monitor, abs(min_delta), patience
        self.verbose, self.baseline = verbose, baseline
        self.mode = _monitor_mode(monitor, mode)
        self.restore_best_weights, self.start_from_epoch = restore_best_weights, start_from_epoch
        self.stopped_epoch = 0

    def _better(self, value, reference) -> bool:
        if reference is None:
            return True
        if self.mode == "min":
            return value < reference - self.min_delta
        return value > reference + self.min_delta

    def on_train_begin(self, logs=None):
        self.wait = 0
        self.best = None
        self.best_weights = None
        self.best_epoch = 0
        self.stopped_epoch = 0

    def on_epoch_end(self, epoch, logs=None):
        """Keras 3's rule: every epoch counts toward ``wait``; an improvement on the best
        resets it (only when it also beats ``baseline``) and never stops training; training
        stops once ``wait >= patience`` after the first epoch (patience=1 stops at the first
        epoch without improvement)."""
        value = _get_monitored(logs, self.monitor, "EarlyStopping")
        if epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights, self.best_epoch = _snapshot(self.model), epoch
        self.wait += 1
        if self._better(value, self.best):
            self.best, self.best_epoch = value, epoch
            if self.restore_best_weights:
                self.best_weights = _snapshot(self.model)
            if self.baseline is None or self._better(value, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopped_epoch and self.verbose:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping (best {self.monitor} "
                  f"{self.best:.4f} at epoch {self.best_epoch + 1})")
        if self.restore_best_weights and self.best_weights is not None:
            self.model.load_state_dict(self.best_weights)  # Keras: at the end, stopped or not


class ModelCheckpoint(Callback):
    """Save the model (or only its weights) at the end of every epoch, or only when
    ``monitor`` improved (``save_best_only``). ``filepath`` may hold ``{epoch:02d}`` and
    logged values (``{val_loss:.3f}``). Saves are atomic: an interrupted save leaves the
    previous checkpoint intact."""

    def __init__(self, filepath, monitor: str = "val_loss", verbose: int = 0,
                 save_best_only: bool = False, save_weights_only: bool = False,
                 mode: str = "auto", save_freq="epoch"):
        super().__init__()
        if save_freq != "epoch":
            raise ValueError("ModelCheckpoint: only save_freq='epoch' is supported")
        self.filepath, self.monitor, self.verbose = str(filepath), monitor, verbose
        self.save_best_only, self.save_weights_only = save_best_only, save_weights_only
        self.mode = _monitor_mode(monitor, mode)
        self.best = None
        self.last_saved: str | None = None

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        path = self.filepath.format(epoch=epoch + 1, **logs)
        if self.save_best_only:
            value = _get_monitored(logs, self.monitor, "ModelCheckpoint")
            improved = self.best is None or (value < self.best if self.mode == "min"
                                             else value > self.best)
            if not improved:
                return
            self.best = value
        if self.save_weights_only:
            self.model.save_weights(path)
        else:
            self.model.save(path)
        self.last_saved = path
        if self.verbose:
            print(f"Epoch {epoch + 1}: saved the model to {path}")


class LearningRateScheduler(Callback):
    """Set the learning rate at the start of every epoch: ``schedule(epoch, lr) -> new lr``
    (epoch counts from 0, lr is the current rate); the rate is logged as ``learning_rate``."""

    def __init__(self, schedule, verbose: int = 0):
        super().__init__()
        self.schedule, self.verbose = schedule, verbose

    def on_epoch_begin(self, epoch, logs=None):
        optimizer = self.model._ensure_optimizer()
        lr = float(self.schedule(epoch, optimizer.param_groups[0]["lr"]))
        if not math.isfinite(lr) or lr < 0:
            raise ValueError(f"LearningRateScheduler: the schedule returned {lr} for epoch "
                             f"{epoch}; a learning rate must be a finite number >= 0")
        for group in optimizer.param_groups:
            group["lr"] = lr
        if self.verbose:
            print(f"Epoch {epoch + 1}: learning rate {lr:.6g}")

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = self.model.optimizer.param_groups[0]["lr"]


class TerminateOnNaN(Callback):
    """Kept for Keras compatibility: ``fit`` already stops on a non-finite loss."""


class ReduceLROnPlateau(Callback):
    """Multiply the learning rate by ``factor`` when ``monitor`` has not improved by
    ``min_delta`` for ``patience`` epochs (Keras's rule: then wait ``cooldown`` epochs; never
    below ``min_lr``). The rate is logged as ``learning_rate``."""

    def __init__(self, monitor: str = "val_loss", factor: float = 0.1, patience: int = 10,
                 verbose: int = 0, mode: str = "auto", min_delta: float = 1e-4,
                 cooldown: int = 0, min_lr: float = 0.0, **unsupported):
        super().__init__()
        if unsupported:
            raise TypeError(f"ReduceLROnPlateau: unexpected argument(s) {sorted(unsupported)}")
        if factor >= 1.0:
            raise ValueError(f"ReduceLROnPlateau: factor must be < 1, got {factor}")
        self.monitor, self.factor, self.patience, self.verbose = monitor, factor, patience, \
            verbose
        self.mode = _monitor_mode(monitor, mode)
        self.min_delta, self.cooldown, self.min_lr = min_delta, cooldown, min_lr

    def on_train_begin(self, logs=None):
        self.wait, self.cooldown_counter = 0, 0
        self.best = math.inf if self.mode == "min" else -math.inf

    def _improved(self, value) -> bool:
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def on_epoch_end(self, epoch, logs=None):
        optimizer = self.model._ensure_optimizer()
        lr = optimizer.param_groups[0]["lr"]
        logs["learning_rate"] = lr  # Keras logs the epoch's rate, before any reduction
        value = _get_monitored(logs, self.monitor, "ReduceLROnPlateau")
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        if self._improved(value):
            self.best, self.wait = value, 0
        elif self.cooldown_counter <= 0:
            self.wait += 1
            if self.wait >= self.patience and lr > self.min_lr:
                lr = max(lr * self.factor, self.min_lr)
                for group in optimizer.param_groups:
                    group["lr"] = lr
                if self.verbose:
                    print(f"Epoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to "
                          f"{lr:.6g}.")
                self.cooldown_counter, self.wait = self.cooldown, 0


class CSVLogger(Callback):
    """One CSV row per epoch: ``epoch`` and the logged values (columns fixed by the first
    epoch, sorted as Keras sorts them)."""

    def __init__(self, filename, separator: str = ",", append: bool = False):
        super().__init__()
        self.filename, self.separator, self.append = str(filename), separator, append
        self.keys = None

    def on_train_begin(self, logs=None):
        import os

        has_rows = self.append and os.path.exists(self.filename)
        self.file = open(self.filename, "a" if self.append else "w")
        self.keys = None if not has_rows else "appending"

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.keys is None or self.keys == "appending":
            write_header = self.keys is None
            self.keys = sorted(logs)
            if write_header:
                self.file.write(self.separator.join(["epoch", *self.keys]) + "\n")
        row = [str(epoch)] + [repr(float(logs[k])) if k in logs else "" for k in self.keys]
        self.file.write(self.separator.join(row) + "\n")
        self.file.flush()

    def on_train_end(self, logs=None):
        self.file.close()


class LambdaCallback(Callback):
    """A callback from functions: ``on_epoch_begin(epoch, logs)``, ``on_epoch_end(epoch,
    logs)``, ``on_train_begin(logs)``, ``on_train_end(logs)``, ``on_train_batch_begin(batch,
    logs)``, ``on_train_batch_end(batch, logs)`` (also as ``on_batch_begin``/``on_batch_end``,
    Keras's older names); hooks not given do nothing."""

    def __init__(self, on_epoch_begin=None, on_epoch_end=None, on_train_begin=None,
                 on_train_end=None, on_train_batch_begin=None, on_train_batch_end=None,
                 on_batch_begin=None, on_batch_end=None, **kwargs):
        super().__init__()
        self.__dict__.update(kwargs)
        hooks = {"on_epoch_begin": on_epoch_begin, "on_epoch_end": on_epoch_end,
                 "on_train_begin": on_train_begin, "on_train_end": on_train_end,
                 "on_train_batch_begin": on_train_batch_begin or on_batch_begin,
                 "on_train_batch_end": on_train_batch_end or on_batch_end}
        for name, fn in hooks.items():
            if fn is not None:
                setattr(self, name, fn)


class ProgbarLogger(Callback):
    """Prints "Epoch e/E" and, at each epoch's end, the finished progress line with the
    epoch's logs (what ``fit(verbose=1)`` prints), for a ``fit`` run with ``verbose=0``."""

    def __init__(self, count_mode: str = "steps"):
        super().__init__()
        if count_mode != "steps":
            raise ValueError(f"ProgbarLogger: only count_mode='steps' is supported, got "
                             f"{count_mode!r}")
        self.epochs, self.bar = None, None

    def on_train_begin(self, logs=None):
        self.epochs = getattr(self.model, "_fit_epochs", None)

    def on_epoch_begin(self, epoch, logs=None):
        print(f"Epoch {epoch + 1}/{self.epochs}" if self.epochs else f"Epoch {epoch + 1}")
        self.bar = Progress(max(getattr(self.model, "_fit_steps", 1), 1))

    def on_train_batch_end(self, batch, logs=None):
        self.bar.update(batch + 1, dict(logs or {}))

    def on_epoch_end(self, epoch, logs=None):
        self.bar.update(self.bar.target, dict(logs or {}), finalize=True)
        self.bar.close()


class BackupAndRestore(Callback):
    """Keras's fault-tolerance callback: after every epoch the weights, the optimizer state
    and the epoch go to ``backup_dir`` (one tinymm checkpoint, written atomically); a later
    ``fit`` with the same ``backup_dir`` restores them and continues from the next epoch.
    A run that finishes deletes the backup (``delete_checkpoint=True``)."""

    def __init__(self, backup_dir, save_freq="epoch", delete_checkpoint: bool = True):
        super().__init__()
        if save_freq != "epoch":
            raise ValueError(f"BackupAndRestore: only save_freq='epoch' is supported, got "
                             f"{save_freq!r}")
        self.backup_dir = pathlib.Path(backup_dir)
        self.delete_checkpoint = bool(delete_checkpoint)

    @property
    def _path(self) -> pathlib.Path:
        return self.backup_dir / "latest"

    def restore(self, model) -> int:
        """Load the backup into ``model``; -> the epoch to start from (0 without one)."""
        if not io.checkpoint_paths(self._path)[1].exists():
            return 0
        tensors, manifest = io.load_checkpoint(self._path)
        keys = list(model.state_dict())  # by position: layer names may differ per process
        if len(keys) != len(manifest["keys"]):
            raise ValueError(f"BackupAndRestore: the backup in {self.backup_dir} holds "
                             f"{len(manifest['keys'])} tensors, the model {len(keys)}")
        model.load_state_dict({k: tensors[saved] for k, saved in zip(keys, manifest["keys"])})
        if "optimizer" in manifest:
            io.optimizer_state_from_checkpoint(model._ensure_optimizer(), tensors,
                                               manifest["optimizer"])
        return int(manifest["epoch"]) + 1

    def on_epoch_end(self, epoch, logs=None):
        tensors = dict(self.model.state_dict())
        manifest = {"epoch": int(epoch), "keys": list(tensors)}
        if self.model.optimizer is not None:
            opt_tensors, manifest["optimizer"] = io.optimizer_state_to_checkpoint(
                self.model.optimizer)
            tensors.update(opt_tensors)
        self.backup_dir.mkdir(parents=True, exist_ok=True)
        io.save_checkpoint(self._path, tensors, manifest)

    def on_train_end(self, logs=None):
        if self.delete_checkpoint and not getattr(self.model, "stop_training", False):
            for path in io.checkpoint_paths(self._path):
                path.unlink(missing_ok=True)


Progbar = Progress  # Keras's name for the one progress bar (tinymm/loop.py)


__all__ = ["BackupAndRestore", "CSVLogger", "Callback", "EarlyStopping", "History",
           "LambdaCallback", "LearningRateScheduler", "ModelCheckpoint", "Progbar",
           "ProgbarLogger", "ReduceLROnPlateau", "TerminateOnNaN"]
