"""``tinymm.device``: where a tensor's storage lives (``torch.device``'s names).

``SUPPORTED`` is the one place that says which device types a tensor may be created on or
moved to: "cpu", and "cuda" once the cuda backend can run here (numba-cuda and a GPU, or the
simulator: ``as_device`` adds it on first use, or says why not); everything that parses a
device goes through ``as_device``.
"""

from __future__ import annotations

SUPPORTED = {"cpu"}
KNOWN = ("cpu", "cuda", "mps", "xpu", "meta")


class device:  # noqa: N801 - PyTorch's name
    """``device("cpu")``, ``device("cuda:0")``, ``device("cuda", 0)``; compares equal to the
    same device and to its string (``t.device == "cpu"``)."""

    def __init__(self, type: str | device, index: int | None = None):  # noqa: A002
        if isinstance(type, device):
            type, index = type.type, type.index if index is None else index
        if not isinstance(type, str):
            raise TypeError(f"device: expected a string such as 'cpu', got {type!r}")
        name, _, number = type.partition(":")
        if name not in KNOWN:
            raise ValueError(f"device: unknown device type {name!r}; expected one of {KNOWN}")
        if number:
            if not number.isdigit() or index is not None:
                raise ValueError(f"device: cannot parse {type!r} (with index {index})")
            index = int(number)
        self.type = name
        self.index = index

    def __str__(self) -> str:
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __repr__(self) -> str:
        index = "" if self.index is None else f", index={self.index}"
        return f"device(type='{self.type}'{index})"

    def __eq__(self, other) -> bool:
        if isinstance(other, str):
            other = device(other)
        return isinstance(other, device) and (self.type, self.index) == (other.type, other.index)

    def __hash__(self) -> int:
        return hash((self.type, self.index))


CPU = device("cpu")


def as_device(value, who: str = "tensor") -> device:
    """Parse ``value`` (a string, a ``device`` or None for cpu) and check it is supported."""
    d = CPU if value is None else value if isinstance(value, device) else device(value)
    why = ""
    if d.type == "cuda" and d.type not in SUPPORTED:  # the cuda backend, once it can run here
        from tinymm.backend import backends

        reason = backends()["cuda"]
        if reason is None:
            SUPPORTED.add("cuda")
        else:
            why = f" ({reason})"
    if d.type not in SUPPORTED:
        raise ValueError(f"{who}: device {str(d)!r} is not available in this build (supported: "
                         f"{sorted(SUPPORTED)}){why}; keep the tensors on 'cpu'")
    return d


def is_device_array(value) -> bool:
    """True for a cuda device array (the storage of a cuda tensor); never imports numba-cuda
    for a CPU-only program (the ops' way to ask where an array lives)."""
    from tinymm.kernels.numba_cuda.device import is_device_array as on_device

    return on_device(value)


def index_bounds(values, skip: int | None = None) -> tuple[int, int] | None:
    """(min, max) of an int64 device array over the values other than ``skip`` (None when
    none is left): one reduction on the device and one counted 16-byte copy back."""
    from tinymm.kernels.numba_cuda.device import index_bounds as bounds

    return bounds(values, skip)


def defer_index_check(values, skip: int | None, judge) -> None:
    """Check an int64 device array without a transfer now: its (min, max) over the values
    other than ``skip`` is reduced on the device, and ``judge(bounds)`` (None when none is
    left) returns the ValueError message, or None, when the next result is copied to the host
    (in that same transfer: a training step's loss)."""
    from tinymm.kernels.numba_cuda.device import defer_bounds

    defer_bounds(values, skip, judge)


def defer_range_check(values, judge) -> None:
    """Check a float device array without a transfer now: its (min, max) (both NaN when a
    value is NaN) is reduced on the device, and ``judge((min, max))`` returns the ValueError
    message, or None, at the next copy of a result to the host or ``tinymm.cuda.synchronize()``."""
    from tinymm.kernels.numba_cuda.device import defer_float_bounds

    defer_float_bounds(values, judge)


def read_later(values):
    """For a one-element int64 device array (a count): an object whose ``int()`` is its
    value, copied back with the next result that comes to the host (a training step's loss)
    rather than on its own; for a host array, its value now."""
    if not is_device_array(values):
        return int(values.reshape(-1)[0])
    from tinymm.kernels.numba_cuda.device import read_later as later

    return later(values)


def random_draw(states, kind: str, *args):
    """One draw on the device from a generator's cuda states (see
    ``kernels.numba_cuda.device.random_draw``): a new device array, no transfer."""
    from tinymm.kernels.numba_cuda.device import random_draw as draw

    return draw(states, kind, *args)


def device_triangle_indices(row: int, col: int, offset: int, lower: bool):
    """tril_indices (lower) / triu_indices as a (2, count) int64 device array (no transfer)."""
    from tinymm.kernels.numba_cuda.device import triangle_indices

    return triangle_indices(row, col, offset, lower)


def device_row_order(x):
    """The order of the rows of a C-contiguous (n, m) device array in lexicographic order
    (int64 (n,), stable, no transfer)."""
    from tinymm.kernels.numba_cuda.device import row_order

    return row_order(x)


def device_mode_index(rows):
    """Each row's mode index of a C-contiguous (M, L) device array (int64 (M,), no
    transfer)."""
    from tinymm.kernels.numba_cuda.device import mode_index

    return mode_index(rows)
