"""A small workspace cache: recycle large buffers instead of faulting fresh pages every call.

Why: on this machine class the first touch of freshly allocated memory costs about 0.9 us per
4 KiB page, and glibc hands large freed blocks back to the OS, so an im2col buffer of conv B
(288 x 32768 float32 = 38 MB) allocated anew on every call costs ~8 ms of page faults: as much
as the GEMM that reads it. Reusing buffers of the same shape and dtype across calls removes
that cost.

How: ``empty(shape, dtype)`` returns an array whose memory comes from a free list keyed by
(nbytes-class, dtype) when one is there, else from ``np.empty``. The array's ``base`` is a
small ``_Lease`` object; when the last view of the array dies (CPython frees it at once),
``_Lease.__del__`` puts the memory back on the free list. So a buffer is reused only after
nobody can see it any more: outputs handed to the user, im2col buffers kept in an autograd
cache for the backward, and scratch buffers all recycle safely, with no explicit release.
A training loop ping-pongs between two buffers per shape (the previous step's graph is
still alive while the next forward runs), hence the free list holds a few per key.

Small arrays (under ``MIN_BYTES``) bypass the cache: malloc serves them from its heap without
faults. ``set_enabled(False)`` turns the cache off (benchmarks show the difference);
``stats()`` counts hits and misses.

Bounds: at most ``PER_KEY`` free buffers per key and at most ``max_bytes()`` bytes on all
free lists together (``TINYMM_WORKSPACE_BYTES`` at import, else 1 GiB; ``set_max_bytes``
changes it and drops free buffers until the total fits); a buffer given back past the limit
is released to malloc. Buffers in use are the caller's, not counted. The free lists are
guarded by a lock, so threads running kernels at once never receive the same buffer.
"""

from __future__ import annotations

import os
import threading

import numpy as np

MIN_BYTES = 256 * 1024  # below this, plain np.empty (malloc's heap, no fresh pages)
PER_KEY = 4  # free buffers kept per (size, dtype)


def _limit_from_env() -> int:
    text = os.environ.get("TINYMM_WORKSPACE_BYTES", str(1 << 30))
    try:
        limit = int(text)
    except ValueError:
        limit = -1
    if limit < 0:
        raise ValueError(f"TINYMM_WORKSPACE_BYTES={text!r}: expected an integer >= 0 (bytes "
                         "the workspace cache may hold)")
    return limit


MAX_BYTES = _limit_from_env()  # total bytes held on the free lists

_free: dict[tuple[int, str], list[np.ndarray]] = {}
_held_bytes = 0
_enabled = True
_stats = {"hits": 0, "misses": 0}
# Reentrant: a _Lease.__del__ run by the garbage collector inside a locked section of the
# same thread must not deadlock.
_lock = threading.RLock()


class _Lease:
    """Owns one flat buffer; hands it back to the free list when the last view dies."""

    __slots__ = ("buffer", "__array_interface__")

    def __init__(self, buffer: np.ndarray, shape: tuple[int, ...]):
        self.buffer = buffer
        interface = dict(buffer.__array_interface__)
        interface["shape"] = shape
        interface["strides"] = None  # C-contiguous
        self.__array_interface__ = interface

    def __del__(self):
        try:
            _give_back(self.buffer)
        except Exception:  # interpreter shutdown: module globals may already be gone
            pass


def _give_back(buffer: np.ndarray) -> None:
    global _held_bytes
    if not _enabled or _free is None:  # interpreter shutdown or cache off
        return
    key = (buffer.nbytes, buffer.dtype.str)
    with _lock:
        pool = _free.setdefault(key, [])
        if len(pool) < PER_KEY and _held_bytes + buffer.nbytes <= MAX_BYTES:
            pool.append(buffer)
            _held_bytes += buffer.nbytes


def empty(shape: tuple[int, ...], dtype) -> np.ndarray:
    """An uninitialised C-contiguous array, recycled from an earlier call when possible."""
    global _held_bytes
    dtype = np.dtype(dtype)
    shape = tuple(int(s) for s in shape)
    count = 1
    for s in shape:
        count *= s
    nbytes = count * dtype.itemsize
    if not _enabled or nbytes < MIN_BYTES:
        return np.empty(shape, dtype)
    with _lock:
        pool = _free.get((nbytes, dtype.str))
        buffer = pool.pop() if pool else None
        if buffer is not None:
            _held_bytes -= buffer.nbytes
            _stats["hits"] += 1
        else:
            _stats["misses"] += 1
    if buffer is None:
        buffer = np.empty(count, dtype)
    return np.asarray(_Lease(buffer, shape))


def zeros(shape: tuple[int, ...], dtype) -> np.ndarray:
    out = empty(shape, dtype)
    out.fill(0)
    return out


def set_enabled(flag: bool) -> None:
    """Turn buffer recycling on or off (off also drops every held buffer)."""
    global _enabled, _held_bytes
    with _lock:
        _enabled = bool(flag)
        if not _enabled:
            _free.clear()
            _held_bytes = 0


def max_bytes() -> int:
    """The most bytes the free lists hold together."""
    return MAX_BYTES


def set_max_bytes(limit: int) -> None:
    """Bound the free lists to ``limit`` bytes, dropping free buffers (largest first) until
    what they hold fits."""
    global MAX_BYTES, _held_bytes
    if isinstance(limit, bool) or not isinstance(limit, (int, np.integer)) or limit < 0:
        raise ValueError(f"workspace.set_max_bytes: the limit must be an integer >= 0 bytes, "
                         f"got {limit!r}")
    with _lock:
        MAX_BYTES = int(limit)
        for key in sorted(_free, reverse=True):
            pool = _free[key]
            while pool and _held_bytes > MAX_BYTES:
                _held_bytes -= pool.pop().nbytes


def is_enabled() -> bool:
    return _enabled


def stats() -> dict[str, int]:
    """Hits, misses and the bytes currently held on the free lists."""
    return {**_stats, "held_bytes": _held_bytes}
