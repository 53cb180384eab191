"""Train VQA fusion variants and print one table row each (run by hand, not in CI):

    PYTHONPATH=$PWD nice -n 10 python benchmarks/vqa_count_study.py NAME [key=value ...]

``key=value`` are TrainConfig fields (fusion, samples, epochs, lr, seed) or MultimodalConfig
fields (count_patterns, count_heads, ...), e.g. ``base fusion=attention_count
count_patterns=0 samples=4000 epochs=10``. The run goes to /tmp/vqa_count_study/NAME
(``out=DIR`` to change it). The row: variant, samples x epochs, seed, held-out accuracy
overall and per question type, CPU seconds per epoch (this process, all threads) and the
1-minute load average at the start and end, since on a shared machine wall time says little.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import fields

from tinymm.app.train import TrainConfig, run_training
from tinymm.data import QUESTION_TYPES


def parse(args: list[str]) -> tuple[TrainConfig, str]:
    """``key=value`` words -> (TrainConfig, output directory); ints, floats and booleans
    are read as such, anything else stays a string."""
    train, model, out = {}, {}, None
    names = {f.name for f in fields(TrainConfig)} - {"model"}
    for word in args:
        key, _, text = word.partition("=")
        value = _value(text)
        if key == "out":
            out = text
        elif key in names:
            train[key] = value
        else:
            model[key] = value
    return TrainConfig(**train, model=model), out


def _value(text: str):
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def main(argv: list[str]) -> dict:
    name = argv[0]
    cfg, out = parse(argv[1:])
    out = out or os.path.join("/tmp/vqa_count_study", name)
    load_start, cpu_start, wall_start = os.getloadavg()[0], time.process_time(), time.time()
    metrics = run_training(cfg, out, overwrite=True, progress_stream=open(os.devnull, "w"))
    cpu = (time.process_time() - cpu_start) / cfg.epochs
    test = metrics["test"]
    row = {"variant": name, "model": cfg.model, "fusion": cfg.fusion, "lr": cfg.lr,
           "size": f"{cfg.samples} x {cfg.epochs}", "seed": cfg.seed,
           "overall": test["accuracy"], **{t: test["per_type"][t] for t in QUESTION_TYPES},
           "cpu_s_per_epoch": cpu, "wall_s": time.time() - wall_start,
           "load": (load_start, os.getloadavg()[0])}
    cells = [name, row["size"], str(cfg.seed), f"{row['overall']:.3f}"]
    cells += [f"{row[t]:.3f}" for t in QUESTION_TYPES]
    cells += [f"{cpu:.0f}", f"{row['load'][0]:.1f}-{row['load'][1]:.1f}"]
    print("| " + " | ".join(cells) + " |")
    print(json.dumps(row))
    return row


if __name__ == "__main__":
    main(sys.argv[1:])
