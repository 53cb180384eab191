"""Bad input to the foundation ops: clear errors naming the op and the shapes, before kernels."""

import numpy as np
import pytest

import tinymm
from tinymm import functional as F


def t(*shape, dtype=np.float32):
    return tinymm.tensor(np.ones(shape, dtype=dtype))


def test_linear_feature_mismatch():
    with pytest.raises(ValueError, match=r"linear: .*in_features = 3.*\(4, 5\)"):
        F.linear(t(4, 5), t(2, 3))


def test_linear_dtype_mismatch():
    with pytest.raises(TypeError, match="float32.*float64|float64.*float32"):
        F.linear(t(4, 3), t(2, 3, dtype=np.float64))


def test_matmul_inner_dimension():
    with pytest.raises(ValueError, match=r"matmul: inner dimensions differ"):
        t(2, 3) @ t(4, 5)


def test_cross_entropy_target_out_of_range_never_reaches_kernel():
    for backend in ("reference", "numba"):
        with tinymm.use_backend(backend):
            expected = r"target holds 7, outside the valid range \[0, 2\]"
            with pytest.raises(ValueError, match=expected):
                F.cross_entropy(t(2, 3), np.array([0, 7]))
            with pytest.raises(ValueError, match="holds -1"):
                F.cross_entropy(t(2, 3), np.array([0, -1]))


def test_cross_entropy_float_target_and_row_mismatch():
    with pytest.raises(TypeError, match="integer"):
        F.cross_entropy(t(2, 3), np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match="2 rows.*target has 3"):
        F.cross_entropy(t(2, 3), np.array([0, 1, 2]))
    with pytest.raises(ValueError, match="reduction"):
        F.cross_entropy(t(2, 3), np.array([0, 1]), reduction="avg")


def test_integer_input_to_activation():
    with pytest.raises(TypeError, match="relu: input must be float32 or float64, got int64"):
        F.relu(tinymm.tensor([1, 2]))


def test_softmax_bad_dim():
    with pytest.raises(ValueError, match=r"softmax: dim: Dimension out of range \(expected to "
                                         r"be in range of \[-2, 1\], but got 2\)"):
        F.softmax(t(2, 3), dim=2)


def test_nan_is_not_hidden():
    x = tinymm.tensor(np.array([[np.nan, 1.0, 2.0]], dtype=np.float32))
    for backend in ("reference", "numba"):
        with tinymm.use_backend(backend):
            assert np.isnan(F.softmax(x, dim=-1).array).all()
            assert np.isnan(F.relu(x).array[0, 0])  # max(NaN, 0) is NaN, as in NumPy and torch
            assert np.isnan(F.sigmoid(x).array[0, 0]) and np.isnan(F.tanh(x).array[0, 0])
            assert np.isnan(F.cross_entropy(x, np.array([1])).item())


def test_cross_entropy_is_stable_for_huge_logits():
    logits = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 5e3]], dtype=np.float32)
    for backend in ("reference", "numba"):
        with tinymm.use_backend(backend):
            x = tinymm.tensor(logits, requires_grad=True)
            loss = F.cross_entropy(x, np.array([0, 2]))
            loss.backward()
            assert np.isfinite(loss.item()) and np.isfinite(x.grad).all()
            np.testing.assert_allclose(loss.item(), (0 + 5e3) / 2, rtol=1e-6)


def test_cross_entropy_matches_independent_formula(rng):
    logits = rng.standard_normal((5, 4))
    target = np.array([0, 3, -100, 1, 2])
    keep = target != -100
    logp = logits - np.log(np.exp(logits).sum(1, keepdims=True))
    q = np.full((5, 4), 0.1 / 4)
    q[np.arange(5), np.where(keep, target, 0)] += 0.9
    expected = -(q * logp).sum(1)[keep].mean()
    for backend in ("reference", "numba"):
        with tinymm.use_backend(backend):
            got = F.cross_entropy(tinymm.tensor(logits), target, label_smoothing=0.1).item()
            np.testing.assert_allclose(got, expected, rtol=1e-12)
