"""``Linear``: y = x W^T + b (derivation: kernels/reference/linear.py)."""

from __future__ import annotations

import numpy as np

from tinymm.nn import init
from tinymm.nn.module import Module
from tinymm.ops.linear import linear


class Linear(Module):
    """PyTorch's ``nn.Linear``: ``weight`` (out_features, in_features), ``bias`` (out,)."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 dtype=np.float32):
        super().__init__()
        if in_features <= 0 or out_features <= 0:
            raise ValueError(f"Linear: in_features and out_features must be positive, got "
                             f"{in_features} and {out_features}")
        self.in_features = in_features
        self.out_features = out_features
        init.default_weight_and_bias(self, (out_features, in_features), out_features, bias,
                                     dtype)

    def forward(self, x):
        if x.shape[-1:] != (self.in_features,):
            raise ValueError(f"Linear({self.in_features}, {self.out_features}): expected an "
                             f"input whose last dimension is {self.in_features}, got shape "
                             f"{tuple(x.shape)}")
        return linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")
