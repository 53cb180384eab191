"""Input validation shared by ops: clear errors before anything reaches a kernel.

The ops are the one layer that validates user input (shapes, dtypes, index ranges, geometry);
layers, the Keras front end and the kernels below rely on them.
"""

from __future__ import annotations

import numpy as np

from tinymm.devices import defer_index_check, defer_range_check, index_bounds, is_device_array

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def check_float(op: str, name: str, array: np.ndarray) -> None:
    if array.dtype not in FLOAT_DTYPES:
        raise TypeError(f"{op}: {name} must be float32 or float64, got {array.dtype}")


def check_same_dtype(op: str, **arrays: np.ndarray | None) -> None:
    dtypes = {name: a.dtype for name, a in arrays.items() if a is not None}
    if len(set(dtypes.values())) > 1:
        listed = ", ".join(f"{n} {d}" for n, d in dtypes.items())
        raise TypeError(f"{op}: inputs must share one dtype, got {listed}; convert with .float() "
                        "or .double()")


def check_ndim(op: str, name: str, array: np.ndarray, ndim: int | tuple[int, ...],
               layout: str = "") -> None:
    allowed = (ndim,) if isinstance(ndim, int) else ndim
    if array.ndim not in allowed:
        expected = " or ".join(f"{n}-d" for n in allowed)
        hint = f" {layout}" if layout else ""
        raise ValueError(f"{op}: {name} must be {expected}{hint}, got shape {array.shape}")


def int_bounds(array, skip: int | None = None) -> tuple[int, int] | None:
    """(min, max) of an integer array over the values other than ``skip``; None when none is
    left. A device array (int64) is reduced on the device and its two results come back in
    one counted transfer (``tinymm.cuda.transfer_stats``); a host array costs nothing."""
    if is_device_array(array):
        return index_bounds(as_int64("int_bounds", "array", array), skip)
    values = array if skip is None else array[array != skip]
    return (int(values.min()), int(values.max())) if values.size else None


def as_int64(op: str, name: str, array):
    """An integer array as int64 (the dtype index kernels read), on the device it lives on;
    a ValueError naming ``op`` for any other dtype."""
    if array.dtype.kind not in "iu":
        raise ValueError(f"{op}: {name} must be an integer array, got dtype {array.dtype}; "
                         "convert with .astype(np.int64)")
    if array.dtype == np.int64:
        return array
    if is_device_array(array):
        from tinymm.backend import get_backend

        return get_backend("cuda").cast_forward(array, np.int64)[0]
    return array.astype(np.int64)


def check_same_device(op: str, **arrays) -> None:
    """A RuntimeError naming both devices when the arrays (Nones skipped) do not all live on
    one device, as PyTorch's; raw index arrays never pass through autograd's device check."""
    places = {name: "cuda" if is_device_array(a) else "cpu"
              for name, a in arrays.items() if a is not None}
    if len(set(places.values())) > 1:
        listed = ", ".join(f"{name} on {where}" for name, where in places.items())
        raise RuntimeError(f"{op}: expected all inputs on the same device, got {listed}; move "
                           "them with .to('cuda') or .cpu() first")


def check_bounds(op: str, name: str, array, skip: int | None, judge) -> None:
    """Raise ValueError(``judge(bounds)``) unless it is None, where bounds is the (min, max)
    of the integer ``array`` over the values other than ``skip`` (None when none is left).

    A host array is checked now. A device array is checked without a transfer now: the
    reduction runs on the device and the error is raised at the next copy of a result to the
    host (a training step's ``loss.item()``, in that same transfer), as PyTorch's device-side
    asserts surface at the next synchronisation; the cuda kernels that read such indices
    guard them, so a bad one reads nothing out of bounds meanwhile."""
    if is_device_array(array):
        defer_index_check(as_int64(op, name, array), skip, judge)
        return
    message = judge(int_bounds(array, skip))
    if message:
        raise ValueError(message)


def check_int_range(op: str, name: str, array, low: int, high: int,
                    allowed_extra: int | None = None) -> None:
    """Every value of the integer ``array`` must be in [low, high) (or equal allowed_extra);
    on the device, checked at the next copy to the host (``check_bounds``)."""
    if array.dtype.kind not in "iu":
        raise TypeError(f"{op}: {name} must be an integer array (class indices), got {array.dtype}")

    def judge(bounds):
        if bounds is None or low <= bounds[0] and bounds[1] < high:
            return None
        worst = bounds[0] if bounds[0] < low else bounds[1]
        return (f"{op}: {name} holds {worst}, outside the valid range [{low}, {high - 1}]"
                + (f" (or {allowed_extra} to ignore)" if allowed_extra is not None else ""))

    check_bounds(op, name, array, allowed_extra, judge)


def check_float_range(op: str, name: str, array, low: float, high: float,
                      what: str = "values", hint: str = "") -> None:
    """Every value of the float ``array`` (``what`` it holds, for the message) must be in
    [low, high] (a NaN fails, as in
    PyTorch). A host array is checked now; a device array at the next copy of a result to
    the host or ``tinymm.cuda.synchronize()`` (``devices.defer_range_check``: one reduction
    on the device now, no transfer), with the same ValueError."""

    def judge(bounds):
        lo, hi = bounds
        if lo != lo or hi != hi:
            return f"{op}: {name} holds NaN, expected {what} in [{low}, {high}]{hint}"
        if lo < low or hi > high:
            return f"{op}: {name} must hold {what} in [{low}, {high}], got values in " \
                   f"[{lo}, {hi}]{hint}"
        return None

    if array.size == 0:
        return
    if is_device_array(array):
        defer_range_check(array, judge)
        return
    message = judge((float(np.min(array)), float(np.max(array))))
    if message:
        raise ValueError(message)


def check_pair(op: str, name: str, value, minimum: int) -> tuple[int, int]:
    """An int or a pair of ints, each >= ``minimum`` -> (int, int), or a clear error."""
    if isinstance(value, (tuple, list)) and len(value) == 2:
        values = value
    elif isinstance(value, (tuple, list)) or isinstance(value, bool):
        raise ValueError(f"{op}: {name} must be an int or a pair of ints, got {value!r}")
    else:
        values = (value, value)
    if not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in values):
        raise TypeError(f"{op}: {name} must be an int or a pair of ints, got {value!r}")
    if min(values) < minimum:
        raise ValueError(f"{op}: {name} must be >= {minimum}, got {value!r}")
    return int(values[0]), int(values[1])


class DimensionError(IndexError, ValueError):
    """An out-of-range dim/axis. It is an IndexError, as PyTorch's "Dimension out of range",
    and a ValueError, as every other bad argument of a tinymm op: ``except`` either catches
    it. Raised only by ``check_dim``."""


def check_dim(op: str, name: str, dim, ndim: int, extra: int = 0) -> int:
    """``dim`` as a non-negative axis of a ``ndim``-d tensor (``extra`` = 1 for an axis that
    may also be one past the end, as unsqueeze's and stack's). A 0-d tensor accepts 0 and -1,
    as PyTorch's scalars do. Raises TypeError for a non-integer and DimensionError, with
    PyTorch's message after the op and the argument's name, when out of range."""
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)):
        raise TypeError(f"{op}: {name} must be an int, got {dim!r}")
    size = max(ndim + extra, 1)
    if not -size <= dim < size:
        raise DimensionError(f"{op}: {name}: Dimension out of range (expected to be in range of "
                             f"[{-size}, {size - 1}], but got {dim}) for a {ndim}-d tensor")
    return int(dim) % size


# The numba kernels of the recurrent (lstm, rnn, gru) and fusion ops compile with fastmath
# 'nnan'/'ninf': they assume every value is finite, so a NaN or Inf (in an input, or from an
# overflow inside) may come out finite or wrong there; numba attention's running max skips a
# NaN score. Those ops run their forward kernels through ``finite_kernel_forward``.
FINITE_ONLY_BACKENDS = ("numba",)


def _checked_array(a: np.ndarray) -> np.ndarray:
    """The array whose finiteness ``_all_finite`` tests for ``a``: ``a`` itself, or, for a
    strided view (a head split of a projection, the key and value halves of one GEMM's
    output), the contiguous float buffer it views when that holds at most twice its values:
    one unit-stride pass instead of a strided one, and views of one buffer tested once. A
    non-finite value elsewhere in that buffer only sends the call to the reference kernels,
    which are right for any input; a finite buffer means a finite view."""
    if a.flags.c_contiguous:
        return a
    root = a
    while isinstance(root.base, np.ndarray):
        root = root.base
    if root.flags.c_contiguous and root.dtype == a.dtype and root.size <= 2 * a.size:
        return root
    return a


def _float_arrays(values, found: dict) -> None:
    """The float arrays of ``values`` (nested tuples and lists), by id of the array tested."""
    for a in values:
        if isinstance(a, np.ndarray):
            if a.dtype.kind == "f":
                checked = _checked_array(a)
                found[id(checked)] = checked
        elif isinstance(a, (tuple, list)):
            _float_arrays(a, found)


def _all_finite(values) -> bool:
    """Whether every float array in ``values`` (nested tuples and lists; other values are
    skipped) holds only finite numbers."""
    found: dict = {}
    _float_arrays(values, found)
    isfinite = np.isfinite
    for a in found.values():
        if not isfinite(a).all():
            return False
    return True


def finite_kernel_forward(ctx, kernel: str, inputs, *args, **kwargs):
    """``ctx.backend.<kernel>(*args, **kwargs)`` -> (result, cache), on the reference kernels
    instead when the selected backend's kernel assumes finite values and an array of
    ``inputs`` holds NaN/Inf, or its result does (an overflow inside): the reference
    propagates NaN and Inf as PyTorch does. ``ctx.backend`` is switched too, so the backward
    runs the kernels that made the cache."""
    from tinymm.backend import get_backend

    finite_only = ctx.backend.name in FINITE_ONLY_BACKENDS
    if finite_only and not _all_finite(inputs):
        ctx.backend = get_backend("reference")
        finite_only = False
    result, cache = getattr(ctx.backend, kernel)(*args, **kwargs)
    if finite_only and not _all_finite((result,)):
        ctx.backend = get_backend("reference")
        result, cache = getattr(ctx.backend, kernel)(*args, **kwargs)
    return result, cache
