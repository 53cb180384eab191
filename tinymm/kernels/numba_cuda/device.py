"""The public face of ``_device`` for the layers above (Tensor, autograd, tinymm.cuda).

Each function imports ``_device`` (and with it numba-cuda) only when called, so a CPU-only
program can import this module and ask ``is_device_array`` of any value for free.
"""

from __future__ import annotations

import sys


def to_device(array):
    """Copy a host array to the GPU (one counted transfer)."""
    from tinymm.kernels.numba_cuda import _device

    return _device.to_device(array)


def to_host(array):
    """Copy a device array to a new NumPy array (one counted transfer)."""
    from tinymm.kernels.numba_cuda import _device

    return _device.to_host(array)


def index_bounds(values, skip: int | None = None):
    """(min, max) of an int64 device array ignoring ``skip``, or None when nothing counts
    (one counted 16-byte copy back now: the sequence-length checks)."""
    from tinymm.kernels.numba_cuda import _bounds

    return _bounds.index_bounds(values, skip)


def defer_bounds(values, skip: int | None, judge) -> None:
    """Check an int64 device array at the next copy to the host: ``judge((min, max) or
    None)`` returns the ValueError message then (no transfer now; see ``_bounds``)."""
    from tinymm.kernels.numba_cuda import _bounds

    _bounds.defer_bounds(values, skip, judge)


def defer_float_bounds(values, judge) -> None:
    """Check a float device array at the next copy to the host: ``judge((min, max))``
    (NaN bounds when a value is NaN) returns the ValueError message then (see ``_bounds``)."""
    from tinymm.kernels.numba_cuda import _bounds

    _bounds.defer_float_bounds(values, judge)


def judge_pending() -> None:
    """Judge the deferred device checks now (one counted copy when any is pending)."""
    from tinymm.kernels.numba_cuda import _device

    _device.judge_pending()


def read_later(array):
    """A one-element int64 device array's value, brought back with the next copy to the
    host (``int()`` of the result reads it then; see ``_device.read_later``)."""
    from tinymm.kernels.numba_cuda import _device

    return _device.read_later(array)


def is_device_array(value) -> bool:
    """True for a numba-cuda device array (real or simulated).

    Without ``numba.cuda`` imported no device array can exist, so the answer is False
    without importing it (that import costs seconds, and CPU-only programs never pay it).
    """
    if "numba.cuda" not in sys.modules or type(value).__module__.startswith("numpy"):
        return False
    from tinymm.kernels.numba_cuda import _device

    return _device.is_device_array(value)


def transfer_stats() -> dict:
    """Host<->device copies since the last reset (h2d/d2h counts and bytes)."""
    from tinymm.kernels.numba_cuda import _device

    return _device.transfer_stats()


def reset_transfer_stats() -> None:
    from tinymm.kernels.numba_cuda import _device

    _device.reset_transfer_stats()


def copy_into(dst, src) -> None:
    """Write the device array ``src`` into the device array ``dst`` of the same shape and
    dtype, by a copy kernel on the device (no transfer): an in-place op's result into a cuda
    tensor's storage."""
    from tinymm.kernels.numba_cuda import _strided

    _strided.scatter(src, dst, 0, _strided.contiguous_strides(tuple(dst.shape)))


def copy(array):
    """A new device array holding ``array``'s values, copied on the device (no transfer)."""
    from tinymm.kernels.numba_cuda import _strided

    return _strided.gather(array, 0, tuple(array.shape),
                           _strided.contiguous_strides(tuple(array.shape)))


def random_states(seed: int):
    """A generator's device side: xoroshiro128+ states for ``seed``, written on the device
    (no transfer; see ``_random``)."""
    from tinymm.kernels.numba_cuda import _random

    return _random.seed_states(seed)


def random_draw(states, kind: str, *args):
    """One draw on the device from ``states`` (advanced in place): ``kind`` is ``fill``
    (kind, shape, dtype), ``randint`` (low, high, shape), ``bernoulli`` (p), ``dropout_mask``
    (shape, p, dtype), ``randperm`` (n) or ``multinomial`` (weights, num_samples,
    replacement); returns a new device array (see ``_random``)."""
    from tinymm.kernels.numba_cuda import _random

    return getattr(_random, kind)(states, *args)


def full(shape, value, dtype):
    """A new device array of ``shape`` filled with ``value`` by a kernel (no transfer)."""
    from tinymm.kernels.numba_cuda import _device

    return _device.full(shape, value, dtype)


def linspace(start: float, end: float, step: float, steps: int):
    """A float64 device array of linspace's values, computed on the device (see ``_ranges``)."""
    from tinymm.kernels.numba_cuda import _ranges

    return _ranges.linspace(start, end, step, steps)


def triangle_indices(row: int, col: int, offset: int, lower: bool):
    """tril_indices (lower) / triu_indices as a (2, count) int64 device array, made on the
    device (see ``_ranges``)."""
    from tinymm.kernels.numba_cuda import _ranges

    return _ranges.triangle_indices(row, col, offset, lower)


def row_order(x):
    """The int64 (n,) device array ordering the rows of a C-contiguous (n, m) device array
    lexicographically (stable; see ``_sort``)."""
    from tinymm.kernels.numba_cuda import _sort

    return _sort.sort_matrix_rows(x)


def mode_index(rows):
    """Each row's mode index (smallest most frequent value, its last occurrence) of a
    C-contiguous (M, L) device array, as an int64 (M,) device array (see ``_mode``)."""
    from tinymm.kernels.numba_cuda import _mode

    return _mode.mode_index(rows)
