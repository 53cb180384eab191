"""Process-wide switches PyTorch programs set at start-up: ``torch.compile``,
``set_num_threads``, ``use_deterministic_algorithms``, ``set_float32_matmul_precision``.

``compile`` returns the model or function it is given (tinymm's kernels are compiled by
Numba already, so the results are the ones the uncompiled code gives, as torch promises). The
thread count is Numba's (``numba.set_num_threads``). tinymm's kernels give the same result on
every run, so deterministic mode is a flag that is kept and reported; the matmul precision is
kept and reported too (float32 matmuls always run in float32).
"""

from __future__ import annotations

import numba

_STATE = {"deterministic": False, "warn_only": False, "matmul_precision": "highest"}


def compile(model=None, *, fullgraph: bool = False, dynamic=None, backend="inductor",  # noqa: A001
            mode=None, options=None, disable: bool = False):
    """``torch.compile(model)`` and ``@torch.compile`` / ``@torch.compile(mode=...)``: the
    model or function itself."""
    if model is None:
        return lambda fn: fn
    return model


def set_num_threads(n: int) -> None:
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"set_num_threads: expected a positive int, got {n!r}")
    numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))


def get_num_threads() -> int:
    return numba.get_num_threads()


def use_deterministic_algorithms(mode: bool, *, warn_only: bool = False) -> None:
    _STATE["deterministic"], _STATE["warn_only"] = bool(mode), bool(warn_only)


def are_deterministic_algorithms_enabled() -> bool:
    return _STATE["deterministic"]


def set_float32_matmul_precision(precision: str) -> None:
    if precision not in ("highest", "high", "medium"):
        raise ValueError("set_float32_matmul_precision: expected 'highest', 'high' or "
                         f"'medium', got {precision!r}")
    _STATE["matmul_precision"] = precision


def get_float32_matmul_precision() -> str:
    return _STATE["matmul_precision"]


__all__ = ["are_deterministic_algorithms_enabled", "compile", "get_float32_matmul_precision",
           "get_num_threads", "set_float32_matmul_precision", "set_num_threads",
           "use_deterministic_algorithms"]
