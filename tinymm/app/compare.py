"""``tinymm compare-fusions``: train every fusion with the same seed and data (through
``run_training``) and write ``comparison.md`` (a markdown table) and ``comparison.png``
(validation accuracy per epoch). Called by ``cmd_compare`` in tinymm/app/commands.py.
"""

from __future__ import annotations

import os
from dataclasses import asdict

import numpy as np

from tinymm.app.train import RunExistsError, TrainConfig, format_accuracy, run_training
from tinymm.data import QUESTION_TYPES
from tinymm.models.multimodal import FUSIONS, check_fusion


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
    load_start = _load_average()
    for fusion in fusions:
        run_cfg = TrainConfig(**{**asdict(cfg), "fusion": fusion})
        metrics = run_training(run_cfg, os.path.join(out, fusion), overwrite=True, log=log,
                               progress_stream=progress_stream)
        last = metrics["epochs"][-1]
        rows.append({"fusion": fusion, "test": metrics["test"], "train_accuracy":
                     last["train_accuracy"], "seconds_per_epoch":
                     float(np.mean([h["seconds"] for h in metrics["epochs"]])),
                     "seconds": float(sum(h["seconds"] for h in metrics["epochs"])),
                     "val_curve": [h["val_accuracy"] for h in metrics["epochs"]],
                     "parameters": metrics["parameters"],
                     "tower": tower_name(metrics["model_config"])})
    text = comparison_table(cfg, rows, load=(load_start, _load_average()))
    with open(table_path + ".tmp", "w") as fh:
        fh.write(text)
    os.replace(table_path + ".tmp", table_path)
    from tinymm.app import plots

    plots.series(os.path.join(out, "comparison.png"),
                 {r["fusion"]: r["val_curve"] for r in rows}, "validation accuracy",
                 title=f"fusions on ShapesVQA, seed {cfg.seed}", ylim=(0.0, 1.0))
    log("\n" + text)
    return rows


def _load_average() -> float | None:
    """The 1-minute load average (None where the OS has none): the table says how busy the
    machine was, since its times depend on it."""
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return None


def comparison_table(cfg: TrainConfig, rows: list[dict], load=(None, None)) -> str:
    """The markdown text of comparison.md: a header line and one table row per fusion.
    ``load``: the 1-minute load average at the start and end of the comparison."""
    busy = ("" if None in load else
            f", load average {load[0]:.1f} at the start and {load[1]:.1f} at the end")
    header = (f"Fusion comparison on ShapesVQA: {cfg.samples} training / {cfg.test_samples} "
              f"test samples, seed {cfg.seed}, {cfg.epochs} epochs, batch {cfg.batch_size}, "
              f"Adam lr {cfg.lr:g} (schedule {cfg.lr_schedule}, the same for every fusion), "
              f"backend {cfg.backend}, {os.cpu_count()} CPUs{busy}\n\n")
    cols = (["fusion", "test acc"] + list(QUESTION_TYPES)
            + ["train acc", "params", "s/epoch", "train s"])
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        cells = [r["fusion"], f"{r['test']['accuracy']:.3f}"]
        cells += [format_accuracy(r["test"]["per_type"][t], 3) for t in QUESTION_TYPES]
        cells += [f"{r['train_accuracy']:.3f}", f"{r['parameters']:,}",
                  f"{r['seconds_per_epoch']:.1f}", f"{r['seconds']:.0f}"]
        lines.append("| " + " | ".join(cells) + " |")
    towers = [f"{r['fusion']}: {r['tower']}" for r in rows if r.get("tower", "seed") != "seed"]
    note = ("\nImage towers other than the seed's (conv1 -> conv2 -> pool -> pool): "
            + "; ".join(towers) + "\n") if towers else ""
    return header + "\n".join(lines) + "\n" + note


def tower_name(model_config: dict) -> str:
    """How a run's image tower differs from the seed's: "seed", or its options joined by
    " + " ("early_pool + batch_norm": pool1 before conv2, BatchNorm2d before each ReLU)."""
    options = [name for name in ("early_pool", "batch_norm") if model_config.get(name)]
    return " + ".join(options) or "seed"
