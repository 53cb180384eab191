"""Losses composed of Tensor ops (autograd derives the backward from the pieces), PyTorch's
definitions; ``reduction`` is "mean", "sum" or "none" (kl_div also "batchmean"):

    kl_div(input, target)      l = target * (log target - input)  (0 where target = 0);
                               log_target=True: l = exp(target) * (target - input).
                               "batchmean" sums and divides by input.size(0)
    margin_ranking_loss        l = max(0, -y * (x1 - x2) + margin)
    cosine_embedding_loss      l = 1 - cos(x1, x2) for y = 1, max(0, cos(x1, x2) - margin) for
                               y = -1; cos over dim 1 with PyTorch's eps 1e-12 inside the sqrt
    triplet_margin_loss        l = max(d(a, p) - d(a, n) + margin, 0), d = pairwise_distance
                               (swap=True: d(a, n) is min(d(a, n), d(p, n)))

The max(0, .) is PyTorch's clamp_min: at exactly 0 the gradient passes (relu's would stop it).
"""

from __future__ import annotations

import warnings

from tinymm.ops.distance import float_pair, pairwise_distance
from tinymm.ops.loss import REDUCTIONS
from tinymm.tensor import Tensor, as_tensor, where


def reduce_loss(op: str, loss: Tensor, reduction: str, batch: bool = False) -> Tensor:
    """The elementwise ``loss`` reduced as ``reduction`` says ("batchmean" when ``batch``)."""
    allowed = REDUCTIONS + (("batchmean",) if batch else ())
    if reduction not in allowed:
        raise ValueError(f"{op}: reduction must be one of {allowed}, got {reduction!r}")
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    if reduction == "batchmean":
        return loss.sum() / (loss.shape[0] if loss.ndim else 1)
    return loss.mean()


def kl_div(input, target, reduction: str = "mean", log_target: bool = False):  # noqa: A002
    x, t = float_pair("kl_div", input, target)
    if tuple(x.shape) != tuple(t.shape):
        raise ValueError(f"kl_div: input {tuple(x.shape)} and target {tuple(t.shape)} must "
                         "have the same shape")
    if log_target:
        loss = t.exp() * (t - x)
    else:
        positive = t > 0
        loss = where(positive, t * (where(positive, t, 1.0).log() - x), 0.0)
    if reduction == "mean":
        warnings.warn("kl_div: reduction='mean' divides the total by the number of elements, "
                      "not by the batch size; reduction='batchmean' gives the KL divergence "
                      "(PyTorch warns the same)", UserWarning, stacklevel=2)
    return reduce_loss("kl_div", loss, reduction, batch=True)


def _labels(op: str, target, shape) -> Tensor:
    y = as_tensor(target)
    if tuple(y.shape) != tuple(shape):
        raise ValueError(f"{op}: target must have shape {tuple(shape)} (one +1/-1 label per "
                         f"pair), got {tuple(y.shape)}")
    return y


def margin_ranking_loss(input1, input2, target, margin: float = 0.0,
                        reduction: str = "mean"):
    x1, x2 = float_pair("margin_ranking_loss", input1, input2)
    y = _labels("margin_ranking_loss", target, x1.shape)
    return reduce_loss("margin_ranking_loss", (-y * (x1 - x2) + margin).clamp(min=0.0), reduction)


def cosine_embedding_loss(input1, input2, target, margin: float = 0.0,
                          reduction: str = "mean"):
    x1, x2 = float_pair("cosine_embedding_loss", input1, input2)
    if x1.ndim not in (1, 2) or tuple(x1.shape) != tuple(x2.shape):
        raise ValueError(f"cosine_embedding_loss: input1 and input2 must be the same 1-d (D,) "
                         f"or 2-d (N, D) shape, got {tuple(x1.shape)} and {tuple(x2.shape)}")
    y = _labels("cosine_embedding_loss", target, x1.shape[:-1])
    eps = 1e-12
    cos = (x1 * x2).sum(-1) / (((x1 * x1).sum(-1) + eps) * ((x2 * x2).sum(-1) + eps)).sqrt()
    loss = where(y == 1, 1.0 - cos, 0.0) + where(y == -1, (cos - margin).clamp(min=0.0), 0.0)
    return reduce_loss("cosine_embedding_loss", loss, reduction)


def triplet_margin_loss(anchor, positive, negative, margin: float = 1.0, p: float = 2.0,
                        eps: float = 1e-6, swap: bool = False, reduction: str = "mean"):
    a, pos = float_pair("triplet_margin_loss", anchor, positive)
    neg = float_pair("triplet_margin_loss", anchor, negative)[1]
    if not (tuple(a.shape) == tuple(pos.shape) == tuple(neg.shape)) or a.ndim not in (1, 2):
        raise ValueError(f"triplet_margin_loss: anchor, positive and negative must share one "
                         f"1-d or 2-d shape, got {tuple(a.shape)}, {tuple(pos.shape)}, "
                         f"{tuple(neg.shape)}")
    d_pos = pairwise_distance(a, pos, p, eps)
    d_neg = pairwise_distance(a, neg, p, eps)
    if swap:
        d_neg = d_neg.minimum(pairwise_distance(pos, neg, p, eps))
    return reduce_loss("triplet_margin_loss", (d_pos - d_neg + margin).clamp(min=0.0), reduction)
