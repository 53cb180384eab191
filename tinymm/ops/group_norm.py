"""``F.group_norm``: normalise x (N, C, *) over each group of C / G channels (and every
spatial position), then scale and shift per channel, as PyTorch:

    xg  = x viewed as (N, G, C/G * prod(*))
    y   = (xg - mean(xg)) / sqrt(var(xg) + eps)     (biased variance, per (n, g))
    out = y viewed as x * weight[c] + bias[c]

Composed of Tensor ops (autograd derives the backward from the pieces).
"""

from __future__ import annotations

from tinymm.ops._checks import check_float
from tinymm.tensor import as_tensor


def group_norm(input, num_groups: int, weight=None, bias=None, eps: float = 1e-5):  # noqa: A002
    x = as_tensor(input)
    check_float("group_norm", "input", x.array)
    if x.ndim < 2:
        raise ValueError(f"group_norm: expected an input (N, C, *) of at least 2 dims, got "
                         f"shape {tuple(x.shape)}")
    N, C = x.shape[0], x.shape[1]
    if num_groups <= 0 or C % num_groups:
        raise ValueError(f"group_norm: num_channels ({C}) must be divisible by num_groups "
                         f"({num_groups})")
    groups = x.reshape(N, num_groups, -1)  # (N, G, C/G * prod(*))
    centred = groups - groups.mean(-1, keepdim=True)
    variance = (centred * centred).mean(-1, keepdim=True)
    y = (centred / (variance + eps).sqrt()).reshape(*x.shape)  # (N, C, *)
    per_channel = (C,) + (1,) * (x.ndim - 2)  # broadcasts along dim 1
    for name, param in (("weight", weight), ("bias", bias)):
        if param is not None and tuple(param.shape) != (C,):
            raise ValueError(f"group_norm: {name} must have shape ({C},), got "
                             f"{tuple(param.shape)}")
    if weight is not None:
        y = y * as_tensor(weight).reshape(*per_channel)
    if bias is not None:
        y = y + as_tensor(bias).reshape(*per_channel)
    return y
