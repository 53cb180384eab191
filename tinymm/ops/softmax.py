"""Softmax and log-softmax ops (derivation: kernels/reference/softmax.py)."""

from __future__ import annotations

from tinymm.ops._checks import check_dim, check_float
from tinymm.ops._kernel import KernelFunction


def _check_axis(op: str, x, axis: int) -> None:
    check_dim(op, "dim", axis, x.ndim)
    if x.ndim == 0:
        raise ValueError(f"{op}: needs an input of at least 1 dim, got a 0-d tensor")
    if x.shape[axis] == 0:
        raise ValueError(f"{op}: dim {axis} of input {x.shape} is empty")


class _AlongAxis(KernelFunction):
    """A float input normalised along one axis: kernels ``<kernel>_forward`` / ``_backward``."""

    @classmethod
    def forward(cls, ctx, x, axis=-1):
        check_float(cls.kernel, "input", x)
        _check_axis(cls.kernel, x, axis)
        return cls.run(ctx, x, axis=axis)


class Softmax(_AlongAxis):
    kernel = "softmax"


class LogSoftmax(_AlongAxis):
    kernel = "log_softmax"


def softmax(x, dim: int = -1):
    """Softmax along ``dim`` (PyTorch's argument name)."""
    return Softmax.apply(x, axis=dim)


def log_softmax(x, dim: int = -1):
    return LogSoftmax.apply(x, axis=dim)
