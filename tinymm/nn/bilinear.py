"""``nn.Bilinear(in1_features, in2_features, out_features, bias=True)``: weight
(out, in1, in2) and bias (out,), both U(-1/sqrt(in1), 1/sqrt(in1)) as PyTorch; forward
``F.bilinear`` (ops/bilinear.py)."""

from __future__ import annotations

import math

import numpy as np

from tinymm.nn import init
from tinymm.nn.module import Module, Parameter
from tinymm.ops.bilinear import bilinear


class Bilinear(Module):
    def __init__(self, in1_features: int, in2_features: int, out_features: int,
                 bias: bool = True, dtype=np.float32):
        super().__init__()
        if min(in1_features, in2_features, out_features) < 1:
            raise ValueError(f"Bilinear: feature sizes must be positive, got {in1_features}, "
                             f"{in2_features}, {out_features}")
        self.in1_features, self.in2_features = in1_features, in2_features
        self.out_features = out_features
        bound = 1 / math.sqrt(in1_features)
        self.weight = Parameter(np.empty((out_features, in1_features, in2_features), dtype))
        init.uniform_(self.weight, -bound, bound)
        if bias:
            self.bias = Parameter(np.empty(out_features, dtype))
            init.uniform_(self.bias, -bound, bound)
        else:
            self.register_parameter("bias", None)

    def forward(self, input1, input2):
        return bilinear(input1, input2, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (f"in1_features={self.in1_features}, in2_features={self.in2_features}, "
                f"out_features={self.out_features}, bias={self.bias is not None}")
