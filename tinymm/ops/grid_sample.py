"""``F.affine_grid`` and ``F.grid_sample`` (spatial transformer networks), 2-D, as PyTorch.

Dimension letters: N batch, C channels, H/W input height/width, h/w output height/width.

    affine_grid(theta (N, 2, 3), size (N, C, h, w)) -> grid (N, h, w, 2):
        grid[n, i, j] = theta[n] @ (x_j, y_i, 1), with x_j = -1 + (2j + 1) / w
        (align_corners=False: pixel centres) or x_j = -1 + 2j / (w - 1) (True: corner pixels),
        and y_i the same over h.

    grid_sample(input (N, C, H, W), grid (N, h, w, 2)) -> (N, C, h, w): grid[..., 0] is x
    (along W), grid[..., 1] is y (along H), both in [-1, 1]. Each is unnormalised to a pixel
    coordinate, ix = ((gx + 1) W - 1) / 2 (align_corners=False) or (gx + 1) (W - 1) / 2 (True),
    then padding_mode "border" clamps it to [0, W - 1] and "reflection" mirrors it back into
    the image before clamping. "bilinear" weighs the four neighbours
    (floor(ix) + {0, 1}, floor(iy) + {0, 1}) by (1 - |ix - x|)(1 - |iy - y|); "nearest" takes
    the pixel at (round-half-even(ix), round-half-even(iy)). A neighbour outside the image
    contributes 0 (the "zeros" mode; under the other modes only the weight-0 neighbour of an
    edge pixel can be outside).

    "bicubic" leaves (ix, iy) unpadded and weighs the 4 x 4 taps floor(ix) + {-1, 0, 1, 2}
    (and the same in y) by Keys' cubic convolution with A = -0.75 of t = ix - floor(ix):
    c_0 = W(t + 1), c_1 = W(t), c_2 = W(1 - t), c_3 = W(2 - t), with
    W(d) = (A + 2) d^3 - (A + 3) d^2 + 1 (d <= 1) and A d^3 - 5A d^2 + 8A d - 4A (1 < d < 2);
    each tap's integer position takes the padding mode (clamped, or mirrored then clamped) and
    a tap outside the image reads 0, as PyTorch's bicubic grid_sample.

Both are compositions of Tensor ops (matmul; floor, clamp, gather and products), so autograd
derives the backward: for bilinear, input gradients scatter-add through the gathers and grid
gradients come from the weights' dependence on (ix, iy); the integer neighbour positions are
taken from a detached copy and carry none. "nearest" has no gradient with respect to the grid.
"""

from __future__ import annotations

import numpy as np

from tinymm.factories import linspace
from tinymm.ops._checks import check_float
from tinymm.tensor import Tensor, as_tensor, from_numpy, where

_MODES = ("bilinear", "nearest", "bicubic")
_CUBIC_A = -0.75
_PADDING = ("zeros", "border", "reflection")


def _base_coords(n: int, align_corners: bool, dtype) -> np.ndarray:
    """The normalised coordinates of n pixels along one dim (module docstring), computed in
    ``dtype`` the way PyTorch does (linspace(-1, 1, n), times (n - 1) / n for pixel centres),
    so a grid point on a pixel boundary (the identity transform puts every point on one, where
    bilinear's derivative jumps) falls on the same side as in PyTorch."""
    coords = linspace(-1.0, 1.0, n, dtype=dtype).array if n > 1 else np.zeros(1, dtype)
    if not align_corners:
        coords = coords * dtype.type(n - 1) / dtype.type(n)
    return coords


def affine_grid(theta, size, align_corners=None) -> Tensor:
    """``F.affine_grid`` for 2-D: theta (N, 2, 3), size (N, C, H, W) -> (N, H, W, 2)."""
    theta = as_tensor(theta)
    check_float("affine_grid", "theta", theta.array)
    size = tuple(int(s) for s in size)
    if len(size) != 4:
        raise ValueError(f"affine_grid: tinymm supports 2-D (4-element) sizes (N, C, H, W), "
                         f"got size {list(size)}")
    n, _, h, w = size
    if tuple(theta.shape) != (n, 2, 3):
        raise ValueError(f"affine_grid: expected a batch of 2D affine matrices of shape Nx2x3 "
                         f"for size {list(size)}, got theta of shape {tuple(theta.shape)}")
    if min(h, w) <= 0:
        raise ValueError(f"affine_grid: the output size must be positive, got {list(size)}")
    dtype = theta.dtype
    xs, ys = _base_coords(w, bool(align_corners), dtype), _base_coords(h, bool(align_corners),
                                                                       dtype)
    base = np.stack([np.tile(xs, h), np.repeat(ys, w), np.ones(h * w, dtype)], axis=1)
    base = from_numpy(base).to(theta.device)  # (h w, 3), one counted copy to a cuda theta
    grid = base.matmul(theta.transpose(1, 2))  # (h w, 3) @ (N, 3, 2) -> (N, h w, 2)
    return grid.reshape(n, h, w, 2)


def _unnormalize(coord: Tensor, size: int, align_corners: bool) -> Tensor:
    if align_corners:
        return (coord + 1) * ((size - 1) / 2)
    return ((coord + 1) * size - 1) / 2


def _reflect(x: Tensor, twice_low: int, twice_high: int) -> Tensor:
    """x mirrored into [twice_low / 2, twice_high / 2] (any number of reflections)."""
    if twice_low == twice_high:
        return x * 0
    low, span = twice_low / 2, (twice_high - twice_low) / 2
    x = (x - low).abs()
    extra = x.fmod(span)
    flips = (x.detach() / span).floor()
    return where(flips.fmod(2) == 0, extra + low, span - extra + low)


def _source_index(coord: Tensor, size: int, padding_mode: str, align_corners: bool) -> Tensor:
    return _padded(_unnormalize(coord, size, align_corners), size, padding_mode, align_corners)


def _padded(x: Tensor, size: int, padding_mode: str, align_corners: bool) -> Tensor:
    """A pixel coordinate under the padding mode: mirrored back into the image
    ("reflection"), then clamped to [0, size - 1] ("border" and "reflection")."""
    if padding_mode == "reflection":
        x = _reflect(x, 0, 2 * (size - 1)) if align_corners else _reflect(x, -1, 2 * size - 1)
    if padding_mode != "zeros":
        x = x.clamp(0, size - 1)
    return x


def _pick(flat: Tensor, ix: Tensor, iy: Tensor, hw: tuple[int, int]) -> Tensor:
    """flat (N, C, H W) at integer-valued positions (ix, iy) (N, h w): (N, C, h w), 0 where a
    position is outside the image."""
    height, width = hw
    inside = ((ix >= 0) * (ix <= width - 1) * (iy >= 0) * (iy <= height - 1)).to(flat.dtype)
    index = (iy.clamp(0, height - 1) * width + ix.clamp(0, width - 1)).long()  # (N, h w)
    n, c, _ = flat.shape
    picked = flat.gather(2, index.unsqueeze(1).expand(n, c, index.shape[1]))
    return picked * inside.unsqueeze(1)


def _check_grid_sample(x: Tensor, grid: Tensor, mode: str, padding_mode: str) -> None:
    check_float("grid_sample", "input", x.array)
    check_float("grid_sample", "grid", grid.array)
    if mode not in _MODES:
        raise ValueError(f"grid_sample: mode must be one of {list(_MODES)}, got {mode!r}")
    if padding_mode not in _PADDING:
        raise ValueError(f"grid_sample: padding_mode must be one of {list(_PADDING)}, got "
                         f"{padding_mode!r}")
    if x.ndim != 4 or grid.ndim != 4 or grid.shape[-1] != 2 or grid.shape[0] != x.shape[0]:
        raise ValueError(f"grid_sample: expected input (N, C, H, W) and grid (N, h, w, 2) with "
                         f"the same N (tinymm supports 2-D sampling), got input "
                         f"{tuple(x.shape)} and grid {tuple(grid.shape)}")
    if x.dtype != grid.dtype:
        raise TypeError(f"grid_sample: input and grid must share one dtype, got {x.dtype} and "
                        f"{grid.dtype}")


def grid_sample(input, grid, mode: str = "bilinear", padding_mode: str = "zeros",  # noqa: A002
                align_corners=None) -> Tensor:
    """``F.grid_sample`` for 4-d input: (N, C, H, W) sampled at grid (N, h, w, 2) ->
    (N, C, h, w) (module docstring)."""
    x, grid = as_tensor(input), as_tensor(grid)
    _check_grid_sample(x, grid, mode, padding_mode)
    n, c, height, width = x.shape
    h, w = grid.shape[1], grid.shape[2]
    coords = grid.reshape(n, h * w, 2)
    ix = _source_index(coords[:, :, 0], width, padding_mode, bool(align_corners))  # (N, h w)
    iy = _source_index(coords[:, :, 1], height, padding_mode, bool(align_corners))
    flat = x.reshape(n, c, height * width)
    if mode == "bicubic":
        out = _bicubic(flat, coords, (height, width), padding_mode, bool(align_corners))
        return out.reshape(n, c, h, w)
    if mode == "nearest":
        out = _pick(flat, ix.detach().round(), iy.detach().round(), (height, width))
        return out.reshape(n, c, h, w)
    x0, y0 = ix.detach().floor(), iy.detach().floor()
    wx1, wy1 = ix - x0, iy - y0  # the weights of the +1 neighbours, (N, h w)
    wx0, wy0 = 1 - wx1, 1 - wy1
    out = (_pick(flat, x0, y0, (height, width)) * (wx0 * wy0).unsqueeze(1)
           + _pick(flat, x0 + 1, y0, (height, width)) * (wx1 * wy0).unsqueeze(1)
           + _pick(flat, x0, y0 + 1, (height, width)) * (wx0 * wy1).unsqueeze(1)
           + _pick(flat, x0 + 1, y0 + 1, (height, width)) * (wx1 * wy1).unsqueeze(1))
    return out.reshape(n, c, h, w)


def _cubic_weights(t: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Keys' weights of the taps at offsets -1, 0, 1, 2 for t in [0, 1) (module docstring)."""
    a = _CUBIC_A

    def near(d):  # |d| <= 1
        return ((a + 2) * d - (a + 3)) * d * d + 1

    def far(d):  # 1 < |d| < 2
        return ((a * d - 5 * a) * d + 8 * a) * d - 4 * a

    return far(t + 1), near(t), near(1 - t), far(2 - t)


def _bicubic(flat: Tensor, coords: Tensor, hw: tuple[int, int], padding_mode: str,
             align_corners: bool) -> Tensor:
    """Bicubic sampling of flat (N, C, H W) at coords (N, h w, 2) -> (N, C, h w): the 4 x 4
    taps weighed by the cubic weights of each axis (module docstring)."""
    height, width = hw
    ix = _unnormalize(coords[:, :, 0], width, align_corners)  # (N, h w), not padded
    iy = _unnormalize(coords[:, :, 1], height, align_corners)
    x0, y0 = ix.detach().floor(), iy.detach().floor()
    wx, wy = _cubic_weights(ix - x0), _cubic_weights(iy - y0)
    out = None
    for i, weight_y in enumerate(wy):
        py = _padded(y0 + (i - 1), height, padding_mode, align_corners)
        row = None
        for j, weight_x in enumerate(wx):
            px = _padded(x0 + (j - 1), width, padding_mode, align_corners)
            tap = _pick(flat, px, py, hw) * weight_x.unsqueeze(1)  # (N, C, h w)
            row = tap if row is None else row + tap
        term = row * weight_y.unsqueeze(1)
        out = term if out is None else out + term
    return out
