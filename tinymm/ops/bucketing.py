"""PyTorch's ``histc``, ``searchsorted`` and ``bucketize`` (no gradient: their outputs are
counts and integer positions; torch does not differentiate them either).

    histc(x, bins, min, max)     equal-width bins over [min, max]; an element's bin is
                                 trunc((x - min) * bins / (max - min)) in x's dtype, the top
                                 edge belongs to the last bin, elements outside [min, max]
                                 (and NaN) are not counted. min == max takes the data's range,
                                 and a range of one value widens to [v - 1, v + 1].
    searchsorted(s, v)           for each value of v, the index into the innermost dim of the
                                 sorted s where it would be inserted: the first i with
                                 s[i] >= v (left) or s[i] > v (right; side='right').
    bucketize(v, b)              searchsorted(b, v) with a 1-d b.

Both are compositions of Tensor ops, so they run where their inputs live (a cuda input to
histc copies its (min, max) to the host when min == max: one counted copy, as torch's
``.item()``). searchsorted is torch's binary search itself (the test ``!(s[mid] >= v)``), run
for every value at once, so NaN in the values or at the end of a sorted row lands where
torch puts it.
"""

from __future__ import annotations

import math

import numpy as np

from tinymm.ops._checks import check_int_range
from tinymm.ops.shape import stack
from tinymm.tensor import Tensor, as_tensor, from_numpy, where


def _range_of(x: Tensor, low: float, high: float) -> tuple[float, float]:
    """torch.histc's outer edges: min == max takes the data's (min, max), and a range of one
    value widens by 1 on each side; the range must be finite and increasing."""
    if low == high and x.numel() > 0:
        flat = x.detach().reshape(-1)
        low, high = stack([flat.min(), flat.max()]).tolist()  # one copy from a cuda input
    if low == high:
        low, high = low - 1, high + 1
    if not (math.isfinite(low) and math.isfinite(high)):
        raise ValueError(f"histc: the range [{low}, {high}] is not finite (min == max takes "
                         f"the data's range: pass a finite min and max)")
    if low > high:
        raise ValueError(f"histc: max must be larger than min, got min={low} max={high}")
    return low, high


def histc(input, bins: int = 100, min: float = 0, max: float = 0) -> Tensor:  # noqa: A002
    """``torch.histc``: a float tensor of ``bins`` counts (the input's dtype and device)."""
    x = as_tensor(input)
    if x.dtype.kind != "f":
        raise TypeError(f"histc: expected a floating-point input, got {x.dtype} (convert it "
                        f"with .float())")
    if isinstance(bins, bool) or not isinstance(bins, (int, np.integer)) or bins < 1:
        raise ValueError(f"histc: bins must be a positive int, got {bins!r}")
    low, high = _range_of(x, float(min), float(max))
    flat = x.detach().reshape(-1)  # (n,)
    edge = from_numpy(np.asarray(low, x.dtype)).to(x.device)
    width = from_numpy(np.asarray(high, x.dtype)).to(x.device) - edge  # () in x's dtype
    inside = (flat >= low) & (flat <= high)  # (n,) bool: NaN is outside
    pos = ((flat - edge) * int(bins) / width).trunc()  # (n,) the bin, top edge -> bins
    pos = where(inside, pos.clamp(0, bins - 1), 0).to(np.int64)
    counts = flat.new_zeros((int(bins),))
    return counts.scatter_add(0, pos, inside.to(x.dtype))


def _side(op: str, right: bool, side) -> bool:
    """True for the right side (s[i] > v); ``side`` overrides ``right`` unless they clash."""
    if side is None:
        return bool(right)
    if side not in ("left", "right"):
        raise ValueError(f"{op}: side can only be 'left' or 'right', got {side!r}")
    if right and side == "left":
        raise ValueError(f"{op}: side and right can't be set to opposites, got side='left' "
                         f"while right=True")
    return side == "right"


def _check_shapes(op: str, seq: Tensor, values: Tensor, sorter) -> None:
    if seq.ndim == 0:
        raise ValueError(f"{op}: the sorted sequence must have at least 1 dim, got a scalar")
    if seq.ndim > 1 and tuple(seq.shape[:-1]) != tuple(values.shape[:-1]):
        raise ValueError(f"{op}: the sorted sequence must be 1-d or share all but its last dim "
                         f"with the values, got sequence {tuple(seq.shape)} and values "
                         f"{tuple(values.shape)}")
    if sorter is not None:
        if tuple(sorter.shape) != tuple(seq.shape):
            raise ValueError(f"{op}: sorter must have the sorted sequence's shape "
                             f"{tuple(seq.shape)}, got {tuple(sorter.shape)}")
        if sorter.dtype.kind not in "iu":
            raise TypeError(f"{op}: sorter must hold integer indices, got {sorter.dtype}")
        check_int_range(op, "sorter", sorter.array, 0, seq.shape[-1])


def _binary_search(seq: Tensor, values: Tensor, right: bool) -> Tensor:
    """torch's binary search, all values at once: (start, end) halve toward the first entry
    that is >= v (left) or > v (right); log2(M) + 1 rounds of gather and where kernels."""
    M = seq.shape[-1]
    rows = seq.reshape(-1, M)  # (R, M); R = 1 for a 1-d sequence
    vals = values.reshape(rows.shape[0], -1)  # (R, K)
    start = vals.new_zeros(tuple(vals.shape), dtype=np.int64)  # (R, K)
    end = start + M
    for _ in range(max(M, 1).bit_length()):
        mid = start + (end - start).div(2, rounding_mode="floor")  # (R, K); M when all done
        probe = rows.gather(1, mid.clamp(0, max(M - 1, 0)))  # (R, K)
        ahead = (probe > vals) if right else (probe >= vals)
        active = start < end
        go_right = active & ahead.logical_not()
        start = where(go_right, mid + 1, start)
        end = where(active & ahead, mid, end)
    return start.reshape(*values.shape)


def searchsorted(sorted_sequence, input, *, out_int32: bool = False, right: bool = False,  # noqa: A002
                 side=None, out=None, sorter=None) -> Tensor:
    """``torch.searchsorted``: int64 (int32 with ``out_int32``) insertion indices with
    ``input``'s shape (a number gives a 0-d tensor)."""
    if out is not None:
        raise TypeError("searchsorted: out= is not supported; use the returned tensor")
    seq = as_tensor(sorted_sequence)
    values = input if isinstance(input, Tensor) else as_tensor(input, device=seq.device)
    right = _side("searchsorted", right, side)
    sorter = None if sorter is None else as_tensor(sorter)
    _check_shapes("searchsorted", seq, values, sorter)
    if sorter is not None:
        seq = seq.gather(-1, sorter.to(np.int64))
    kind = np.result_type(seq.dtype, values.dtype)
    seq, values = seq.detach().to(kind), values.detach().to(kind)
    if seq.shape[-1] == 0:
        return values.new_zeros(tuple(values.shape), dtype=np.int32 if out_int32 else np.int64)
    return _binary_search(seq, values, right).to(np.int32 if out_int32 else np.int64)


def bucketize(input, boundaries, *, out_int32: bool = False, right: bool = False,  # noqa: A002
              out=None) -> Tensor:
    """``torch.bucketize``: the bucket of each input value given 1-d ``boundaries``
    (``right=False``: boundaries[i - 1] < x <= boundaries[i])."""
    b = as_tensor(boundaries)
    if b.ndim != 1:
        raise ValueError(f"bucketize: boundaries must be 1-d, got shape {tuple(b.shape)}")
    if out is not None:
        raise TypeError("bucketize: out= is not supported; use the returned tensor")
    return searchsorted(b, input, out_int32=out_int32, right=right)
