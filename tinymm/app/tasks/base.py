"""What the retrieval and captioning tasks share: their config, data, run directory,
checkpoints, ``--resume``, the callback into the one training loop (tinymm/loop.py), the
final test, ``metrics.json`` and ``tinymm evaluate``.

A task (tinymm/app/tasks/retrieval.py, captioning.py) is an object with:

    name, kind                 "retrieval", "tinymm.retrieval/1" (the checkpoint's kind)
    build_model(cfg, tokenizer) -> nn.Module        (initial weights from cfg.seed)
    model_from_config(dict)    the model of a checkpoint's recorded model config
    loss_fn(model, batch)      -> (loss, metrics), the loop's contract
    validate(model, split, cfg) -> dict of numbers  (each epoch, on the validation split)
    test(model, split, cfg)    -> dict of numbers   (the held-out record, exact on reload)
    epoch_line(record)         one log line's numbers;  report(test, cfg) -> lines
    figures(out, model, data, history, cfg) -> names of the PNGs written

The run directory holds checkpoint.safetensors + .json (weights, Adam state, manifest with
the task, configs, vocabulary, history, test record), metrics.json and the figures, exactly
as a VQA run's; resuming is exact for the same reasons (tinymm/app/train.py).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field, fields

import numpy as np

from tinymm import io
from tinymm.app.train import (
    CHECKPOINT,
    CHECKPOINT_STEM,
    METRICS,
    CheckpointMismatchError,
    RunHooks,
    cached_splits,
    check_backend,
    check_device_name,
    checkpoint_stem,
    fit_run,
    prepare_out_dir,
    require_device,
    sigint_deferred,
    versions,
    write_metrics,
)
from tinymm.backend import use_backend
from tinymm.data import DataLoader
from tinymm.data.shapes_captions import CaptionPairs, ShapesCaptions, captions_tokenizer
from tinymm.optim import Adam

TASKS = ("vqa", "retrieval", "captioning")
# captioning: at 1e-3 the CNN learnt shapes too slowly for 840 steps (benchmarks/RESULTS.md)
DEFAULT_LR = {"retrieval": 1e-3, "captioning": 3e-3}
# Default epochs per (task, decoder): each default run fits in 5 minutes on a quiet 2-core
# machine; an attention-decoder epoch (a Python loop over the steps, attention at each) costs
# about 2.3 plain-decoder epochs, so the plain decoder gets more of them.
DEFAULT_EPOCHS = {("retrieval", "plain"): 6, ("captioning", "plain"): 9,
                  ("captioning", "attention"): 5}
# Default training images per (task, decoder). The captioner's early_pool tower halves the
# step's cost, and at an equal step count twice the images (fewer passes over each) gave
# the better validation attributes (benchmarks/RESULTS.md), so captioning trains on 6,000.
DEFAULT_SAMPLES = {("retrieval", "plain"): 3_000, ("captioning", "plain"): 6_000,
                   ("captioning", "attention"): 6_000}
DECODERS = ("plain", "attention")
# The captioning default is the attention decoder: at the defaults (seed 0, quiet) it reached
# greedy BLEU-4 0.926 and attribute accuracy 0.846 in 5 epochs, the plain decoder 0.857 and
# 0.652 in 9 (benchmarks/RESULTS.md); --decoder plain keeps the plain one.


@dataclass
class TaskConfig:
    """Everything that decides a retrieval or captioning run's numbers (in the checkpoint).
    ``samples`` counts training images; each has 3 reference captions, so an epoch visits
    3 x samples (image, caption) pairs."""

    task: str = "retrieval"
    epochs: int | None = None  # None: the task's and decoder's default, DEFAULT_EPOCHS
    samples: int | None = None  # None: the task's and decoder's default, DEFAULT_SAMPLES
    val_samples: int = 500
    test_samples: int = 1_000
    batch_size: int = 64
    lr: float | None = None  # None: the task's default, DEFAULT_LR
    seed: int = 0
    backend: str = "numba"
    # "cuda": the model, Adam's state and each training batch live on the GPU, and validation,
    # the test record and decoding run there too (their results come back to be scored)
    device: str = "cpu"
    decoder: str = "attention"  # captioning: attention (the default, see DECODERS) | plain
    beam: int = 3  # captioning: beam width of the beam-search numbers
    model: dict = field(default_factory=dict)  # model config overrides (tests: tiny sizes)

    def __post_init__(self):
        if self.task not in TASKS[1:]:
            raise ValueError(f"unknown task '{self.task}' for TaskConfig; valid tasks: "
                             f"{', '.join(TASKS[1:])} (vqa has TrainConfig)")
        if self.lr is None:
            self.lr = DEFAULT_LR[self.task]
        if self.decoder not in DECODERS:
            raise ValueError(f"train: unknown decoder '{self.decoder}'; valid decoders: "
                             f"{', '.join(DECODERS)}")
        kind = self.task, "plain" if self.task == "retrieval" else self.decoder
        if self.epochs is None:
            self.epochs = DEFAULT_EPOCHS[kind]
        if self.samples is None:
            self.samples = DEFAULT_SAMPLES[kind]
        check_backend(self.backend)
        check_device_name(self.device)
        if self.device != "cpu" and self.model.get("word_loss", 0):
            raise ValueError("train: --device cuda cannot train the captioner's word-presence "
                             "loss (word_loss > 0: binary_cross_entropy_with_logits has no cuda "
                             "kernel); train that model on the CPU")
        for name in ("epochs", "samples", "val_samples", "test_samples", "batch_size", "beam"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"train: {name.replace('_', '-')} must be a positive integer, "
                                 f"got {value!r}")
        if self.task == "retrieval" and self.batch_size < 2:
            raise ValueError("train: retrieval needs --batch-size >= 2 (the other pairs of a "
                             "batch are each pair's negatives)")
        if not (isinstance(self.lr, (int, float)) and np.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"train: lr must be a positive number, got {self.lr!r}")

    # the fields that must agree between a checkpoint and a resumed run
    RESUME_KEYS = ("task", "samples", "val_samples", "test_samples", "batch_size", "lr",
                   "seed", "decoder", "model")


def build_data(cfg: TaskConfig) -> dict[str, ShapesCaptions]:
    """The train/val/test splits of a retrieval or captioning run."""
    return cached_splits(ShapesCaptions, cfg)


# ---------------------------------------------------------------------------- checkpoints
def save_checkpoint(path: str, task, model, optimizer, cfg: TaskConfig, epoch: int,
                    history: list, test: dict | None = None) -> None:
    manifest = {"kind": task.kind, "task": task.name, "epoch": epoch,
                "train_config": asdict(cfg), "model_config": model.config.to_dict(),
                "vocabulary": captions_tokenizer().itos, "history": history, "test": test}
    with sigint_deferred():
        io.save_module(path, model, optimizer, manifest=manifest)


def read_manifest(path: str) -> dict:
    """A checkpoint's manifest and tensors (any task), without building anything."""
    stem = checkpoint_stem(path)
    _, manifest_path = io.checkpoint_paths(stem)
    if not manifest_path.exists():
        raise FileNotFoundError(f"no checkpoint at {path} ({manifest_path.name} not found); "
                                "pass a run directory written by 'tinymm train --out DIR' or "
                                "its checkpoint.json")
    tensors, manifest = io.load_checkpoint(stem)
    manifest["path"] = str(manifest_path)
    manifest["tensors_raw"] = tensors
    manifest["model_state"] = {k: v for k, v in tensors.items()
                               if not k.startswith("optimizer/")}
    return manifest


def model_from_checkpoint(task, ckpt: dict):
    """Rebuild a checkpoint's model, refusing another task's or another vocabulary's."""
    if ckpt.get("kind") != task.kind:
        raise CheckpointMismatchError(
            f"{ckpt['path']}: a checkpoint of the {ckpt.get('task', 'vqa')!r} task (kind "
            f"{ckpt.get('kind')!r}), not of the {task.name!r} task (kind {task.kind!r}); "
            f"pass --task {ckpt.get('task', 'vqa')} or another run directory")
    vocabulary = captions_tokenizer().itos
    if ckpt["vocabulary"] != vocabulary:
        raise CheckpointMismatchError(
            f"{ckpt['path']}: its vocabulary ({len(ckpt['vocabulary'])} words) differs from "
            f"ShapesCaptions's ({len(vocabulary)} words); it was trained on other data")
    model = task.model_from_config(ckpt["model_config"])
    try:
        model.load_state_dict(ckpt["model_state"])
    except (KeyError, ValueError, RuntimeError) as exc:
        raise CheckpointMismatchError(f"{ckpt['path']}: the weights do not fit the model "
                                      f"config it records: {exc}") from exc
    return model


def _restore(task, ckpt: dict, cfg: TaskConfig, out: str, model, optimizer):
    saved = ckpt.get("train_config", {})
    if ckpt.get("kind") == task.kind:
        for key in TaskConfig.RESUME_KEYS:
            if saved.get(key) != asdict(cfg)[key]:
                raise CheckpointMismatchError(
                    f"train --resume: the checkpoint in {out} was trained with {key}="
                    f"{saved.get(key)!r}, this run asks for {key}={asdict(cfg)[key]!r}; "
                    f"resume with the same {key} or start a new run")
    restored = model_from_checkpoint(task, ckpt)
    model.load_state_dict(restored.state_dict())
    io.optimizer_state_from_checkpoint(optimizer, ckpt["tensors_raw"], ckpt["optimizer"])
    return ckpt["history"], ckpt["epoch"]


# ---------------------------------------------------------------------------- the run
def get_task(name: str):
    from tinymm.app.tasks import captioning, retrieval

    tasks = {"retrieval": retrieval.TASK, "captioning": captioning.TASK}
    if name not in tasks:
        raise ValueError(f"unknown task '{name}'; valid tasks: {', '.join(TASKS)}")
    return tasks[name]


def run_task(cfg: TaskConfig, out: str, resume: bool = False, overwrite: bool = False,
             log=print, progress_stream=None, stop_after_steps: int | None = None,
             started_at: float | None = None) -> dict:
    """Train ``cfg.task`` into ``out`` on the shared loop; returns the metrics also written
    to metrics.json (``stop_after_steps``: raise KeyboardInterrupt after that many steps,
    as a Ctrl-C would, for the tests)."""
    task = get_task(cfg.task)
    require_device(cfg.device)
    if resume:  # check the task before anything is written
        ckpt = read_manifest(out) if os.path.exists(os.path.join(out, CHECKPOINT)) else None
    prepare_out_dir(out, resume, overwrite, figures=task.figure_names)
    with use_backend(cfg.backend):
        t_setup = time.perf_counter()
        data = build_data(cfg)
        model = task.build_model(cfg, data["train"].tokenizer).to(cfg.device)
        optimizer = Adam(model.parameters(), lr=cfg.lr)
        history, start_epoch = [], 0
        if resume:
            history, start_epoch = _restore(task, ckpt, cfg, out, model, optimizer)
            log(f"resuming {out} after epoch {start_epoch} of {cfg.epochs}")
        where = f"device={cfg.device}" if cfg.device != "cpu" else f"backend={cfg.backend}"
        log(f"tinymm train: task={cfg.task}" + task.describe(cfg) + f" {where} "
            f"seed={cfg.seed} images={cfg.samples} (val {cfg.val_samples}, test "
            f"{cfg.test_samples}; 3 captions each) batch={cfg.batch_size} lr={cfg.lr:g} "
            f"epochs={cfg.epochs} params={model.num_parameters():,}")
        loader = DataLoader(CaptionPairs(data["train"]), batch_size=cfg.batch_size,
                            shuffle=True, seed=cfg.seed, drop_last=cfg.task == "retrieval")
        run = TaskRun(task, cfg, out, model, optimizer, data, history, log, stop_after_steps,
                      started_at if started_at is not None else t_setup)
        run.setup_seconds = time.perf_counter() - t_setup
        fit_run(run, task.loss_fn, loader, start_epoch, progress_stream)
        return run.finish()


class TaskRun(RunHooks):
    """A retrieval or captioning run's hooks (the shared ones in ``RunHooks``): validate
    with the task's metrics, record the history, write the checkpoint, log one line per
    epoch; ``finish`` runs the final test and writes metrics.json and the figures."""

    def __init__(self, task, *args):
        super().__init__(*args)
        self.task = task

    def on_epoch_end(self, epoch, logs):
        seconds = time.perf_counter() - self.t0
        val = self.task.validate(self.model, self.data["val"], self.cfg)
        record = {"epoch": epoch + 1, **{f"train_{k}": v for k, v in logs.items()},
                  **{f"val_{k}": v for k, v in val.items()}, "seconds": seconds,
                  "pairs_per_second": 3 * len(self.data["train"]) / seconds}
        self.history.append(record)
        save_checkpoint(self.ckpt_path, self.task, self.model, self.optimizer, self.cfg,
                        epoch + 1, self.history)
        self.log(f"epoch {epoch + 1:>2}/{self.cfg.epochs}  train loss {logs['loss']:.4f} | "
                 f"val {self.task.epoch_line(val)} | {seconds:.1f}s, "
                 f"{record['pairs_per_second']:,.0f} pairs/s")

    def finish(self) -> dict:
        cfg, out, model, task = self.cfg, self.out, self.model, self.task
        test = task.test(model, self.data["test"], cfg)
        save_checkpoint(self.ckpt_path, task, model, self.optimizer, cfg, cfg.epochs,
                        self.history, test=test)
        metrics = {"task": task.name, "config": asdict(cfg),
                   "model_config": model.config.to_dict(),
                   "parameters": model.num_parameters(), "epochs": self.history, "test": test,
                   "backend": cfg.backend, "device": cfg.device, "versions": versions(),
                   "setup_seconds": self.setup_seconds,
                   "seconds_to_first_step": self.first_step_seconds}
        write_metrics(out, metrics)
        written = task.figures(out, model, self.data, self.history, cfg)
        for line in task.report(test, cfg):
            self.log(line)
        total = sum(h["seconds"] for h in self.history)
        self.log(f"total training {total:.0f}s (setup incl. data generation "
                 f"{self.setup_seconds:.2f}s)")
        self.log(f"wrote {out}/: {CHECKPOINT_STEM}.safetensors + .json, {METRICS}, "
                 + ", ".join(written))
        return metrics


# a record re-measured on another device than the one that trained it: float sums (the
# teacher-forced loss) may differ in the last bits; everything counted must agree exactly
OTHER_DEVICE_RTOL = 1e-5


def same_record(recorded, record, rtol: float = 0.0) -> bool:
    """``recorded == record``, with floats within ``rtol`` (relative) when rtol > 0."""
    if isinstance(recorded, dict) and isinstance(record, dict):
        return recorded.keys() == record.keys() and all(
            same_record(recorded[k], record[k], rtol) for k in recorded)
    if rtol and isinstance(recorded, float) and isinstance(record, float):
        return bool(np.isclose(recorded, record, rtol=rtol, atol=0.0, equal_nan=True))
    return recorded == record


def evaluate_task_checkpoint(path: str, backend: str | None = None, log=print,
                             device: str = "cpu") -> dict:
    """Rebuild a retrieval or captioning run's model and held-out data from its checkpoint
    and re-measure the test record on ``device`` (the CPU by default, whichever device
    trained it); ``matches_recorded`` says whether it is the recorded one: exactly on the
    training device, floats within OTHER_DEVICE_RTOL on another."""
    ckpt = read_manifest(path)
    task = get_task(ckpt.get("task", "vqa"))
    saved = {k: v for k, v in ckpt["train_config"].items()
             if k in {f.name for f in fields(TaskConfig)}}
    cfg = TaskConfig(**saved)
    if backend is not None:
        cfg.backend = check_backend(backend)
    model = model_from_checkpoint(task, ckpt).to(require_device(device))
    with use_backend(cfg.backend):
        record = task.test(model, build_data(cfg)["test"], cfg)
    where = f"device={device}" if device != "cpu" else f"backend={cfg.backend}"
    log(f"checkpoint {ckpt['path']}: task={task.name}{task.describe(cfg)}, epoch "
        f"{ckpt['epoch']}, seed={cfg.seed}, {where}")
    for line in task.report(record, cfg):
        log(line)
    recorded = ckpt.get("test")
    if recorded is not None:
        rtol = 0.0 if device == cfg.device else OTHER_DEVICE_RTOL
        same = same_record(recorded, record, rtol)
        log("matches the numbers recorded at the end of training: "
            + ("NO (recorded " + json.dumps(recorded, sort_keys=True) + ")" if not same
               else "yes (exactly)" if recorded == record
               else f"yes (within {rtol:g}: trained on {cfg.device}, evaluated on {device})"))
        record["matches_recorded"] = same
    return record


def checkpoint_task(path: str) -> str:
    """The task a checkpoint was trained for ("vqa" for VQA checkpoints)."""
    stem = checkpoint_stem(path)
    _, manifest_path = io.checkpoint_paths(stem)
    if not manifest_path.exists():
        return "vqa"  # let the VQA path report the missing file in its words
    try:
        with open(manifest_path) as fh:
            manifest = json.load(fh)
    except (OSError, ValueError):
        return "vqa"  # unreadable: the VQA path's checks name the problem
    return manifest.get("task", "vqa") if isinstance(manifest, dict) else "vqa"
