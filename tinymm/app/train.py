"""Training, evaluation and the fusion comparison behind ``tinymm train | evaluate |
compare-fusions``.

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

from tinymm import io, nn
from tinymm.autograd import no_grad, nonfinite_origin
from tinymm.backend import BACKEND_NAMES, use_backend
from tinymm.data import ANSWERS, QUESTION_TYPES, DataLoader, ShapesVQA, shapes_vqa_tokenizer
from tinymm.data.tokenizer import Tokenizer
from tinymm.models.multimodal import FUSIONS, MultimodalConfig, MultimodalVQA, check_fusion
from tinymm.ops.cross_entropy import cross_entropy
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


class NonFiniteLossError(FloatingPointError):
    """The training loss became NaN or infinite; training stopped."""


@dataclass
class TrainConfig:
    """Everything that decides a training run's numbers (saved in the checkpoint)."""

    fusion: str = "attention"
    epochs: int = 15
    samples: int = 10_000
    val_samples: int = 1_000
    test_samples: int = 2_000
    batch_size: int = 32
    lr: float = 1e-3
    seed: int = 0
    backend: str = "numba"
    model: dict = field(default_factory=dict)  # MultimodalConfig overrides (tests: tiny sizes)

    def __post_init__(self):
        check_fusion(self.fusion)
        check_backend(self.backend)
        for name in ("epochs", "samples", "val_samples", "test_samples", "batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"train: {name.replace('_', '-')} must be a positive integer, "
                                 f"got {value!r}")
        if not (isinstance(self.lr, (int, float)) and math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"train: lr must be a positive number, got {self.lr!r}")

    # the fields that must agree between a checkpoint and a resumed run
    RESUME_KEYS = ("fusion", "samples", "val_samples", "test_samples", "batch_size", "lr",
                   "seed", "model")


def check_backend(name: str) -> str:
    if name not in BACKEND_NAMES:
        raise ValueError(f"unknown backend '{name}'; valid backends: {', '.join(BACKEND_NAMES)}")
    return name


# ---------------------------------------------------------------------------- building blocks
_DATA_CACHE: dict = {}


def build_data(cfg: TrainConfig) -> dict[str, ShapesVQA]:
    """The train/val/test splits of a run (cached per process: compare-fusions shares them)."""
    key = (cfg.samples, cfg.val_samples, cfg.test_samples, cfg.seed)
    if key not in _DATA_CACHE:
        _DATA_CACHE.clear()
        _DATA_CACHE[key] = ShapesVQA.splits(train=cfg.samples, val=cfg.val_samples,
                                            test=cfg.test_samples, seed=cfg.seed)
    return _DATA_CACHE[key]


def model_config(cfg: TrainConfig, tokenizer: Tokenizer) -> MultimodalConfig:
    return MultimodalConfig(vocab_size=len(tokenizer), num_answers=len(ANSWERS),
                            fusion=cfg.fusion, **cfg.model)


def build_model(cfg: TrainConfig, tokenizer: Tokenizer) -> MultimodalVQA:
    """A freshly initialised model; the initial weights depend only on ``cfg.seed``."""
    nn.init.seed(cfg.seed)
    return MultimodalVQA(model_config(cfg, tokenizer))


def _as_batch_inputs(batch: dict):
    return from_numpy(batch["image"]), batch["tokens"], batch["lengths"]


def evaluate(model: MultimodalVQA, dataset: ShapesVQA, batch_size: int = 250) -> dict:
    """Loss, accuracy overall and per question type, and the predictions, on ``dataset``."""
    was_training = model.training
    model.eval()
    loader = DataLoader(dataset, batch_size=batch_size)
    losses, predictions = [], []
    with no_grad():
        for batch in loader:
            logits = model(*_as_batch_inputs(batch))
            loss = cross_entropy(logits, batch["answer"], reduction="sum")
            losses.append(float(loss.item()))
            predictions.append(np.argmax(logits.array, axis=1))
    model.train(was_training)
    predicted = np.concatenate(predictions)  # (N,)
    correct = predicted == dataset.answer  # (N,)
    per_type = {name: float(correct[dataset.question_type == t].mean())
                for t, name in enumerate(QUESTION_TYPES)}
    return {"loss": float(np.sum(losses) / len(dataset)), "accuracy": float(correct.mean()),
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


# ---------------------------------------------------------------------------- progress output
class Progress:
    """A one-line live progress bar on a terminal; silent when ``stream`` is not a tty."""

    def __init__(self, stream, total: int, label: str, width: int = 24):
        self.stream, self.total, self.label, self.width = stream, total, label, width
        self.live = stream is not None and hasattr(stream, "isatty") and stream.isatty()
        self.start = time.perf_counter()
        self.last = 0.0

    def update(self, done: int, loss: float, acc: float, samples: int) -> None:
        now = time.perf_counter()
        if not self.live or (now - self.last < 0.1 and done < self.total):
            return
        self.last = now
        filled = int(self.width * done / self.total)
        bar = "#" * filled + "." * (self.width - filled)
        rate = samples / max(now - self.start, 1e-9)
        eta = (self.total - done) * (now - self.start) / max(done, 1)
        self.stream.write(f"\r{self.label} [{bar}] {done}/{self.total} loss {loss:.4f} "
                          f"acc {acc:.3f} {rate:,.0f} samples/s eta {eta:4.0f}s ")
        self.stream.flush()

    def close(self) -> None:
        if self.live:
            self.stream.write("\r" + " " * 100 + "\r")
            self.stream.flush()


def _versions() -> dict:
    import numba

    import tinymm

    return {"tinymm": tinymm.__version__, "numpy": np.__version__, "numba": numba.__version__,
            "python": platform.python_version()}


def format_table(test: dict, title: str) -> str:
    lines = [title, f"  {'overall':<8} {test['accuracy']:.4f}   (loss {test['loss']:.4f})"]
    for name in QUESTION_TYPES:
        lines.append(f"  {name:<8} {test['per_type'][name]:.4f}")
    return "\n".join(lines)


# ---------------------------------------------------------------------------- the training run
def prepare_out_dir(out: str, resume: bool, overwrite: bool) -> None:
    """Refuse to clobber an existing run unless told to resume it or overwrite it."""
    if resume and overwrite:
        raise ValueError("train: --resume and --overwrite exclude each other: continue the "
                         "run in --out, or start it over")
    holds_run = any(os.path.exists(os.path.join(out, f)) for f in (CHECKPOINT, METRICS))
    if resume and not os.path.exists(os.path.join(out, CHECKPOINT)):
        raise FileNotFoundError(f"train --resume: {out} holds no {CHECKPOINT} to resume "
                                "from; drop --resume to start a new run there")
    if holds_run and not resume and not overwrite:
        raise RunExistsError(f"{out} already holds a training run ({CHECKPOINT} / {METRICS}); "
                             "pass --resume to continue it or --overwrite to replace it, or "
                             "choose another --out")
    if overwrite:
        for name in (CHECKPOINT, CHECKPOINT_STEM + ".safetensors", METRICS, "curves.png",
                     "attention.png", "samples.png"):
            if os.path.exists(os.path.join(out, name)):
                os.remove(os.path.join(out, name))
    os.makedirs(out, exist_ok=True)


def run_training(cfg: TrainConfig, out: str, resume: bool = False, overwrite: bool = False,
                 log=print, progress_stream=None, stop_after_steps: int | None = None,
                 started_at: float | None = None) -> dict:
    """Train per ``cfg`` into ``out``; returns the metrics dict also written to metrics.json.

    With ``resume=True`` the run continues from ``out/checkpoint.json``: its recorded config
    must match ``cfg`` in every field except ``epochs`` and ``backend``.
    ``stop_after_steps`` raises KeyboardInterrupt after that many optimizer steps (tests use
    it to simulate Ctrl-C). ``started_at`` (a ``time.perf_counter()`` value, e.g. taken when
    the command started) is where "seconds to the first training step" counts from.
    """
    prepare_out_dir(out, resume, overwrite)
    ckpt_path = os.path.join(out, CHECKPOINT_STEM)
    with use_backend(cfg.backend):
        t_setup = time.perf_counter()
        t_start = started_at if started_at is not None else t_setup
        data = build_data(cfg)
        tokenizer = data["train"].tokenizer
        model = build_model(cfg, tokenizer)
        optimizer = Adam(model.parameters(), lr=cfg.lr)
        history: list = []
        start_epoch = 0
        if resume:
            ckpt = load_checkpoint(ckpt_path)
            saved = ckpt["train_config"]
            for key in TrainConfig.RESUME_KEYS:
                if saved.get(key) != asdict(cfg)[key]:
                    raise CheckpointMismatchError(
                        f"train --resume: the checkpoint in {out} was trained with {key}="
                        f"{saved.get(key)!r}, this run asks for {key}={asdict(cfg)[key]!r}; "
                        f"resume with the same {key} or start a new run")
            restored, _ = model_from_checkpoint(ckpt)
            model.load_state_dict(restored.state_dict())
            io.optimizer_state_from_checkpoint(optimizer, ckpt["tensors_raw"],
                                               ckpt["optimizer"])
            history = ckpt["history"]
            start_epoch = ckpt["epoch"]
            log(f"resuming {out} after epoch {start_epoch} of {cfg.epochs}")
        n_params = model.num_parameters()
        log(f"tinymm train: fusion={cfg.fusion} backend={cfg.backend} seed={cfg.seed} "
            f"samples={cfg.samples} (val {cfg.val_samples}, test {cfg.test_samples}) "
            f"batch={cfg.batch_size} lr={cfg.lr:g} epochs={cfg.epochs} params={n_params:,}")
        loader = DataLoader(data["train"], batch_size=cfg.batch_size, shuffle=True,
                            seed=cfg.seed)
        setup_seconds = time.perf_counter() - t_setup
        first_step_seconds = None
        steps_done = 0
        for epoch in range(start_epoch, cfg.epochs):
            loader.set_epoch(epoch)
            model.train()
            bar = Progress(progress_stream, len(loader), f"epoch {epoch + 1:>2}/{cfg.epochs}")
            t0 = time.perf_counter()
            loss_sum, correct, seen = 0.0, 0, 0
            try:
                for step, batch in enumerate(loader):
                    logits = model(*_as_batch_inputs(batch))
                    loss = cross_entropy(logits, batch["answer"])
                    loss_value = float(loss.item())
                    if not math.isfinite(loss_value):
                        raise NonFiniteLossError(
                            f"train: the loss became {loss_value} at epoch {epoch + 1}, step "
                            f"{step + 1}; stopped. The last good checkpoint (epoch {epoch}) is "
                            f"{ckpt_path + '.json' if epoch else 'absent (none completed)'}; "
                            "try a smaller --lr. Where the first NaN/Inf started: "
                            f"{nonfinite_origin(loss)}")
                    optimizer.zero_grad()
                    loss.backward()
                    optimizer.step()
                    if first_step_seconds is None:
                        first_step_seconds = time.perf_counter() - t_start
                    n = len(batch["answer"])
                    loss_sum += loss_value * n
                    correct += int((np.argmax(logits.array, axis=1) == batch["answer"]).sum())
                    seen += n
                    steps_done += 1
                    bar.update(step + 1, loss_sum / seen, correct / seen, seen)
                    if stop_after_steps is not None and steps_done >= stop_after_steps:
                        raise KeyboardInterrupt
            except KeyboardInterrupt:
                bar.close()
                where = (f"{ckpt_path}.json (epoch {epoch}) is intact; continue with --resume"
                         if epoch else "no epoch had completed, so there is no checkpoint yet")
                log(f"interrupted during epoch {epoch + 1}: {where}")
                raise
            bar.close()
            train_seconds = time.perf_counter() - t0
            val = evaluate(model, data["val"])
            record = {
                "epoch": epoch + 1, "train_loss": loss_sum / seen, "train_accuracy": correct / seen,
                "val_loss": val["loss"], "val_accuracy": val["accuracy"],
                "val_per_type": val["per_type"], "seconds": train_seconds,
                "samples_per_second": seen / train_seconds,
            }
            history.append(record)
            save_checkpoint(ckpt_path, model, optimizer, cfg, tokenizer, epoch + 1, history)
            per_type = " ".join(f"{k} {v:.2f}" for k, v in val["per_type"].items())
            log(f"epoch {epoch + 1:>2}/{cfg.epochs}  train loss {record['train_loss']:.4f} "
                f"acc {record['train_accuracy']:.4f} | val loss {val['loss']:.4f} "
                f"acc {val['accuracy']:.4f} ({per_type}) | {train_seconds:.1f}s, "
                f"{record['samples_per_second']:,.0f} samples/s")

        test = evaluate(model, data["test"])
        test_record = {k: v for k, v in test.items() if k != "predictions"}
        save_checkpoint(ckpt_path, model, optimizer, cfg, tokenizer, cfg.epochs, history,
                        test=test_record)
        metrics = {
            "config": asdict(cfg), "model_config": model.config.to_dict(),
            "parameters": n_params, "epochs": history, "test": test_record,
            "backend": cfg.backend, "versions": _versions(),
            "setup_seconds": setup_seconds, "seconds_to_first_step": first_step_seconds,
        }
        with open(os.path.join(out, METRICS + ".tmp"), "w") as fh:
            json.dump(metrics, fh, indent=2)
        os.replace(os.path.join(out, METRICS + ".tmp"), os.path.join(out, METRICS))
        write_figures(out, model, data["test"], history, test["predictions"])
        log(format_table(test_record, f"held-out test accuracy ({len(data['test'])} samples, "
                                      f"fusion={cfg.fusion}, seed={cfg.seed})"))
        if first_step_seconds is not None:
            log(f"first training step done {first_step_seconds:.2f}s after start (setup incl. "
                f"data generation {setup_seconds:.2f}s); total training "
                f"{sum(h['seconds'] for h in history):.0f}s")
        log(f"wrote {out}/: {CHECKPOINT_STEM}.safetensors + .json, {METRICS}, curves.png, "
            "samples.png"
            + (", attention.png" if cfg.fusion == "attention" else ""))
    return metrics


# ---------------------------------------------------------------------------- figures
def write_figures(out: str, model: MultimodalVQA, test: ShapesVQA, history: list,
                  predictions: np.ndarray) -> None:
    from tinymm.app._png import line_plot
    from tinymm.app.render import render_grid

    if history:
        line_plot([
            {"title": "loss", "series": {"train": [h["train_loss"] for h in history],
                                         "val": [h["val_loss"] for h in history]}},
            {"title": "accuracy", "ylim": (0.0, 1.0),
             "series": {"train": [h["train_accuracy"] for h in history],
                        "val": [h["val_accuracy"] for h in history]}},
        ], os.path.join(out, "curves.png"))
    shown = _examples(test, per_type=2)
    render_grid(test, os.path.join(out, "samples.png"), indices=shown,
                predictions=predictions[shown])
    if model.config.fusion == "attention":
        attention_png(model, test, shown, os.path.join(out, "attention.png"))


def _examples(dataset: ShapesVQA, per_type: int) -> np.ndarray:
    """The first ``per_type`` samples of each question type, in type order."""
    picks = [np.flatnonzero(dataset.question_type == t)[:per_type]
             for t in range(len(QUESTION_TYPES))]
    return np.concatenate(picks)


def _heat(values: np.ndarray) -> np.ndarray:
    """Map values in [0, 1] to RGB uint8 (black -> red -> yellow -> white)."""
    v = np.clip(values, 0.0, 1.0)[..., None]  # (..., 1)
    rgb = np.concatenate([np.clip(3 * v, 0, 1), np.clip(3 * v - 1, 0, 1),
                          np.clip(3 * v - 2, 0, 1)], axis=-1)  # (..., 3)
    return (255 * rgb).astype(np.uint8)


def attention_png(model: MultimodalVQA, dataset: ShapesVQA, indices, path: str,
                  scale: int = 4) -> np.ndarray:
    """Each row: the image, the attention over its 8x8 regions, and the two blended."""
    from tinymm.app._png import Canvas

    indices = np.asarray(indices)
    batch = dataset.batch(indices)
    model.eval()
    with no_grad():
        logits = model(*_as_batch_inputs(batch))
    model.train()
    attention = model.last_attention  # (n, R)
    side = model.config.map_size
    px = dataset.images.shape[1] * scale
    row_h = px + 8
    canvas = Canvas(len(indices) * row_h + 8, 3 * (px + 8) + 240, background=(250, 250, 250))
    for i, idx in enumerate(indices):
        y0 = 4 + i * row_h
        a = attention[i].reshape(side, side)  # (8, 8)
        a = a / max(a.max(), 1e-12)
        up = np.kron(a, np.ones((dataset.images.shape[1] // side,) * 2))  # (32, 32)
        image = dataset.images[idx]
        heat = _heat(up)  # (32, 32, 3)
        blend = (0.45 * image + 0.55 * heat).astype(np.uint8)
        for j, panel in enumerate((image, heat, blend)):
            canvas.image(4 + j * (px + 8), y0, panel, scale=scale)
        x_text = 4 + 3 * (px + 8)
        canvas.text(x_text, y0 + 4, dataset.questions[idx][:38], (0, 0, 0))
        truth = ANSWERS[dataset.answer[idx]]
        guess = ANSWERS[int(np.argmax(logits.array[i]))]
        canvas.text(x_text, y0 + 18, f"answer: {truth}", (0, 0, 160))
        canvas.text(x_text, y0 + 30, f"model:  {guess}",
                    (0, 140, 0) if guess == truth else (200, 0, 0))
    canvas.save(path)
    return canvas.pixels


# ---------------------------------------------------------------------------- evaluate
def evaluate_checkpoint(path: str, backend: str | None = None, log=print) -> dict:
    """Rebuild a run's model and held-out data from its checkpoint and re-measure them."""
    ckpt = load_checkpoint(path)
    saved = {k: v for k, v in ckpt["train_config"].items()
             if k in {f.name for f in fields(TrainConfig)}}
    cfg = TrainConfig(**saved)
    if backend is not None:
        cfg.backend = check_backend(backend)
    model, _ = model_from_checkpoint(ckpt)
    with use_backend(cfg.backend):
        data = build_data(cfg)
        test = evaluate(model, data["test"])
    record = {k: v for k, v in test.items() if k != "predictions"}
    log(f"checkpoint {ckpt['path']}: fusion={cfg.fusion}, epoch {ckpt['epoch']}, "
        f"seed={cfg.seed}, backend={cfg.backend}")
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


# ---------------------------------------------------------------------------- compare-fusions
def compare_fusions(cfg: TrainConfig, out: str, fusions=FUSIONS, overwrite: bool = False,
                    log=print, progress_stream=None) -> list[dict]:
    """Train every fusion with the same seed and data; write comparison.md and .png."""
    fusions = [check_fusion(f) for f in fusions]
    table_path = os.path.join(out, "comparison.md")
    if os.path.exists(table_path) and not overwrite:
        raise RunExistsError(f"{out} already holds a fusion comparison; pass --overwrite to "
                             "replace it, or choose another --out")
    os.makedirs(out, exist_ok=True)
    rows = []
    for fusion in fusions:
        run_cfg = TrainConfig(**{**asdict(cfg), "fusion": fusion})
        run_dir = os.path.join(out, fusion)
        metrics = run_training(run_cfg, run_dir, overwrite=True, log=log,
                               progress_stream=progress_stream)
        last = metrics["epochs"][-1]
        rows.append({"fusion": fusion, "test": metrics["test"], "train_accuracy":
                     last["train_accuracy"], "seconds_per_epoch":
                     float(np.mean([h["seconds"] for h in metrics["epochs"]])),
                     "val_curve": [h["val_accuracy"] for h in metrics["epochs"]],
                     "parameters": metrics["parameters"]})
    header = (f"Fusion comparison on ShapesVQA: {cfg.samples} training / {cfg.test_samples} "
              f"test samples, seed {cfg.seed}, {cfg.epochs} epochs, batch {cfg.batch_size}, "
              f"Adam lr {cfg.lr:g}, backend {cfg.backend}\n\n")
    cols = ["fusion", "test acc"] + list(QUESTION_TYPES) + ["train acc", "params", "s/epoch"]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        cells = [r["fusion"], f"{r['test']['accuracy']:.3f}"]
        cells += [f"{r['test']['per_type'][t]:.3f}" for t in QUESTION_TYPES]
        cells += [f"{r['train_accuracy']:.3f}", f"{r['parameters']:,}",
                  f"{r['seconds_per_epoch']:.1f}"]
        lines.append("| " + " | ".join(cells) + " |")
    text = header + "\n".join(lines) + "\n"
    with open(table_path + ".tmp", "w") as fh:
        fh.write(text)
    os.replace(table_path + ".tmp", table_path)
    from tinymm.app._png import line_plot

    line_plot([{"title": "validation accuracy per epoch", "ylim": (0.0, 1.0),
                "series": {r["fusion"]: r["val_curve"] for r in rows}}],
              os.path.join(out, "comparison.png"), panel_w=560, panel_h=320)
    log("\n" + text)
    return rows


def _stderr():
    return sys.stderr
