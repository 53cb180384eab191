"""Fusion ops: the element-wise cores of the fusion layers (derivation:
kernels/reference/fusion.py).

Dimension letters: B leading (batch) dimensions, D features, R rank, N batch, C channels,
H/W height/width.

* ``gated_fusion(g, ua, ub) = sigmoid(g) * tanh(ua) + (1 - sigmoid(g)) * tanh(ub)``
* ``bilinear_pool(pa, pb) = tanh(pa) * tanh(pb)``
* ``film(x, gamma, beta) = gamma[:, :, None, None] * x + beta[:, :, None, None]``
"""

from __future__ import annotations

from tinymm.autograd import Function
from tinymm.ops._checks import check_float, check_same_dtype, finite_kernel_forward


def _check_same_shape(op: str, **arrays) -> None:
    for name, a in arrays.items():
        check_float(op, name, a)
    check_same_dtype(op, **arrays)
    shapes = {name: a.shape for name, a in arrays.items()}
    if len(set(shapes.values())) > 1:
        listed = ", ".join(f"{n} {s}" for n, s in shapes.items())
        raise ValueError(f"{op}: inputs must have the same shape, got {listed}; project them to "
                         "a common width first (e.g. nn.Linear)")


class GatedFusion(Function):
    @staticmethod
    def forward(ctx, g, ua, ub):
        _check_same_shape("gated_fusion", gate=g, a=ua, b=ub)
        out, cache = finite_kernel_forward(ctx, "gated_fusion_forward", (g, ua, ub), g, ua, ub)
        ctx.save_for_backward(cache)
        return out

    @staticmethod
    def backward(ctx, grad):
        return ctx.backend.gated_fusion_backward(grad, *ctx.saved)


class BilinearPool(Function):
    @staticmethod
    def forward(ctx, pa, pb):
        _check_same_shape("bilinear_pool", a=pa, b=pb)
        out, cache = finite_kernel_forward(ctx, "bilinear_pool_forward", (pa, pb), pa, pb)
        ctx.save_for_backward(cache)
        return out

    @staticmethod
    def backward(ctx, grad):
        return ctx.backend.bilinear_pool_backward(grad, *ctx.saved)


class Film(Function):
    @staticmethod
    def forward(ctx, x, gamma, beta):
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
        out, cache = finite_kernel_forward(ctx, "film_forward", (x, gamma, beta), x, gamma, beta)
        ctx.save_for_backward(cache)
        return out

    @staticmethod
    def backward(ctx, grad):
        return ctx.backend.film_backward(grad, *ctx.saved)


def gated_fusion(gate, a, b):
    """``sigmoid(gate) * tanh(a) + (1 - sigmoid(gate)) * tanh(b)``, one fused pass."""
    return GatedFusion.apply(gate, a, b)


def bilinear_pool(a, b):
    """``tanh(a) * tanh(b)``: the Hadamard core of low-rank bilinear pooling."""
    return BilinearPool.apply(a, b)


def film(x, gamma, beta):
    """Feature-wise linear modulation: ``gamma * x + beta`` per channel of x (N, C, H, W)."""
    return Film.apply(x, gamma, beta)
