"""``F.max_pool1d``, ``avg_pool1d``, ``adaptive_avg_pool1d``, ``adaptive_max_pool1d`` and
``adaptive_max_pool2d``, as PyTorch.

The 1-d pools run the 2-d ops (kernels/reference/pool2d.py) on the height-1 image
x (N, C, 1, L) with window (1, k), stride (1, s) and padding (0, p); unbatched (C, L) input
gets a batch axis of 1 and loses it again. Adaptive max pooling takes, along each pooled dim
of size n, output j = max over x[floor(j n / m) : ceil((j + 1) n / m)]; the max of a
rectangle is the max over one dim of the max over the other, so the dims are pooled one after
the other (W, then H), by ``max`` over each slice, whose gradient goes to the first maximum:
the first in row-major order, PyTorch's choice (autograd derives the backward from the pieces).
"""

from __future__ import annotations

from tinymm.ops._checks import check_float
from tinymm.ops.conv1d import single
from tinymm.ops.pool2d import adaptive_avg_pool2d, avg_pool2d, max_pool2d
from tinymm.ops.shape import cat
from tinymm.tensor import Tensor, as_tensor


def _as_image(op: str, x) -> tuple[Tensor, bool]:
    """(N, C, L) or (C, L) -> (N, C, 1, L) and whether the input was unbatched."""
    x = as_tensor(x)
    if x.ndim not in (2, 3):
        raise ValueError(f"{op}: input must be 2-d (C, L) or 3-d (N, C, L), got shape "
                         f"{tuple(x.shape)}")
    check_float(op, "input", x.array)
    unbatched = x.ndim == 2
    return (x.unsqueeze(0) if unbatched else x).unsqueeze(2), unbatched


def _as_sequence(y: Tensor, unbatched: bool) -> Tensor:
    y = y.squeeze(2)  # (N, C, OL)
    return y.squeeze(0) if unbatched else y


def _unsupported(op: str, **flags) -> None:
    on = [name for name, value in flags.items() if value]
    if on:
        raise ValueError(f"{op}: {', '.join(f'{n}=True' for n in on)} is not supported in "
                         "tinymm")


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1,  # noqa: A002
               ceil_mode: bool = False, return_indices: bool = False) -> Tensor:
    op = "max_pool1d"
    _unsupported(op, return_indices=return_indices)
    if single(op, "dilation", dilation, 1) != 1:
        raise ValueError(f"{op}: dilation={dilation} is not supported in tinymm (only 1)")
    image, unbatched = _as_image(op, input)
    k = single(op, "kernel_size", kernel_size, 1)
    s = k if stride is None else single(op, "stride", stride, 1)
    return _as_sequence(max_pool2d(image, (1, k), (1, s), (0, single(op, "padding", padding, 0)),
                                   ceil_mode=ceil_mode), unbatched)


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode: bool = False,  # noqa: A002
               count_include_pad: bool = True) -> Tensor:
    op = "avg_pool1d"
    image, unbatched = _as_image(op, input)
    k = single(op, "kernel_size", kernel_size, 1)
    s = k if stride is None else single(op, "stride", stride, 1)
    return _as_sequence(avg_pool2d(image, (1, k), (1, s), (0, single(op, "padding", padding, 0)),
                                   ceil_mode=ceil_mode, count_include_pad=count_include_pad),
                        unbatched)


def adaptive_avg_pool1d(input, output_size) -> Tensor:  # noqa: A002
    op = "adaptive_avg_pool1d"
    image, unbatched = _as_image(op, input)
    return _as_sequence(adaptive_avg_pool2d(image, (1, single(op, "output_size", output_size,
                                                              1))), unbatched)


def _adaptive_max_dim(x: Tensor, dim: int, m: int) -> Tensor:
    n = x.shape[dim]
    pieces = []
    for j in range(m):
        start, end = (j * n) // m, -((-(j + 1) * n) // m)
        # max with a dim: at ties the gradient goes to the first maximum, as PyTorch's
        pieces.append(x.narrow(dim, start, end - start).max(dim, keepdim=True)[0])
    return cat(pieces, dim=dim)


def adaptive_max_pool1d(input, output_size, return_indices: bool = False) -> Tensor:  # noqa: A002
    op = "adaptive_max_pool1d"
    _unsupported(op, return_indices=return_indices)
    image, unbatched = _as_image(op, input)
    m = single(op, "output_size", output_size, 1)
    return _as_sequence(_adaptive_max_dim(image, 3, m), unbatched)


def adaptive_max_pool2d(input, output_size, return_indices: bool = False) -> Tensor:  # noqa: A002
    """(N, C, H, W) or (C, H, W) -> (..., oh, ow); an entry of output_size may be None (keep
    that dim), as PyTorch."""
    op = "adaptive_max_pool2d"
    _unsupported(op, return_indices=return_indices)
    x = as_tensor(input)
    if x.ndim not in (3, 4):
        raise ValueError(f"{op}: input must be 3-d (C, H, W) or 4-d (N, C, H, W), got shape "
                         f"{tuple(x.shape)}")
    check_float(op, "input", x.array)
    sizes = tuple(output_size) if isinstance(output_size, (tuple, list)) else \
        (output_size, output_size)
    # W first, then H: the first maximum in row-major order gets the gradient, as PyTorch's
    for axis, m in reversed(list(zip((x.ndim - 2, x.ndim - 1), sizes))):
        if m is not None:
            x = _adaptive_max_dim(x, axis, single(op, "output_size", m, 1))
    return x
