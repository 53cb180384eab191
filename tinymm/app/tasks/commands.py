"""``tinymm train --task retrieval|captioning``: the command behind the shared ``train``
parser (tinymm/app/commands.py) for the ShapesCaptions tasks."""

from __future__ import annotations

import os
import sys
from dataclasses import fields

TASK_FLAGS = ("epochs", "samples", "val_samples", "test_samples", "batch_size", "lr", "seed",
              "backend", "device", "decoder", "beam")


def config_from_args(args, base: dict | None = None):
    """A TaskConfig from the command line over ``base`` (a resumed run's recorded config)."""
    from tinymm.app.tasks.base import TaskConfig

    values = dict(base or {})
    values["task"] = args.task
    for key in TASK_FLAGS:
        value = getattr(args, key, None)
        if value is not None:
            values[key] = value
    if getattr(args, "model_option", None):
        values["model"] = {**values.get("model", {}),
                           **model_options(args.task, args.model_option)}
    known = {f.name for f in fields(TaskConfig)}
    return TaskConfig(**{k: v for k, v in values.items() if k in known})


def model_options(task: str, options: list[str]) -> dict:
    """``--model-option KEY=VALUE`` strings -> model config overrides, each VALUE read as
    its field's type (bool: true/false/1/0)."""
    from tinymm.models.captioning import CaptionerConfig
    from tinymm.models.retrieval import DualEncoderConfig

    config = CaptionerConfig if task == "captioning" else DualEncoderConfig
    defaults = {f.name: f.default for f in fields(config)}
    out = {}
    for option in options:
        key, sep, text = option.partition("=")
        if not sep or key not in defaults or key in ("vocab_size", "attention"):
            valid = ", ".join(k for k in defaults if k not in ("vocab_size", "attention"))
            raise ValueError(f"--model-option: expected KEY=VALUE with KEY one of {valid} "
                             f"(--task {task}), got {option!r}")
        kind = type(defaults[key])
        try:
            if kind is bool:
                if text.lower() not in ("true", "false", "1", "0"):
                    raise ValueError(text)
                out[key] = text.lower() in ("true", "1")
            else:
                out[key] = kind(text)
        except ValueError:
            raise ValueError(f"--model-option {key}: expected a {kind.__name__}, got "
                             f"{text!r}") from None
    return out


def cmd_train_task(args, started_at: float) -> int:
    from tinymm.app.tasks.base import read_manifest, run_task
    from tinymm.app.train import (
        CHECKPOINT,
        CheckpointMismatchError,
        NonFiniteLossError,
        RunExistsError,
    )

    try:
        if args.fusion is not None:
            raise ValueError(f"--fusion belongs to --task vqa, not --task {args.task}")
        if getattr(args, "lr_schedule", None) is not None:
            raise ValueError(f"--lr-schedule belongs to --task vqa, not --task {args.task}")
        if args.decoder is not None and args.task != "captioning":
            raise ValueError("--decoder belongs to --task captioning")
        if args.beam is not None and args.task != "captioning":
            raise ValueError("--beam belongs to --task captioning")
        base = None
        if args.resume:
            if args.out is None:
                raise ValueError("train --resume needs --out DIR (the run to continue)")
            if os.path.exists(os.path.join(args.out, CHECKPOINT)):
                base = read_manifest(args.out).get("train_config")
        cfg = config_from_args(args, base)
        name = args.task + (f"-{cfg.decoder}" if args.task == "captioning" else "")
        out = args.out or os.path.join("runs", f"{name}-seed{cfg.seed}")
        run_task(cfg, out, resume=args.resume, overwrite=args.overwrite,
                 progress_stream=None if args.no_progress else sys.stderr,
                 started_at=started_at)
    except (ValueError, FileNotFoundError, RunExistsError, CheckpointMismatchError,
            RuntimeError) as exc:
        if isinstance(exc, NonFiniteLossError):
            print(f"tinymm: {exc}", file=sys.stderr)
            return 1
        print(f"tinymm: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0
