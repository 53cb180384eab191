"""Linear op: ``y = x @ weight^T + bias`` (derivation: kernels/reference/linear.py)."""

from __future__ import annotations

from tinymm.ops._checks import check_float, check_ndim, check_same_dtype
from tinymm.ops._kernel import KernelFunction


class Linear(KernelFunction):
    kernel = "linear"

    @classmethod
    def forward(cls, ctx, x, weight, bias=None):
        check_ndim("linear", "weight", weight, 2, "(out_features, in_features)")
        if x.ndim == 0 or x.shape[-1] != weight.shape[1]:
            raise ValueError(f"linear: input's last dimension must be in_features = "
                             f"{weight.shape[1]} (weight {weight.shape}), got input {x.shape}")
        if bias is not None and bias.shape != (weight.shape[0],):
            raise ValueError(f"linear: bias must have shape ({weight.shape[0]},), got {bias.shape}")
        check_float("linear", "input", x)
        check_same_dtype("linear", input=x, weight=weight, bias=bias)
        return cls.run(ctx, x, weight, bias)  # (..., D_out)


def linear(x, weight, bias=None):
    """``x @ weight.T + bias``, PyTorch's ``F.linear`` (weight is (out_features, in_features))."""
    return Linear.apply(x, weight, bias)  # bias may be None: it then gets no gradient
