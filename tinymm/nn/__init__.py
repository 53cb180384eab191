"""Layers with PyTorch's names, constructor arguments, parameter names and initialisation."""

from tinymm.nn import init
from tinymm.nn.activation import (
    ELU,
    GELU,
    Identity,
    LeakyReLU,
    LogSoftmax,
    ReLU,
    Sigmoid,
    SiLU,
    Softmax,
    Softplus,
    Tanh,
)
from tinymm.nn.attention import MultiheadAttention
from tinymm.nn.container import ModuleList, Sequential
from tinymm.nn.dropout import Dropout
from tinymm.nn.fusion import (
    BilinearFusion,
    Concatenate,
    CrossAttentionFusion,
    FiLM,
    GatedFusion,
    Multiply,
)
from tinymm.nn.linear import Linear
from tinymm.nn.module import Module, Parameter

__all__ = [
    "Linear", "LogSoftmax", "Module", "ModuleList", "Parameter", "ReLU", "Sequential",
    "Sigmoid", "Softmax", "Tanh", "init",
    # training-stack helper
    "Dropout", "ELU", "GELU", "Identity", "LeakyReLU", "SiLU", "Softplus",
    # attention and fusion (issue 5)
    "BilinearFusion", "Concatenate", "CrossAttentionFusion", "FiLM", "GatedFusion",
    "MultiheadAttention", "Multiply",
]
