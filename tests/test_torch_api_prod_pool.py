"""torch.prod's gradient at exact zeros (the product of the other factors), held to torch and
to finite differences."""

from __future__ import annotations

import numpy as np
import pytest

import tinymm
from tests.torch_twin import same_values_and_grads


def _with_zeros(rng, shape, zeros):
    x = rng.standard_normal(shape)
    flat = x.reshape(-1)
    for position in zeros:
        flat[position] = 0.0
    return x


PROD = {
    "all": ((3, 4), (), lambda lib, x: x.prod()),
    "all-one-zero": ((3, 4), (5,), lambda lib, x: x.prod()),
    "all-two-zeros": ((3, 4), (1, 7), lambda lib, x: x.prod()),
    "dim0-zeros": ((4, 3), (0, 4, 5), lambda lib, x: x.prod(0)),
    "dim1-keepdim": ((3, 4), (2,), lambda lib, x: x.prod(1, keepdim=True)),
    "torch.prod-dim-1": ((2, 3, 4), (3, 9, 10), lambda lib, x: lib.prod(x, -1)),
    "scalar": ((), (), lambda lib, x: x.prod()),
}


@pytest.mark.parametrize("name", sorted(PROD))
def test_prod_matches_torch_at_zeros(name):
    shape, zeros, fn = PROD[name]
    rng = np.random.default_rng(0)
    same_values_and_grads(fn, [_with_zeros(rng, shape, zeros)], rng)


@pytest.mark.parametrize("name", sorted(PROD))
def test_prod_gradcheck(name):
    shape, zeros, fn = PROD[name]
    rng = np.random.default_rng(1)
    assert tinymm.gradcheck(lambda x: fn(tinymm, x), [_with_zeros(rng, shape, zeros)])


def test_prod_of_ints_and_bad_input():
    x = tinymm.tensor([[2, 0, 3], [1, 4, 5]])
    assert x.prod().dtype == tinymm.int64 and int(x.prod()) == 0
    np.testing.assert_array_equal(x.prod(1).numpy(), [0, 20])
    np.testing.assert_allclose(x.prod(1, dtype=tinymm.float64).numpy(), [0.0, 20.0])
    with pytest.raises(IndexError, match="prod"):
        tinymm.ones(2, 3).prod(2)


# ------------------------------------------------ pooling: dilation, indices, ceil_mode
def _max(**kw):
    return lambda lib, x: lib.nn.functional.max_pool2d(x, **kw)


def _avg(**kw):
    return lambda lib, x: lib.nn.functional.avg_pool2d(x, **kw)


def _unpool(lib, x):
    pooled, indices = lib.nn.functional.max_pool2d(x, 2, stride=2, return_indices=True)
    return lib.nn.MaxUnpool2d(2, stride=2)(pooled * 2, indices, output_size=x.shape)


POOL = {
    "max-dilation2": ((2, 2, 7, 8), _max(kernel_size=3, dilation=2)),
    "max-dilation-stride-pad": ((1, 2, 9, 7), _max(kernel_size=(3, 2), stride=(2, 1),
                                                   padding=1, dilation=(2, 3))),
    "max-dilation-ceil": ((1, 1, 8, 8), _max(kernel_size=2, stride=3, dilation=2,
                                             ceil_mode=True)),
    "max-indices-values": ((2, 3, 6, 5), lambda lib, x: lib.nn.functional.max_pool2d(
        x, 2, return_indices=True)[0]),
    "max-overlapping-indices": ((1, 2, 5, 5), lambda lib, x: lib.nn.functional.max_pool2d(
        x, 3, stride=1, padding=1, return_indices=True)[0]),
    "unpool-roundtrip": ((2, 2, 5, 6), _unpool),
    "unpool-layer-default-size": ((1, 2, 4, 4), lambda lib, x: lib.nn.MaxUnpool2d(2)(
        *lib.nn.MaxPool2d(2, return_indices=True)(x))),
    "avg-ceil": ((2, 2, 5, 7), _avg(kernel_size=2, ceil_mode=True)),
    "avg-ceil-stride-pad": ((1, 2, 7, 6), _avg(kernel_size=3, stride=2, padding=1,
                                               ceil_mode=True)),
    "avg-ceil-exclude-pad": ((1, 1, 6, 7), _avg(kernel_size=3, stride=2, padding=1,
                                                ceil_mode=True, count_include_pad=False)),
    "avg-exclude-pad": ((2, 1, 5, 5), _avg(kernel_size=3, stride=1, padding=1,
                                           count_include_pad=False)),
    "avg-ceil-divisor": ((1, 1, 5, 5), _avg(kernel_size=2, ceil_mode=True, divisor_override=3)),
    "avg-layer-ceil": ((1, 2, 5, 5), lambda lib, x: lib.nn.AvgPool2d(3, 2, ceil_mode=True)(x)),
}


@pytest.mark.parametrize("name", sorted(POOL))
def test_pooling_options_match_torch(name):
    shape, fn = POOL[name]
    rng = np.random.default_rng(2)
    same_values_and_grads(fn, [rng.standard_normal(shape)], rng)


@pytest.mark.parametrize("name", sorted(POOL))
def test_pooling_options_gradcheck(name):
    shape, fn = POOL[name]
    rng = np.random.default_rng(3)
    assert tinymm.gradcheck(lambda x: fn(tinymm, x), [rng.standard_normal(shape)])


def test_max_pool_indices_match_torch_with_ties_and_dilation():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(4)
    for x in (rng.integers(0, 3, (2, 2, 6, 7)).astype(np.float64),  # many ties
              rng.standard_normal((1, 3, 9, 8))):
        for kw in ({"kernel_size": 2}, {"kernel_size": 3, "stride": 2, "padding": 1},
                   {"kernel_size": 2, "dilation": 2, "ceil_mode": True}):
            ours = tinymm.nn.functional.max_pool2d(tinymm.tensor(x), return_indices=True, **kw)
            theirs = torch.nn.functional.max_pool2d(torch.tensor(x), return_indices=True, **kw)
            np.testing.assert_array_equal(ours[0].numpy(), theirs[0].numpy())
            np.testing.assert_array_equal(ours[1].numpy(), theirs[1].numpy())
            assert ours[1].dtype == tinymm.int64


def test_pooling_bad_input_names_the_op():
    x = tinymm.randn(1, 1, 4, 4)
    with pytest.raises(ValueError, match="max_pool2d.*dilation"):
        tinymm.nn.functional.max_pool2d(x, 2, dilation=0)
    with pytest.raises(ValueError, match="max_pool2d: the dilated window"):
        tinymm.nn.functional.max_pool2d(x, 3, dilation=2)
    out, indices = tinymm.nn.functional.max_pool2d(x, 2, return_indices=True)
    with pytest.raises(ValueError, match="MaxUnpool2d.*indices must be an integer tensor"):
        tinymm.nn.MaxUnpool2d(2)(out, indices.float())
    with pytest.raises(ValueError, match="max_unpool2d: found an invalid max index"):
        tinymm.nn.functional.max_unpool2d(out, indices + 100, 2)
