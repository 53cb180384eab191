"""``LayerNorm``: PyTorch's layer over the op in ops/layer_norm.py.

PyTorch's constructor arguments (``normalized_shape``, ``eps``, ``elementwise_affine``,
``bias``), parameter names and initial values (weight 1, bias 0, both shaped
normalized_shape). Training and evaluation compute the same thing: the statistics are each
position's own, over the trailing normalized_shape axes. Derivation:
kernels/reference/layer_norm.py.
"""

from __future__ import annotations

import numpy as np

from tinymm.nn.module import Module, Parameter
from tinymm.ops.layer_norm import layer_norm, normalized_shape_tuple
from tinymm.tensor import Tensor, from_data


class LayerNorm(Module):
    """PyTorch's ``nn.LayerNorm``: ``forward(x)`` with x (..., *normalized_shape)."""

    def __init__(self, normalized_shape, eps: float = 1e-5, elementwise_affine: bool = True,
                 bias: bool = True, dtype=np.float32):
        super().__init__()
        self.normalized_shape = normalized_shape_tuple("LayerNorm", normalized_shape)
        if eps < 0:
            raise ValueError(f"LayerNorm: eps must be non-negative, got {eps!r}")
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        if elementwise_affine:
            self.weight = Parameter(np.ones(self.normalized_shape, dtype))
            if bias:
                self.bias = Parameter(np.zeros(self.normalized_shape, dtype))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def reset_parameters(self) -> None:
        if self.weight is not None:
            self.weight.array[...] = 1
        if self.bias is not None:
            self.bias.array[...] = 0

    def forward(self, x):
        x = x if isinstance(x, Tensor) else from_data(x)
        shape = self.normalized_shape
        if x.ndim < len(shape) or tuple(x.shape[x.ndim - len(shape):]) != shape:
            raise ValueError(f"LayerNorm(normalized_shape={shape}): expected an input of shape "
                             f"(*, {', '.join(map(str, shape))}), got {x.shape}; the trailing "
                             "axes must match normalized_shape")
        return layer_norm(x, shape, self.weight, self.bias, eps=self.eps)

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}")
