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
from tinymm.nn.batch_norm import BatchNorm1d, BatchNorm2d
from tinymm.nn.container import ModuleList, Sequential
from tinymm.nn.conv import Conv2d
from tinymm.nn.dropout import Dropout
from tinymm.nn.embedding import Embedding
from tinymm.nn.fusion import (
    BilinearFusion,
    Concatenate,
    CrossAttentionFusion,
    FiLM,
    GatedFusion,
    Multiply,
)
from tinymm.nn.layer_norm import LayerNorm
from tinymm.nn.linear import Linear
from tinymm.nn.module import Module, Parameter
from tinymm.nn.pooling import AdaptiveAvgPool2d, AvgPool2d, Flatten, MaxPool2d
from tinymm.nn.recurrent import LSTM, RNN

__all__ = [
    "Linear", "LogSoftmax", "Module", "ModuleList", "Parameter", "ReLU", "Sequential",
    "Sigmoid", "Softmax", "Tanh", "init",
    # training-stack helper
    "Dropout", "ELU", "GELU", "Identity", "LeakyReLU", "SiLU", "Softplus",
    # attention and fusion (issue 5)
    "BilinearFusion", "Concatenate", "CrossAttentionFusion", "FiLM", "GatedFusion",
    "MultiheadAttention", "Multiply",
    # vision layers (issue 3)
    "AdaptiveAvgPool2d", "AvgPool2d", "Conv2d", "Flatten", "MaxPool2d",
    # sequence layers (issue 4)
    "Embedding", "LSTM", "RNN",
    # normalization
    "BatchNorm1d", "BatchNorm2d", "LayerNorm",
]
