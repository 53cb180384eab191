"""Fused softmax cross-entropy op (derivation: kernels/reference/cross_entropy.py)."""

from __future__ import annotations

import numpy as np

from tinymm.devices import is_device_array
from tinymm.ops._checks import check_float, check_int_range, check_ndim, check_same_device
from tinymm.ops._kernel import KernelFunction

REDUCTIONS = ("mean", "sum", "none")


class CrossEntropy(KernelFunction):
    kernel = "cross_entropy"

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
