"""The benchmark case type shared by every ``benchmarks/bench_<stem>.py``.

A ``Bench`` describes one piece of work (a kernel or a whole layer, forward or
forward+backward) at one shape. ``make(backend)`` prepares inputs and returns a zero-argument
callable that does the work once on that tinymm backend ("reference" or "numba"); ``torch``
(optional) does the same for PyTorch and is only called when torch imports. Preparation
(allocating inputs, building layers) happens in ``make``, outside the timed region.
``torch_cl`` (optional) is the PyTorch version with channels-last (NHWC) inputs, so a win
over PyTorch's NCHW path can be told apart from a win over its best layout. ``table`` names
the row of issue 11's table (the seed model's hot loops) that the case measures; ``--table``
and ``--quick`` select those rows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass
class Bench:
    name: str  # what and which shape, e.g. "conv B 32->64 3x3 N=32 32x32 fwd+bwd"
    stem: str  # kernel stem / group, e.g. "conv2d"
    make: Callable[[str], Callable[[], Any]]  # backend name -> timed callable
    flops: float | None = None  # floating-point operations per call, when defined
    torch: Callable[[], Callable[[], Any]] | None = None  # -> timed PyTorch callable
    note: str = ""  # how the numba path computes it, e.g. "GEMM via NumPy BLAS (OpenBLAS)"
    backends: tuple[str, ...] = ("reference", "numba")
    repeat: int = 20  # warm repetitions (the harness may lower it for slow references)
    torch_cl: Callable[[], Callable[[], Any]] | None = None  # PyTorch, channels-last inputs
    table: str = ""  # its row in issue 11's table, e.g. "conv B fwd+bwd"; "" when none
