"""Every figure of the app's tasks, drawn with matplotlib (object API, Agg canvas: no
display and no global pyplot state, so it runs the same on a server and in the tests).

* ``curves``: metrics per epoch, one panel per quantity, labelled axes, integer epoch ticks.
* ``retrieval_results``: text queries, each with its top-5 images (the true one outlined).
* ``caption_samples``: data samples with their reference captions.
* ``captions_grid``: test images with generated captions beside a reference.
* ``attention_words``: a captioner's attention over the 8x8 regions for every word.
* ``attention_rows``: VQA questions with their attention over the image.
* ``vqa_grid``: VQA samples with their questions, answers and the model's answers.
* ``series``: several curves over epochs in one panel (the fusion comparison).

Each writes a PNG and returns its (H, W, 3) uint8 pixels.

Dimension letters: G gallery images, Q captions, D embedding width, T words, R regions.
"""

from __future__ import annotations

import textwrap

import numpy as np


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig, path: str) -> np.ndarray:
    """Draw ``fig``, write it to ``path`` as a PNG and return its (H, W, 3) uint8 pixels
    (exactly what the file holds)."""
    from matplotlib.image import imsave

    fig.canvas.draw()
    pixels = np.array(fig.canvas.buffer_rgba())[:, :, :3]  # (H, W, 3)
    imsave(path, pixels)
    return pixels


def _value(record: dict, key):
    """record[key] or, for a (key, subkey) pair, record[key][subkey]."""
    if isinstance(key, tuple):
        return record[key[0]][key[1]]
    return record[key]


def curves(path: str, history: list[dict], panels: list[tuple[str, list]],
           title: str = "") -> np.ndarray:
    """One panel per (y-label, [(series label, history key or (key, subkey)), ...])."""
    from matplotlib.ticker import MaxNLocator

    fig = _figure(4.6 * len(panels), 3.4)
    epochs = [h["epoch"] for h in history]
    for i, (ylabel, series) in enumerate(panels):
        ax = fig.add_subplot(1, len(panels), i + 1)
        for label, key in series:
            ax.plot(epochs, [_value(h, key) for h in history], marker="o", ms=3, label=label)
        ax.set_xlabel("epoch")
        ax.set_ylabel(ylabel)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    return _save(fig, path)


def _show(ax, image: np.ndarray, outline: str | None = None) -> None:
    ax.imshow(image, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(outline is not None)
        if outline is not None:
            spine.set_edgecolor(outline)
            spine.set_linewidth(3)


def retrieval_results(path: str, split, image_emb: np.ndarray, text_emb: np.ndarray,
                      queries: np.ndarray, k: int = 5) -> np.ndarray:
    """Each row: a caption query (Q index), then the k most similar images of the pool,
    with their cosine similarity; the image the caption describes is outlined in green."""
    queries = np.asarray(queries)
    fig = _figure(1.5 * (k + 2.2), 1.75 * len(queries))
    grid = fig.add_gridspec(len(queries), k + 1, width_ratios=[2.2] + [1] * k)
    for row, q in enumerate(queries):
        image_of_q, ref = divmod(int(q), split.references)
        sims = image_emb @ text_emb[q]  # (G,)
        top = np.argsort(-sims, kind="stable")[:k]
        ax = fig.add_subplot(grid[row, 0])
        ax.axis("off")
        ax.text(0, 0.5, textwrap.fill(split.captions[image_of_q][ref], 30), fontsize=8,
                va="center", transform=ax.transAxes)
        for j, g in enumerate(top):
            ax = fig.add_subplot(grid[row, j + 1])
            _show(ax, split.images[g], "limegreen" if g == image_of_q else None)
            ax.set_title(f"#{j + 1}  {sims[g]:.2f}", fontsize=7)
    fig.suptitle(f"text -> image: top {k} of {len(image_emb)} test images (green: the "
                 "described image)", fontsize=9)
    return _save(fig, path)


def _image_with_text(path: str, split, indices, texts: list[str], columns: int,
                     title: str, width: int = 34) -> np.ndarray:
    indices = list(indices)
    rows = -(-len(indices) // columns)
    fig = _figure(2.6 * columns, 3.2 * rows)
    for n, (i, text) in enumerate(zip(indices, texts)):
        ax = fig.add_subplot(rows, columns, n + 1)
        _show(ax, split.images[i])
        ax.set_xlabel("\n".join(textwrap.fill(line, width) for line in text.split("\n")),
                      fontsize=7)
    fig.suptitle(title, fontsize=9)
    return _save(fig, path)


def caption_samples(path: str, split, indices) -> np.ndarray:
    """Data samples, each with its reference captions under it."""
    texts = ["\n".join(split.captions[i]) for i in indices]
    return _image_with_text(path, split, indices, texts, columns=4,
                            title="ShapesCaptions samples with their reference captions")


def captions_grid(path: str, split, indices, generated: list[str]) -> np.ndarray:
    """Test images with the generated caption (and the first reference, for comparison)."""
    texts = []
    for i, caption in zip(indices, generated):
        right = split.objects(i) == _mentioned(caption)
        texts.append(f"model: {caption}\n{'(objects right)' if right else '(objects WRONG)'}"
                     f"\nref: {split.captions[i][0]}")
    return _image_with_text(path, split, indices, texts, columns=4,
                     title="generated captions (greedy) on test images")


def _mentioned(caption: str):
    from tinymm.data.shapes_captions import mentioned_objects

    return mentioned_objects(caption)


def _overlay(ax, image: np.ndarray, weights: np.ndarray) -> None:
    """The image with a (side, side) attention map drawn over it, scaled to its maximum."""
    side = int(round(np.sqrt(weights.size)))
    H = image.shape[0]
    ax.imshow(image, interpolation="nearest", extent=(0, H, H, 0))
    ax.imshow(weights.reshape(side, side) / max(weights.max(), 1e-12), cmap="inferno",
              alpha=0.6, vmin=0, vmax=1, interpolation="nearest", extent=(0, H, H, 0))
    ax.set_xticks([])
    ax.set_yticks([])


def attention_words(path: str, split, indices, words: list[list[str]],
                    alphas: np.ndarray) -> np.ndarray:
    """Each row: a test image, then its attention map alpha (T, R) for every generated word
    (the weights the word was predicted with), for at most the first 16 words."""
    words = [w[:16] for w in words]
    T = max(len(w) for w in words)
    fig = _figure(1.25 * (T + 1), 1.55 * len(words))
    for row, (i, ws) in enumerate(zip(indices, words)):
        ax = fig.add_subplot(len(words), T + 1, row * (T + 1) + 1)
        _show(ax, split.images[i])
        ax.set_title("image", fontsize=7)
        for t, word in enumerate(ws):
            ax = fig.add_subplot(len(words), T + 1, row * (T + 1) + t + 2)
            _overlay(ax, split.images[i], alphas[row, t])
            ax.set_title(word, fontsize=8)
    fig.suptitle("attention over the 8x8 image regions for each generated word", fontsize=9)
    return _save(fig, path)


def attention_rows(path: str, images: np.ndarray, attention: np.ndarray,
                   questions: list[str], answers: list[str], guesses: list[str]) -> np.ndarray:
    """VQA: each row the image, its attention over the regions, and the question with the
    true and the predicted answer (green when right)."""
    n = len(images)
    fig = _figure(6.4, 1.7 * n)
    grid = fig.add_gridspec(n, 3, width_ratios=[1, 1, 2.4])
    for row in range(n):
        _show(fig.add_subplot(grid[row, 0]), images[row])
        _overlay(fig.add_subplot(grid[row, 1]), images[row], attention[row])
        ax = fig.add_subplot(grid[row, 2])
        ax.axis("off")
        ax.text(0, 0.7, questions[row], fontsize=8, transform=ax.transAxes)
        ax.text(0, 0.4, f"answer: {answers[row]}", fontsize=8, transform=ax.transAxes)
        ax.text(0, 0.1, f"model: {guesses[row]}", fontsize=8, transform=ax.transAxes,
                color="green" if guesses[row] == answers[row] else "red")
    fig.suptitle("attention over the 8x8 image regions", fontsize=9)
    return _save(fig, path)


def series(path: str, curves_by_label: dict[str, list[float]], ylabel: str, title: str = "",
           ylim: tuple[float, float] | None = None) -> np.ndarray:
    """One panel: each labelled list of per-epoch values as a line over epochs 1..E."""
    from matplotlib.ticker import MaxNLocator

    fig = _figure(6.4, 3.8)
    ax = fig.add_subplot(1, 1, 1)
    for label, values in curves_by_label.items():
        ax.plot(range(1, len(values) + 1), values, marker="o", ms=3, label=label)
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if ylim is not None:
        ax.set_ylim(*ylim)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title, fontsize=10)
    return _save(fig, path)


def vqa_grid(path: str, images: np.ndarray, questions: list[str], answers: list[str],
             guesses: list[str] | None = None, columns: int = 4) -> np.ndarray:
    """VQA samples: each image with its question and answer under it and, when ``guesses``
    are given, the model's answer in green (right) or red (wrong)."""
    n = len(images)
    columns = max(1, min(columns, n))
    rows = -(-n // columns)
    fig = _figure(2.3 * columns, 2.9 * rows)
    for i in range(n):
        ax = fig.add_subplot(rows, columns, i + 1)
        _show(ax, images[i])
        ax.set_title(textwrap.fill(questions[i], 30), fontsize=7)
        ax.set_xlabel(f"answer: {answers[i]}", fontsize=7)
        if guesses is not None:
            ax.text(0.5, -0.28, f"model: {guesses[i]}", fontsize=7, ha="center",
                    transform=ax.transAxes,
                    color="green" if guesses[i] == answers[i] else "red")
    return _save(fig, path)
