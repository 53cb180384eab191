"""``F.interpolate``: resize the spatial dims of (N, C, L) or (N, C, H, W), as PyTorch.

Each spatial dim d (input size n, output size m) is resized on its own, by index_select and
a weighted sum, so autograd derives the backward (a scatter-add of the weights):

    nearest                 src = min(floor(j * s), n - 1), out[j] = x[src]
    nearest-exact           src = min(floor((j + 0.5) s), n - 1) (pixel centres, PyTorch's)
    linear / bilinear       src = s (j + 0.5) - 0.5 clamped at 0 (align_corners=False) or
                            src = j (n - 1) / (m - 1) (align_corners=True);
                            i0 = floor(src), i1 = min(i0 + 1, n - 1), w = src - i0,
                            out[j] = (1 - w) x[i0] + w x[i1]
    bicubic                 src as linear but not clamped (align_corners=False), i0 = floor(src),
                            t = src - i0, out[j] = sum_k c_k(t) x[clamp(i0 - 1 + k, 0, n - 1)]
                            for k = 0..3, Keys' cubic convolution with A = -0.75:
                            c_0 = W(t + 1), c_1 = W(t), c_2 = W(1 - t), c_3 = W(2 - t),
                            W(d) = (A + 2)d^3 - (A + 3)d^2 + 1 (d <= 1), A d^3 - 5A d^2 + 8A d - 4A
                            (1 < d < 2)
    area                    adaptive average pooling: out[j] = mean(x[floor(j n / m) :
                            ceil((j + 1) n / m)]), as the matmul of dim d with that averaging
                            matrix

s is 1 / scale_factor when scale_factor is given (and recompute_scale_factor is not True),
else n / m: PyTorch's rule, so non-integer factors pick the same source pixels.
"""

from __future__ import annotations

import math

import numpy as np

from tinymm.ops._checks import check_float
from tinymm.tensor import Tensor, as_tensor, from_numpy

_MODES = {"nearest": (1, 2), "nearest-exact": (1, 2), "linear": (1,), "bilinear": (2,),
          "bicubic": (2,), "area": (1, 2)}
_CUBIC_A = -0.75


def _per_dim(op: str, value, k: int, what: str) -> tuple:
    values = tuple(value) if isinstance(value, (tuple, list)) else (value,) * k
    if len(values) != k:
        raise ValueError(f"{op}: {what} must have one entry per spatial dim ({k}), got {value!r}")
    return values


def _sizes(op, x, size, scale_factor, recompute_scale_factor):
    """Output sizes and the source step s of each spatial dim (module docstring)."""
    k = x.ndim - 2
    if (size is None) == (scale_factor is None):
        raise ValueError(f"{op}: give exactly one of size and scale_factor, got size={size!r}, "
                         f"scale_factor={scale_factor!r}")
    inputs = tuple(x.shape[2:])
    if size is not None:
        outs = tuple(int(s) for s in _per_dim(op, size, k, "size"))
        return outs, tuple(n / m for n, m in zip(inputs, outs))
    factors = tuple(float(f) for f in _per_dim(op, scale_factor, k, "scale_factor"))
    if any(f <= 0 for f in factors):
        raise ValueError(f"{op}: scale_factor must be positive, got {scale_factor!r}")
    outs = tuple(int(math.floor(n * f)) for n, f in zip(inputs, factors))
    if recompute_scale_factor:
        return outs, tuple(n / m for n, m in zip(inputs, outs))
    return outs, tuple(1.0 / f for f in factors)


def _linear_weights(n: int, m: int, step: float, align_corners: bool):
    """(i0, i1, w) for one dim: the two source indices and the weight of i1 (module doc)."""
    j = np.arange(m, dtype=np.float64)
    if align_corners:
        src = j * ((n - 1) / (m - 1) if m > 1 else 0.0)
    else:
        src = np.maximum(step * (j + 0.5) - 0.5, 0.0)
    i0 = np.minimum(np.floor(src).astype(np.int64), n - 1)
    i1 = np.minimum(i0 + 1, n - 1)
    return i0, i1, src - i0


def _cubic_taps(n: int, m: int, step: float, align_corners: bool):
    """(index (4, m), weight (4, m)) of bicubic's four taps along one dim (module doc)."""
    j = np.arange(m, dtype=np.float64)
    if align_corners:
        src = j * ((n - 1) / (m - 1) if m > 1 else 0.0)
    else:
        src = step * (j + 0.5) - 0.5
    i0 = np.floor(src)
    t = src - i0
    a = _CUBIC_A

    def near(d):  # |d| <= 1
        return ((a + 2) * d - (a + 3)) * d * d + 1

    def far(d):  # 1 < |d| < 2
        return ((a * d - 5 * a) * d + 8 * a) * d - 4 * a

    weight = np.stack([far(t + 1), near(t), near(1 - t), far(2 - t)])  # (4, m)
    index = np.clip(i0.astype(np.int64) + np.arange(-1, 3)[:, None], 0, n - 1)  # (4, m)
    return index, weight


def _area_matrix(n: int, m: int) -> np.ndarray:
    """(m, n): row j averages x[floor(j n / m) : ceil((j + 1) n / m)] (adaptive pooling)."""
    out = np.zeros((m, n))
    for j in range(m):
        start, end = (j * n) // m, -((-(j + 1) * n) // m)
        out[j, start:end] = 1.0 / (end - start)
    return out


def _weighted_taps(x: Tensor, dim: int, index: np.ndarray, weight: np.ndarray) -> Tensor:
    shape = [1] * x.ndim
    shape[dim] = index.shape[1]
    total = None
    for k in range(index.shape[0]):
        w = from_numpy(weight[k].astype(x.dtype).reshape(shape)).to(x.device)  # along dim
        term = x.index_select(dim, index[k]) * w
        total = term if total is None else total + term
    return total


def _resize_dim(x: Tensor, dim: int, m: int, step: float, mode: str, align_corners: bool):
    n = x.shape[dim]
    if mode == "bicubic":
        return _weighted_taps(x, dim, *_cubic_taps(n, m, step, align_corners))
    if mode == "area":
        averaging = from_numpy(_area_matrix(n, m).T.astype(x.dtype)).to(x.device)  # (n, m)
        return x.movedim(dim, -1).matmul(averaging).movedim(-1, dim)
    if mode in ("nearest", "nearest-exact"):
        centre = 0.5 if mode == "nearest-exact" else 0.0
        src = np.minimum(np.floor((np.arange(m) + centre) * step).astype(np.int64), n - 1)
        return x.index_select(dim, src)
    i0, i1, w = _linear_weights(n, m, step, align_corners)
    shape = [1] * x.ndim
    shape[dim] = m
    w = from_numpy(w.astype(x.dtype).reshape(shape)).to(x.device)  # broadcasts along dim
    return x.index_select(dim, i0) * (1.0 - w) + x.index_select(dim, i1) * w


def interpolate(input, size=None, scale_factor=None, mode: str = "nearest",  # noqa: A002
                align_corners=None, recompute_scale_factor=None, antialias: bool = False):
    """PyTorch's ``F.interpolate`` for modes nearest and nearest-exact (3-d, 4-d), linear
    (3-d), bilinear and bicubic (4-d), area (3-d, 4-d)."""
    x = as_tensor(input)
    check_float("interpolate", "input", x.array)
    if mode not in _MODES:
        raise ValueError(f"interpolate: mode must be one of {sorted(_MODES)}, got {mode!r}")
    if x.ndim - 2 not in _MODES[mode]:
        wanted = " or ".join(f"{k + 2}-d" for k in _MODES[mode])
        raise ValueError(f"interpolate: mode {mode!r} needs a {wanted} input (N, C, ...), got "
                         f"shape {tuple(x.shape)}")
    if mode in ("nearest", "nearest-exact", "area") and align_corners is not None:
        raise ValueError("interpolate: align_corners can only be set with the interpolating "
                         "modes linear, bilinear and bicubic")
    if antialias:
        raise ValueError("interpolate: antialias=True is not supported")
    outs, steps = _sizes("interpolate", x, size, scale_factor, recompute_scale_factor)
    if any(m <= 0 for m in outs):
        raise ValueError(f"interpolate: the output size must be positive, got {outs}")
    for k, (m, step) in enumerate(zip(outs, steps)):
        x = _resize_dim(x, 2 + k, m, step, mode, bool(align_corners))
    return x
