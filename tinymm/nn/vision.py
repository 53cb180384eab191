"""PyTorch's ``nn.PixelShuffle``, ``nn.PixelUnshuffle``, ``nn.Unfold``, ``nn.Fold``,
``nn.InstanceNorm2d`` and ``nn.EmbeddingBag``: layers over ops/vision.py and
ops/instance_norm.py (the derivations are there)."""

from __future__ import annotations

import numpy as np

from tinymm.nn import init
from tinymm.nn.module import Module, Parameter
from tinymm.ops.embedding import normalize_padding_idx
from tinymm.ops.instance_norm import embedding_bag, instance_norm
from tinymm.ops.vision import fold, pixel_shuffle, pixel_unshuffle, unfold


class PixelShuffle(Module):
    def __init__(self, upscale_factor: int):
        super().__init__()
        self.upscale_factor = upscale_factor

    def forward(self, input):  # noqa: A002 - PyTorch's argument names
        return pixel_shuffle(input, self.upscale_factor)

    def extra_repr(self) -> str:
        return f"upscale_factor={self.upscale_factor}"


class PixelUnshuffle(Module):
    def __init__(self, downscale_factor: int):
        super().__init__()
        self.downscale_factor = downscale_factor

    def forward(self, input):  # noqa: A002
        return pixel_unshuffle(input, self.downscale_factor)

    def extra_repr(self) -> str:
        return f"downscale_factor={self.downscale_factor}"


class Unfold(Module):
    def __init__(self, kernel_size, dilation=1, padding=0, stride=1):
        super().__init__()
        self.kernel_size, self.dilation = kernel_size, dilation
        self.padding, self.stride = padding, stride

    def forward(self, input):  # noqa: A002
        return unfold(input, self.kernel_size, self.dilation, self.padding, self.stride)


class Fold(Unfold):
    def __init__(self, output_size, kernel_size, dilation=1, padding=0, stride=1):
        super().__init__(kernel_size, dilation, padding, stride)
        self.output_size = output_size

    def forward(self, input):  # noqa: A002
        return fold(input, self.output_size, self.kernel_size, self.dilation, self.padding,
                    self.stride)


class InstanceNorm2d(Module):
    """PyTorch's ``nn.InstanceNorm2d``: input (N, C, H, W) or unbatched (C, H, W). Without
    ``track_running_stats`` (the default) training and evaluation both use the input's own
    statistics; with it, evaluation uses the running ones (``num_batches_tracked`` stays 0, as
    PyTorch's: its momentum is never cumulative)."""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1,
                 affine: bool = False, track_running_stats: bool = False, dtype=np.float32):
        super().__init__()
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        if affine:
            self.weight = Parameter(np.ones(num_features, dtype))
            self.bias = Parameter(np.zeros(num_features, dtype))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", np.zeros(num_features, dtype))
            self.register_buffer("running_var", np.ones(num_features, dtype))
            self.register_buffer("num_batches_tracked", np.array(0, np.int64))
        else:
            for name in ("running_mean", "running_var", "num_batches_tracked"):
                self.register_buffer(name, None)

    def forward(self, input):  # noqa: A002
        name = f"InstanceNorm2d({self.num_features})"
        if input.ndim not in (3, 4) or input.shape[-3] != self.num_features:
            raise ValueError(f"{name}: expected (N, {self.num_features}, H, W) or "
                             f"({self.num_features}, H, W), got shape {tuple(input.shape)}")
        x = input if input.ndim == 4 else input.unsqueeze(0)
        use_input_stats = self.training or not self.track_running_stats
        y = instance_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                          use_input_stats, self.momentum, self.eps)
        return y if input.ndim == 4 else y.squeeze(0)

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, track_running_stats={self.track_running_stats}")


class EmbeddingBag(Module):
    """PyTorch's ``nn.EmbeddingBag``: weight (num_embeddings, embedding_dim) ~ N(0, 1), the
    ``padding_idx`` row zero and left out of every bag."""

    def __init__(self, num_embeddings: int, embedding_dim: int, max_norm=None,
                 norm_type: float = 2.0, scale_grad_by_freq: bool = False, mode: str = "mean",
                 sparse: bool = False, _weight=None, include_last_offset: bool = False,
                 padding_idx=None, dtype=np.float32):
        super().__init__()
        name = f"EmbeddingBag({num_embeddings}, {embedding_dim})"
        if mode not in ("sum", "mean", "max"):
            raise ValueError(f"{name}: mode must be 'sum', 'mean' or 'max', got {mode!r}")
        self.num_embeddings, self.embedding_dim, self.mode = num_embeddings, embedding_dim, mode
        self.include_last_offset = include_last_offset
        self.padding_idx = normalize_padding_idx(name, padding_idx, num_embeddings)
        self.weight = Parameter(np.empty((num_embeddings, embedding_dim), dtype=dtype))
        init.normal_(self.weight)
        if self.padding_idx is not None:
            self.weight.array[self.padding_idx] = 0

    def forward(self, input, offsets=None, per_sample_weights=None):  # noqa: A002
        return embedding_bag(input, self.weight, offsets, mode=self.mode,
                             per_sample_weights=per_sample_weights,
                             include_last_offset=self.include_last_offset,
                             padding_idx=self.padding_idx)

    def extra_repr(self) -> str:
        return f"{self.num_embeddings}, {self.embedding_dim}, mode={self.mode!r}"
