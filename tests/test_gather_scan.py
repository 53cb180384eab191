"""The gather and scan kernels (kernels/reference/gather.py, scan.py) through their ops on the
cpu: float64 gradchecks over hypothesis-drawn shapes (repeated indices, lines with a zero),
the index and NaN rules against PyTorch, and bad input raising before any kernel. The cuda
kernels are held to these references in tests/test_cuda_kernels.py (parity cases in
tests/kernel_cases/gather.py and scan.py) and tests/test_cuda_indexing.py."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinymm

SHAPES = st.tuples(st.integers(1, 4), st.integers(1, 6))


def _x(shape, seed):
    return np.random.default_rng(seed).standard_normal(shape)


@settings(max_examples=8, deadline=None)
@given(SHAPES, st.integers(0, 1), st.integers(0, 99))
def test_scans_and_extremes_gradcheck(shape, dim, seed):
    x = _x(shape, seed)
    x[0, 0] = 0.0  # cumprod's product form on the line with a zero
    for fn in (lambda t: t.cumsum(dim), lambda t: t.cumprod(dim), lambda t: t.cummax(dim)[0],
               lambda t: t.cummin(dim).values, lambda t: t.max(dim)[0],
               lambda t: t.min(dim, keepdim=True).values):
        assert tinymm.gradcheck(fn, [x])


@settings(max_examples=8, deadline=None)
@given(SHAPES, st.integers(0, 99))
def test_gather_scatter_where_masked_gradcheck(shape, seed):
    rng = np.random.default_rng(seed)
    x, src = _x(shape, seed), _x((shape[0], 4), seed + 1)
    index = rng.integers(-shape[1], shape[1], (shape[0], 3))  # repeats and negatives
    targets = tinymm.tensor(np.abs(index) % shape[1])
    mask = tinymm.tensor(rng.random(shape) > 0.5)
    assert tinymm.gradcheck(lambda t: t.gather(1, tinymm.tensor(index)), [x])
    assert tinymm.gradcheck(lambda t, s: t.scatter_add(1, targets, s), [x, src])
    assert tinymm.gradcheck(lambda t, s: t.scatter(1, targets[:, :1], s), [x, src])
    assert tinymm.gradcheck(lambda t, s: tinymm.where(mask, t, s[:, :1]), [x, src])
    assert tinymm.gradcheck(lambda t: t.masked_select(mask) * 3, [x])


def test_index_and_nan_rules_match_torch():
    torch = pytest.importorskip("torch")
    a = np.array([[1.0, np.nan, 3.0, np.nan, 3.0], [2.0, 5.0, 5.0, -1.0, 5.0]])
    ours, theirs = tinymm.tensor(a), torch.tensor(a)
    for pick in (lambda t: t.max(1), lambda t: t.min(1), lambda t: t.cummax(1),
                 lambda t: t.cummin(1)):
        (ov, oi), (tv, ti) = pick(ours), pick(theirs)
        np.testing.assert_array_equal(oi.numpy(), ti.numpy())
        np.testing.assert_array_equal(ov.numpy(), tv.numpy())
    np.testing.assert_array_equal(ours.argmax(1).numpy(), theirs.argmax(1).numpy())
    np.testing.assert_array_equal(ours.isnan().nonzero().numpy(),
                                  theirs.isnan().nonzero().numpy())
    np.testing.assert_array_equal(tinymm.F.one_hot(tinymm.tensor([2, 0])).numpy(),
                                  torch.nn.functional.one_hot(torch.tensor([2, 0])).numpy())


def test_bad_input_raises_before_a_kernel():
    x = tinymm.tensor(_x((2, 3), 0))
    with pytest.raises(ValueError, match="gather: index values must lie in"):
        x.gather(1, tinymm.tensor([[0, 3]]))
    with pytest.raises(RuntimeError, match="scatter_add: index 5 is out of bounds"):
        x.scatter_add(1, tinymm.tensor([[5]]), x)
    with pytest.raises(ValueError, match="one_hot: class index holds 3"):
        tinymm.F.one_hot(tinymm.tensor([3]), 3)
    with pytest.raises(IndexError, match="boolean mask"):
        from tinymm.ops.indexing import masked_rows
        masked_rows(x, tinymm.tensor([True, False, True]))
