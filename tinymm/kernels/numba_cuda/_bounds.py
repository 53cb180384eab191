"""The (min, max) of an integer device array, for the ops' index checks.

The ops validate indices (embedding ids, cross-entropy targets, sequence lengths). For a
device array there are two ways:

* ``defer_bounds`` (embedding ids, cross-entropy targets): the reduction writes its result
  into the pending-check packet of ``_device`` and nothing waits; the check is judged when
  the next result is copied to the host, in that same transfer (a training step's loss), and
  fails there with the op's ValueError, as PyTorch's device-side asserts surface at the next
  synchronisation. The kernels that read these indices guard them meanwhile (a bad id reads
  nothing outside the weight).
* ``index_bounds`` (sequence lengths, which the host needs before the kernels run): the
  reduction's two int64 results are copied back at once, one counted 16-byte transfer.

One block of ``THREADS`` threads: each thread strides over the array keeping its own
(min, max), then a shared-memory tree halves the candidates each round (the simulator has no
warp shuffles); thread 0 writes the result, so no atomics and no initialised output are
needed. Index arrays are small (a batch of token ids), so one block is enough.
"""

from __future__ import annotations

import numpy as np
from numba import cuda, int64

from tinymm.kernels.numba_cuda._device import (
    SIMULATOR,
    empty,
    pending_slot,
    require_device,
    to_host,
)

THREADS = 8 if SIMULATOR else 256  # a power of two: the tree halves it down to 1
_HIGHEST = np.iinfo(np.int64).max
_LOWEST = np.iinfo(np.int64).min


def _int_bounds(values, skip, use_skip, bounds):
    # values (P,) int64; bounds (2,) int64 <- [min, max] over the values != skip (when
    # use_skip); [HIGHEST, LOWEST] when no value counts
    low_s = cuda.shared.array(THREADS, int64)
    high_s = cuda.shared.array(THREADS, int64)
    t = cuda.threadIdx.x
    low, high = _HIGHEST, _LOWEST
    for i in range(t, values.size, THREADS):
        v = values[i]
        if use_skip == 0 or v != skip:
            low = min(low, v)
            high = max(high, v)
    low_s[t] = low
    high_s[t] = high
    cuda.syncthreads()
    half = THREADS // 2
    while half > 0:
        if t < half:
            low_s[t] = min(low_s[t], low_s[t + half])
            high_s[t] = max(high_s[t], high_s[t + half])
        cuda.syncthreads()
        half //= 2
    if t == 0:
        bounds[0] = low_s[0]
        bounds[1] = high_s[0]


PTX_TARGETS = [(_int_bounds, ("void(int64[::1], int64, int64, int64[::1])",))]
int_bounds_kernel = cuda.jit(_int_bounds)


def _check_values(op: str, values) -> None:
    require_device(op, values=values)
    if values.dtype != np.int64:
        raise TypeError(f"cuda {op}: values must be int64, received {values.dtype}")


def defer_bounds(values, skip: int | None, judge) -> None:
    """Check the int64 device array ``values`` without waiting for it: one launch writes its
    (min, max) ignoring ``skip`` into a slot of the pending-check packet (``_device``), and
    ``judge(bounds)`` (bounds None when no element counts) gives the ValueError message, or
    None, when the packet next comes back to the host, with the next copy of a result."""
    _check_values("defer_bounds", values)
    if values.size == 0:
        return
    slot = pending_slot(lambda low, high: judge(None if low > high else (low, high)))
    int_bounds_kernel[1, THREADS](values.reshape(values.size), 0 if skip is None else skip,
                                  0 if skip is None else 1, slot)


def index_bounds(values, skip: int | None = None) -> tuple[int, int] | None:
    """(min, max) of the int64 device array ``values`` ignoring elements equal to ``skip``,
    or None when no element counts; one launch and one counted 16-byte copy to the host."""
    _check_values("index_bounds", values)
    if values.size == 0:
        return None
    bounds = empty(2, np.int64)  # (2,) [min, max]
    int_bounds_kernel[1, THREADS](values.reshape(values.size), 0 if skip is None else skip,
                                  0 if skip is None else 1, bounds)
    low, high = (int(v) for v in to_host(bounds))
    return None if low > high else (low, high)
