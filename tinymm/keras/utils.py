"""Small Keras utilities: ``to_categorical``, ``pad_sequences``, ``set_random_seed``,
``Progbar`` (the training loop's progress bar)."""

from __future__ import annotations

import numpy as np


def to_categorical(y, num_classes: int | None = None, dtype="float32") -> np.ndarray:
    """Class indices (N,) -> one-hot rows (N, num_classes)."""
    y = np.asarray(y, dtype=np.int64).reshape(-1)
    num_classes = int(y.max()) + 1 if num_classes is None else num_classes
    if y.size and (y.min() < 0 or y.max() >= num_classes):
        raise ValueError(f"to_categorical: labels must be in [0, {num_classes - 1}], got "
                         f"{y.min()}..{y.max()}")
    out = np.zeros((y.size, num_classes), dtype=dtype)
    out[np.arange(y.size), y] = 1
    return out


def pad_sequences(sequences, maxlen: int | None = None, dtype="int32", padding: str = "pre",
                  truncating: str = "pre", value=0.0) -> np.ndarray:
    """Lists of ids -> an (N, maxlen) array, as Keras: sequences longer than ``maxlen`` lose
    their first ("pre") or last ("post") items; shorter ones are filled with ``value``
    before ("pre", the default) or after ("post") their items."""
    for name, choice in (("padding", padding), ("truncating", truncating)):
        if choice not in ("pre", "post"):
            raise ValueError(f"pad_sequences: {name} must be 'pre' or 'post', got {choice!r}")
    sequences = [list(s) for s in sequences]
    if maxlen is None:
        maxlen = max((len(s) for s in sequences), default=0)
    out = np.full((len(sequences), maxlen), value, dtype=dtype)
    for i, seq in enumerate(sequences):
        if not seq or maxlen == 0:
            continue
        kept = seq[-maxlen:] if truncating == "pre" else seq[:maxlen]
        if padding == "pre":
            out[i, maxlen - len(kept):] = kept
        else:
            out[i, :len(kept)] = kept
    return out


def set_random_seed(seed: int) -> None:
    """Seed the generator every weight initialisation, Dropout and ``fit`` shuffle draws
    from (``tinymm.nn.init.seed``)."""
    from tinymm.nn import init

    init.seed(int(seed))


def __getattr__(name):
    if name == "Progbar":
        from tinymm.loop import Progress

        return Progress
    raise AttributeError(name)
