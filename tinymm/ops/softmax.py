"""Softmax and log-softmax ops (derivation: kernels/reference/softmax.py)."""

from __future__ import annotations

import warnings

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


def implicit_dim(op: str, ndim: int) -> int:
    """PyTorch's legacy choice when softmax is called without ``dim``: dim 0 for 0-, 1- and
    3-d input, else dim 1; with PyTorch's deprecation warning."""
    dim = 0 if ndim in (0, 1, 3) else 1
    warnings.warn(f"Implicit dimension choice for {op} has been deprecated. Change the call "
                  f"to include dim={dim} as an argument.", UserWarning, stacklevel=3)
    return dim


def softmax(x, dim: int | None = None, _stacklevel: int = 3, dtype=None):
    """Softmax along ``dim`` (PyTorch's argument name; without it, PyTorch's implicit dim),
    computed in ``dtype`` if given."""
    x = x if dtype is None else x.to(dtype)
    return Softmax.apply(x, axis=implicit_dim("softmax", x.ndim) if dim is None else dim)


def log_softmax(x, dim: int | None = None, _stacklevel: int = 3, dtype=None):
    x = x if dtype is None else x.to(dtype)
    return LogSoftmax.apply(x, axis=implicit_dim("log_softmax", x.ndim) if dim is None
                            else dim)
