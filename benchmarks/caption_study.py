"""Which part of the captions' facts fails, per captioner variant (run by hand, not in CI).

    PYTHONPATH=$PWD python benchmarks/caption_study.py NAME [key=value ...]

trains one variant on the captioning task's data (``TaskConfig`` fields, e.g. samples=1500
epochs=4 decoder=attention, and model fields, e.g. image_input=1 region_positions=1) with
the shared loop, then decodes the validation images greedily and prints BLEU-4, attribute
accuracy and ``attribute_breakdown`` (tinymm/app/tasks/captioning.py) as one JSON line;
``--refs`` scores each validation image's own reference captions instead (all ones);

    PYTHONPATH=$PWD python benchmarks/caption_study.py --run DIR

scores a trained run's test images (greedy) with the same breakdown.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import fields

import numpy as np

from tinymm import loop
from tinymm.app.tasks import base as B
from tinymm.app.tasks.captioning import (
    TASK,
    attribute_breakdown,
    caption_scores,
    decode_split,
)
from tinymm.autograd import no_grad
from tinymm.backend import use_backend
from tinymm.data import DataLoader
from tinymm.data.shapes_captions import CaptionPairs
from tinymm.data.shapes_vqa import COLORS, SHAPES
from tinymm.models.captioning import CaptionerConfig
from tinymm.models.retrieval import DualEncoderConfig
from tinymm.optim import Adam
from tinymm.tensor import from_numpy


def parse(args: list[str], default_task: str = "captioning") -> tuple[B.TaskConfig, dict]:
    """``key=value`` arguments -> a TaskConfig (its ``model`` the model-field overrides)."""
    task_fields = {f.name: f.type for f in fields(B.TaskConfig)}
    task = next((a.split("=")[1] for a in args if a.startswith("task=")), default_task)
    config = CaptionerConfig if task == "captioning" else DualEncoderConfig
    model_fields = {f.name: f.default for f in fields(config)}
    values, model = {"task": task, "val_samples": 300}, {}
    for arg in args:
        key, value = arg.split("=")
        if key in model_fields:
            default = model_fields[key]
            model[key] = bool(int(value)) if isinstance(default, bool) else type(default)(value)
        elif key in task_fields:
            values[key] = value if key in ("task", "decoder", "backend") else \
                (float(value) if key == "lr" else int(value))
        else:
            raise SystemExit(f"caption_study: unknown field {key!r}")
    return B.TaskConfig(**values, model=model), model


def object_cells(split, i: int, cell: int = 4) -> list[np.ndarray]:
    """Image ``i``'s objects left to right, each as a flat (R,) bool mask of the map cells
    (``cell`` x ``cell`` pixels each) its bounding box overlaps."""
    k = int(split.n_objects[i])
    size, y, x = split.obj_size[i, :k], split.obj_y[i, :k], split.obj_x[i, :k]
    order = sorted(range(k), key=lambda j: (x[j] + size[j] / 2, y[j] + size[j] / 2))
    side = split.images.shape[1] // cell
    rows = np.arange(side)
    masks = []
    for j in order:
        ys = (rows * cell < y[j] + size[j]) & (rows * cell + cell > y[j])  # (side,)
        xs = (rows * cell < x[j] + size[j]) & (rows * cell + cell > x[j])  # (side,)
        masks.append((ys[:, None] & xs[None, :]).reshape(-1))
    return masks


def attention_on_objects(model, split, limit: int = 200) -> dict:
    """Where the attention decoder looks, teacher-forced on each image's listing reference
    (objects named left to right): the mean weight on any object's cells over the real steps
    (``on_objects``; ``uniform`` is what equal weights would give), and at the steps that
    predict the k-th object's colour or shape word, the weight on that object's cells
    (``on_named``; ``named_uniform`` for equal weights)."""
    n = min(limit, len(split))
    tokens = split.tokens[:n, 0]  # (n, L)
    L = int(split.lengths[:n, 0].max())
    with no_grad():
        model(from_numpy(split.image_array(np.arange(n))), tokens[:, :L])
    alphas = model.last_attention  # (n, L-1, R): alphas[:, t] predicts tokens[:, t + 1]
    colour_shape = {split.tokenizer.stoi[w] for w in COLORS + SHAPES}
    rows = {"on_objects": [], "uniform": [], "on_named": [], "named_uniform": []}
    for i in range(n):
        masks = object_cells(split, i)
        anywhere = np.any(masks, axis=0)  # (R,)
        real = int(split.lengths[i, 0]) - 1  # steps with a real target
        rows["on_objects"].append(alphas[i, :real, anywhere].sum(0).mean())
        rows["uniform"].append(anywhere.mean())
        named = [t for t in range(real) if tokens[i, t + 1] in colour_shape]  # 2 per object
        for j, t in enumerate(named):
            rows["on_named"].append(alphas[i, t, masks[j // 2]].sum())
            rows["named_uniform"].append(masks[j // 2].mean())
    return {k: round(float(np.mean(v)), 4) for k, v in rows.items()}


def scores(model, split, max_words: int) -> dict:
    captions = decode_split(model, split)
    out = caption_scores(captions, split)
    out.update(attribute_breakdown(captions, split, max_words))
    if model.config.attention:
        out["attention"] = attention_on_objects(model, split)
    out["example"] = captions[0]
    return out


def score_run(out: str) -> None:
    ckpt = B.read_manifest(out)
    task = B.get_task(ckpt["task"])
    cfg = B.TaskConfig(**ckpt["train_config"])
    model = B.model_from_checkpoint(task, ckpt)
    with use_backend(cfg.backend):
        result = scores(model, B.build_data(cfg)["test"], model.config.max_len - 1)
    print(json.dumps({"run": out, "decoding": "greedy", "split": "test", **result}))


def main(argv: list[str]) -> None:
    if argv[0] == "--run":
        return score_run(argv[1])
    name, refs = argv[0], "--refs" in argv
    cfg, _ = parse([a for a in argv[1:] if a != "--refs"])
    with use_backend(cfg.backend):
        data = B.build_data(cfg)
        val = data["val"]
        if refs:
            for r in range(3):
                captions = [val.captions[i][r] for i in range(len(val))]
                result = caption_scores(captions, val)
                result.update(attribute_breakdown(captions, val, 23))
                print(json.dumps({"name": f"{name}-ref{r}", **result}))
            return
        model = TASK.build_model(cfg, val.tokenizer)
        optimizer = Adam(model.parameters(), lr=cfg.lr)
        loader = DataLoader(CaptionPairs(data["train"]), batch_size=cfg.batch_size,
                            shuffle=True, seed=cfg.seed)
        t0, c0 = time.perf_counter(), time.process_time()
        history = []
        for epoch in range(cfg.epochs):
            loader.set_epoch(epoch)
            logs = loop.train_epoch(model, TASK.loss_fn, loader, optimizer, epoch=epoch)
            history.append(round(float(logs["loss"]), 4))
        train_s, train_cpu = time.perf_counter() - t0, time.process_time() - c0
        result = scores(model, val, model.config.max_len - 1)
        print(json.dumps({"name": name, "config": {k: v for k, v in vars(cfg).items()},
                          "train_loss": history, "train_s": round(train_s, 1),
                          "train_cpu_s": round(train_cpu, 1), **result}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
