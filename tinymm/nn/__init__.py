"""Layers with PyTorch's names, constructor arguments, parameter names and initialisation."""

from tinymm.nn import init
from tinymm.nn.activation import (
    CELU,
    ELU,
    GELU,
    GLU,
    SELU,
    Hardshrink,
    Hardsigmoid,
    Hardswish,
    Hardtanh,
    Identity,
    LeakyReLU,
    LogSigmoid,
    LogSoftmax,
    Mish,
    PReLU,
    ReLU,
    ReLU6,
    Sigmoid,
    SiLU,
    Softmax,
    Softmin,
    Softplus,
    Softshrink,
    Softsign,
    Tanh,
    Tanhshrink,
    Threshold,
)
from tinymm.nn.attention import MultiheadAttention
from tinymm.nn.batch_norm import BatchNorm1d, BatchNorm2d
from tinymm.nn.bilinear import Bilinear
from tinymm.nn.cells import GRUCell, LSTMCell, RNNCell, RNNCellBase
from tinymm.nn.container import (
    ModuleDict,
    ModuleList,
    ParameterDict,
    ParameterList,
    Sequential,
)
from tinymm.nn.conv1d import Conv1d
from tinymm.nn.conv2d import Conv2d
from tinymm.nn.conv_transpose import ConvTranspose2d
from tinymm.nn.dropout import Dropout, Dropout2d
from tinymm.nn.embedding import Embedding
from tinymm.nn.fusion import (
    BilinearFusion,
    Concatenate,
    CrossAttentionFusion,
    FiLM,
    GatedFusion,
    Multiply,
)
from tinymm.nn.group_norm import GroupNorm
from tinymm.nn.gru import GRU
from tinymm.nn.layer_norm import LayerNorm
from tinymm.nn.linear import Linear
from tinymm.nn.loss import (
    BCELoss,
    BCEWithLogitsLoss,
    CosineEmbeddingLoss,
    CrossEntropyLoss,
    CTCLoss,
    HuberLoss,
    KLDivLoss,
    L1Loss,
    MarginRankingLoss,
    MSELoss,
    NLLLoss,
    SmoothL1Loss,
    TripletMarginLoss,
)
from tinymm.nn.lstm import LSTM
from tinymm.nn.module import Module, Parameter
from tinymm.nn.padding import (
    CircularPad1d,
    CircularPad2d,
    ConstantPad1d,
    ConstantPad2d,
    ReflectionPad1d,
    ReflectionPad2d,
    ReplicationPad1d,
    ReplicationPad2d,
    ZeroPad1d,
    ZeroPad2d,
)
from tinymm.nn.pool1d import (
    AdaptiveAvgPool1d,
    AdaptiveMaxPool1d,
    AdaptiveMaxPool2d,
    AvgPool1d,
    MaxPool1d,
)
from tinymm.nn.pool2d import AdaptiveAvgPool2d, AvgPool2d, Flatten, MaxPool2d, MaxUnpool2d
from tinymm.nn.resize import (
    CosineSimilarity,
    PairwiseDistance,
    Unflatten,
    Upsample,
    UpsamplingBilinear2d,
    UpsamplingNearest2d,
)
from tinymm.nn.rnn import RNN, RNNBase
from tinymm.nn.transformer import (
    Transformer,
    TransformerDecoder,
    TransformerDecoderLayer,
    TransformerEncoder,
    TransformerEncoderLayer,
)
from tinymm.nn.vision import (
    EmbeddingBag,
    Fold,
    InstanceNorm2d,
    PixelShuffle,
    PixelUnshuffle,
    Unfold,
)

__all__ = [
    "Linear", "LogSoftmax", "Module", "ModuleList", "Parameter", "ReLU", "Sequential",
    "Sigmoid", "Softmax", "Tanh", "init",
    "Dropout", "ELU", "GELU", "Identity", "LeakyReLU", "SiLU", "Softplus",
    "BilinearFusion", "Concatenate", "CrossAttentionFusion", "FiLM", "GatedFusion",
    "MultiheadAttention", "Multiply",
    "AdaptiveAvgPool2d", "AvgPool2d", "Conv2d", "Flatten", "MaxPool2d", "MaxUnpool2d",
    "Embedding", "GRU", "LSTM", "RNN", "RNNBase",
    "BatchNorm1d", "BatchNorm2d", "LayerNorm",
    "GRUCell", "LSTMCell", "RNNCell", "RNNCellBase",
    "ModuleDict", "ParameterDict", "ParameterList",
    "GLU", "Hardtanh", "LogSigmoid", "Mish", "PReLU", "ReLU6",
    "Conv1d", "Dropout2d", "GroupNorm",
    "CosineSimilarity", "PairwiseDistance", "Unflatten", "Upsample", "UpsamplingBilinear2d",
    "UpsamplingNearest2d", "ZeroPad2d",
    "Transformer", "TransformerDecoder", "TransformerDecoderLayer", "TransformerEncoder",
    "TransformerEncoderLayer",
    "ConvTranspose2d", "EmbeddingBag", "Fold", "InstanceNorm2d", "PixelShuffle",
    "PixelUnshuffle", "Unfold",
]
__all__ += [
    "BCELoss", "BCEWithLogitsLoss", "CrossEntropyLoss", "HuberLoss", "L1Loss", "MSELoss",
    "NLLLoss", "SmoothL1Loss",
    "CosineEmbeddingLoss", "KLDivLoss", "MarginRankingLoss", "TripletMarginLoss", "CTCLoss",
]
__all__ += [
    "CircularPad1d", "CircularPad2d", "ConstantPad1d", "ConstantPad2d", "ReflectionPad1d",
    "ReflectionPad2d", "ReplicationPad1d", "ReplicationPad2d", "ZeroPad1d",
    "AdaptiveAvgPool1d", "AdaptiveMaxPool1d", "AdaptiveMaxPool2d", "AvgPool1d", "MaxPool1d",
    "CELU", "Hardshrink", "Hardsigmoid", "Hardswish", "SELU", "Softmin", "Softshrink",
    "Softsign", "Tanhshrink", "Threshold", "Bilinear",
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
