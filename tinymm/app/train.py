"""The VQA task behind ``tinymm train | evaluate``: its config, data, model, loss, checkpoints
and ``run_training``, which runs the one training loop (tinymm/loop.py). The figures are in
tinymm/app/figures.py, the fusion comparison in tinymm/app/compare.py.

One run = one output directory holding:

    checkpoint.safetensors + checkpoint.json
                     weights and Adam state; manifest with epoch, configs, vocabulary, metric
                     history (tinymm.io's safe format, written after every completed epoch,
                     atomically, with Ctrl-C held off during the write, so an interrupt never
                     leaves a half-written or mismatched checkpoint behind)
    metrics.json     per-epoch train/validation loss and accuracy, per-question-type accuracy,
                     seconds per epoch, samples/s, backend, versions, final test numbers
    curves.png       loss and accuracy per epoch
    attention.png    (attention fusion) test questions with their attention over the image
    samples.png      test samples with the model's answers

Resuming is exact: the data order of epoch e depends only on (seed, e) (see DataLoader), the
weights and Adam's moments and step counts are restored bit for bit, and the model has no
other randomness, so ``--resume`` reproduces an uninterrupted run's numbers exactly.
"""

from __future__ import annotations

import json
import math
import os
import platform
import signal
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields

import numpy as np

from tinymm import io, loop, nn
from tinymm.app.compile_notice import compile_beside, compile_notice, start_helper
from tinymm.app.lr_schedule import ScheduleStep, build_scheduler, fast_forward, parse_schedule
from tinymm.backend import BACKEND_NAMES, use_backend
from tinymm.data import ANSWERS, QUESTION_TYPES, DataLoader, ShapesVQA, shapes_vqa_tokenizer
from tinymm.data.tokenizer import Tokenizer
from tinymm.loop import NonFiniteLossError  # noqa: F401 (the app's error: cmd_train catches it)
from tinymm.models.multimodal import (
    ATTENTION_FUSIONS,
    MultimodalConfig,
    MultimodalVQA,
    check_fusion,
)
from tinymm.ops.cross_entropy import correct_count, cross_entropy
from tinymm.optim import Adam
from tinymm.tensor import from_numpy

CHECKPOINT_STEM = "checkpoint"
CHECKPOINT = CHECKPOINT_STEM + ".json"  # the manifest; weights in checkpoint.safetensors
METRICS = "metrics.json"
FORMAT = "tinymm.multimodal_vqa/1"


class RunExistsError(FileExistsError):
    """--out points at a directory that already holds a run."""


class CheckpointMismatchError(io.CheckpointError):
    """A checkpoint does not fit the model, vocabulary or run it is loaded into."""


# Default epochs per fusion (VQA_EPOCHS for the rest). attention_count learns to count only
# after its CNN tells shapes apart (the shape jump, epochs 2-4 with its tower), so it gets 18
# epochs; its early_pool + batch_norm tower costs about 0.7 of the seed tower's CPU per step,
# so the run still fits in 5 minutes (benchmarks/RESULTS.md).
VQA_EPOCHS = 15
FUSION_EPOCHS = {"attention_count": 18}
# Default learning-rate schedule per fusion (VQA_SCHEDULE for the rest; tinymm/app/
# lr_schedule.py lists the schedules). At a constant lr attention_count's validation count
# accuracy moved by up to 0.09 between its last epochs, so where the run stopped decided its
# number; annealing the lr over the last 6 epochs settles the weights (README, counting).
VQA_SCHEDULE = "constant"
FUSION_SCHEDULES = {"attention_count": "cosine:6"}


def default_epochs(fusion: str) -> int:
    """The epochs a VQA run of ``fusion`` trains for when --epochs is not given."""
    return FUSION_EPOCHS.get(fusion, VQA_EPOCHS)


def default_schedule(fusion: str) -> str:
    """The --lr-schedule of a VQA run of ``fusion`` when none is given."""
    return FUSION_SCHEDULES.get(fusion, VQA_SCHEDULE)


@dataclass
class TrainConfig:
    """Everything that decides a training run's numbers (saved in the checkpoint)."""

    fusion: str = "attention"
    epochs: int | None = None  # None: the fusion's default, default_epochs(fusion)
    samples: int = 10_000
    val_samples: int = 1_000
    test_samples: int = 2_000
    batch_size: int = 32
    lr: float = 1e-3
    lr_schedule: str | None = None  # None: the fusion's default, default_schedule(fusion)
    seed: int = 0
    backend: str = "numba"
    model: dict = field(default_factory=dict)  # MultimodalConfig overrides (tests: tiny sizes)
    device: str = "cpu"  # "cuda": the model, optimizer state and each batch live on the GPU

    def __post_init__(self):
        check_fusion(self.fusion)
        if self.epochs is None:
            self.epochs = default_epochs(self.fusion)
        check_backend(self.backend)
        check_device_name(self.device)
        for name in ("epochs", "samples", "val_samples", "test_samples", "batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"train: {name.replace('_', '-')} must be a positive integer, "
                                 f"got {value!r}")
        if not (isinstance(self.lr, (int, float)) and math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"train: lr must be a positive number, got {self.lr!r}")
        if self.lr_schedule is None:
            self.lr_schedule = default_schedule(self.fusion)
        parse_schedule(self.lr_schedule, self.epochs)

    # the fields that must agree between a checkpoint and a resumed run
    RESUME_KEYS = ("fusion", "samples", "val_samples", "test_samples", "batch_size", "lr",
                   "lr_schedule", "seed", "model")

    @staticmethod
    def recorded(saved: dict) -> dict:
        """A checkpoint's ``train_config`` as this version reads it: one written before
        ``lr_schedule`` existed trained at a constant lr."""
        return {"lr_schedule": "constant", **saved}


def check_backend(name: str) -> str:
    if name not in BACKEND_NAMES:
        raise ValueError(f"unknown backend '{name}'; valid backends: {', '.join(BACKEND_NAMES)}")
    return name


DEVICES = ("cpu", "cuda")


def check_device_name(name: str) -> str:
    """``name`` is a device the app trains on (whether it is usable here is checked when a
    run starts, so a cuda run's checkpoint still evaluates on a CPU-only machine)."""
    if name not in DEVICES:
        raise ValueError(f"unknown device '{name}'; valid devices: {', '.join(DEVICES)}")
    return name


def require_device(name: str) -> str:
    """One clear error when ``name`` is "cuda" and this machine cannot use it: it says what
    to install, or to set NUMBA_ENABLE_CUDASIM=1 for the (slow) simulator."""
    check_device_name(name)
    if name == "cuda":
        from tinymm import cuda

        cuda.require("--device cuda")
    return name


def model_device(model: nn.Module) -> str:
    """Where the model's parameters live ("cpu" or "cuda")."""
    return next(iter(model.parameters())).device.type


def to_model_device(model: nn.Module, array: np.ndarray):
    """A host array (a batch of images) as a Tensor where the model is: shared on the CPU,
    one counted copy to a cuda model's device."""
    return from_numpy(array).to(model_device(model))


def host_values(t) -> np.ndarray:
    """A result Tensor's values as a NumPy array (one counted copy from a cuda device)."""
    return t.detach().cpu().numpy()


# ---------------------------------------------------------------------------- building blocks
_DATA_CACHE: dict = {}


def cached_splits(dataset, cfg) -> dict:
    """``dataset.splits`` for a run's sizes and seed, cached per process (the last one
    only: compare-fusions and repeated evaluations share it)."""
    key = (dataset, cfg.samples, cfg.val_samples, cfg.test_samples, cfg.seed)
    if key not in _DATA_CACHE:
        _DATA_CACHE.clear()
        _DATA_CACHE[key] = dataset.splits(train=cfg.samples, val=cfg.val_samples,
                                          test=cfg.test_samples, seed=cfg.seed)
    return _DATA_CACHE[key]


def build_data(cfg: TrainConfig) -> dict[str, ShapesVQA]:
    """The train/val/test splits of a VQA run."""
    return cached_splits(ShapesVQA, cfg)


def model_config(cfg: TrainConfig, tokenizer: Tokenizer) -> MultimodalConfig:
    return MultimodalConfig(vocab_size=len(tokenizer), num_answers=len(ANSWERS),
                            fusion=cfg.fusion, **cfg.model)


def build_model(cfg: TrainConfig, tokenizer: Tokenizer) -> MultimodalVQA:
    """A freshly initialised model; the initial weights depend only on ``cfg.seed``."""
    nn.init.seed(cfg.seed)
    return MultimodalVQA(model_config(cfg, tokenizer))


def build_optimizer(cfg: TrainConfig, model):
    """The training's optimizer over ``model``'s parameters (the compile helper builds the same
    one, so that it compiles the kernels the training steps run)."""
    return Adam(model.parameters(), lr=cfg.lr)


def _as_batch_inputs(batch: dict, device: str = "cpu"):
    """The model's inputs on ``device``: one counted copy each of the image and the token ids
    to a GPU; the lengths stay host metadata (the LSTM moves them)."""
    if device == "cpu":
        return from_numpy(batch["image"]), batch["tokens"], batch["lengths"]
    return (from_numpy(batch["image"]).to(device), from_numpy(batch["tokens"]).to(device),
            batch["lengths"])


def vqa_loss(model: MultimodalVQA, batch: dict, predictions: list | None = None):
    """The task's loss function for tinymm/loop.py: mean cross-entropy of the answer logits,
    and the batch's accuracy; appends the predicted answers (n,) to ``predictions``. On a
    cuda model the batch goes to the device, and the correct answers are counted there and
    come back with the loss (one transfer); only ``predictions`` (evaluation) copy the logits."""
    device = model_device(model)
    logits = model(*_as_batch_inputs(batch, device))  # (n, A)
    answer = batch["answer"] if device == "cpu" else from_numpy(batch["answer"]).to(device)
    loss = cross_entropy(logits, answer)
    if predictions is not None:
        predictions.append(np.argmax(logits.detach().cpu().array, axis=1))  # (n,)
    n = len(batch["answer"])
    return loss, {"samples": n, "accuracy": (correct_count(logits.detach(), answer), n)}


def type_accuracy(correct: np.ndarray, of_type: np.ndarray) -> float | None:
    """The accuracy over the samples of one question type; None (JSON null) when a small
    split holds none of them, so metrics stay valid JSON and compare equal on a rerun."""
    return float(correct[of_type].mean()) if of_type.any() else None


def format_accuracy(value: float | None, digits: int = 4) -> str:
    """``value`` with ``digits`` decimals, or "n/a" for a question type with no samples."""
    return "n/a" if value is None else f"{value:.{digits}f}"


def evaluate(model: MultimodalVQA, dataset: ShapesVQA, batch_size: int = 250) -> dict:
    """Loss, accuracy overall and per question type, and the predictions, on ``dataset``."""
    predictions: list = []
    logs = loop.evaluate(model, lambda m, b: vqa_loss(m, b, predictions),
                         DataLoader(dataset, batch_size=batch_size))
    predicted = np.concatenate(predictions)  # (N,)
    correct = predicted == dataset.answer  # (N,)
    per_type = {name: type_accuracy(correct, dataset.question_type == t)
                for t, name in enumerate(QUESTION_TYPES)}
    return {"loss": float(logs["loss"]), "accuracy": float(correct.mean()),
            "per_type": per_type, "predictions": predicted}


# ---------------------------------------------------------------------------- checkpoints
@contextmanager
def _sigint_deferred():
    """Hold Ctrl-C until the block ends: a save writes the checkpoint file (weights and
    manifest together, one atomic replace) and then its readable ``.json`` copy; an interrupt
    between the two would leave the copy one save behind. Outside the main thread signals
    cannot be caught; nothing to do."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if received:
        raise KeyboardInterrupt


sigint_deferred = _sigint_deferred  # public for the other tasks (tinymm/app/tasks/)


def checkpoint_stem(path: str) -> str:
    """A run directory, ``checkpoint.json`` or ``checkpoint.safetensors`` -> the stem."""
    if os.path.isdir(path):
        return os.path.join(path, CHECKPOINT_STEM)
    return str(io.checkpoint_paths(path)[0])[:-len(".safetensors")]


def save_checkpoint(path: str, model: MultimodalVQA, optimizer: Adam, cfg: TrainConfig,
                    tokenizer: Tokenizer, epoch: int, history: list, test: dict | None = None
                    ) -> None:
    """Weights, Adam state and the manifest in ``<path>.safetensors`` (one atomic write,
    SHA-256 in its header), plus the manifest's readable copy ``<path>.json``, via tinymm.io."""
    manifest = {
        "kind": FORMAT, "epoch": epoch, "train_config": asdict(cfg),
        "model_config": model.config.to_dict(), "vocabulary": tokenizer.itos,
        "answers": list(ANSWERS), "history": history, "test": test,
    }
    with _sigint_deferred():
        io.save_module(path, model, optimizer, manifest=manifest)


def load_checkpoint(path: str) -> dict:
    """Read a checkpoint (a run directory, or its checkpoint.json / .safetensors) without
    building anything: the manifest plus ``model_state`` and the raw ``tensors``."""
    stem = checkpoint_stem(path)
    weights, manifest_path = io.checkpoint_paths(stem)
    if not weights.exists() and not manifest_path.exists():
        raise FileNotFoundError(f"no checkpoint at {path} ({weights.name} not found); "
                                "pass a run directory written by 'tinymm train --out DIR' or "
                                "its checkpoint.json")
    tensors, manifest = io.load_checkpoint(stem)  # io.CheckpointError names what is wrong
    if manifest.get("kind") != FORMAT:
        raise CheckpointMismatchError(f"{manifest_path}: a tinymm checkpoint, but not of the "
                                      f"VQA model (kind {manifest.get('kind')!r}, expected "
                                      f"{FORMAT!r})")
    manifest["path"] = str(manifest_path)
    manifest["tensors_raw"] = tensors
    manifest["model_state"] = {k: v for k, v in tensors.items()
                               if not k.startswith("optimizer/")}
    return manifest


def model_from_checkpoint(ckpt: dict) -> tuple[MultimodalVQA, Tokenizer]:
    """Rebuild the model and tokenizer a checkpoint was trained with, refusing mismatches."""
    tokenizer = shapes_vqa_tokenizer()
    if ckpt["vocabulary"] != tokenizer.itos:
        raise CheckpointMismatchError(
            f"{ckpt['path']}: its vocabulary ({len(ckpt['vocabulary'])} words) differs from "
            f"ShapesVQA's ({len(tokenizer)} words); it was trained on other data")
    if ckpt["answers"] != list(ANSWERS):
        raise CheckpointMismatchError(f"{ckpt['path']}: its answer list {ckpt['answers']} "
                                      f"differs from ShapesVQA's {list(ANSWERS)}")
    model = MultimodalVQA(MultimodalConfig.from_dict(ckpt["model_config"]))
    try:
        model.load_state_dict(ckpt["model_state"])
    except (KeyError, ValueError, RuntimeError) as exc:  # nn's StateDictError: RuntimeError
        raise CheckpointMismatchError(f"{ckpt['path']}: the weights do not fit the model "
                                      f"config it records: {exc}") from exc
    return model, tokenizer


# ---------------------------------------------------------------------------- reporting
def _versions() -> dict:
    import numba

    import tinymm

    return {"tinymm": tinymm.__version__, "numpy": np.__version__, "numba": numba.__version__,
            "python": platform.python_version()}


versions = _versions  # public for the other tasks (tinymm/app/tasks/)


def format_table(test: dict, title: str) -> str:
    lines = [title, f"  {'overall':<8} {test['accuracy']:.4f}   (loss {test['loss']:.4f})"]
    for name in QUESTION_TYPES:
        lines.append(f"  {name:<8} {format_accuracy(test['per_type'][name])}")
    return "\n".join(lines)


# ---------------------------------------------------------------------------- the training run
VQA_FIGURES = ("curves.png", "attention.png", "samples.png")


def prepare_out_dir(out: str, resume: bool, overwrite: bool,
                    figures: tuple = VQA_FIGURES) -> None:
    """Refuse to clobber an existing run unless told to resume it or overwrite it; with
    ``overwrite``, remove the old run's checkpoint, metrics and ``figures``."""
    if resume and overwrite:
        raise ValueError("train: --resume and --overwrite exclude each other: continue the "
                         "run in --out, or start it over")
    # the .safetensors holds the whole checkpoint; the .json copy may lag after a crash
    weights = os.path.join(out, CHECKPOINT_STEM + ".safetensors")
    holds_run = os.path.exists(weights) or any(
        os.path.exists(os.path.join(out, f)) for f in (CHECKPOINT, METRICS))
    if resume and not (os.path.exists(weights) or os.path.exists(os.path.join(out, CHECKPOINT))):
        raise FileNotFoundError(f"train --resume: {out} holds no {CHECKPOINT} to resume "
                                "from; drop --resume to start a new run there")
    if holds_run and not resume and not overwrite:
        raise RunExistsError(f"{out} already holds a training run ({CHECKPOINT} / {METRICS}); "
                             "pass --resume to continue it or --overwrite to replace it, or "
                             "choose another --out")
    if overwrite:
        for name in (CHECKPOINT, CHECKPOINT_STEM + ".safetensors", METRICS, *figures):
            if os.path.exists(os.path.join(out, name)):
                os.remove(os.path.join(out, name))
    os.makedirs(out, exist_ok=True)


def run_training(cfg: TrainConfig, out: str, resume: bool = False, overwrite: bool = False,
                 log=print, progress_stream=None, stop_after_steps: int | None = None,
                 started_at: float | None = None, checkpoint: dict | None = None) -> dict:
    """Train per ``cfg`` into ``out``; returns the metrics dict also written to metrics.json.

    With ``resume=True`` the run continues from ``out/checkpoint.json`` (or from
    ``checkpoint``, that file already read by ``load_checkpoint``): its recorded config
    must match ``cfg`` in every field except ``epochs`` and ``backend``.
    ``stop_after_steps`` raises KeyboardInterrupt after that many optimizer steps (tests use
    it to simulate Ctrl-C). ``started_at`` (a ``time.perf_counter()`` value, e.g. taken when
    the command started) is where "seconds to the first training step" counts from.
    """
    require_device(cfg.device)
    prepare_out_dir(out, resume, overwrite)
    ckpt_path = os.path.join(out, CHECKPOINT_STEM)
    notice_stream = progress_stream if progress_stream is not None else sys.stderr
    with use_backend(cfg.backend), compile_notice(notice_stream) as notice:
        t_setup = time.perf_counter()
        helper = start_helper(cfg, notice)  # cold cache and a spare core only
        data = build_data(cfg)
        tokenizer = data["train"].tokenizer
        model = build_model(cfg, tokenizer).to(cfg.device)
        optimizer = build_optimizer(cfg, model)
        history: list = []
        start_epoch = 0
        if resume:
            ckpt = checkpoint if checkpoint is not None else load_checkpoint(ckpt_path)
            history, start_epoch = _restore(ckpt, cfg, out, model, optimizer)
            log(f"resuming {out} after epoch {start_epoch} of {cfg.epochs}")
        where = f"device={cfg.device}" if cfg.device != "cpu" else f"backend={cfg.backend}"
        schedule = f" ({cfg.lr_schedule})" if cfg.lr_schedule != "constant" else ""
        log(f"tinymm train: fusion={cfg.fusion} {where} seed={cfg.seed} "
            f"samples={cfg.samples} (val {cfg.val_samples}, test {cfg.test_samples}) "
            f"batch={cfg.batch_size} lr={cfg.lr:g}{schedule} epochs={cfg.epochs} "
            f"params={model.num_parameters():,}")
        loader = DataLoader(data["train"], batch_size=cfg.batch_size, shuffle=True,
                            seed=cfg.seed)
        scheduler = start_schedule(cfg, optimizer, len(loader), start_epoch)
        run = _RunCallback(cfg, out, model, optimizer, data, history, log, stop_after_steps,
                           started_at if started_at is not None else t_setup)
        run.setup_seconds = time.perf_counter() - t_setup
        run.notice = notice
        compile_beside(helper, cfg, model, data["train"], vqa_loss)
        fit_run(run, vqa_loss, loader, start_epoch, progress_stream,
                callbacks=[ScheduleStep(scheduler)] if scheduler is not None else [])
        return _finish(run)


def start_schedule(cfg: TrainConfig, optimizer: Adam, steps_per_epoch: int,
                   start_epoch: int):
    """The run's lr scheduler (None at a constant lr), at the step where ``start_epoch``
    completed epochs end. It starts from ``cfg.lr`` even on a resumed run (whose restored
    optimizer holds the last lr), so resuming recomputes the same lr floats."""
    for group in optimizer.param_groups:
        group["lr"] = cfg.lr
        group.pop("initial_lr", None)
    scheduler = build_scheduler(cfg.lr_schedule, optimizer, cfg.epochs, steps_per_epoch)
    fast_forward(scheduler, start_epoch * steps_per_epoch)
    return scheduler


def fit_run(run: RunHooks, loss_fn, loader, start_epoch: int, progress_stream,
            callbacks=()) -> None:
    """``loop.fit`` over ``loader`` (reshuffled per epoch) from ``start_epoch`` to
    ``run.cfg.epochs``, with ``run``'s hooks, then ``callbacks``' (the lr schedule's step),
    and a transient progress bar per epoch."""
    epochs = run.cfg.epochs

    def batches(epoch):
        loader.set_epoch(epoch)
        return loader

    def progress(epoch, steps):
        return loop.Progress(steps, progress_stream, label=f"epoch {epoch + 1:>2}/{epochs}",
                             width=24, dynamic=None if progress_stream is not None else False,
                             transient=True)

    loop.fit(run.model, loss_fn, batches, run.optimizer, epochs=epochs, start_epoch=start_epoch,
             callbacks=[run, *callbacks], progress_for_epoch=progress,
             hint_for_epoch=run.nan_hint)


def write_metrics(out: str, metrics: dict) -> None:
    """``out``/metrics.json, written atomically (a crash leaves the previous file whole)."""
    with open(os.path.join(out, METRICS + ".tmp"), "w") as fh:
        json.dump(metrics, fh, indent=2)
    os.replace(os.path.join(out, METRICS + ".tmp"), os.path.join(out, METRICS))


def _restore(ckpt: dict, cfg: TrainConfig, out: str, model: MultimodalVQA,
             optimizer: Adam) -> tuple[list, int]:
    """Load a checkpoint's weights and Adam state into a run resumed with ``cfg``; returns
    its history and the number of completed epochs."""
    saved = TrainConfig.recorded(ckpt["train_config"])
    for key in TrainConfig.RESUME_KEYS:
        if saved.get(key) != asdict(cfg)[key]:
            raise CheckpointMismatchError(
                f"train --resume: the checkpoint in {out} was trained with {key}="
                f"{saved.get(key)!r}, this run asks for {key}={asdict(cfg)[key]!r}; "
                f"resume with the same {key} or start a new run")
    restored, _ = model_from_checkpoint(ckpt)
    model.load_state_dict(restored.state_dict())
    io.optimizer_state_from_checkpoint(optimizer, ckpt["tensors_raw"], ckpt["optimizer"])
    return ckpt["history"], ckpt["epoch"]


class RunHooks:
    """A training run's hooks into tinymm/loop.py's ``fit`` that every task shares: time
    each epoch, count steps (``stop_after_steps`` raises KeyboardInterrupt, as a Ctrl-C
    would, for the tests), time the first step, report an interrupt and where the last good
    checkpoint is. A task adds ``on_epoch_end`` (validate, record, checkpoint, log)."""

    def __init__(self, cfg, out, model, optimizer, data, history, log, stop_after_steps,
                 t_start):
        self.cfg, self.out, self.model, self.optimizer = cfg, out, model, optimizer
        self.data, self.history, self.log = data, history, log
        self.ckpt_path = os.path.join(out, CHECKPOINT_STEM)
        self.stop_after_steps, self.steps_done, self.t_start = stop_after_steps, 0, t_start
        self.first_step_seconds = None
        self.setup_seconds = 0.0
        self.notice = None  # the compile notice, closed after the first step

    def nan_hint(self, epoch: int) -> str:
        where = self.ckpt_path + ".json" if epoch else "absent (none completed)"
        return f"The last good checkpoint (epoch {epoch}) is {where}; try a smaller --lr"

    def on_epoch_begin(self, epoch, logs=None):
        self.t0 = time.perf_counter()

    def on_train_batch_end(self, step, logs=None):
        if self.first_step_seconds is None:
            self.first_step_seconds = time.perf_counter() - self.t_start
            if self.notice is not None:
                self.notice.finish()
        self.steps_done += 1
        if self.stop_after_steps is not None and self.steps_done >= self.stop_after_steps:
            raise KeyboardInterrupt

    def on_interrupt(self, epoch, step):
        where = (f"{self.ckpt_path}.json (epoch {epoch}) is intact; continue with --resume"
                 if epoch else "no epoch had completed, so there is no checkpoint yet")
        self.log(f"interrupted during epoch {epoch + 1}: {where}")


class _RunCallback(RunHooks):
    """The VQA run's hooks: validate per question type, record the history, write the
    checkpoint and log one line per epoch."""

    def on_epoch_end(self, epoch, logs):
        cfg, seconds = self.cfg, time.perf_counter() - self.t0
        val = evaluate(self.model, self.data["val"])
        record = {
            "epoch": epoch + 1, "train_loss": logs["loss"], "train_accuracy": logs["accuracy"],
            "val_loss": val["loss"], "val_accuracy": val["accuracy"],
            "val_per_type": val["per_type"], "seconds": seconds,
            "samples_per_second": len(self.data["train"]) / seconds,
            "lr": self.optimizer.param_groups[0]["lr"],  # after the epoch's last step
        }
        self.history.append(record)
        save_checkpoint(self.ckpt_path, self.model, self.optimizer, cfg,
                        self.data["train"].tokenizer, epoch + 1, self.history)
        per_type = " ".join(f"{k} {format_accuracy(v, 2)}" for k, v in val["per_type"].items())
        self.log(f"epoch {epoch + 1:>2}/{cfg.epochs}  train loss {record['train_loss']:.4f} "
                 f"acc {record['train_accuracy']:.4f} | val loss {val['loss']:.4f} "
                 f"acc {val['accuracy']:.4f} ({per_type}) | {seconds:.1f}s, "
                 f"{record['samples_per_second']:,.0f} samples/s"
                 + (f" | lr {record['lr']:.2e}" if cfg.lr_schedule != "constant" else ""))


def _finish(run: _RunCallback) -> dict:
    """Test the trained model, write the final checkpoint, metrics.json and the figures,
    and log the summary; returns the metrics."""
    from tinymm.app.figures import write_figures

    cfg, out, model, data, history = run.cfg, run.out, run.model, run.data, run.history
    test = evaluate(model, data["test"])
    test_record = {k: v for k, v in test.items() if k != "predictions"}
    save_checkpoint(run.ckpt_path, model, run.optimizer, cfg, data["train"].tokenizer,
                    cfg.epochs, history, test=test_record)
    metrics = {
        "config": asdict(cfg), "model_config": model.config.to_dict(),
        "parameters": model.num_parameters(), "epochs": history, "test": test_record,
        "backend": cfg.backend, "device": cfg.device, "versions": _versions(),
        "setup_seconds": run.setup_seconds, "seconds_to_first_step": run.first_step_seconds,
    }
    write_metrics(out, metrics)
    write_figures(out, model.to("cpu"), data["test"], history, test["predictions"])
    run.log(format_table(test_record, f"held-out test accuracy ({len(data['test'])} samples, "
                                      f"fusion={cfg.fusion}, seed={cfg.seed})"))
    if run.first_step_seconds is not None:
        run.log(f"first training step done {run.first_step_seconds:.2f}s after start (setup "
                f"incl. data generation {run.setup_seconds:.2f}s); total training "
                f"{sum(h['seconds'] for h in history):.0f}s")
    run.log(f"wrote {out}/: {CHECKPOINT_STEM}.safetensors + .json, {METRICS}, curves.png, "
            "samples.png" + (", attention.png" if cfg.fusion in ATTENTION_FUSIONS else ""))
    return metrics

# ---------------------------------------------------------------------------- evaluate
def evaluate_checkpoint(path: str, backend: str | None = None, log=print,
                        device: str = "cpu") -> dict:
    """Rebuild a run's model and held-out data from its checkpoint and re-measure them on
    ``device`` (the CPU by default, whichever device trained it)."""
    ckpt = load_checkpoint(path)
    saved = {k: v for k, v in TrainConfig.recorded(ckpt["train_config"]).items()
             if k in {f.name for f in fields(TrainConfig)}}
    cfg = TrainConfig(**saved)
    if backend is not None:
        cfg.backend = check_backend(backend)
    model, _ = model_from_checkpoint(ckpt)
    model.to(require_device(device))
    with use_backend(cfg.backend):
        data = build_data(cfg)
        test = evaluate(model, data["test"])
    record = {k: v for k, v in test.items() if k != "predictions"}
    log(f"checkpoint {ckpt['path']}: fusion={cfg.fusion}, epoch {ckpt['epoch']} of "
        f"{cfg.epochs}, lr schedule {cfg.lr_schedule}, seed={cfg.seed}, backend={cfg.backend}")
    log(format_table(record, f"held-out test accuracy ({len(data['test'])} samples)"))
    recorded = ckpt.get("test")
    if recorded is not None:
        same = (recorded["accuracy"] == record["accuracy"]
                and recorded["per_type"] == record["per_type"])
        log("matches the numbers recorded at the end of training: "
            + ("yes (exactly)" if same else
               f"NO (recorded overall {recorded['accuracy']:.4f}, loss {recorded['loss']:.6f}; "
               f"now loss {record['loss']:.6f})"))
        record["matches_recorded"] = same
    return record


