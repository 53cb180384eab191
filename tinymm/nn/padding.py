"""Padding layers, PyTorch's names: ``ReflectionPad1d/2d``, ``ReplicationPad1d/2d``,
``CircularPad1d/2d``, ``ConstantPad1d/2d`` and ``ZeroPad1d/2d``, each ``F.pad`` with its mode
(ops/shape.py; the index-based modes in ops/indexing.py).

``padding`` is an int (every side) or a tuple from the last dim backwards, as ``F.pad``:
(left, right) for the 1d layers, (left, right, top, bottom) for the 2d ones. The 1d layers take
(C, W) or (N, C, W) input, the 2d ones (C, H, W) or (N, C, H, W).
"""

from __future__ import annotations

from tinymm.nn.module import Module
from tinymm.ops.shape import pad


class _PadNd(Module):
    dims = 2  # spatial dims padded
    mode = "constant"

    def __init__(self, padding, value: float = 0.0):
        super().__init__()
        sides = 2 * self.dims
        padded = (padding,) * sides if isinstance(padding, int) else padding
        self.padding = tuple(padded) if isinstance(padded, (tuple, list)) else ()
        if len(self.padding) != sides or not all(isinstance(p, int) for p in self.padding):
            names = "(left, right)" if self.dims == 1 else "(left, right, top, bottom)"
            raise ValueError(f"{type(self).__name__}: padding must be an int or {names} ints, "
                             f"got {padding!r}")
        self.value = value

    def forward(self, x):
        if x.ndim not in (self.dims + 1, self.dims + 2):
            raise ValueError(f"{type(self).__name__}: expected a {self.dims + 1}-d (unbatched) "
                             f"or {self.dims + 2}-d (batched) input, got shape "
                             f"{tuple(x.shape)}")
        if self.mode == "constant":
            return pad(x, self.padding, value=self.value)
        return pad(x, self.padding, mode=self.mode)

    def extra_repr(self) -> str:
        return f"{self.padding}" + (f", value={self.value}" if self.value else "")


class ReflectionPad1d(_PadNd):
    dims, mode = 1, "reflect"


class ReflectionPad2d(_PadNd):
    mode = "reflect"


class ReplicationPad1d(_PadNd):
    dims, mode = 1, "replicate"


class ReplicationPad2d(_PadNd):
    mode = "replicate"


class CircularPad1d(_PadNd):
    dims, mode = 1, "circular"


class CircularPad2d(_PadNd):
    mode = "circular"


class ConstantPad1d(_PadNd):
    dims = 1

    def __init__(self, padding, value: float):
        super().__init__(padding, value)


class ConstantPad2d(_PadNd):
    def __init__(self, padding, value: float):
        super().__init__(padding, value)


class ZeroPad1d(_PadNd):
    dims = 1

    def __init__(self, padding):
        super().__init__(padding)


class ZeroPad2d(_PadNd):
    def __init__(self, padding):
        super().__init__(padding)
