"""The functional API, ``tinymm.F``: lowercase wrappers over the ops, PyTorch's names.

Each function lives beside its op in ``tinymm/ops/<stem>.py``; this module only gathers them,
so ``F.linear(x, w, b)`` reads like ``torch.nn.functional.linear(x, w, b)``.
"""

from tinymm.ops.activation import elu, gelu, leaky_relu, relu, sigmoid, silu, softplus, tanh
from tinymm.ops.attention import scaled_dot_product_attention
from tinymm.ops.batch_norm import batch_norm
from tinymm.ops.bilinear import bilinear
from tinymm.ops.composite_loss import (
    cosine_embedding_loss,
    kl_div,
    margin_ranking_loss,
    triplet_margin_loss,
)
from tinymm.ops.conv1d import conv1d
from tinymm.ops.conv2d import conv2d, conv2d_relu, conv2d_relu_max_pool2d
from tinymm.ops.conv_transpose import conv_transpose2d
from tinymm.ops.ctc import ctc_loss
from tinymm.ops.distance import cdist, cosine_similarity, pairwise_distance
from tinymm.ops.dropout import dropout, dropout2d  # their masks draw from tinymm.random
from tinymm.ops.embedding import embedding
from tinymm.ops.extra_activation import (
    celu,
    hardshrink,
    hardsigmoid,
    hardswish,
    selu,
    softmin,
    softshrink,
    softsign,
    tanhshrink,
    threshold,
)
from tinymm.ops.fusion import bilinear_pool, film, gated_fusion
from tinymm.ops.grid_sample import affine_grid, grid_sample
from tinymm.ops.group_norm import group_norm
from tinymm.ops.gru import gru
from tinymm.ops.info_nce import info_nce
from tinymm.ops.instance_norm import embedding_bag, gumbel_softmax, instance_norm
from tinymm.ops.interpolate import interpolate
from tinymm.ops.layer_norm import layer_norm
from tinymm.ops.linear import linear
from tinymm.ops.loss import (
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    cross_entropy,
    huber_loss,
    l1_loss,
    mse_loss,
    nll_loss,
    smooth_l1_loss,
)
from tinymm.ops.lstm import lstm
from tinymm.ops.matmul import matmul
from tinymm.ops.pointwise import glu, hardtanh, logsigmoid, mish, prelu, relu6
from tinymm.ops.pool1d import (
    adaptive_avg_pool1d,
    adaptive_max_pool1d,
    adaptive_max_pool2d,
    avg_pool1d,
    max_pool1d,
)
from tinymm.ops.pool2d import (
    adaptive_avg_pool2d,
    avg_pool2d,
    flatten,
    max_pool2d,
    max_unpool2d,
)
from tinymm.ops.rnn import rnn
from tinymm.ops.shape import cat, concat, pad, split, stack
from tinymm.ops.softmax import log_softmax, softmax
from tinymm.ops.vision import fold, pixel_shuffle, pixel_unshuffle, unfold

__all__ = [
    "cat", "concat", "cross_entropy", "linear", "log_softmax", "matmul", "relu", "sigmoid",
    "softmax", "split", "stack", "tanh",
    "dropout", "elu", "gelu", "leaky_relu", "silu", "softplus",
    "bilinear_pool", "film", "gated_fusion", "scaled_dot_product_attention",
    "adaptive_avg_pool2d", "avg_pool2d", "conv2d", "conv2d_relu", "conv2d_relu_max_pool2d",
    "flatten", "max_pool2d",
    "embedding", "gru", "lstm", "rnn",
    # normalization
    "batch_norm", "layer_norm",
    # contrastive loss (issue 16)
    "info_nce",
    "ctc_loss",
]
__all__ += [
    # PyTorch's losses (ops/loss.py; cross_entropy also takes weight=)
    "binary_cross_entropy", "binary_cross_entropy_with_logits", "huber_loss", "l1_loss",
    "mse_loss", "nll_loss", "smooth_l1_loss",
    "normalize", "one_hot", "pad",
    # compositions of the ops above (ops/pointwise.py, distance.py, composite_loss.py, ...)
    "cdist", "conv1d", "cosine_embedding_loss", "cosine_similarity", "dropout2d", "glu",
    "group_norm", "hardtanh", "interpolate", "kl_div", "logsigmoid", "margin_ranking_loss",
    "mish", "pairwise_distance", "prelu", "relu6", "triplet_margin_loss",
    "conv_transpose2d", "embedding_bag", "fold", "gumbel_softmax", "instance_norm",
    "pixel_shuffle", "pixel_unshuffle", "unfold",
    "affine_grid", "grid_sample",
    "adaptive_avg_pool1d", "adaptive_max_pool1d", "adaptive_max_pool2d", "avg_pool1d",
    "max_pool1d",
    "celu", "hardshrink", "hardsigmoid", "hardswish", "selu", "softmin", "softshrink",
    "softsign", "tanhshrink", "threshold", "bilinear",
    "max_unpool2d",
]


def normalize(input, p: float = 2.0, dim: int = 1, eps: float = 1e-12):  # noqa: A002
    """``F.normalize``: x / max(||x||_p along dim, eps)."""
    from tinymm.tensor import as_tensor

    x = as_tensor(input)
    return x / x.norm(p, dim, keepdim=True).clamp(min=eps)


def one_hot(tensor, num_classes: int = -1):
    """``F.one_hot``: int64 (..., num_classes) with a 1 at each index (no gradient), by the
    ``one_hot`` kernel on the device the indices live on. On cuda the range check runs on the
    device (raised at the next copy to the host); num_classes=-1 needs the largest index on
    the host first: one counted 16-byte copy."""
    from tinymm.backend import current_backend, get_backend
    from tinymm.ops._checks import as_int64, check_int_range, int_bounds
    from tinymm.tensor import Tensor, as_tensor

    t = as_tensor(tensor)
    if t.dtype.kind not in "iu":
        raise ValueError(f"one_hot: expected non-negative integer class indices, got dtype "
                         f"{t.dtype}")
    idx = as_int64("one_hot", "tensor", t.array)
    if num_classes < 0:
        bounds = int_bounds(idx)
        if bounds is not None and bounds[0] < 0:
            raise ValueError(f"one_hot: expected non-negative class indices, got {bounds[0]}")
        num_classes = 0 if bounds is None else bounds[1] + 1
    check_int_range("one_hot", "class index", idx, 0, num_classes)
    backend = get_backend("cuda") if t.is_cuda else current_backend()
    return Tensor._make(backend.one_hot_forward(idx, int(num_classes))[0])
