"""Fusion ops: the element-wise cores of the fusion layers (derivation:
kernels/reference/fusion.py).

Dimension letters: B leading (batch) dimensions, D features, R rank, N batch, C channels,
H/W height/width.

* ``gated_fusion(g, ua, ub) = sigmoid(g) * tanh(ua) + (1 - sigmoid(g)) * tanh(ub)``
* ``bilinear_pool(pa, pb) = tanh(pa) * tanh(pb)``
* ``film(x, gamma, beta) = gamma[:, :, None, None] * x + beta[:, :, None, None]``
"""

from __future__ import annotations

from tinymm.ops._checks import check_float, check_same_dtype
from tinymm.ops._kernel import KernelFunction


def _check_same_shape(op: str, **arrays) -> None:
    for name, a in arrays.items():
        check_float(op, name, a)
    check_same_dtype(op, **arrays)
    shapes = {name: a.shape for name, a in arrays.items()}
    if len(set(shapes.values())) > 1:
        listed = ", ".join(f"{n} {s}" for n, s in shapes.items())
        raise ValueError(f"{op}: inputs must have the same shape, got {listed}; project them to "
                         "a common width first (e.g. nn.Linear)")


class GatedFusion(KernelFunction):
    kernel, finite_only = "gated_fusion", True

    @classmethod
    def forward(cls, ctx, g, ua, ub):
        _check_same_shape("gated_fusion", gate=g, a=ua, b=ub)
        return cls.run(ctx, g, ua, ub)  # (B, D)


class BilinearPool(KernelFunction):
    kernel, finite_only = "bilinear_pool", True

    @classmethod
    def forward(cls, ctx, pa, pb):
        _check_same_shape("bilinear_pool", a=pa, b=pb)
        return cls.run(ctx, pa, pb)  # (B, R)


class Film(KernelFunction):
    kernel, finite_only = "film", True

    @classmethod
    def forward(cls, ctx, x, gamma, beta):
        check_float("film", "input", x)
        check_same_dtype("film", input=x, gamma=gamma, beta=beta)
        if x.ndim != 4:
            raise ValueError(f"film: input must be a 4-d feature map (N, C, H, W), got shape "
                             f"{x.shape}")
        expected = x.shape[:2]  # (N, C)
        for name, p in (("gamma", gamma), ("beta", beta)):
            if p.shape != expected:
                raise ValueError(f"film: {name} must have shape (N, C) = {expected} for input "
                                 f"{x.shape}, got {p.shape}")
        return cls.run(ctx, x, gamma, beta)  # (N, C, H, W)


def gated_fusion(gate, a, b):
    """``sigmoid(gate) * tanh(a) + (1 - sigmoid(gate)) * tanh(b)``, one fused pass."""
    return GatedFusion.apply(gate, a, b)


def bilinear_pool(a, b):
    """``tanh(a) * tanh(b)``: the Hadamard core of low-rank bilinear pooling."""
    return BilinearPool.apply(a, b)


def film(x, gamma, beta):
    """Feature-wise linear modulation: ``gamma * x + beta`` per channel of x (N, C, H, W)."""
    return Film.apply(x, gamma, beta)
