"""The application's commands for the ``tinymm`` CLI: ``train``, ``evaluate``,
``compare-fusions``. ``tinymm/app/cli.py`` calls ``add_commands(subparsers)``.

The heavy imports (models, data, training) happen inside the command functions, so
``tinymm --help`` stays fast and a broken layer cannot hide the other commands.
"""

from __future__ import annotations

import argparse
import sys

FUSION_NAMES = ("concat", "multiply", "attention", "gated", "bilinear", "image_only",
                "question_only")


def _common_training_flags(p, defaults_from_checkpoint: bool) -> None:
    d = (lambda value: None) if defaults_from_checkpoint else (lambda value: value)
    p.add_argument("--epochs", type=int, default=d(15),
                   help="passes over the training set (default 15)")
    p.add_argument("--samples", type=int, default=d(10_000),
                   help="training samples (default 10000; validation 1000, test 2000)")
    p.add_argument("--val-samples", type=int, default=d(1_000), help=argparse.SUPPRESS)
    p.add_argument("--test-samples", type=int, default=d(2_000), help=argparse.SUPPRESS)
    p.add_argument("--batch-size", type=int, default=d(32), help="default 32")
    p.add_argument("--lr", type=float, default=d(1e-3), help="Adam learning rate (default 1e-3)")
    p.add_argument("--seed", type=int, default=d(0), help="data and initialisation seed "
                   "(default 0)")
    p.add_argument("--backend", default=None,
                   help="reference | numba | cuda (default numba)")
    p.add_argument("--no-progress", action="store_true", help="no live progress bar")


def add_commands(subparsers) -> None:
    p = subparsers.add_parser(
        "train", help="train the multimodal VQA model on built-in ShapesVQA data",
        description="Train the seed model (CNN + LSTM + fusion + dense head) on ShapesVQA. "
                    "Writes checkpoint.safetensors/.json, metrics.json, curves.png (and "
                    "attention.png) into --out; Ctrl-C keeps the last completed epoch, "
                    "--resume continues it.")
    p.add_argument("--fusion", default=None,
                   help=f"{' | '.join(FUSION_NAMES)} (default attention)")
    _common_training_flags(p, defaults_from_checkpoint=True)
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
    p.add_argument("--backend", default=None, help="reference | numba | cuda")
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
                "lr", "seed", "backend"):
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
        load_checkpoint,
        run_training,
    )

    try:
        if args.fusion is not None and args.fusion not in FUSION_NAMES:
            raise ValueError(f"unknown fusion '{args.fusion}'; valid fusions: "
                             f"{', '.join(FUSION_NAMES)}")
        base = None
        if args.resume:
            if args.out is None:
                raise ValueError("train --resume needs --out DIR (the run to continue)")
            ckpt_path = os.path.join(args.out, CHECKPOINT)
            if os.path.exists(ckpt_path):
                base = load_checkpoint(ckpt_path)["train_config"]
        cfg = _config_from_args(args, base)
        out = args.out or os.path.join("runs", f"{cfg.fusion}-seed{cfg.seed}")
        run_training(cfg, out, resume=args.resume, overwrite=args.overwrite,
                     progress_stream=None if args.no_progress else sys.stderr,
                     started_at=started_at)
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
    from tinymm.app.train import CheckpointMismatchError, evaluate_checkpoint

    try:
        record = evaluate_checkpoint(args.checkpoint, backend=args.backend)
    except (ValueError, FileNotFoundError, CheckpointMismatchError, RuntimeError) as exc:
        return _fail(str(exc))
    return 0 if record.get("matches_recorded", True) else 1


def cmd_compare(args) -> int:
    from tinymm.app.train import RunExistsError, compare_fusions

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
