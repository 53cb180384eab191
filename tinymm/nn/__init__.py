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
from tinymm.nn.cells import GRUCell, LSTMCell, RNNCell, RNNCellBase
from tinymm.nn.container import (
    ModuleDict,
    ModuleList,
    ParameterDict,
    ParameterList,
    Sequential,
)
from tinymm.nn.conv2d import Conv2d
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
from tinymm.nn.gru import GRU
from tinymm.nn.layer_norm import LayerNorm
from tinymm.nn.linear import Linear
from tinymm.nn.loss import (
    BCELoss,
    BCEWithLogitsLoss,
    CrossEntropyLoss,
    HuberLoss,
    L1Loss,
    MSELoss,
    NLLLoss,
    SmoothL1Loss,
)
from tinymm.nn.lstm import LSTM
from tinymm.nn.module import Module, Parameter
from tinymm.nn.pool2d import AdaptiveAvgPool2d, AvgPool2d, Flatten, MaxPool2d
from tinymm.nn.rnn import RNN, RNNBase

__all__ = [
    "Linear", "LogSoftmax", "Module", "ModuleList", "Parameter", "ReLU", "Sequential",
    "Sigmoid", "Softmax", "Tanh", "init",
    "Dropout", "ELU", "GELU", "Identity", "LeakyReLU", "SiLU", "Softplus",
    "BilinearFusion", "Concatenate", "CrossAttentionFusion", "FiLM", "GatedFusion",
    "MultiheadAttention", "Multiply",
    "AdaptiveAvgPool2d", "AvgPool2d", "Conv2d", "Flatten", "MaxPool2d",
    "Embedding", "GRU", "LSTM", "RNN", "RNNBase",
    "BatchNorm1d", "BatchNorm2d", "LayerNorm",
    "GRUCell", "LSTMCell", "RNNCell", "RNNCellBase",
    "ModuleDict", "ParameterDict", "ParameterList",
]
__all__ += [
    "BCELoss", "BCEWithLogitsLoss", "CrossEntropyLoss", "HuberLoss", "L1Loss", "MSELoss",
    "NLLLoss", "SmoothL1Loss",
]


def __getattr__(name: str):
    # nn.functional and nn.utils import on first use (they import tinymm.functional, which
    # imports this package); a name PyTorch's nn has and tinymm lacks says what to use.
    import importlib
    import sys

    if name in ("functional", "utils"):
        return importlib.import_module(f"tinymm.nn.{name}")
    from tinymm.missing import NN, attribute_error

    raise attribute_error(sys.modules[__name__], name, NN)
