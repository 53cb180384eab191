"""Inputs for the backend-parity test, one module per kernel stem.

Each ``tests/kernel_cases/<stem>.py`` defines ``CASES``: a list of ``KernelCase``. A case names
a forward kernel of the CONTRACT and builds its inputs; ``tests/test_kernel_parity.py`` runs the
forward on every backend and compares it with the reference, then feeds the same random
upstream gradient to every backend's backward and compares the input gradients. Every forward
kernel in the CONTRACT must have at least one case (a test enforces it).
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np


@dataclass
class KernelCase:
    kernel: str  # a forward kernel name, e.g. "linear_forward"
    make: Callable[[np.random.Generator, np.dtype], tuple[tuple, dict]]  # -> (args, kwargs)
    label: str = ""  # shown in the test id, e.g. "no-bias"
    # tolerances on max|backend - reference| / max(|reference|, tiny), per dtype
    tol: dict = field(default_factory=lambda: {np.float32: 1e-6, np.float64: 1e-12})

    @property
    def id(self) -> str:
        return f"{self.kernel}[{self.label}]" if self.label else self.kernel


def all_cases() -> list[KernelCase]:
    cases: list[KernelCase] = []
    for info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{info.name}")
        cases.extend(getattr(module, "CASES", []))
    return cases
