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
from tinymm.models.multimodal import ATTENTION_FUSIONS, MultimodalVQA
from tinymm.tensor import from_numpy


def write_figures(out: str, model: MultimodalVQA, test: ShapesVQA, history: list,
                  predictions: np.ndarray) -> None:
    from tinymm.app import plots
    from tinymm.app.render import render_grid

    if history:
        plots.curves(os.path.join(out, "curves.png"), history, [
            ("cross-entropy", [("train", "train_loss"), ("val", "val_loss")]),
            ("accuracy", [("train", "train_accuracy"), ("val", "val_accuracy")]),
        ], title=f"VQA, fusion {model.config.fusion}")
    shown = _examples(test, per_type=2)
    render_grid(test, os.path.join(out, "samples.png"), indices=shown,
                predictions=predictions[shown])
    if model.config.fusion in ATTENTION_FUSIONS:
        attention_png(model, test, shown, os.path.join(out, "attention.png"))


def _examples(dataset: ShapesVQA, per_type: int) -> np.ndarray:
    """The first ``per_type`` samples of each question type, in type order."""
    picks = [np.flatnonzero(dataset.question_type == t)[:per_type]
             for t in range(len(QUESTION_TYPES))]
    return np.concatenate(picks)


def attention_png(model: MultimodalVQA, dataset: ShapesVQA, indices, path: str
                  ) -> np.ndarray:
    """Each row: the image, its attention over the 8x8 regions drawn over it, and the
    question with the true and predicted answers; returns the PNG's pixels."""
    from tinymm.app import plots

    indices = np.asarray(indices)
    batch = dataset.batch(indices)
    was_training = model.training
    model.eval()
    with no_grad():
        logits, attention = model.forward_with_attention(
            from_numpy(batch["image"]), batch["tokens"], batch["lengths"])  # (n, A), (n, R)
    model.train(was_training)
    guesses = [ANSWERS[int(k)] for k in np.argmax(logits.array, axis=1)]
    return plots.attention_rows(path, dataset.images[indices], attention.array,
                                [dataset.questions[i] for i in indices],
                                [ANSWERS[dataset.answer[i]] for i in indices], guesses)
