"""The (min, max) of a device array, for the ops' index and range checks.

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

``defer_float_bounds`` is the same deferred check for a float array (binary_cross_entropy's
probabilities), by the same kernel made for the float dtype: the (min, max) are reduced in
the array's dtype and written into the slot's 16 bytes viewed as that dtype (its first two
elements), and a NaN anywhere makes both NaN (PyTorch rejects a NaN probability too).

One block of ``THREADS`` threads: each thread strides over the array keeping its own
(min, max), then a shared-memory tree halves the candidates each round (the simulator has no
warp shuffles); thread 0 writes the result, so no atomics and no initialised output are
needed. Index arrays are small (a batch of token ids), so one block is enough.
"""

from __future__ import annotations

import numpy as np
from numba import cuda, float32, float64, int64

from tinymm.kernels.numba_cuda._device import (
    SIMULATOR,
    empty,
    pending_slot,
    require_device,
    to_host,
)

THREADS = 8 if SIMULATOR else 256  # a power of two: the tree halves it down to 1
@cuda.jit(device=True, inline="always")
def _lower(a, b):
    """min(a, b) with a NaN sticking (CUDA's fmin would drop it)."""
    if a != a or b != b:
        return a if a != a else b
    return b if b < a else a


@cuda.jit(device=True, inline="always")
def _higher(a, b):
    if a != a or b != b:
        return a if a != a else b
    return b if b > a else a


def _make_bounds(nbtype, highest, lowest):
    def bounds_kernel(values, skip, use_skip, bounds):
        # values (P,); bounds (2,) of values' dtype <- [min, max] over the values != skip
        # (when use_skip), both NaN where a NaN is; [highest, lowest] when no value counts
        low_s = cuda.shared.array(THREADS, nbtype)
        high_s = cuda.shared.array(THREADS, nbtype)
        t = cuda.threadIdx.x
        low, high = nbtype(highest), nbtype(lowest)
        for i in range(t, values.size, THREADS):
            v = values[i]
            if use_skip == 0 or v != skip:
                low = _lower(low, v)
                high = _higher(high, v)
        low_s[t] = low
        high_s[t] = high
        cuda.syncthreads()
        half = THREADS // 2
        while half > 0:
            if t < half:
                low_s[t] = _lower(low_s[t], low_s[t + half])
                high_s[t] = _higher(high_s[t], high_s[t + half])
            cuda.syncthreads()
            half //= 2
        if t == 0:
            bounds[0] = low_s[0]
            bounds[1] = high_s[0]

    return bounds_kernel


PTX_TARGETS = []
_BOUNDS = {}
for _nbt, _high, _low in ((int64, np.iinfo(np.int64).max, np.iinfo(np.int64).min),
                          (float32, np.inf, -np.inf), (float64, np.inf, -np.inf)):
    _fn = _make_bounds(_nbt, _high, _low)
    _fn.__name__ = f"bounds_{_nbt.name}"
    PTX_TARGETS.append((_fn, (f"void({_nbt.name}[::1], {_nbt.name}, int64, {_nbt.name}[::1])",)))
    _BOUNDS[np.dtype(_nbt.name)] = cuda.jit(_fn)
int_bounds_kernel = _BOUNDS[np.dtype(np.int64)]

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


def defer_float_bounds(values, judge) -> None:
    """Check the float device array ``values`` at the next copy to the host, as
    ``defer_bounds``: ``judge((min, max))`` (floats, both NaN when a value is NaN) gives the
    ValueError message or None; nothing is copied now."""
    require_device("defer_float_bounds", values=values)
    if values.dtype.kind != "f":
        raise TypeError(f"cuda defer_float_bounds: values must be floating point, received "
                        f"{values.dtype}")
    if values.size == 0:
        return

    dtype = values.dtype

    def from_bits(low, high):  # the slot's bytes hold the two bounds in values' dtype
        low_f, high_f = (float(v) for v in np.array([low, high], np.int64).view(dtype)[:2])
        return judge((low_f, high_f))

    slot = pending_slot(from_bits)
    _BOUNDS[dtype][1, THREADS](values.reshape(values.size), dtype.type(0), 0, slot.view(dtype))
