"""PyTorch's loss functions (``cross_entropy``, ``binary_cross_entropy_with_logits``,
``mse_loss``): ``(input, target)``, reduced with ``reduction`` ("mean" by default). Keras's
losses are in tinymm/keras/losses.py.

Dimension letters: N samples, C classes.

Binary cross-entropy from logits x and targets y in [0, 1], stable for any x::

    loss = max(x, 0) - x y + log(1 + exp(-|x|))          (= -y log s(x) - (1-y) log(1-s(x)))
    dloss/dx = sigmoid(x) - y

is written as one Function (``BinaryCrossEntropyWithLogits``) because composing it from
relu/abs gives the wrong gradient at exactly x = 0 (both kinks have derivative 0 there).
"""

from __future__ import annotations

import numpy as np

from tinymm.autograd import Function
from tinymm.ops._checks import check_float
from tinymm.ops.cross_entropy import cross_entropy
from tinymm.tensor import Tensor, as_tensor

REDUCTIONS = ("mean", "sum", "none")


def _tensor(x, like: Tensor | None = None) -> Tensor:
    if isinstance(x, Tensor):
        return x
    array = np.asarray(x)
    if like is not None and array.dtype.kind in "fb":
        array = array.astype(like.dtype)
    return as_tensor(array)


def _reduce(loss: Tensor, reduction: str, who: str) -> Tensor:
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    if reduction == "none":
        return loss
    raise ValueError(f"{who}: reduction must be one of {REDUCTIONS}, got {reduction!r}")


def _check_same_shape(who: str, input: Tensor, target: Tensor) -> None:  # noqa: A002
    if input.shape != target.shape:
        raise ValueError(f"{who}: input has shape {input.shape} but target has shape "
                         f"{target.shape}; they must match (reshape the target, e.g. "
                         "y.reshape(-1, 1) for a single output unit)")


# ---------------------------------------------------------------- PyTorch names
class BinaryCrossEntropyWithLogits(Function):
    @staticmethod
    def forward(ctx, x, y, pos_weight=None):
        check_float("binary_cross_entropy_with_logits", "input (logits)", x)
        y = y.astype(x.dtype, copy=False)
        log_weight = 1.0 if pos_weight is None else 1.0 + (pos_weight - 1.0) * y  # (like x)
        softplus_neg = np.log1p(np.exp(-np.abs(x))) + np.maximum(-x, 0)  # log(1 + e^-x)
        loss = (1.0 - y) * x + log_weight * softplus_neg  # (like x)
        ctx.save_for_backward(x, y, pos_weight, log_weight, softplus_neg)
        return loss.astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, dloss):
        x, y, pos_weight, log_weight, softplus_neg = ctx.saved
        s = np.exp(-softplus_neg)  # sigmoid(x), no overflow
        dx = dloss * ((1.0 - y) - log_weight * (1.0 - s))  # d/dx of the forward line
        dy = -x if pos_weight is None else -x + (pos_weight - 1.0) * softplus_neg  # d/dy
        return dx.astype(x.dtype, copy=False), (dloss * dy).astype(x.dtype, copy=False)


def binary_cross_entropy_with_logits(input, target, reduction: str = "mean",  # noqa: A002
                                     pos_weight=None):
    """PyTorch's ``F.binary_cross_entropy_with_logits``: input and target of one shape."""
    x = _tensor(input)
    y = _tensor(target, like=x)
    _check_same_shape("binary_cross_entropy_with_logits", x, y)
    pw = None if pos_weight is None else np.asarray(
        pos_weight.array if isinstance(pos_weight, Tensor) else pos_weight, dtype=x.dtype)
    loss = BinaryCrossEntropyWithLogits.apply(x, y, pos_weight=pw)
    return _reduce(loss, reduction, "binary_cross_entropy_with_logits")


def mse_loss(input, target, reduction: str = "mean"):  # noqa: A002
    """PyTorch's ``F.mse_loss``: (input - target)^2, reduced."""
    x = _tensor(input)
    y = _tensor(target, like=x)
    _check_same_shape("mse_loss", x, y)
    diff = x - y
    return _reduce(diff * diff, reduction, "mse_loss")




__all__ = ["binary_cross_entropy_with_logits", "cross_entropy", "mse_loss"]
