"""The figures of a VQA training run: ``curves.png`` (loss and accuracy per epoch),
``samples.png`` (test samples with the model's answers) and ``attention.png`` (attention
fusion: each test question's attention over the image regions). ``run_training``
(tinymm/app/train.py) calls ``write_figures`` at the end of a run.
"""

from __future__ import annotations

import os

import numpy as np

from tinymm.autograd import no_grad
from tinymm.data import ANSWERS, QUESTION_TYPES, ShapesVQA
from tinymm.models.multimodal import MultimodalVQA
from tinymm.tensor import from_numpy


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
    was_training = model.training
    model.eval()
    with no_grad():
        logits, attention = model.forward_with_attention(
            from_numpy(batch["image"]), batch["tokens"], batch["lengths"])  # (n, A), (n, R)
    model.train(was_training)
    attention = attention.array
    side = model.config.map_size
    px = dataset.images.shape[1] * scale
    row_h = px + 8
    canvas = Canvas(len(indices) * row_h + 8, 3 * (px + 8) + 240, background=(250, 250, 250))
    for i, idx in enumerate(indices):
        y0 = 4 + i * row_h
        _attention_row(canvas, dataset, idx, attention[i].reshape(side, side), y0, px, scale)
        x_text = 4 + 3 * (px + 8)
        canvas.text(x_text, y0 + 4, dataset.questions[idx][:38], (0, 0, 0))
        truth = ANSWERS[dataset.answer[idx]]
        guess = ANSWERS[int(np.argmax(logits.array[i]))]
        canvas.text(x_text, y0 + 18, f"answer: {truth}", (0, 0, 160))
        canvas.text(x_text, y0 + 30, f"model:  {guess}",
                    (0, 140, 0) if guess == truth else (200, 0, 0))
    canvas.save(path)
    return canvas.pixels


def _attention_row(canvas, dataset: ShapesVQA, idx, a: np.ndarray, y0: int, px: int,
                   scale: int) -> None:
    """The image, its attention ``a`` (side, side) as a heat map, and the two blended."""
    side = a.shape[0]
    a = a / max(a.max(), 1e-12)
    up = np.kron(a, np.ones((dataset.images.shape[1] // side,) * 2))  # (32, 32)
    image = dataset.images[idx]
    heat = _heat(up)  # (32, 32, 3)
    blend = (0.45 * image + 0.55 * heat).astype(np.uint8)
    for j, panel in enumerate((image, heat, blend)):
        canvas.image(4 + j * (px + 8), y0, panel, scale=scale)
