"""Grouped convolutions (ops/grouped.py) and Conv2d's padding_mode: nn.Conv1d / Conv2d /
ConvTranspose2d and F.conv1d / conv2d / conv_transpose2d with groups > 1 against PyTorch on
values and input / weight / bias gradients (behind importorskip), parameter shapes and
PyTorch's init bounds, float64 gradchecks, and bad groups."""

from __future__ import annotations

import math

import numpy as np
import pytest

import tinymm
from tinymm import F, nn

RNG = np.random.default_rng(6)

# (layer, constructor args and keywords, input shape)
LAYERS = [
    ("Conv2d", (4, 6, 3), {"groups": 2, "padding": 1}, (2, 4, 5, 6)),
    ("Conv2d", (4, 4, 3), {"groups": 4, "stride": 2, "bias": False}, (1, 4, 7, 6)),
    ("Conv2d", (4, 4, 3), {"groups": 4, "padding": "same", "padding_mode": "reflect"},
     (2, 4, 5, 6)),
    ("Conv2d", (2, 4, (2, 3)), {"padding": (1, 2), "padding_mode": "circular", "stride": 2},
     (2, 2, 5, 6)),
    ("Conv2d", (2, 3, 3), {"padding": 1, "dilation": 2, "padding_mode": "replicate"},
     (1, 2, 6, 5)),
    ("Conv1d", (6, 4, 3), {"groups": 2, "padding": 1}, (2, 6, 7)),
    ("Conv1d", (3, 3, 3), {"groups": 3, "padding": 1, "padding_mode": "replicate"}, (3, 7)),
    ("ConvTranspose2d", (4, 6, 3), {"groups": 2, "stride": 2, "output_padding": 1},
     (2, 4, 3, 4)),
    ("ConvTranspose2d", (3, 3, 2), {"groups": 3, "padding": 1, "dilation": 2}, (1, 3, 4, 4)),
]


@pytest.mark.parametrize("name, args, kwargs, shape", LAYERS,
                         ids=[f"{n}-{k}" for n, _, k, _ in LAYERS])
def test_layers_match_torch(name, args, kwargs, shape):
    torch = pytest.importorskip("torch")
    theirs = getattr(torch.nn, name)(*args, **kwargs, dtype=torch.float64)
    ours = getattr(nn, name)(*args, **kwargs, dtype=np.float64)
    assert {k: tuple(v.shape) for k, v in ours.state_dict().items()} == \
        {k: tuple(v.shape) for k, v in theirs.state_dict().items()}
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    x = RNG.standard_normal(shape)
    a, b = tinymm.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out, ref = ours(a), theirs(b)
    np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), rtol=1e-10,
                               atol=1e-12)
    g = RNG.standard_normal(tuple(ref.shape))
    out.backward(tinymm.tensor(g))
    ref.backward(torch.tensor(g))
    np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-10, atol=1e-12)
    for p, q in zip(ours.parameters(), theirs.parameters()):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name, args, kwargs, shape", LAYERS[:1] + LAYERS[5:6] + LAYERS[7:8])
def test_default_init_uses_pytorchs_grouped_fan_in(name, args, kwargs, shape):
    layer = getattr(nn, name)(*args, **kwargs)
    w = layer.weight.detach().numpy()
    fan_in = w.shape[1] * int(np.prod(w.shape[2:]))  # PyTorch: weight dim 1 times the kernel
    bound = 1 / math.sqrt(fan_in)
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.5 * bound
    assert np.abs(layer.bias.detach().numpy()).max() <= bound


def test_functionals_match_torch_and_gradcheck():
    torch = pytest.importorskip("torch")
    x, w, b = RNG.standard_normal((2, 4, 5, 5)), RNG.standard_normal((6, 2, 3, 3)), \
        RNG.standard_normal(6)
    wt = RNG.standard_normal((4, 3, 2, 2))
    cases = [
        (lambda lib, f, *t: f.conv2d(*t, stride=2, padding=1, groups=2), (x, w, b)),
        (lambda lib, f, *t: f.conv1d(*t, padding=2, dilation=2, groups=2),
         (x[:, :, 0], w[:, :, 0], b)),
        (lambda lib, f, *t: f.conv_transpose2d(*t, stride=2, groups=2), (x, wt, b[:6])),
    ]
    for fn, arrays in cases:
        ours = fn(tinymm, F, *map(tinymm.tensor, arrays))
        theirs = fn(torch, torch.nn.functional, *map(torch.tensor, arrays))
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-10, atol=1e-12)
        small = [a[:1] if i == 0 else a for i, a in enumerate(arrays)]
        assert tinymm.gradcheck(lambda *t, fn=fn: fn(tinymm, F, *t), small)


@pytest.mark.parametrize("call, match", [
    (lambda: nn.Conv2d(4, 6, 3, groups=4), r"divisible by groups \(4\)"),
    (lambda: nn.Conv1d(3, 6, 3, groups=0), "groups must be a positive int"),
    (lambda: nn.ConvTranspose2d(4, 6, 3, groups=3), r"divisible by groups \(3\)"),
    (lambda: nn.Conv2d(4, 6, 3, padding_mode="wrap"), "padding_mode must be one of"),
    (lambda: F.conv2d(tinymm.zeros(1, 4, 5, 5), tinymm.zeros(6, 4, 3, 3), groups=2),
     r"groups=2, input \(1, 4, 5, 5\) needs a weight with dim 1 = 2"),
    (lambda: F.conv_transpose2d(tinymm.zeros(1, 4, 5, 5), tinymm.zeros(2, 3, 3, 3), groups=2),
     "dim 0 = 4"),
])
def test_bad_groups_raise_value_error(call, match):
    with pytest.raises(ValueError, match=match):
        call()
