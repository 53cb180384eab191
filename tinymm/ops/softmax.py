"""Softmax and log-softmax ops (derivation: kernels/reference/softmax.py)."""

from __future__ import annotations

from tinymm.autograd import Function
from tinymm.ops._checks import check_dim, check_float


def _check_axis(op: str, x, axis: int) -> None:
    check_dim(op, "dim", axis, x.ndim)
    if x.ndim == 0:
        raise ValueError(f"{op}: needs an input of at least 1 dim, got a 0-d tensor")
    if x.shape[axis] == 0:
        raise ValueError(f"{op}: dim {axis} of input {x.shape} is empty")


class Softmax(Function):
    @staticmethod
    def forward(ctx, x, axis=-1):
        check_float("softmax", "input", x)
        _check_axis("softmax", x, axis)
        out, cache = ctx.backend.softmax_forward(x, axis=axis)
        ctx.save_for_backward(cache)
        return out

    @staticmethod
    def backward(ctx, grad):
        return ctx.backend.softmax_backward(grad, *ctx.saved)


class LogSoftmax(Function):
    @staticmethod
    def forward(ctx, x, axis=-1):
        check_float("log_softmax", "input", x)
        _check_axis("log_softmax", x, axis)
        out, cache = ctx.backend.log_softmax_forward(x, axis=axis)
        ctx.save_for_backward(cache)
        return out

    @staticmethod
    def backward(ctx, grad):
        return ctx.backend.log_softmax_backward(grad, *ctx.saved)


def softmax(x, dim: int = -1):
    """Softmax along ``dim`` (PyTorch's argument name)."""
    return Softmax.apply(x, axis=dim)


def log_softmax(x, dim: int = -1):
    return LogSoftmax.apply(x, axis=dim)
