"""``F.instance_norm``, ``F.embedding_bag`` and ``F.gumbel_softmax``, as PyTorch's, composed
of existing ops (autograd derives each backward from the pieces).

instance_norm, x (N, C, *): each (n, c) slice is normalised over its own positions, which is
group_norm with one channel per group:

    y[n, c] = (x[n, c] - mean(x[n, c])) / sqrt(var(x[n, c]) + eps) * weight[c] + bias[c]

With running statistics and ``use_input_stats`` the batch's per-channel mean of the instance
means and of the unbiased instance variances update them (new = (1 - momentum) old +
momentum batch); with ``use_input_stats=False`` they normalise instead of the input's own.

embedding_bag: the rows ``weight[input]`` reduced per bag (sum, mean or max); bags are the
rows of a 2-d input, or the runs of a 1-d input that start at each ``offsets`` entry. An
empty bag gives zeros.

gumbel_softmax: ``softmax((logits + g) / tau)`` with g = -log(E), E ~ Exponential(1) drawn
from tinymm.random; ``hard=True`` returns the one-hot of its argmax in the forward pass and
the soft sample's gradient (``one_hot - soft.detach() + soft``).
"""

from __future__ import annotations

import numpy as np

from tinymm.ops._checks import check_float
from tinymm.ops.embedding import embedding
from tinymm.ops.group_norm import group_norm
from tinymm.ops.shape import stack
from tinymm.ops.softmax import softmax
from tinymm.random import rng_of
from tinymm.tensor import Tensor, as_tensor, from_numpy


def _update_running(x, running_mean, running_var, momentum):
    a = x.detach().numpy().reshape(x.shape[0], x.shape[1], -1)  # (N, C, positions)
    count = a.shape[2]
    mean = a.mean(axis=2).mean(axis=0)  # (C,)
    var = a.var(axis=2, ddof=1 if count > 1 else 0).mean(axis=0)  # (C,)
    for stat, value in ((running_mean, mean), (running_var, var)):
        arr = stat.array if hasattr(stat, "array") else stat
        arr[...] = (1 - momentum) * arr + momentum * value.astype(arr.dtype)


def instance_norm(input, running_mean=None, running_var=None, weight=None,  # noqa: A002
                  bias=None, use_input_stats: bool = True, momentum: float = 0.1,
                  eps: float = 1e-5):
    """PyTorch's ``F.instance_norm`` on x (N, C, *)."""
    x = as_tensor(input)
    check_float("instance_norm", "input", x.array)
    if x.ndim < 3:
        raise ValueError(f"instance_norm: expected an input (N, C, *) with at least one "
                         f"spatial dim, got shape {tuple(x.shape)}")
    C = x.shape[1]
    for name, stat in (("running_mean", running_mean), ("running_var", running_var)):
        if stat is not None and tuple(stat.shape) != (C,):
            raise ValueError(f"instance_norm: {name} must have shape ({C},), got "
                             f"{tuple(stat.shape)}")
    if use_input_stats:
        if running_mean is not None and running_var is not None:
            _update_running(x, running_mean, running_var, momentum)
        return group_norm(x, C, weight, bias, eps)
    if running_mean is None or running_var is None:
        raise ValueError("instance_norm: use_input_stats=False needs running_mean and "
                         "running_var")
    per_channel = (1, C) + (1,) * (x.ndim - 2)
    mean, var = as_tensor(running_mean).reshape(*per_channel), as_tensor(running_var)
    y = (x - mean) / (var.reshape(*per_channel) + eps).sqrt()
    if weight is not None:
        y = y * as_tensor(weight).reshape(*per_channel)
    return y if bias is None else y + as_tensor(bias).reshape(*per_channel)


def _bags(op, input, offsets, include_last_offset):
    """The index array and the (start, end) of each bag."""
    idx = as_tensor(input).array
    if idx.dtype.kind not in "iu":
        raise TypeError(f"{op}: input must hold integer indices, got dtype {idx.dtype}")
    if idx.ndim == 2:
        if offsets is not None:
            raise ValueError(f"{op}: offsets must be None for a 2-d input (each row is a bag)")
        L = idx.shape[1]
        return idx.reshape(-1), [(b * L, (b + 1) * L) for b in range(idx.shape[0])]
    if idx.ndim != 1 or offsets is None:
        raise ValueError(f"{op}: input must be 2-d (B, L), or 1-d with offsets, got shape "
                         f"{idx.shape} and offsets {'None' if offsets is None else 'given'}")
    starts = [int(o) for o in np.asarray(as_tensor(offsets).array).reshape(-1)]
    if any(b < a for a, b in zip(starts, starts[1:])) or (starts and starts[0] != 0) or \
            (starts and starts[-1] > idx.size):
        raise ValueError(f"{op}: offsets must start at 0, never decrease and stay within the "
                         f"input's {idx.size} indices, got {starts}")
    ends = starts[1:] + ([] if include_last_offset else [idx.size])
    return idx, list(zip(starts, ends))


def embedding_bag(input, weight, offsets=None, max_norm=None, norm_type: float = 2.0,  # noqa: A002
                  scale_grad_by_freq: bool = False, mode: str = "mean", sparse: bool = False,
                  per_sample_weights=None, include_last_offset: bool = False, padding_idx=None):
    """PyTorch's ``F.embedding_bag``: one (E,) row per bag, (B, E) in all."""
    op = "embedding_bag"
    if mode not in ("sum", "mean", "max"):
        raise ValueError(f"{op}: mode must be 'sum', 'mean' or 'max', got {mode!r}")
    if max_norm is not None or scale_grad_by_freq or sparse:
        raise ValueError(f"{op}: max_norm, scale_grad_by_freq and sparse are not implemented")
    if per_sample_weights is not None and mode != "sum":
        raise ValueError(f"{op}: per_sample_weights is only supported with mode='sum', got "
                         f"mode={mode!r}")
    if isinstance(input, Tensor) and input.is_cuda:  # the bags are host metadata, as lengths
        input = input.cpu()  # (one counted copy)
    idx, bags = _bags(op, input, offsets, include_last_offset)
    device = as_tensor(weight).device  # the ids and the bags' rows go where the weight is

    def where_weight(a: np.ndarray):
        return from_numpy(np.ascontiguousarray(a)).to(device)  # (a counted copy to a GPU)

    rows = embedding(where_weight(idx), weight, padding_idx)  # (M, E)
    if per_sample_weights is not None:
        rows = rows * as_tensor(per_sample_weights).reshape(-1, 1)
    keep = np.ones(idx.size, bool) if padding_idx is None else idx != padding_idx
    zeros = where_weight(np.zeros(weight.shape[1], dtype=weight.dtype))
    out = []
    for start, end in bags:
        members = [i for i in range(start, end) if keep[i]]
        if not members:
            out.append(zeros)
            continue
        picked = rows[where_weight(np.asarray(members, np.int64))]  # (m, E)
        out.append(picked.sum(0) if mode == "sum" else
                   picked.mean(0) if mode == "mean" else picked.amax(0))
    return stack(out)


def gumbel_softmax(logits, tau: float = 1.0, hard: bool = False, eps: float = 1e-10,
                   dim: int = -1, generator=None):
    """PyTorch's ``F.gumbel_softmax``: a sample from the Gumbel-softmax distribution."""
    x = as_tensor(logits)
    check_float("gumbel_softmax", "logits", x.array)
    if not tau > 0:
        raise ValueError(f"gumbel_softmax: tau must be positive, got {tau!r}")
    exponential = rng_of(generator).exponential(size=tuple(x.shape))
    gumbels = from_numpy((-np.log(exponential)).astype(x.dtype)).to(x.device)  # host draws
    soft = softmax((x + gumbels) / tau, dim=dim)
    if not hard:
        return soft
    axis = dim % x.ndim
    first_max = soft.detach().argmax(axis, keepdim=True)
    hard_sample = soft.new_zeros(tuple(x.shape)).scatter(axis, first_max, 1.0)  # one-hot
    return hard_sample - soft.detach() + soft
