"""Draw a grid of ShapesVQA samples, with their questions and answers, to a PNG file."""

from __future__ import annotations

import numpy as np


def render_grid(dataset, path, indices=None, predictions=None, columns: int = 4
                ) -> np.ndarray:
    """Write a PNG grid of samples ``indices`` (default: the first 8) of ``dataset``.

    Each cell shows the image, the question, the true answer and, when ``predictions``
    (answer indices, one per shown sample) are given, the model's answer in green (right) or
    red (wrong); drawn with matplotlib. Returns the (H, W, 3) uint8 pixels that were written.
    """
    from tinymm.app import plots

    indices = np.arange(min(8, len(dataset))) if indices is None else np.asarray(indices)
    if predictions is not None and len(predictions) != len(indices):
        raise ValueError(f"render_grid: got {len(predictions)} predictions for {len(indices)} "
                         "samples; pass one predicted answer index per shown sample")
    answers = [dataset.answers[int(dataset.answer[i])] for i in indices]
    guesses = (None if predictions is None
               else [dataset.answers[int(p)] for p in predictions])
    return plots.vqa_grid(str(path), dataset.images[indices],
                          [dataset.questions[i] for i in indices], answers, guesses,
                          columns=columns)
