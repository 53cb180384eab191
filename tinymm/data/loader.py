"""``DataLoader``: mini-batches of a data set, in a seeded order that depends on the epoch.

The order of epoch ``e`` is ``np.random.default_rng([seed, e]).permutation(len(dataset))``:
it depends only on (seed, epoch), never on how many batches were drawn before, so a run
resumed at epoch ``e`` sees exactly the batches an uninterrupted run would have seen.
"""

from __future__ import annotations

import math

import numpy as np


def epoch_order(n: int, seed: int, epoch: int) -> np.ndarray:
    """The one shuffling rule of tinymm: the visiting order of ``n`` samples in ``epoch``,
    a permutation that depends only on (seed, epoch). DataLoader and the training loop
    (tinymm/loop.py, so the app's tasks and Keras ``fit``) all shuffle with it."""
    return np.random.default_rng([seed, epoch]).permutation(n)


class DataLoader:
    """Iterate over ``dataset.batch(indices)`` dicts, ``batch_size`` samples at a time.

    ``shuffle=False`` keeps the data set's order. Each ``iter()`` uses the current ``epoch``
    and then advances it by one; ``set_epoch(e)`` chooses the epoch explicitly (the training
    loop does, so that resuming is exact).
    """

    def __init__(self, dataset, batch_size: int = 32, shuffle: bool = False, seed: int = 0,
                 drop_last: bool = False, dtype=np.float32):
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
                or batch_size < 1:
            raise ValueError(f"DataLoader: batch_size must be a positive integer, got "
                             f"{batch_size!r}")
        if not hasattr(dataset, "batch") or not hasattr(dataset, "__len__"):
            raise TypeError(f"DataLoader: the data set needs __len__ and batch(indices); got "
                            f"{type(dataset).__name__}")
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.seed = seed
        self.drop_last = drop_last
        self.dtype = dtype
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def order(self, epoch: int | None = None) -> np.ndarray:
        """The sample indices of ``epoch`` (default: the current one), in visiting order."""
        epoch = self.epoch if epoch is None else epoch
        n = len(self.dataset)
        if not self.shuffle:
            return np.arange(n)
        return epoch_order(n, self.seed, epoch)

    def __len__(self) -> int:
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def __iter__(self):
        order = self.order()
        self.epoch += 1
        for b in range(len(self)):
            indices = order[b * self.batch_size:(b + 1) * self.batch_size]
            yield self.dataset.batch(indices, dtype=self.dtype)
