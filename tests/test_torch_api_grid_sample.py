"""F.affine_grid and F.grid_sample: values and gradients (input, grid, theta) against PyTorch
for every mode (bilinear, nearest, bicubic), padding mode and align_corners (behind
importorskip), float64 gradchecks, the identity transform, and bad input."""

from __future__ import annotations

import numpy as np
import pytest

import tinymm
from tinymm import F

RNG = np.random.default_rng(4)
X = RNG.standard_normal((2, 3, 5, 6))
# off round numbers, so no sampled point falls exactly on a pixel boundary, where bilinear's
# derivative jumps (a one-ulp difference in the grid would pick the other side)
THETA = np.array([[[0.9, 0.3, 0.1], [-0.2, 1.1, 0.05]], [[1.4, -0.5, 0.3], [0.4, 0.8, -0.6]]]) \
    + RNG.uniform(-0.01, 0.01, (2, 2, 3))
GRID = RNG.uniform(-1.3, 1.3, (2, 4, 3, 2))  # reaches outside the image on every side


def _both(fn):
    torch = pytest.importorskip("torch")
    return fn(tinymm, F), fn(torch, torch.nn.functional)


@pytest.mark.parametrize("align_corners", [False, True])
@pytest.mark.parametrize("padding_mode", ["zeros", "border", "reflection"])
@pytest.mark.parametrize("mode", ["bilinear", "nearest", "bicubic"])
def test_grid_sample_matches_torch(mode, padding_mode, align_corners):
    def run(lib, f):
        x = lib.tensor(X, requires_grad=True)
        grid = lib.tensor(GRID, requires_grad=True)
        out = f.grid_sample(x, grid, mode=mode, padding_mode=padding_mode,
                            align_corners=align_corners)
        (out * lib.tensor(np.arange(out.numel()).reshape(out.shape) % 7 - 3.0)).sum().backward()
        grid_grad = np.zeros_like(GRID) if grid.grad is None else grid.grad.numpy()
        return out.detach().numpy(), x.grad.numpy(), grid_grad

    ours, theirs = _both(run)
    for a, b, what in zip(ours, theirs, ("output", "input grad", "grid grad")):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12, err_msg=what)


@pytest.mark.parametrize("align_corners", [False, True])
def test_affine_grid_then_sample_matches_torch(align_corners):
    def run(lib, f):
        theta = lib.tensor(THETA, requires_grad=True)
        grid = f.affine_grid(theta, (2, 3, 4, 7), align_corners=align_corners)
        out = f.grid_sample(lib.tensor(X), grid, align_corners=align_corners)
        (out ** 2).sum().backward()
        return grid.detach().numpy(), out.detach().numpy(), theta.grad.numpy()

    ours, theirs = _both(run)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("padding_mode", ["zeros", "border", "reflection"])
def test_gradcheck(padding_mode):
    assert tinymm.gradcheck(lambda x, g: F.grid_sample(x, g, padding_mode=padding_mode),
                            [X[:1, :2].copy(), GRID[:1].copy()])
    for align_corners in (False, True):
        assert tinymm.gradcheck(lambda x, g, corners=align_corners: F.grid_sample(
            x, g, mode="bicubic", padding_mode=padding_mode, align_corners=corners),
            [X[:1, :1].copy(), GRID[:1, :2].copy()])  # 16 taps per point: kept small
    assert tinymm.gradcheck(lambda t: F.grid_sample(
        tinymm.tensor(X), F.affine_grid(t, (2, 3, 3, 4), align_corners=True),
        padding_mode=padding_mode, align_corners=True), [THETA.copy()])


def test_identity_theta_reproduces_the_input_and_float32_is_kept():
    identity = np.tile(np.array([[1.0, 0, 0], [0, 1.0, 0]], np.float32), (2, 1, 1))
    x = tinymm.tensor(X.astype(np.float32))
    grid = F.affine_grid(tinymm.tensor(identity), x.size(), align_corners=False)
    out = F.grid_sample(x, grid, align_corners=False)
    assert out.dtype == np.float32 and grid.shape == (2, 5, 6, 2)
    np.testing.assert_allclose(out.numpy(), X, atol=1e-6)


@pytest.mark.parametrize("call, error, match", [
    (lambda: F.affine_grid(tinymm.tensor(THETA), (2, 3, 4, 4, 4)), ValueError, "2-D"),
    (lambda: F.affine_grid(tinymm.tensor(THETA[:1]), (2, 3, 4, 4)), ValueError, "Nx2x3"),
    (lambda: F.grid_sample(tinymm.tensor(X), tinymm.tensor(GRID), mode="area"), ValueError,
     "mode must be one of"),
    (lambda: F.grid_sample(tinymm.tensor(X), tinymm.tensor(GRID), padding_mode="wrap"),
     ValueError, "padding_mode"),
    (lambda: F.grid_sample(tinymm.tensor(X), tinymm.tensor(GRID[..., :1])), ValueError,
     r"grid \(N, h, w, 2\)"),
    (lambda: F.grid_sample(tinymm.tensor(X), tinymm.tensor(GRID.astype(np.float32))),
     TypeError, "share one dtype"),
    (lambda: F.grid_sample(tinymm.tensor(X.astype(np.int64)), tinymm.tensor(GRID)), TypeError,
     "input must be float"),
])
def test_bad_input(call, error, match):
    with pytest.raises(error, match=match):
        call()
