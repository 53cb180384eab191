"""PyTorch's ``F.ctc_loss``: the connectionist temporal classification loss (derivation:
kernels/reference/ctc.py).

Dimension letters: T time steps, N samples, C classes, S the longest target. ``log_probs``
(T, N, C) or unbatched (T, C) are log-probabilities (log_softmax over C); ``targets`` are
padded (N, S) or concatenated (sum of the target lengths,), or (S,) unbatched. The per-sample
losses come from the ctc kernels; the reductions are Tensor ops over them: 'mean' divides each
loss by its target length (at least 1) and then averages over the batch, as PyTorch.

The gradient with respect to log_probs is the derivative of the loss (finite differences
check it); PyTorch's adds exp(log_probs) * dloss to it, a term that the log_softmax in front
of the loss removes, so gradients reaching the logits agree.

Checks: lengths and labels held on the host are checked at once (labels within their
target's length must be classes in [0, C)). On cuda, the lengths' ranges are deferred checks
(raised at the next copy to the host), the longest concatenated target costs one counted
copy, and padded labels are not checked (the kernels read a label outside [0, C) as an
impossible symbol: that sample's loss is inf).
"""

from __future__ import annotations

import numpy as np

from tinymm.ops._checks import as_int64, check_float, check_int_range, int_bounds
from tinymm.ops._kernel import KernelFunction
from tinymm.ops.loss import REDUCTIONS
from tinymm.tensor import Tensor, as_tensor, from_numpy


class CTCLoss(KernelFunction):
    kernel = "ctc_loss"

    @classmethod
    def forward(cls, ctx, log_probs, targets, input_lengths, target_lengths, *, max_target,
                blank, zero_infinity):
        return cls.run(ctx, log_probs, targets, input_lengths, target_lengths, max_target,
                       blank=blank, zero_infinity=zero_infinity)


def _lengths(name: str, value, N: int, device) -> Tensor:
    """Lengths (N,) int64 on ``device`` from a Tensor, a sequence or an int."""
    t = value if isinstance(value, Tensor) else from_numpy(np.asarray(value)).to(device)
    if t.dtype.kind not in "iu":
        raise TypeError(f"ctc_loss: {name} must hold integers, got {t.dtype}")
    t = t.reshape(-1)
    if t.shape[0] != N:
        raise ValueError(f"ctc_loss: {name} must have one length per sample ({N}), got "
                         f"shape {tuple(t.shape)}")
    return Tensor._make(as_int64("ctc_loss", name, t.array))


def _check_labels(targets: np.ndarray, lengths: np.ndarray, padded: bool, C: int) -> None:
    """Host targets: every label within its sample's length in [0, C)."""
    if padded:
        used = targets[np.arange(targets.shape[1])[None, :] < lengths[:, None]]
    else:
        used = targets
    if used.size and (used.min() < 0 or used.max() >= C):
        worst = used.min() if used.min() < 0 else used.max()
        raise ValueError(f"ctc_loss: targets hold {worst}, outside the classes [0, {C - 1}]")


def _check(log_probs: Tensor, targets: Tensor, il: Tensor, tl: Tensor, blank: int) -> int:
    """Validate the batched inputs; the longest target S (the alpha table's width)."""
    T, N, C = log_probs.shape
    if not 0 <= blank < C:
        raise ValueError(f"ctc_loss: blank must be a class in [0, {C - 1}], got {blank}")
    if targets.dtype.kind not in "iu":
        raise TypeError(f"ctc_loss: targets must hold integer class indices, got "
                        f"{targets.dtype}")
    padded = targets.ndim == 2
    if targets.ndim not in (1, 2) or (padded and targets.shape[0] != N):
        raise ValueError(f"ctc_loss: targets must be padded (N={N}, S) or concatenated (sum "
                         f"of target_lengths,), got shape {tuple(targets.shape)}")
    check_int_range("ctc_loss", "input_lengths", il.array, 0, T + 1)
    if padded:
        check_int_range("ctc_loss", "target_lengths", tl.array, 0, targets.shape[1] + 1)
        S = targets.shape[1]
    else:
        bounds = int_bounds(tl.array)  # one counted copy on cuda: S sizes the table
        if bounds is not None and bounds[0] < 0:
            raise ValueError(f"ctc_loss: target_lengths must be >= 0, got {bounds[0]}")
        S = 0 if bounds is None else bounds[1]
        if targets.is_cuda:
            check_int_range("ctc_loss", "targets", targets.array, 0, C)
    if not targets.is_cuda:
        lengths = tl.numpy()
        if not padded and int(lengths.sum()) != targets.shape[0]:
            raise ValueError(f"ctc_loss: concatenated targets must hold sum(target_lengths) "
                             f"= {int(lengths.sum())} labels, got {targets.shape[0]}")
        _check_labels(targets.numpy(), lengths, padded, C)
    return S


def ctc_loss(log_probs, targets, input_lengths, target_lengths, blank: int = 0,
             reduction: str = "mean", zero_infinity: bool = False) -> Tensor:
    """``F.ctc_loss``: -log p(target | log_probs) per sample over all alignments, reduced."""
    lp, tg = as_tensor(log_probs), as_tensor(targets)
    check_float("ctc_loss", "log_probs", lp.array)
    if reduction not in REDUCTIONS:
        raise ValueError(f"ctc_loss: reduction must be one of {REDUCTIONS}, got {reduction!r}")
    unbatched = lp.ndim == 2
    if lp.ndim not in (2, 3):
        raise ValueError(f"ctc_loss: log_probs must be (T, N, C) or unbatched (T, C), got "
                         f"shape {tuple(lp.shape)}")
    if unbatched:
        lp, tg = lp.unsqueeze(1), tg.reshape(1, -1)  # (T, 1, C), (1, S)
    N = lp.shape[1]
    il = _lengths("input_lengths", input_lengths, N, lp.device)
    tl = _lengths("target_lengths", target_lengths, N, lp.device)
    S = _check(lp, tg, il, tl, int(blank))
    loss = CTCLoss.apply(lp, tg, il, tl, max_target=S, blank=int(blank),
                         zero_infinity=bool(zero_infinity))  # (N,)
    if reduction == "mean":
        return (loss / tl.clamp(min=1).to(loss.dtype)).mean()
    if reduction == "sum":
        return loss.sum()
    return loss.reshape(()) if unbatched else loss
