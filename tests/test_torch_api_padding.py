"""The padding layers (nn/padding.py): values and input gradients against PyTorch's layers of
the same name for batched and unbatched input (behind importorskip), a float64 gradcheck, and
bad padding or input rank."""

from __future__ import annotations

import numpy as np
import pytest

import tinymm
from tinymm import nn

RNG = np.random.default_rng(5)

LAYERS = [
    ("ReflectionPad1d", (2,)), ("ReflectionPad1d", ((1, 3),)), ("ReplicationPad1d", (3,)),
    ("CircularPad1d", ((2, 1),)), ("ConstantPad1d", (2, 1.5)), ("ZeroPad1d", ((0, 2),)),
    ("ReflectionPad2d", (2,)), ("ReflectionPad2d", ((1, 3, 2, 0),)),
    ("ReplicationPad2d", ((2, 0, 1, 4),)), ("CircularPad2d", (1,)),
    ("ConstantPad2d", ((1, 2, 0, 1), -0.5)), ("ZeroPad2d", ((2, 1, 1, 0),)),
]


@pytest.mark.parametrize("batched", [True, False])
@pytest.mark.parametrize("name, args", LAYERS, ids=[f"{n}{a}" for n, a in LAYERS])
def test_matches_torch(name, args, batched):
    torch = pytest.importorskip("torch")
    dims = 1 if name.endswith("1d") else 2
    shape = ((2,) if batched else ()) + (3,) + (4, 5)[-dims:]
    x = RNG.standard_normal(shape)
    ours, theirs = getattr(nn, name)(*args), getattr(torch.nn, name)(*args)
    a, b = tinymm.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out, ref = ours(a), theirs(b)
    np.testing.assert_array_equal(out.detach().numpy(), ref.detach().numpy())
    g = RNG.standard_normal(tuple(ref.shape))
    out.backward(tinymm.tensor(g))
    ref.backward(torch.tensor(g))
    np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-12, atol=1e-15)
    assert repr(ours).startswith(name)


def test_gradcheck():
    layer = nn.ReflectionPad2d((1, 2, 2, 1))
    assert tinymm.gradcheck(layer, [RNG.standard_normal((1, 2, 3, 4))])


@pytest.mark.parametrize("make, x, match", [
    (lambda: nn.ReflectionPad2d((1, 2)), None, r"\(left, right, top, bottom\)"),
    (lambda: nn.ReplicationPad1d(1.5), None, r"int or \(left, right\)"),
    (lambda: nn.ReflectionPad2d(1), np.zeros((2, 3)), "expected a 3-d .* or 4-d"),
    (lambda: nn.ReflectionPad1d(3), np.zeros((1, 3)), "reflect.* at most 2"),
])
def test_bad_padding_and_input(make, x, match):
    with pytest.raises(ValueError, match=match):
        make()(tinymm.tensor(x))
