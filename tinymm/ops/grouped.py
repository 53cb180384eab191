"""Grouped convolutions (``groups > 1`` in conv1d, conv2d and conv_transpose2d), as PyTorch
defines them, composed from the ungrouped op.

With G groups the C input channels split into G consecutive blocks of C/G, and output
block g is the ungrouped convolution of input block g with weight block g:

    conv (conv1d, conv2d):    weight (O, C/G, k...), block g = weight[g O/G : (g+1) O/G]
    conv_transpose2d:         weight (C, O/G, kH, kW), block g = weight[g C/G : (g+1) C/G]
    out = cat([conv(x[:, block g], weight block g, bias[block g of O]) for g], dim=1)

Slicing and ``cat`` are Tensor ops, so the backward is autograd's: each block's gradients
come from the ungrouped op's backward and scatter back into their slices.
"""

from __future__ import annotations

from tinymm.ops.shape import cat
from tinymm.tensor import Tensor, as_tensor


def check_groups(op: str, groups, channels: int, outputs: int) -> int:
    """``groups`` as an int that divides both channel counts, or a ValueError naming op."""
    if isinstance(groups, bool) or not isinstance(groups, int) or groups < 1:
        raise ValueError(f"{op}: groups must be a positive int, got {groups!r}")
    if channels % groups or outputs % groups:
        raise ValueError(f"{op}: in_channels ({channels}) and out_channels ({outputs}) must "
                         f"both be divisible by groups ({groups})")
    return groups


def grouped(op: str, conv, x, weight, bias, groups: int, transposed: bool = False) -> Tensor:
    """``conv(x_g, w_g, b_g)`` over the G channel groups, concatenated along dim 1 (module
    docstring); x (N, C, ...) or unbatched (C, ...) for conv1d's (C, L)."""
    x, weight = as_tensor(x), as_tensor(weight)
    channel_dim = 1 if x.ndim == weight.ndim else 0  # unbatched conv1d input (C, L)
    channels = x.shape[channel_dim]
    per_input = channels // groups if channels % groups == 0 else None
    wanted = channels if transposed else per_input
    have = weight.shape[0] if transposed else weight.shape[1]
    if per_input is None or have != wanted:
        raise ValueError(f"{op}: with groups={groups}, input {tuple(x.shape)} needs a weight "
                         f"with {'dim 0' if transposed else 'dim 1'} = "
                         f"{wanted if per_input is not None else f'C/{groups}'} (C divisible "
                         f"by groups), got weight {tuple(weight.shape)}")
    outputs = weight.shape[1] * groups if transposed else weight.shape[0]
    check_groups(op, groups, channels, outputs)
    block = weight.shape[0] // groups  # weight rows per group (input or output channels)
    per_output = outputs // groups
    pieces = []
    for g in range(groups):
        xs = x[:, g * per_input:(g + 1) * per_input] if channel_dim else \
            x[g * per_input:(g + 1) * per_input]
        b = None if bias is None else as_tensor(bias)[g * per_output:(g + 1) * per_output]
        pieces.append(conv(xs, weight[g * block:(g + 1) * block], b))
    return cat(pieces, dim=channel_dim)
