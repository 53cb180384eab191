"""The 1-d and adaptive max pools (ops/pool1d.py) and the activations of
ops/extra_activation.py, as functions and as layers: values and input gradients against
PyTorch (behind importorskip), float64 gradchecks, and unsupported options."""

from __future__ import annotations

import numpy as np
import pytest

import tinymm
from tests.torch_twin import same_values_and_grads
from tinymm import F, nn

RNG = np.random.default_rng(8)
X3 = RNG.standard_normal((2, 3, 9))
X4 = RNG.standard_normal((2, 3, 7, 9))

# (function name, args after the input, input, layer name, layer args)
CASES = [
    ("max_pool1d", (3,), X3, "MaxPool1d", (3,)),
    ("max_pool1d", (3, 2, 1), X3, "MaxPool1d", (3, 2, 1)),
    ("max_pool1d", (2,), X3[0], "MaxPool1d", (2,)),
    ("avg_pool1d", (4, 2, 2), X3, "AvgPool1d", (4, 2, 2)),
    ("adaptive_avg_pool1d", (4,), X3, "AdaptiveAvgPool1d", (4,)),
    ("adaptive_max_pool1d", (4,), X3, "AdaptiveMaxPool1d", (4,)),
    ("adaptive_max_pool1d", (12,), X3[0], "AdaptiveMaxPool1d", (12,)),
    ("adaptive_max_pool2d", ((3, 4),), X4, "AdaptiveMaxPool2d", ((3, 4),)),
    ("adaptive_max_pool2d", ((None, 2),), X4[0], "AdaptiveMaxPool2d", ((None, 2),)),
    ("adaptive_max_pool2d", (1,), X4, "AdaptiveMaxPool2d", (1,)),
    ("hardsigmoid", (), X4 * 3, "Hardsigmoid", ()),
    ("hardswish", (), X4 * 3, "Hardswish", ()),
    ("selu", (), X4, "SELU", ()),
    ("celu", (0.7,), X4, "CELU", (0.7,)),
    ("softsign", (), X4, "Softsign", ()),
    ("softmin", (1,), X4, "Softmin", (1,)),
    ("tanhshrink", (), X4, "Tanhshrink", ()),
    ("threshold", (0.2, -1.5), X4, "Threshold", (0.2, -1.5)),
    ("hardshrink", (0.3,), X4, "Hardshrink", (0.3,)),
    ("softshrink", (0.3,), X4, "Softshrink", (0.3,)),
]


@pytest.mark.parametrize("fn, args, x, layer, layer_args", CASES,
                         ids=[f"{c[0]}{c[1]}-{c[2].ndim}d" for c in CASES])
def test_matches_torch(fn, args, x, layer, layer_args):
    torch = pytest.importorskip("torch")
    for ours, theirs in ((getattr(F, fn), getattr(torch.nn.functional, fn)),
                         (getattr(nn, layer)(*layer_args), getattr(torch.nn, layer)(*layer_args))):
        a, b = tinymm.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        out = ours(a, *args) if callable(ours) and not isinstance(ours, nn.Module) else ours(a)
        ref = theirs(b, *args) if not isinstance(theirs, torch.nn.Module) else theirs(b)
        np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), rtol=1e-12,
                                   atol=1e-14)
        g = RNG.standard_normal(tuple(ref.shape))
        out.backward(tinymm.tensor(g))
        ref.backward(torch.tensor(g))
        # PyTorch's hardsigmoid/hardswish backward multiplies by 1/6 rounded to float32 (its
        # kernel's 1.0f / 6.0f) and celu's by a float32-rounded 1/alpha, even in float64:
        # up to 6e-8 relative (tinymm's equal the exact derivative; the gradcheck holds them)
        rtol = 1e-7 if fn in ("hardsigmoid", "hardswish", "celu") else 1e-12
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=rtol, atol=1e-14)


@pytest.mark.parametrize("fn, args, x", [(c[0], c[1], c[2]) for c in CASES[::3]])
def test_gradcheck(fn, args, x):
    assert tinymm.gradcheck(lambda t: getattr(F, fn)(t, *args), [x[:1].copy()])


@pytest.mark.parametrize("call, match", [
    (lambda: F.max_pool1d(tinymm.tensor(X3), 2, return_indices=True), "return_indices=True"),
    (lambda: F.adaptive_max_pool2d(tinymm.tensor(X4), 2, return_indices=True),
     "return_indices=True"),
    (lambda: F.max_pool1d(tinymm.tensor(X4), 2), r"2-d \(C, L\) or 3-d"),
    (lambda: F.avg_pool1d(tinymm.tensor(X3), 0), "kernel_size must be an int >= 1"),
    (lambda: F.celu(tinymm.tensor(X3), 0.0), "alpha must not be 0"),
])
def test_bad_options(call, match):
    with pytest.raises(ValueError, match=match):
        call()


@pytest.mark.parametrize("shape, k, s, p", [((2, 3, 7, 6), 2, 2, 0), ((1, 2, 7, 7), 3, 2, 1),
                                            ((1, 2, 5, 8), 3, 3, 0), ((1, 1, 9, 5), (3, 2),
                                                                      (2, 2), (1, 0))])
def test_max_pool2d_ceil_mode_matches_torch(shape, k, s, p):
    x = RNG.standard_normal(shape)
    same_values_and_grads(lambda lib, t: lib.nn.MaxPool2d(k, s, p, ceil_mode=True)(t), [x],
                          RNG)
    same_values_and_grads(lambda lib, t: lib.nn.functional.max_pool2d(t, k, s, p, 1, True), [x],
                          RNG)
    assert tinymm.gradcheck(lambda t: F.max_pool2d(t, k, s, p, ceil_mode=True), [x[:1, :1]])


def test_avg_pool2d_options_match_torch():
    x = RNG.standard_normal((2, 3, 6, 6))
    same_values_and_grads(lambda lib, t: lib.nn.AvgPool2d(3, 2, 1, divisor_override=4)(t), [x],
                          RNG)
    same_values_and_grads(lambda lib, t: lib.nn.functional.avg_pool2d(
        t, 2, count_include_pad=False), [x], RNG)
    same_values_and_grads(lambda lib, t: lib.nn.AvgPool2d(2, ceil_mode=True)(t), [x[..., :5]],
                          RNG)
    # ceil_mode, dilation and return_indices: tests/test_torch_api_prod_pool.py


@pytest.mark.parametrize("size", [(6, 7), (None, 3), (2, None), 7])
def test_adaptive_avg_pool2d_larger_or_none_sizes_match_torch(size):
    x = RNG.standard_normal((2, 3, 4, 5))
    same_values_and_grads(lambda lib, t: lib.nn.AdaptiveAvgPool2d(size)(t), [x], RNG)
    same_values_and_grads(lambda lib, t: lib.nn.functional.adaptive_avg_pool2d(t, size), [x],
                          RNG)
