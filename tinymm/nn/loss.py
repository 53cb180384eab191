"""PyTorch's loss modules: ``nn.CrossEntropyLoss``, ``NLLLoss``, ``MSELoss``, ``L1Loss``,
``BCELoss``, ``BCEWithLogitsLoss``, ``SmoothL1Loss``, ``HuberLoss`` (formulas in
``tinymm/ops/loss.py``), ``KLDivLoss``, ``MarginRankingLoss``, ``CosineEmbeddingLoss``,
``TripletMarginLoss`` (``tinymm/ops/composite_loss.py``), ``CTCLoss`` (``tinymm/ops/ctc.py``).
Each stores its options and calls the function of the same name; ``loss(input, target)`` in
PyTorch's argument order. The deprecated ``size_average`` and
``reduce`` keywords are accepted and mapped to ``reduction`` as PyTorch does
(``ops/loss.py: legacy_reduction``)."""

from __future__ import annotations

from tinymm.nn.module import Module
from tinymm.ops import loss as _L
from tinymm.ops.composite_loss import (
    cosine_embedding_loss,
    kl_div,
    margin_ranking_loss,
    triplet_margin_loss,
)
from tinymm.ops.ctc import ctc_loss


class _Loss(Module):
    _reductions = _L.REDUCTIONS

    def __init__(self, reduction: str = "mean", size_average=None, reduce=None):
        super().__init__()
        reduction = _L.legacy_reduction(size_average, reduce, reduction)
        if reduction not in self._reductions:
            raise ValueError(f"{type(self).__name__}: reduction must be one of "
                             f"{self._reductions}, got {reduction!r}")
        self.reduction = reduction

    def extra_repr(self) -> str:
        return "" if self.reduction == "mean" else f"reduction={self.reduction!r}"


class MSELoss(_Loss):
    def forward(self, input, target):  # noqa: A002
        return _L.mse_loss(input, target, reduction=self.reduction)


class L1Loss(_Loss):
    def forward(self, input, target):  # noqa: A002
        return _L.l1_loss(input, target, reduction=self.reduction)


class SmoothL1Loss(_Loss):
    def __init__(self, reduction: str = "mean", beta: float = 1.0, size_average=None,
                 reduce=None):
        super().__init__(reduction, size_average, reduce)
        self.beta = beta

    def forward(self, input, target):  # noqa: A002
        return _L.smooth_l1_loss(input, target, reduction=self.reduction, beta=self.beta)


class HuberLoss(_Loss):
    def __init__(self, reduction: str = "mean", delta: float = 1.0):
        super().__init__(reduction)
        self.delta = delta

    def forward(self, input, target):  # noqa: A002
        return _L.huber_loss(input, target, reduction=self.reduction, delta=self.delta)


class BCELoss(_Loss):
    def __init__(self, weight=None, reduction: str = "mean", size_average=None, reduce=None):
        super().__init__(reduction, size_average, reduce)
        self.weight = weight

    def forward(self, input, target):  # noqa: A002
        return _L.binary_cross_entropy(input, target, weight=self.weight,
                                       reduction=self.reduction)


class BCEWithLogitsLoss(_Loss):
    def __init__(self, weight=None, reduction: str = "mean", pos_weight=None,
                 size_average=None, reduce=None):
        super().__init__(reduction, size_average, reduce)
        self.weight, self.pos_weight = weight, pos_weight

    def forward(self, input, target):  # noqa: A002
        return _L.binary_cross_entropy_with_logits(input, target, weight=self.weight,
                                                   reduction=self.reduction,
                                                   pos_weight=self.pos_weight)


class NLLLoss(_Loss):
    def __init__(self, weight=None, ignore_index: int = -100, reduction: str = "mean",
                 size_average=None, reduce=None):
        super().__init__(reduction, size_average, reduce)
        self.weight, self.ignore_index = weight, ignore_index

    def forward(self, input, target):  # noqa: A002
        return _L.nll_loss(input, target, weight=self.weight, ignore_index=self.ignore_index,
                           reduction=self.reduction)


class CrossEntropyLoss(_Loss):
    """Softmax cross-entropy from logits (the fused op; with ``weight``, nll of log_softmax)."""

    def __init__(self, weight=None, ignore_index: int = -100, reduction: str = "mean",
                 label_smoothing: float = 0.0, size_average=None, reduce=None):
        super().__init__(reduction, size_average, reduce)
        self.weight, self.ignore_index = weight, ignore_index
        self.label_smoothing = label_smoothing

    def forward(self, input, target):  # noqa: A002
        return _L.cross_entropy(input, target, weight=self.weight,
                                ignore_index=self.ignore_index, reduction=self.reduction,
                                label_smoothing=self.label_smoothing)


class KLDivLoss(_Loss):
    """``KLDivLoss(reduction="mean", log_target=False)``: input log-probabilities; reduction
    may also be "batchmean" (the mathematically correct mean over the batch)."""

    _reductions = _L.REDUCTIONS + ("batchmean",)

    def __init__(self, reduction: str = "mean", log_target: bool = False, size_average=None,
                 reduce=None):
        super().__init__(reduction, size_average, reduce)
        self.log_target = log_target

    def forward(self, input, target):  # noqa: A002
        return kl_div(input, target, reduction=self.reduction, log_target=self.log_target)


class _MarginLoss(_Loss):
    def __init__(self, margin: float = 0.0, reduction: str = "mean", size_average=None,
                 reduce=None):
        super().__init__(reduction, size_average, reduce)
        self.margin = margin


class MarginRankingLoss(_MarginLoss):
    def forward(self, input1, input2, target):
        return margin_ranking_loss(input1, input2, target, self.margin, self.reduction)


class CosineEmbeddingLoss(_MarginLoss):
    def forward(self, input1, input2, target):
        return cosine_embedding_loss(input1, input2, target, self.margin, self.reduction)


class TripletMarginLoss(_Loss):
    def __init__(self, margin: float = 1.0, p: float = 2.0, eps: float = 1e-6,
                 swap: bool = False, reduction: str = "mean", size_average=None,
                 reduce=None):
        super().__init__(reduction, size_average, reduce)
        self.margin, self.p, self.eps, self.swap = margin, p, eps, swap

    def forward(self, anchor, positive, negative):
        return triplet_margin_loss(anchor, positive, negative, self.margin, self.p, self.eps,
                                   self.swap, self.reduction)


class CTCLoss(_Loss):
    """``CTCLoss(blank=0, reduction="mean", zero_infinity=False)``; called as
    ``loss(log_probs, targets, input_lengths, target_lengths)``."""

    def __init__(self, blank: int = 0, reduction: str = "mean", zero_infinity: bool = False):
        super().__init__(reduction)
        self.blank, self.zero_infinity = blank, zero_infinity

    def forward(self, log_probs, targets, input_lengths, target_lengths):
        return ctc_loss(log_probs, targets, input_lengths, target_lengths, blank=self.blank,
                        reduction=self.reduction, zero_infinity=self.zero_infinity)
