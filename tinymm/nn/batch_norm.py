"""``BatchNorm1d`` and ``BatchNorm2d``: PyTorch's layers over the op in ops/batch_norm.py.

PyTorch's constructor arguments, parameter and buffer names (``weight``, ``bias``,
``running_mean``, ``running_var``, ``num_batches_tracked``), initial values (weight 1, bias 0,
running_mean 0, running_var 1) and modes, so ``load_state_dict(torch_bn.state_dict())``
reproduces torch's numbers:

* ``train()`` (the default): normalise with the batch's statistics and, with
  ``track_running_stats``, update the running ones in place (momentum rule, unbiased
  variance; ``momentum=None`` gives the cumulative average, factor 1 / num_batches_tracked);
* ``eval()``: normalise with the running statistics, or with the batch's when the layer
  keeps none (``track_running_stats=False``).

Derivation: kernels/reference/batch_norm.py. Dimension letters: N batch, C num_features,
L length, H/W height and width.
"""

from __future__ import annotations

import numpy as np

from tinymm.nn.module import Module, Parameter
from tinymm.ops.batch_norm import batch_norm
from tinymm.tensor import Tensor, from_data


class _BatchNorm(Module):
    expected_ndim: tuple[int, ...] = ()  # the input ranks the subclass accepts
    layout = ""  # the accepted layouts, for error messages

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True, dtype=np.float32):
        super().__init__()
        kind = type(self).__name__
        if isinstance(num_features, bool) or not isinstance(num_features, int) \
                or num_features <= 0:
            raise ValueError(f"{kind}: num_features must be a positive int (the channel count "
                             f"C), got {num_features!r}")
        if momentum is not None and not 0 <= momentum <= 1:
            raise ValueError(f"{kind}: momentum must be in [0, 1] or None (cumulative "
                             f"average), got {momentum!r}")
        if eps < 0:
            raise ValueError(f"{kind}: eps must be non-negative, got {eps!r}")
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        if affine:
            self.weight = Parameter(np.ones(num_features, dtype))  # (C,)
            self.bias = Parameter(np.zeros(num_features, dtype))  # (C,)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", np.zeros(num_features, dtype))  # (C,)
            self.register_buffer("running_var", np.ones(num_features, dtype))  # (C,)
            self.register_buffer("num_batches_tracked", np.array(0, np.int64))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    def reset_running_stats(self) -> None:
        if self.track_running_stats:
            self.running_mean.array[...] = 0
            self.running_var.array[...] = 1
            self.num_batches_tracked.array[...] = 0

    def reset_parameters(self) -> None:
        self.reset_running_stats()
        if self.affine:
            self.weight.array[...] = 1
            self.bias.array[...] = 0

    def _check_input(self, x: Tensor) -> None:
        kind = type(self).__name__
        if x.ndim not in self.expected_ndim:
            raise ValueError(f"{kind}: expected {self.layout} input, got shape {x.shape} "
                             f"({x.ndim}-d)")
        if x.shape[1] != self.num_features:
            raise ValueError(f"{kind}: input has {x.shape[1]} channels (shape {x.shape}, "
                             f"axis 1) but the layer has num_features={self.num_features}; "
                             "match the previous layer's output channels")

    def forward(self, x):
        x = x if isinstance(x, Tensor) else from_data(x)
        self._check_input(x)
        factor = 0.0 if self.momentum is None else self.momentum
        track = self.training and self.track_running_stats
        if track and self.momentum is None:  # cumulative moving average
            factor = 1.0 / float(int(self.num_batches_tracked.item()) + 1)
        # eval normalises with the running statistics when the layer keeps them
        use_batch_stats = self.training or self.running_mean is None
        keep = not self.training or self.track_running_stats
        out = batch_norm(x, self.running_mean if keep else None,
                         self.running_var if keep else None, self.weight, self.bias,
                         training=use_batch_stats, momentum=factor, eps=self.eps)
        if track:
            counter = self.num_batches_tracked
            if counter.is_cuda:  # an add kernel on the device: no copy
                counter.array = (counter.detach() + 1).array
            else:
                counter.array[...] += 1
        return out

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """PyTorch's ``nn.BatchNorm1d`` over (N, C) or (N, C, L) input: statistics per channel."""

    expected_ndim = (2, 3)
    layout = "2-d (N, C) or 3-d (N, C, L)"


class BatchNorm2d(_BatchNorm):
    """PyTorch's ``nn.BatchNorm2d`` over (N, C, H, W) input: statistics per channel."""

    expected_ndim = (4,)
    layout = "4-d (N, C, H, W)"
