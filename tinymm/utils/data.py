"""``torch.utils.data`` for tinymm: ``Dataset``, ``TensorDataset``, ``Subset``,
``ConcatDataset``, ``IterableDataset``, ``random_split``, the samplers (``SequentialSampler``,
``RandomSampler``, ``SubsetRandomSampler``, ``WeightedRandomSampler``, ``BatchSampler``),
``DataLoader`` and ``default_collate``.

A ``Dataset`` is anything with ``__getitem__(i)`` and ``__len__``. ``DataLoader`` yields
batches of ``batch_size`` samples, in order or (``shuffle=True``) in a fresh random order each
epoch drawn from ``generator`` or the global generator (``tinymm.manual_seed``), dropping a
short last batch with ``drop_last``. ``default_collate`` stacks samples as PyTorch's does:
tensors and NumPy arrays along a new first dim, Python floats into a float64 tensor and ints
into int64 (PyTorch's choices), and tuples, lists and dicts element by element. Loading
happens in the calling thread (``num_workers`` is accepted and ignored: the batches are the
same).

This is the PyTorch-compatible loader; ``tinymm.data.DataLoader`` is tinymm's own, over data
sets that build whole batches (``dataset.batch(indices)``) with epoch-keyed orders.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from tinymm.random import rng_of
from tinymm.tensor import Tensor, from_data, from_numpy


class Dataset:
    """Base class: subclasses define ``__getitem__`` and ``__len__``."""

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__")

    def __add__(self, other: Dataset) -> ConcatDataset:
        return ConcatDataset([self, other])


class TensorDataset(Dataset):
    """Samples are ``(t[0][i], t[1][i], ...)``; every tensor has the same first dim."""

    def __init__(self, *tensors):
        if not tensors:
            raise ValueError("TensorDataset: give at least one tensor")
        sizes = {len(t) for t in tensors}
        if len(sizes) != 1:
            raise ValueError(f"TensorDataset: every tensor needs the same first dimension, got "
                             f"{[len(t) for t in tensors]}")
        self.tensors = tuple(t if isinstance(t, Tensor) else from_data(t) for t in tensors)

    def __getitem__(self, index):
        return tuple(t[index] for t in self.tensors)

    def __len__(self) -> int:
        return len(self.tensors[0])


class Subset(Dataset):
    def __init__(self, dataset, indices):
        self.dataset = dataset
        self.indices = [int(i) for i in indices]

    def __getitem__(self, index):
        return self.dataset[self.indices[index]]

    def __len__(self) -> int:
        return len(self.indices)


class ConcatDataset(Dataset):
    def __init__(self, datasets):
        self.datasets = list(datasets)
        self.offsets = np.cumsum([0] + [len(d) for d in self.datasets])

    def __getitem__(self, index):
        if index < 0:
            index += len(self)
        k = int(np.searchsorted(self.offsets, index, side="right")) - 1
        return self.datasets[k][index - int(self.offsets[k])]

    def __len__(self) -> int:
        return int(self.offsets[-1])


class IterableDataset(Dataset):
    """A stream of samples: subclasses define ``__iter__`` (``__len__`` is optional). A
    ``DataLoader`` over one batches the samples in the order the stream gives them."""

    def __iter__(self):
        raise NotImplementedError(f"{type(self).__name__} must define __iter__")


def get_worker_info():
    """None: loading runs in the calling process (PyTorch's answer outside a worker)."""
    return None


class Sampler:
    """Base class: an iterable of indices into a data set."""

    def __iter__(self):
        raise NotImplementedError


class SequentialSampler(Sampler):
    def __init__(self, data_source):
        self.data_source = data_source

    def __iter__(self):
        return iter(range(len(self.data_source)))

    def __len__(self) -> int:
        return len(self.data_source)


class RandomSampler(Sampler):
    """A fresh permutation per pass (or ``num_samples`` draws with replacement)."""

    def __init__(self, data_source, replacement: bool = False, num_samples: int | None = None,
                 generator=None):
        self.data_source, self.replacement, self.generator = data_source, replacement, generator
        self._num_samples = num_samples

    def __len__(self) -> int:
        return len(self.data_source) if self._num_samples is None else self._num_samples

    def __iter__(self):
        rng, n = rng_of(self.generator), len(self.data_source)
        if self.replacement:
            return iter(rng.integers(0, n, len(self)).tolist())
        order = rng.permutation(n).tolist()
        return iter(order[:len(self)])


class WeightedRandomSampler(Sampler):
    """``num_samples`` indices drawn with probability proportional to ``weights`` (with
    replacement unless ``replacement=False``), a fresh draw per pass."""

    def __init__(self, weights, num_samples: int, replacement: bool = True, generator=None):
        if isinstance(num_samples, bool) or not isinstance(num_samples, int) or num_samples <= 0:
            raise ValueError(f"WeightedRandomSampler: num_samples must be a positive integer, "
                             f"got {num_samples!r}")
        w = np.asarray(weights.array if isinstance(weights, Tensor) else weights, np.float64)
        if w.ndim != 1 or (w < 0).any() or not np.isfinite(w).all() or w.sum() <= 0:
            raise ValueError(f"WeightedRandomSampler: weights must be a 1-d sequence of finite, "
                             f"non-negative numbers with a positive sum, got shape {w.shape}")
        if not replacement and num_samples > np.count_nonzero(w):
            raise RuntimeError(f"WeightedRandomSampler: cannot draw {num_samples} samples "
                               f"without replacement from {np.count_nonzero(w)} non-zero "
                               "weights")
        self.weights, self.num_samples = w, num_samples
        self.replacement, self.generator = replacement, generator

    def __iter__(self):
        chosen = rng_of(self.generator).choice(self.weights.size, self.num_samples,
                                               replace=self.replacement,
                                               p=self.weights / self.weights.sum())
        return iter(chosen.tolist())

    def __len__(self) -> int:
        return self.num_samples


class SubsetRandomSampler(Sampler):
    def __init__(self, indices, generator=None):
        self.indices, self.generator = list(indices), generator

    def __iter__(self):
        return iter([self.indices[i] for i in rng_of(self.generator).permutation(len(self))])

    def __len__(self) -> int:
        return len(self.indices)


class BatchSampler(Sampler):
    """Lists of ``batch_size`` indices from ``sampler`` (the last one shorter unless
    ``drop_last``)."""

    def __init__(self, sampler, batch_size: int, drop_last: bool):
        self.sampler, self.batch_size, self.drop_last = sampler, batch_size, drop_last

    def __iter__(self):
        batch = []
        for i in self.sampler:
            batch.append(i)
            if len(batch) == self.batch_size:
                yield batch
                batch = []
        if batch and not self.drop_last:
            yield batch

    def __len__(self) -> int:
        n = len(self.sampler)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)


def random_split(dataset, lengths, generator=None) -> list[Subset]:
    """Split into non-overlapping ``Subset``s of the given lengths (or fractions summing to
    1, the remainder dealt out one by one from the first, as PyTorch)."""
    n = len(dataset)
    lengths = list(lengths)
    if lengths and all(isinstance(x, float) for x in lengths) and math.isclose(sum(lengths), 1):
        sizes = [int(math.floor(n * f)) for f in lengths]
        for i in range(n - sum(sizes)):
            sizes[i % len(sizes)] += 1
        lengths = sizes
    if sum(lengths) != n:
        raise ValueError(f"random_split: the lengths {lengths} sum to {sum(lengths)}, but the "
                         f"data set has {n} samples")
    order = rng_of(generator).permutation(n)
    splits, start = [], 0
    for length in lengths:
        splits.append(Subset(dataset, order[start:start + length]))
        start += length
    return splits


def default_collate(samples):
    """Stack a list of samples into a batch (see the module docstring)."""
    first = samples[0]
    if isinstance(first, Tensor):
        return from_numpy(np.stack([s.array for s in samples]))
    if isinstance(first, np.ndarray):
        return from_numpy(np.stack(samples))
    if isinstance(first, (bool, np.bool_)):
        return from_numpy(np.array(samples, dtype=np.bool_))
    if isinstance(first, (int, np.integer)):
        return from_numpy(np.array(samples, dtype=np.int64))
    if isinstance(first, (float, np.floating)):
        return from_numpy(np.array(samples, dtype=np.float64))
    if isinstance(first, (str, bytes)):  # as given, as torch: a tuple for a field of tuples
        return samples
    if isinstance(first, Mapping):
        return {key: default_collate([s[key] for s in samples]) for key in first}
    if isinstance(first, tuple) and hasattr(first, "_fields"):  # a namedtuple
        return type(first)(*(default_collate(list(f)) for f in zip(*samples)))
    if isinstance(first, Sequence):
        if any(len(s) != len(first) for s in samples):
            raise ValueError("default_collate: every sample in a batch must have the same "
                             "number of fields")
        return [default_collate(f) for f in zip(*samples)]
    raise TypeError(f"default_collate: cannot batch samples of type {type(first).__name__}; "
                    "return tensors, NumPy arrays, numbers, or tuples/lists/dicts of them, or "
                    "pass collate_fn=")


class DataLoader:
    """``DataLoader(dataset, batch_size=1, shuffle=False, drop_last=False, collate_fn=None,
    generator=None)``; iterate it once per epoch."""

    def __init__(self, dataset, batch_size: int | None = 1, shuffle: bool = False,
                 sampler=None, batch_sampler=None, num_workers: int = 0, collate_fn=None,
                 pin_memory: bool = False, drop_last: bool = False, generator=None, **_ignored):
        if batch_size is not None and (isinstance(batch_size, bool) or int(batch_size) < 1):
            raise ValueError(f"DataLoader: batch_size must be a positive integer, got "
                             f"{batch_size!r}")
        if sampler is not None and shuffle:
            raise ValueError("DataLoader: sampler and shuffle=True are mutually exclusive")
        if isinstance(dataset, IterableDataset) and (shuffle or sampler is not None
                                                     or batch_sampler is not None):
            raise ValueError("DataLoader: an IterableDataset gives its own order; shuffle, "
                             "sampler and batch_sampler must be left unset")
        self.dataset = dataset
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        self.num_workers = num_workers
        self.collate_fn = collate_fn or default_collate
        self.drop_last = drop_last
        self.generator = generator

    def _order(self):
        if self.sampler is not None:
            return list(self.sampler)
        if self.shuffle:
            return rng_of(self.generator).permutation(len(self.dataset)).tolist()
        return range(len(self.dataset))

    def _batches(self):
        if self.batch_sampler is not None:
            yield from self.batch_sampler
            return
        order = list(self._order())
        size = self.batch_size
        for start in range(0, len(order), size):
            chunk = order[start:start + size]
            if len(chunk) < size and self.drop_last:
                return
            yield chunk

    def _stream(self):
        """Batches of an IterableDataset, in its order (the last shorter unless
        drop_last)."""
        if self.batch_size is None:
            yield from self.dataset
            return
        for batch in BatchSampler(self.dataset, self.batch_size, self.drop_last):  # groups
            yield self.collate_fn(batch)

    def __iter__(self):
        if isinstance(self.dataset, IterableDataset):
            yield from self._stream()
            return
        if self.batch_size is None and self.batch_sampler is None:  # no batching
            for i in self._order():
                yield self.dataset[i]
            return
        for indices in self._batches():
            yield self.collate_fn([self.dataset[i] for i in indices])

    def __len__(self) -> int:
        if self.batch_sampler is not None:
            return len(self.batch_sampler)
        n = len(self.sampler) if self.sampler is not None else len(self.dataset)
        if self.batch_size is None:
            return n
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)


__all__ = ["BatchSampler", "ConcatDataset", "DataLoader", "Dataset", "RandomSampler", "Sampler",
           "SequentialSampler", "Subset", "SubsetRandomSampler", "TensorDataset",
           "default_collate", "random_split", "IterableDataset", "WeightedRandomSampler",
           "get_worker_info"]
