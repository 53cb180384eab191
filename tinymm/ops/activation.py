"""ReLU, sigmoid and tanh ops (derivation: kernels/reference/activation.py)."""

from __future__ import annotations

from tinymm.autograd import Function
from tinymm.ops._checks import check_float


class ReLU(Function):
    @staticmethod
    def forward(ctx, x):
        check_float("relu", "input", x)
        out, ctx.cache = ctx.backend.relu_forward(x)
        return out

    @staticmethod
    def backward(ctx, grad):
        return ctx.backend.relu_backward(grad, ctx.cache)


class Sigmoid(Function):
    @staticmethod
    def forward(ctx, x):
        check_float("sigmoid", "input", x)
        out, ctx.cache = ctx.backend.sigmoid_forward(x)
        return out

    @staticmethod
    def backward(ctx, grad):
        return ctx.backend.sigmoid_backward(grad, ctx.cache)


class Tanh(Function):
    @staticmethod
    def forward(ctx, x):
        check_float("tanh", "input", x)
        out, ctx.cache = ctx.backend.tanh_forward(x)
        return out

    @staticmethod
    def backward(ctx, grad):
        return ctx.backend.tanh_backward(grad, ctx.cache)


def relu(x):
    return ReLU.apply(x)


def sigmoid(x):
    return Sigmoid.apply(x)


def tanh(x):
    return Tanh.apply(x)
