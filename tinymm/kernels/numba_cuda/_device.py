"""Device arrays for the cuda backend: the only place where bytes cross the host<->device line.

Every host->device and device->host copy in tinymm goes through ``to_device`` or ``to_host``
here, and each one is counted (calls and bytes, per direction), so a test can assert that a
training step moves exactly the input batch in and the scalar loss out ("no hidden copies").
Allocation on the device (``empty``, ``zeros``, ``full``) and device-to-device copies move no
bytes across the bus and are not counted.

Copies nobody asked for are counted too: numba-cuda's device arrays convert to NumPy on
demand (``np.asarray(d)`` calls ``DeviceNDArray.__array__``, a device->host copy), so this
module wraps that conversion to count it under ``implicit_d2h_count`` as well as in the d2h
totals (and gives the simulator's arrays the same counted conversion). A test that expects
zero implicit copies then catches any NumPy call on GPU data.

Kernel wrappers accept device arrays only: ``require_device`` raises a TypeError naming the
kernel when it is handed a NumPy array, because numba-cuda would otherwise copy a host array
to the GPU and back behind the caller's back on every launch.

Works the same under the simulator (``NUMBA_ENABLE_CUDASIM=1``), whose device arrays are
``FakeCUDAArray`` objects with the same ``copy_to_host`` / ``shape`` / ``dtype`` interface.
"""

from __future__ import annotations

import sys
import threading
from dataclasses import dataclass, field

import numpy as np
from numba import config as numba_config
from numba import cuda

# The simulator (NUMBA_ENABLE_CUDASIM=1) runs every CUDA thread of a block as a Python thread,
# so under it the kernels launch small blocks (the code is the same; the tests then cross more
# block and tile edges); the PTX that a real GPU runs keeps the sizes below.
SIMULATOR = bool(numba_config.ENABLE_CUDASIM)
# 1-d launches: a multiple of the 32-thread warp, 8 warps per block (one warp in the simulator)
THREADS_PER_BLOCK = 32 if SIMULATOR else 256


def _atomic_simulated_shared_arrays() -> None:
    """Make the simulator's ``cuda.shared.array`` allocation atomic.

    numba-cuda's simulator gives the threads of a block one shared array per source line by
    a check-then-set on a dict; a thread switch between the two lets two threads of a block
    allocate different arrays, so one of them computes on private "shared" memory. The same
    lookup, keyed by the calling line as the simulator's, runs under a lock here."""
    from numba.cuda import types
    from numba.cuda.np import numpy_support
    from numba.cuda.simulator import kernelapi

    unlocked = kernelapi.FakeCUDAShared.array
    lock = threading.Lock()

    def array(self, shape, dtype, alignment=None):
        if shape == 0 or alignment is not None:  # dynamic shared memory: no lookup
            return unlocked(self, shape, dtype, alignment)
        if isinstance(dtype, types.Type):  # a Numba type, as the kernels pass
            dtype = numpy_support.as_dtype(dtype)
        frame = sys._getframe(1)
        caller = (frame.f_code.co_filename, frame.f_lineno)
        with lock:
            found = self._allocations.get(caller)
            if found is None:
                found = self._allocations[caller] = np.empty(shape, dtype)
        return found

    kernelapi.FakeCUDAShared.array = array


if SIMULATOR:
    # The simulator's launcher polls its block's threads in a loop on the main thread, and each
    # barrier waits for every thread to be scheduled in turn: with Python's default 5 ms GIL
    # switch interval a launch takes several times longer than with 0.1 ms. Threads then switch
    # more often, which makes the simulator's shared-array race likely: it is closed first.
    _atomic_simulated_shared_arrays()
    sys.setswitchinterval(1e-4)


@dataclass
class TransferStats:
    """Host<->device copies since the last reset: calls and bytes in each direction."""

    h2d_count: int = 0
    h2d_bytes: int = 0
    d2h_count: int = 0
    d2h_bytes: int = 0
    implicit_d2h_count: int = 0  # of d2h_count: conversions through __array__ (np.asarray)

    def as_dict(self) -> dict[str, int]:
        return {"h2d_count": self.h2d_count, "h2d_bytes": self.h2d_bytes,
                "d2h_count": self.d2h_count, "d2h_bytes": self.d2h_bytes,
                "implicit_d2h_count": self.implicit_d2h_count}


_lock = threading.Lock()
_stats = TransferStats()


def transfer_stats() -> dict[str, int]:
    """A snapshot of the transfer counters (h2d/d2h calls and bytes since the last reset)."""
    with _lock:
        return _stats.as_dict()


def reset_transfer_stats() -> None:
    """Set every transfer counter back to zero."""
    with _lock:
        _stats.h2d_count = _stats.h2d_bytes = _stats.d2h_count = _stats.d2h_bytes = 0
        _stats.implicit_d2h_count = 0


def is_device_array(a) -> bool:
    """True for a numba-cuda device array (real or simulated), False for anything else."""
    if isinstance(a, np.ndarray):
        return False
    return hasattr(a, "copy_to_host") and hasattr(a, "shape") and hasattr(a, "dtype")


def to_device(a):
    """Copy a host array to a new C-contiguous device array (one counted h2d transfer)."""
    if is_device_array(a):
        raise TypeError(
            f"to_device: expected a host (NumPy) array, received a device array of shape "
            f"{tuple(a.shape)}; it is already on the GPU"
        )
    host = np.asarray(a)
    if not host.flags.c_contiguous:  # (np.ascontiguousarray would turn 0-d into 1-d)
        host = np.ascontiguousarray(host)
    d = cuda.to_device(host)
    with _lock:
        _stats.h2d_count += 1
        _stats.h2d_bytes += host.nbytes
    return d


def to_host(d) -> np.ndarray:
    """Copy a device array into a new NumPy array (one counted d2h transfer).

    With deferred checks pending (``pending_slot``), they are judged first: a one-element
    array (a scalar loss) or a small array (up to SMALL_READ_BYTES: a decoder's chosen ids)
    comes back in the same transfer as their results, anything larger after one transfer of
    those results. A failed check raises its ValueError instead.
    """
    if not is_device_array(d):
        raise TypeError(
            f"to_host: expected a device array, received {type(d).__name__}"
        )
    if _pending.judges:
        if d.size == 1 and d.dtype.itemsize <= 8:
            return _read_packet(d)
        if d.nbytes <= SMALL_READ_BYTES:
            return _read_with_packet(d)
        _read_packet(None)
    return _copy_to_host(d)


def _copy_to_host(d) -> np.ndarray:
    host = d.copy_to_host()
    with _lock:
        _stats.d2h_count += 1
        _stats.d2h_bytes += host.nbytes
    return host


# ---------------------------------------------------------------- deferred checks
# Index checks on device arrays (embedding ids, cross-entropy targets) do not copy their
# result back when they run: the (min, max) reduction writes it into a slot of one small int64
# device buffer, the "packet", and the check is judged at the next copy to the host, in the
# same transfer. A scalar read (``loss.item()``) first copies its value into the packet's
# head (a one-thread kernel), so a training step's loss and its index checks come back in
# one transfer; a small array (a decoder's N chosen ids) and the packet are copied side by
# side into one device buffer and come back in one transfer too; any larger read copies the
# packet, then the array. A failed check raises its
# ValueError there, as PyTorch's device-side asserts surface at the next synchronisation; the
# kernels that read such indices guard them, so nothing is read out of bounds meanwhile.
PENDING_SLOTS = 8  # checks held before the packet is read on its own
SMALL_READ_BYTES = 4096  # reads up to this size share the packet's transfer


@dataclass
class _Pending:
    packet: object = None  # int64 (1 + 2 PENDING_SLOTS,): [scalar's bytes, (min, max) ...]
    judges: list = field(default_factory=list)  # judge(low, high) -> message or None


_pending = _Pending()


def pending_slot(judge):
    """A (2,) int64 device view for one deferred check's (min, max); ``judge(low, high)``
    returns the ValueError message for them (or None) when the packet is next read."""
    with _lock:
        full = len(_pending.judges) == PENDING_SLOTS
    if full:
        _read_packet(None)  # a ninth check before any read: judge the eight first
    with _lock:
        if _pending.packet is None:
            _pending.packet = empty(1 + 2 * PENDING_SLOTS, np.int64)
        _pending.judges.append(judge)
        k = len(_pending.judges)
        return _pending.packet[2 * k - 1:2 * k + 1]


def judge_pending() -> None:
    """Judge the deferred checks now (one counted copy of the packet, when any is pending):
    ``tinymm.cuda.synchronize()``'s part, so a failed check surfaces there too."""
    if _pending.judges:
        _read_packet(None)


def _read_packet(scalar):
    """Copy the packet's used part to the host (one counted transfer), with ``scalar`` (a
    one-element device array of at most 8 bytes) in its head; judge the pending checks and
    raise the first failure's ValueError; return the scalar's value as a host array."""
    with _lock:
        judges, _pending.judges = _pending.judges, []
    packet = _pending.packet
    if scalar is not None:  # a device-to-device copy into the head: one launch
        put_kernel[1, 1](scalar.reshape(1), packet.view(scalar.dtype)[0:1])
    host = _copy_to_host(packet[:1 + 2 * len(judges)])
    _judge(judges, host)
    if scalar is None:
        return None
    return host[:1].view(scalar.dtype)[:1].reshape(tuple(scalar.shape)).copy()


def _read_with_packet(d) -> np.ndarray:
    """``to_host(d)`` of a small array with checks pending, in one counted transfer: the
    packet's used part and d's bytes are copied (device to device) into one int64 buffer,
    which comes back; the checks are judged (a failure raises) and d's part is returned."""
    with _lock:
        judges, _pending.judges = _pending.judges, []
    used = 1 + 2 * len(judges)
    buffer = empty(used + -(-d.nbytes // 8), np.int64)  # (used + ceil(nbytes / 8),)
    blocks, threads = grid_1d(used * 8)
    copy_kernel[blocks, threads](_pending.packet[:used].view(np.uint8),
                                 buffer[:used].view(np.uint8))
    if d.nbytes:
        blocks, threads = grid_1d(d.nbytes)
        copy_kernel[blocks, threads](flat(d).view(np.uint8),
                                     buffer[used:].view(np.uint8)[:d.nbytes])
    host = buffer.copy_to_host()
    with _lock:
        _stats.d2h_count += 1
        _stats.d2h_bytes += used * 8 + d.nbytes
    _judge(judges, host)
    return host[used:].view(np.uint8)[:d.nbytes].view(d.dtype).reshape(tuple(d.shape)).copy()


def _judge(judges, host) -> None:
    """Run every judge on its (min, max) in the packet's host copy; raise the first failure."""
    messages = [judge(int(host[2 * k + 1]), int(host[2 * k + 2]))
                for k, judge in enumerate(judges)]  # every judge runs (read_later values)
    failed = [m for m in messages if m]
    if failed:
        raise ValueError(failed[0])


class LaterValue:
    """The value of a one-element int64 device array, copied back with the next packet read
    (``read_later``); ``int()`` / ``float()`` before that read the packet at once."""

    def __init__(self):
        self.value = None

    def _set(self, value: int) -> None:  # a judge that never fails
        self.value = value

    def __int__(self) -> int:
        if self.value is None:
            _read_packet(None)
        return int(self.value)

    def __float__(self) -> float:
        return float(int(self))

    def __repr__(self) -> str:
        return f"LaterValue({'pending' if self.value is None else self.value})"


def read_later(d) -> LaterValue:
    """Ride ``d`` (one int64 element: a count) back with the next copy to the host, in the
    pending-check packet, instead of copying it on its own now."""
    if d.size != 1 or d.dtype != np.int64:
        raise TypeError(f"read_later: expected a one-element int64 device array, received "
                        f"{d.dtype}{tuple(d.shape)}")
    later = LaterValue()
    slot = pending_slot(lambda low, high: later._set(low))
    put_kernel[1, 1](d.reshape(1), slot[0:1])
    return later


def _count_implicit(nbytes: int) -> None:
    with _lock:
        _stats.d2h_count += 1
        _stats.d2h_bytes += nbytes
        _stats.implicit_d2h_count += 1


def _install_implicit_counter() -> None:
    """Count every device->host conversion that goes through ``__array__``."""
    if numba_config.ENABLE_CUDASIM:
        from numba.cuda.simulator.cudadrv.devicearray import FakeCUDAArray as array_class

        def as_array(self, dtype=None, copy=None):  # the real arrays' behaviour, counted
            host = self._ary.copy()
            _count_implicit(host.nbytes)
            return host if dtype is None else host.astype(dtype)

        # a real device array's shape is a plain tuple (shape[-1] works); the simulator's
        # FakeShape refuses negative indices, which the ops use on every array
        array_class.shape = property(lambda self: tuple(self._ary.shape))
    else:
        from numba.cuda.cudadrv.devicearray import DeviceNDArray as array_class

        original = array_class.__array__
        if getattr(original, "_tinymm_counted", False):
            return

        def as_array(self, dtype=None, copy=None):
            _count_implicit(int(self.nbytes))
            return original(self, dtype) if dtype is not None else original(self)
    as_array._tinymm_counted = True
    array_class.__array__ = as_array


def require_device(op: str, **arrays) -> None:
    """Raise a TypeError naming ``op`` and the argument when one of ``arrays`` is not on the GPU.

    A device array that is not C-contiguous (a strided slice) is a ValueError: kernels index
    flat or row-major views of their arguments. ``None`` values (an absent bias, say) are
    allowed. Called by every kernel wrapper before it launches, so a host array never reaches
    a kernel (where numba-cuda would silently copy it over and back).
    """
    for name, a in arrays.items():
        if a is None:
            continue
        if is_device_array(a):
            if not a.is_c_contiguous():
                raise ValueError(
                    f"cuda {op}: argument '{name}' must be a C-contiguous device array, received "
                    f"one of shape {tuple(a.shape)} with strides {tuple(a.strides)}; copy it "
                    f"first (the permute/getitem kernels return contiguous arrays)"
                )
            continue
        raise TypeError(
            f"cuda {op}: argument '{name}' must be a device array (numba.cuda DeviceNDArray), "
            f"received {type(a).__name__}"
            + (f" of shape {a.shape}" if isinstance(a, np.ndarray) else "")
            + "; move it with tinymm.kernels.numba_cuda._device.to_device (or Tensor.to('cuda'))"
        )


def grid_1d(n: int, threads: int = THREADS_PER_BLOCK) -> tuple[int, int]:
    """(blocks, threads) covering ``n`` elements with one thread each (at least one block)."""
    return max(1, (n + threads - 1) // threads), threads


_install_implicit_counter()


def _fill(out, value):
    i = cuda.grid(1)
    if i < out.size:
        out[i] = value


def _put(src, dst):
    # dst[0] = src[0]: a scalar into the pending-check packet's head (viewed as its dtype)
    if cuda.grid(1) == 0:
        dst[0] = src[0]


def _copy(src, dst):
    # dst[i] = src[i]: bytes from one device array into another (the packet's small reads)
    i = cuda.grid(1)
    if i < src.size:
        dst[i] = src[i]


fill_kernel = cuda.jit(_fill)
put_kernel = cuda.jit(_put)
copy_kernel = cuda.jit(_copy)
_SCALARS = ("float32", "float64", "int64")
PTX_TARGETS = [(_fill, tuple(f"void({t}[::1], {t})" for t in _SCALARS)),
               (_put, tuple(f"void({t}[::1], {t}[::1])" for t in _SCALARS)),
               (_copy, ("void(uint8[::1], uint8[::1])",))]


def empty(shape, dtype):
    """An uninitialised C-contiguous device array (no transfer)."""
    shape = (int(shape),) if np.isscalar(shape) else tuple(int(s) for s in shape)
    return cuda.device_array(shape, dtype=np.dtype(dtype))


def full(shape, value, dtype):
    """A device array with every element ``value``, written by a kernel (no transfer)."""
    out = empty(shape, dtype)
    if out.size:
        blocks, threads = grid_1d(out.size)
        fill_kernel[blocks, threads](out.reshape(out.size), np.dtype(dtype).type(value))
    return out


def zeros(shape, dtype):
    """A device array of zeros, written by a kernel (no transfer)."""
    return full(shape, 0, dtype)


def flat(d):
    """A 1-d view of a C-contiguous device array (no copy)."""
    return d.reshape(d.size)


def map_1d(op: str, kernel, inputs: dict, *scalars):
    """One thread per element: a new device array shaped and typed like the last of
    ``inputs`` (name -> device array, checked by ``require_device`` under those names), written
    by ``kernel(*flat inputs, flat out, *scalars)``; an empty array launches nothing."""
    require_device(op, **inputs)
    like = list(inputs.values())[-1]
    out = empty(tuple(like.shape), like.dtype)
    if out.size:
        blocks, threads = grid_1d(out.size)
        kernel[blocks, threads](*[flat(a) for a in inputs.values()], flat(out), *scalars)
    return out
