"""The application's commands for the ``tinymm`` CLI: ``train``, ``evaluate``,
``compare-fusions``. ``tinymm/app/cli.py`` calls ``add_commands(subparsers)``.

The parser takes its defaults from ``TrainConfig`` (tinymm/app/train.py) and its fusion names
from ``tinymm.models.FUSIONS``, so each is written once; training, evaluation and the
comparison are imported inside the command functions.
"""

from __future__ import annotations

import argparse
import sys

from tinymm.models.multimodal import FUSIONS as FUSION_NAMES

_DEFAULTS = {}


def _train_defaults() -> dict:
    """TrainConfig's defaults (the one place they are written), read once."""
    if not _DEFAULTS:
        from tinymm.app.train import TrainConfig

        _DEFAULTS.update({f.name: f.default for f in TrainConfig.__dataclass_fields__.values()})
    return _DEFAULTS


def _common_training_flags(p, defaults_from_checkpoint: bool) -> None:
    from tinymm.app.train import FUSION_EPOCHS, VQA_EPOCHS

    t = _train_defaults()
    d = (lambda name: None) if defaults_from_checkpoint else (lambda name: t[name])
    epochs = f"default {VQA_EPOCHS}"
    samples = f"default {t['samples']}; validation {t['val_samples']}, test {t['test_samples']}"
    if defaults_from_checkpoint:  # the train command: the other tasks' defaults too
        from tinymm.app.tasks.base import DEFAULT_EPOCHS, DEFAULT_SAMPLES

        epochs += "".join(f", {n} with --fusion {f}" for f, n in FUSION_EPOCHS.items())
        epochs += (f" for vqa; retrieval {DEFAULT_EPOCHS['retrieval', 'plain']}, captioning "
                   f"{DEFAULT_EPOCHS['captioning', 'attention']} with the attention decoder "
                   f"and {DEFAULT_EPOCHS['captioning', 'plain']} with the plain one")
        samples += (f" for vqa; {DEFAULT_SAMPLES['retrieval', 'plain']} images for retrieval, "
                    f"{DEFAULT_SAMPLES['captioning', 'plain']} for captioning")
    p.add_argument("--epochs", type=int, default=d("epochs"),
                   help=f"passes over the training set ({epochs})")
    p.add_argument("--samples", type=int, default=d("samples"),
                   help=f"training samples ({samples})")
    p.add_argument("--val-samples", type=int, default=d("val_samples"), help=argparse.SUPPRESS)
    p.add_argument("--test-samples", type=int, default=d("test_samples"),
                   help=argparse.SUPPRESS)
    p.add_argument("--batch-size", type=int, default=d("batch_size"),
                   help=f"default {t['batch_size']}")
    p.add_argument("--lr", type=float, default=d("lr"),
                   help=f"Adam learning rate (default {t['lr']:g})")
    from tinymm.app.lr_schedule import SCHEDULE_HELP
    from tinymm.app.train import FUSION_SCHEDULES, VQA_SCHEDULE

    schedules = "".join(f", {s} with --fusion {f}" for f, s in FUSION_SCHEDULES.items())
    p.add_argument("--lr-schedule", default=None, metavar="SPEC",
                   help=f"vqa: {SCHEDULE_HELP}, stepped after every optimizer step; cosine:K "
                        "holds --lr, then anneals it to 0 over the last K epochs (default "
                        f"{VQA_SCHEDULE}{schedules}; saved in the run, so --resume keeps it)")
    p.add_argument("--seed", type=int, default=d("seed"),
                   help=f"data and initialisation seed (default {t['seed']})")
    p.add_argument("--backend", default=None,
                   help=f"the CPU kernels: reference | numba (default {t['backend']})")
    p.add_argument("--device", default=None, choices=("cpu", "cuda"),
                   help="cuda: train on the GPU (numba-cuda; NUMBA_ENABLE_CUDASIM=1 runs the "
                        "simulator); retrieval and captioning validate, test and decode on "
                        f"the CPU (default {t['device']})")
    p.add_argument("--no-progress", action="store_true", help="no live progress bar")


def add_commands(subparsers) -> None:
    p = subparsers.add_parser(
        "train", help="train the multimodal VQA model on built-in ShapesVQA data",
        description="Train the seed model (CNN + LSTM + fusion + dense head) on ShapesVQA. "
                    "Writes checkpoint.safetensors/.json, metrics.json, curves.png (and "
                    "attention.png) into --out; Ctrl-C keeps the last completed epoch, "
                    "--resume continues it.")
    p.add_argument("--task", default="vqa", choices=("vqa", "retrieval", "captioning"),
                   help="vqa (default) | retrieval (dual encoder, InfoNCE) | captioning "
                        "(LSTM decoder); retrieval and captioning train on ShapesCaptions")
    p.add_argument("--fusion", default=None,
                   help=f"{' | '.join(FUSION_NAMES)} (default {_train_defaults()['fusion']})")
    _common_training_flags(p, defaults_from_checkpoint=True)
    p.add_argument("--decoder", default=None, choices=("plain", "attention"),
                   help="captioning: attention (show, attend and tell; default) or plain")
    p.add_argument("--beam", type=int, default=None,
                   help="captioning: beam width of the beam-search numbers (default 3)")
    p.add_argument("--model-option", action="append", default=None, metavar="KEY=VALUE",
                   help="retrieval/captioning: override one model config field, e.g. "
                        "word_loss=0 or image_input=false (repeatable)")
    p.add_argument("--out", default=None, help="run directory (default runs/<fusion>-seed<seed>)")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in --out from its last checkpoint")
    p.add_argument("--overwrite", action="store_true", help="replace the run in --out")
    p.set_defaults(func=cmd_train)

    p = subparsers.add_parser(
        "evaluate", help="reload a checkpoint and re-measure its held-out accuracy",
        description="Rebuild the model and the held-out test set from CHECKPOINT (a run "
                    "directory or its checkpoint.json) and print the accuracy table.")
    p.add_argument("checkpoint", help="run directory or its checkpoint.json")
    p.add_argument("--backend", default=None, help="the CPU kernels: reference | numba")
    p.add_argument("--device", default=None, choices=("cpu", "cuda"),
                   help="where to evaluate (default cpu, whichever device trained it)")
    p.set_defaults(func=cmd_evaluate)

    p = subparsers.add_parser(
        "compare-fusions", help="train every fusion and baseline on the same data and seed",
        description="Train each fusion with the same seed and data; write comparison.md (a "
                    "markdown table) and comparison.png into --out.")
    p.add_argument("--fusions", default=",".join(FUSION_NAMES),
                   help="comma-separated subset (default: all)")
    _common_training_flags(p, defaults_from_checkpoint=False)
    p.add_argument("--out", default="runs/compare", help="directory (default runs/compare)")
    p.add_argument("--overwrite", action="store_true", help="replace a comparison in --out")
    p.set_defaults(func=cmd_compare)


def _fail(message: str) -> int:
    print(f"tinymm: error: {message}", file=sys.stderr)
    return 2


def _config_from_args(args, base: dict | None = None):
    from tinymm.app.train import TrainConfig

    values = dict(base or {})
    for key in ("fusion", "epochs", "samples", "val_samples", "test_samples", "batch_size",
                "lr", "lr_schedule", "seed", "backend", "device"):
        value = getattr(args, key, None)
        if value is not None:
            values[key] = value
    known = set(TrainConfig.__dataclass_fields__)
    return TrainConfig(**{k: v for k, v in values.items() if k in known})


def cmd_train(args) -> int:
    import os
    import time

    started_at = time.perf_counter()

    from tinymm.app.train import (
        CHECKPOINT,
        CheckpointMismatchError,
        NonFiniteLossError,
        RunExistsError,
        TrainConfig,
        load_checkpoint,
        run_training,
    )

    if getattr(args, "task", "vqa") != "vqa":
        from tinymm.app.tasks.commands import cmd_train_task

        return cmd_train_task(args, started_at)
    try:
        if args.decoder is not None or args.beam is not None:
            raise ValueError("--decoder and --beam belong to --task captioning")
        if args.model_option:
            raise ValueError("--model-option belongs to --task retrieval or captioning")
        if args.fusion is not None and args.fusion not in FUSION_NAMES:
            raise ValueError(f"unknown fusion '{args.fusion}'; valid fusions: "
                             f"{', '.join(FUSION_NAMES)}")
        ckpt = None
        if args.resume:
            if args.out is None:
                raise ValueError("train --resume needs --out DIR (the run to continue)")
            ckpt_path = os.path.join(args.out, CHECKPOINT)
            if os.path.exists(ckpt_path):
                ckpt = load_checkpoint(ckpt_path)  # read once: run_training resumes from it
        cfg = _config_from_args(args, TrainConfig.recorded(ckpt["train_config"]) if ckpt
                                else None)
        out = args.out or os.path.join("runs", f"{cfg.fusion}-seed{cfg.seed}")
        run_training(cfg, out, resume=args.resume, overwrite=args.overwrite,
                     progress_stream=None if args.no_progress else sys.stderr,
                     started_at=started_at, checkpoint=ckpt)
    except (ValueError, FileNotFoundError, RunExistsError, CheckpointMismatchError,
            RuntimeError) as exc:
        if isinstance(exc, NonFiniteLossError):
            print(f"tinymm: {exc}", file=sys.stderr)
            return 1
        return _fail(str(exc))
    except KeyboardInterrupt:
        return 130
    return 0


def cmd_evaluate(args) -> int:
    from tinymm.app.tasks import checkpoint_task, evaluate_task_checkpoint
    from tinymm.app.train import CheckpointMismatchError, evaluate_checkpoint

    try:
        evaluate_run = (evaluate_checkpoint if checkpoint_task(args.checkpoint) == "vqa"
                        else evaluate_task_checkpoint)
        record = evaluate_run(args.checkpoint, backend=args.backend,
                              device=getattr(args, "device", None) or "cpu")
    except (ValueError, FileNotFoundError, CheckpointMismatchError, RuntimeError) as exc:
        return _fail(str(exc))
    return 0 if record.get("matches_recorded", True) else 1


def cmd_compare(args) -> int:
    from tinymm.app.compare import compare_fusions
    from tinymm.app.train import RunExistsError

    fusions = [f.strip() for f in args.fusions.split(",") if f.strip()]
    bad = [f for f in fusions if f not in FUSION_NAMES]
    if bad or not fusions:
        return _fail(f"unknown fusion {', '.join(repr(b) for b in bad) or '(none given)'}; "
                     f"valid fusions: {', '.join(FUSION_NAMES)}")
    try:
        cfg = _config_from_args(args, {"fusion": fusions[0]})
        compare_fusions(cfg, args.out, fusions=fusions, overwrite=args.overwrite,
                        progress_stream=None if args.no_progress else sys.stderr)
    except (ValueError, FileNotFoundError, RunExistsError, RuntimeError) as exc:
        return _fail(str(exc))
    except KeyboardInterrupt:
        return 130
    return 0
