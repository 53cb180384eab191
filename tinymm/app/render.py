"""Draw a grid of ShapesVQA samples, with their questions and answers, to a PNG file."""

from __future__ import annotations

import textwrap

import numpy as np

from tinymm.app._png import Canvas

CELL_W = 204  # 34 characters of the 5x7 font per text line
LINE_H = 10


def render_grid(dataset, path, indices=None, predictions=None, columns: int = 4,
                scale: int = 3) -> np.ndarray:
    """Write a PNG grid of samples ``indices`` (default: the first 8) of ``dataset``.

    Each cell shows the image enlarged ``scale`` times, the question, the true answer and,
    when ``predictions`` (answer indices, one per shown sample) are given, the model's answer
    in green (right) or red (wrong). Returns the (H, W, 3) uint8 pixels that were written.
    """
    indices = np.arange(min(8, len(dataset))) if indices is None else np.asarray(indices)
    if predictions is not None and len(predictions) != len(indices):
        raise ValueError(f"render_grid: got {len(predictions)} predictions for {len(indices)} "
                         "samples; pass one predicted answer index per shown sample")
    columns = max(1, min(columns, len(indices)))
    rows = int(np.ceil(len(indices) / columns))
    img_px = 32 * scale
    cell_h = img_px + 6 + 4 * LINE_H + 6
    canvas = Canvas(rows * cell_h + 4, columns * CELL_W + 4, background=(250, 250, 250))
    for i, idx in enumerate(indices):
        x0 = 4 + (i % columns) * CELL_W
        y0 = 4 + (i // columns) * cell_h
        canvas.image(x0, y0, dataset.images[idx], scale=scale)
        canvas.rect(x0 - 1, y0 - 1, img_px + 2, img_px + 2, (120, 120, 120), fill=False)
        lines = textwrap.wrap(dataset.questions[idx], width=32)[:2]
        y = y0 + img_px + 6
        for line in lines:
            canvas.text(x0, y, line, (0, 0, 0))
            y += LINE_H
        truth = dataset.answers[int(dataset.answer[idx])]
        canvas.text(x0, y, f"answer: {truth}", (0, 0, 160))
        y += LINE_H
        if predictions is not None:
            guess = dataset.answers[int(predictions[i])]
            color = (0, 140, 0) if guess == truth else (200, 0, 0)
            canvas.text(x0, y, f"model:  {guess}", color)
    canvas.save(path)
    return canvas.pixels
