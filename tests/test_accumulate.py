"""The ``accumulate`` kernel (dst += src in place) and the gradient sums that use it.

The numba kernel against the reference, bit for bit (each element is one rounded addition),
on its NumPy path (small, mixed dtypes, strided, overlapping) and its split path (the worker
ranges: the thresholds are lowered here so a test-sized array takes it); then a leaf's
``.grad`` summed over uses and over backward calls, against the closed form.
"""

import numpy as np
import pytest

import tinymm
from tinymm.kernels.numba_cpu import elementwise as numba_elementwise

REF = tinymm.get_backend("reference")
NUMBA = tinymm.get_backend("numba")


@pytest.fixture
def split_small(monkeypatch):
    """The numba kernel's worker ranges from 1,000 elements, about 300 per range."""
    monkeypatch.setattr(numba_elementwise, "SPLIT", 1000)
    monkeypatch.setattr(numba_elementwise, "PIECE", 300)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(7,), (3, 5, 7), (41, 53)])
def test_numba_matches_reference_on_both_paths(dtype, shape, split_small):
    rng = np.random.default_rng(3)
    dst = rng.standard_normal(shape).astype(dtype)
    src = rng.standard_normal(shape).astype(dtype)
    want = dst.copy()
    REF.accumulate(want, src)
    np.testing.assert_array_equal(want, (dst.astype(np.float64) + src).astype(dtype))
    got = dst.copy()
    assert NUMBA.accumulate(got, src) is None  # in place
    np.testing.assert_array_equal(got, want)


def test_numba_mixed_strided_and_overlapping_operands(split_small):
    rng = np.random.default_rng(4)
    dst = rng.standard_normal((40, 50)).astype(np.float32)
    wide = rng.standard_normal((40, 50))  # float64 into float32: one rounding, as NumPy's +=
    strided = rng.standard_normal((40, 100)).astype(np.float32)[:, ::2]
    for src in (wide, strided):
        want, got = dst.copy(), dst.copy()
        want += src
        NUMBA.accumulate(got, src)
        np.testing.assert_array_equal(got, want)
    buf = rng.standard_normal(4000).astype(np.float32)  # src overlaps dst, shifted by one
    want = buf.copy()
    want[1:] += want[:-1].copy()
    NUMBA.accumulate(buf[1:], buf[:-1])
    np.testing.assert_array_equal(buf, want)


@pytest.mark.parametrize("backend", ["reference", "numba"])
def test_leaf_grad_sums_uses_and_backward_calls(backend, split_small):
    rng = np.random.default_rng(5)
    x0 = rng.standard_normal((30, 60)).astype(np.float32)
    with tinymm.use_backend(backend):
        x = tinymm.tensor(x0, requires_grad=True)
        held = None
        for _ in range(3):
            (x * 2.0 + x * x).sum().backward()  # two uses of the leaf: two sums into .grad
            if held is None:
                held = x.grad
        want = 3 * (2.0 + 2 * x0.astype(np.float64))
        np.testing.assert_allclose(x.grad.numpy(), want, rtol=1e-5, atol=1e-5)
        assert held is x.grad  # summed in place, as PyTorch's .grad
