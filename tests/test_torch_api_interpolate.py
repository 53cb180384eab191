"""F.interpolate's bicubic and area modes (ops/interpolate.py) and nn.Upsample(mode=
"bicubic"): values and gradients against PyTorch for sizes and scale factors, up and down,
with and without align_corners (behind importorskip), float64 gradchecks, bad options."""

from __future__ import annotations

import numpy as np
import pytest

import tinymm
from tinymm import F, nn

RNG = np.random.default_rng(7)
X4 = RNG.standard_normal((2, 3, 5, 7))

CASES = [
    ({"size": (8, 4), "mode": "bicubic"}, 4),
    ({"scale_factor": 2.3, "mode": "bicubic"}, 4),
    ({"size": (3, 9), "mode": "bicubic", "align_corners": True}, 4),
    ({"scale_factor": (0.5, 1.7), "mode": "bicubic"}, 4),
    ({"scale_factor": 1.5, "mode": "bicubic", "recompute_scale_factor": True}, 4),
    ({"size": (3, 4), "mode": "area"}, 4),
    ({"size": (8, 10), "mode": "area"}, 4),
    ({"scale_factor": 0.6, "mode": "area"}, 4),
    ({"size": 4, "mode": "area"}, 3),
    ({"size": 11, "mode": "area"}, 3),
]


@pytest.mark.parametrize("options, ndim", CASES, ids=[str(o) for o, _ in CASES])
def test_matches_torch(options, ndim):
    torch = pytest.importorskip("torch")
    x = X4 if ndim == 4 else X4[:, :, 0]
    a, b = tinymm.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out = F.interpolate(a, **options)
    ref = torch.nn.functional.interpolate(b, **options)
    np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), rtol=1e-10,
                               atol=1e-12)
    g = RNG.standard_normal(tuple(ref.shape))
    out.backward(tinymm.tensor(g))
    ref.backward(torch.tensor(g))
    np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_upsample_bicubic_matches_torch_and_gradcheck():
    torch = pytest.importorskip("torch")
    x = X4.astype(np.float32)
    out = nn.Upsample(scale_factor=2, mode="bicubic", align_corners=False)(tinymm.tensor(x))
    ref = torch.nn.Upsample(scale_factor=2, mode="bicubic", align_corners=False)(
        torch.tensor(x))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.numpy(), ref.numpy(), rtol=1e-5, atol=1e-6)
    for mode in ("bicubic", "area"):
        assert tinymm.gradcheck(lambda t, mode=mode: F.interpolate(t, size=(4, 6), mode=mode),
                                [X4[:1, :2]])


@pytest.mark.parametrize("call, match", [
    (lambda: F.interpolate(tinymm.tensor(X4[:, :, 0]), size=4, mode="bicubic"), "4-d"),
    (lambda: F.interpolate(tinymm.tensor(X4), size=(2, 2), mode="area", align_corners=True),
     "align_corners can only be set"),
    (lambda: F.interpolate(tinymm.tensor(X4), size=(2, 2), mode="lanczos"), "mode must be"),
])
def test_bad_options(call, match):
    with pytest.raises(ValueError, match=match):
        call()
