"""Fused softmax cross-entropy op (derivation: kernels/reference/cross_entropy.py)."""

from __future__ import annotations

import numpy as np

from tinymm.backend import current_backend, get_backend
from tinymm.devices import is_device_array, read_later
from tinymm.ops._checks import as_int64, check_float, check_int_range, check_ndim, check_same_device
from tinymm.ops._kernel import KernelFunction

REDUCTIONS = ("mean", "sum", "none")


class CrossEntropy(KernelFunction):
    kernel = "cross_entropy"
    grad_fn_name = "NllLossBackward0"  # PyTorch's cross_entropy ends in nll_loss

    @classmethod
    def forward(cls, ctx, logits, target, ignore_index=-100, reduction="mean",
                label_smoothing=0.0):
        check_float("cross_entropy", "input (logits)", logits)
        check_ndim("cross_entropy", "input (logits)", logits, 2, "(N, C)")
        target = target if is_device_array(target) else np.asarray(target)
        check_same_device("cross_entropy", input=logits, target=target)
        check_ndim("cross_entropy", "target", target, 1, "(N,) class indices")
        if target.shape[0] != logits.shape[0]:
            raise ValueError(f"cross_entropy: input has {logits.shape[0]} rows (shape "
                             f"{logits.shape}) but target has {target.shape[0]} (shape "
                             f"{target.shape})")
        check_int_range("cross_entropy", "target", target, 0, logits.shape[1],
                        allowed_extra=ignore_index)
        if reduction not in REDUCTIONS:
            raise ValueError(f"cross_entropy: reduction must be one of {REDUCTIONS}, got "
                             f"{reduction!r}")
        if not 0.0 <= label_smoothing <= 1.0:
            raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1], got "
                             f"{label_smoothing}")
        return cls.run(ctx, logits, target, ignore_index=ignore_index, reduction=reduction,
                       label_smoothing=label_smoothing)


def cross_entropy(input, target, ignore_index: int = -100, reduction: str = "mean",  # noqa: A002
                  label_smoothing: float = 0.0):
    """PyTorch's ``F.cross_entropy`` from logits: input (N, C) or (N, C, d1, ...), target
    (N,) or (N, d1, ...) class indices."""
    from tinymm.tensor import Tensor

    if isinstance(input, Tensor) and input.ndim > 2:  # (N, C, d...) -> (N*d..., C)
        C = input.shape[1]
        rows = input.shape[0] * int(np.prod(input.shape[2:], dtype=np.int64))  # no -1: 0 rows
        moved = input.permute((0,) + tuple(range(2, input.ndim)) + (1,)).reshape(rows, C)
        t = target.array if isinstance(target, Tensor) else np.asarray(target)
        loss = CrossEntropy.apply(moved, t.reshape(-1), ignore_index=ignore_index,
                                  reduction=reduction, label_smoothing=label_smoothing)
        if reduction == "none":
            return loss.reshape(t.shape)
        return loss
    t = target.array if isinstance(target, Tensor) else np.asarray(target)
    return CrossEntropy.apply(input, t, ignore_index=ignore_index, reduction=reduction,
                              label_smoothing=label_smoothing)


def correct_count(logits, target):
    """How many rows of ``logits`` (N, C) have their first maximum at ``target`` (N,): the
    numerator of a classifier's accuracy (no gradient). On the CPU an int; for cuda tensors a
    value read with the next copy to the host (``int()`` of it), so a training step's accuracy
    comes back in the same transfer as its loss (``tinymm.devices.read_later``)."""
    from tinymm.tensor import Tensor

    x = logits.array if isinstance(logits, Tensor) else logits
    t = target.array if isinstance(target, Tensor) else target
    t = t if is_device_array(t) else np.asarray(t)
    check_float("correct_count", "input (logits)", x)
    check_ndim("correct_count", "input (logits)", x, 2, "(N, C)")
    check_ndim("correct_count", "target", t, 1, "(N,) class indices")
    check_same_device("correct_count", input=x, target=t)
    if t.shape[0] != x.shape[0] or t.dtype.kind not in "iu":
        raise ValueError(f"correct_count: target must be {x.shape[0]} integer class indices "
                         f"(one per row of the input {tuple(x.shape)}), got {t.dtype}"
                         f"{tuple(t.shape)}")
    backend = get_backend("cuda") if is_device_array(x) else current_backend()
    hits = backend.correct_count(x, as_int64("correct_count", "target", t))  # (1,) int64
    return read_later(hits)
