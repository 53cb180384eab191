"""The functional API, ``tinymm.F``: lowercase wrappers over the ops, PyTorch's names.

Each function lives beside its op in ``tinymm/ops/<stem>.py``; this module only gathers them,
so ``F.linear(x, w, b)`` reads like ``torch.nn.functional.linear(x, w, b)``.
"""

from tinymm.ops.activation import elu, gelu, leaky_relu, relu, sigmoid, silu, softplus, tanh
from tinymm.ops.attention import scaled_dot_product_attention
from tinymm.ops.batch_norm import batch_norm
from tinymm.ops.conv2d import conv2d, conv2d_relu
from tinymm.ops.cross_entropy import cross_entropy
from tinymm.ops.dropout import dropout  # its mask draws from tinymm.random
from tinymm.ops.embedding import embedding
from tinymm.ops.fusion import bilinear_pool, film, gated_fusion
from tinymm.ops.gru import gru
from tinymm.ops.layer_norm import layer_norm
from tinymm.ops.linear import linear
from tinymm.ops.lstm import lstm
from tinymm.ops.matmul import matmul
from tinymm.ops.pool2d import adaptive_avg_pool2d, avg_pool2d, flatten, max_pool2d
from tinymm.ops.rnn import rnn
from tinymm.ops.shape import cat, concat, split, stack
from tinymm.ops.softmax import log_softmax, softmax

__all__ = [
    "cat", "concat", "cross_entropy", "linear", "log_softmax", "matmul", "relu", "sigmoid",
    "softmax", "split", "stack", "tanh",
    # training-stack helper
    "dropout", "elu", "gelu", "leaky_relu", "silu", "softplus",
    # attention and fusion (issue 5)
    "bilinear_pool", "film", "gated_fusion", "scaled_dot_product_attention",
    # vision layers (issue 3)
    "adaptive_avg_pool2d", "avg_pool2d", "conv2d", "conv2d_relu", "flatten", "max_pool2d",
    # sequence layers (issue 4)
    "embedding", "gru", "lstm", "rnn",
    # normalization
    "batch_norm", "layer_norm",
]
