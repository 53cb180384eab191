"""Losses: PyTorch parity, gradchecks, Keras semantics (probabilities vs logits), errors."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinymm
from tests.conftest import examples
from tinymm import losses as L


def _rng(seed=0):
    return np.random.default_rng(seed)


@settings(max_examples=examples(8))
@given(n=st.integers(1, 5), c=st.integers(1, 4), seed=st.integers(0, 50))
def test_bce_with_logits_gradcheck(n, c, seed):
    rng = _rng(seed)
    x = tinymm.tensor(rng.standard_normal((n, c)) * 3, requires_grad=True)
    y = tinymm.tensor(rng.random((n, c)), requires_grad=True)
    pw = rng.random(c) + 0.5
    assert tinymm.gradcheck(lambda a, b: L.binary_cross_entropy_with_logits(a, b), [x, y])
    assert tinymm.gradcheck(lambda a, b: L.binary_cross_entropy_with_logits(
        a, b, pos_weight=pw, reduction="sum"), [x, y])


def test_bce_with_logits_gradient_at_zero_and_extremes():
    x = tinymm.tensor(np.array([0.0, 200.0, -200.0]), requires_grad=True)
    loss = L.binary_cross_entropy_with_logits(x, np.array([1.0, 0.0, 1.0]), reduction="sum")
    np.testing.assert_allclose(loss.item(), np.log(2) + 200 + 200)  # finite, no overflow
    loss.backward()
    np.testing.assert_allclose(x.grad, [0.5 - 1, 1.0, -1.0])  # sigmoid(x) - y


def test_losses_match_torch():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    rng = _rng(1)
    x = rng.standard_normal((6, 4))
    y_bin = rng.random((6, 4))
    y_cls = rng.integers(0, 4, 6)
    pw = np.array([0.5, 1.0, 2.0, 3.0])
    for reduction in ("mean", "sum", "none"):
        ours = L.binary_cross_entropy_with_logits(tinymm.tensor(x), y_bin, reduction, pw)
        theirs = F.binary_cross_entropy_with_logits(torch.tensor(x), torch.tensor(y_bin),
                                                    reduction=reduction,
                                                    pos_weight=torch.tensor(pw))
        np.testing.assert_allclose(ours.array, theirs.numpy(), rtol=1e-12)
        ours = L.mse_loss(tinymm.tensor(x), y_bin, reduction)
        theirs = F.mse_loss(torch.tensor(x), torch.tensor(y_bin), reduction=reduction)
        np.testing.assert_allclose(ours.array, theirs.numpy(), rtol=1e-12)
    for smoothing in (0.0, 0.2):
        ours = L.cross_entropy(tinymm.tensor(x), y_cls, label_smoothing=smoothing)
        theirs = F.cross_entropy(torch.tensor(x), torch.tensor(y_cls),
                                 label_smoothing=smoothing)
        np.testing.assert_allclose(ours.item(), theirs.item(), rtol=1e-12)


def test_sparse_categorical_from_probabilities_and_logits():
    rng = _rng(2)
    logits = rng.standard_normal((5, 3))
    y = np.array([0, 2, 1, 1, 0])
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    expected = -np.log(p[np.arange(5), y])
    np.testing.assert_allclose(L.sparse_categorical_crossentropy(y, tinymm.tensor(p)).array,
                               expected, rtol=1e-10)
    np.testing.assert_allclose(
        L.sparse_categorical_crossentropy(y, tinymm.tensor(logits), from_logits=True).array,
        expected, rtol=1e-10)
    np.testing.assert_allclose(L.SparseCategoricalCrossentropy()(y, tinymm.tensor(p)).item(),
                               expected.mean(), rtol=1e-10)
    # (N, 1) labels, as Keras accepts
    np.testing.assert_allclose(L.sparse_categorical_crossentropy(y[:, None], p).array, expected,
                               rtol=1e-10)


def test_softmax_output_uses_logits_and_stays_finite():
    from tinymm.keras import activations

    logits = tinymm.tensor(np.array([[200.0, 0.0, -200.0]], dtype=np.float32),
                           requires_grad=True)
    probs = activations.softmax(logits)
    assert probs.array[0, 2] == 0.0  # underflowed: -log(0) would be inf
    loss = L.sparse_categorical_crossentropy([2], probs)
    np.testing.assert_allclose(loss.array, [400.0], rtol=1e-6)
    loss.sum().backward()
    np.testing.assert_allclose(logits.grad, [[1.0, 0.0, -1.0]], atol=1e-6)
    # without the logits, the probability is clipped to 1e-7 as in Keras
    plain = tinymm.tensor(probs.array)
    np.testing.assert_allclose(L.sparse_categorical_crossentropy([2], plain).array,
                               [-np.log(1e-7)], rtol=1e-4)


def test_categorical_and_binary_crossentropy():
    rng = _rng(3)
    logits = rng.standard_normal((4, 3))
    onehot = np.eye(3)[[0, 1, 2, 1]]
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    expected = -(onehot * np.log(p)).sum(1)
    np.testing.assert_allclose(L.categorical_crossentropy(onehot, p).array, expected, rtol=1e-10)
    np.testing.assert_allclose(L.categorical_crossentropy(onehot, logits, from_logits=True).array,
                               expected, rtol=1e-10)
    z = rng.standard_normal((4, 1))
    t = np.array([1.0, 0.0, 1.0, 0.0])
    s = 1 / (1 + np.exp(-z[:, 0]))
    expected = -(t * np.log(s) + (1 - t) * np.log(1 - s))
    np.testing.assert_allclose(L.binary_crossentropy(t, s[:, None]).array, expected, rtol=1e-6)
    np.testing.assert_allclose(L.binary_crossentropy(t, z, from_logits=True).array, expected,
                               rtol=1e-10)
    np.testing.assert_allclose(L.mse(t, z).array, (z[:, 0] - t) ** 2, rtol=1e-12)


def test_loss_errors():
    p = tinymm.tensor(np.full((2, 3), 1 / 3))
    with pytest.raises(ValueError, match=r"y_true holds 3, outside the valid class range "
                                         r"\[0, 2\]"):
        L.sparse_categorical_crossentropy([0, 3], p)
    with pytest.raises(ValueError, match="outside the valid range"):
        L.sparse_categorical_crossentropy([0, 5], p, from_logits=True)
    with pytest.raises(ValueError, match=r"shape \(2,\)"):
        L.sparse_categorical_crossentropy([0, 1, 2], p)
    with pytest.raises(ValueError, match="input has shape .* target has shape"):
        L.mse_loss(tinymm.tensor(np.zeros((2, 3))), np.zeros((3, 2)))
    with pytest.raises(ValueError, match="reduction must be one of"):
        L.mse_loss(tinymm.tensor(np.zeros(2)), np.zeros(2), reduction="avg")
    with pytest.raises(ValueError, match="unknown loss 'hinge'"):
        L.get("hinge")


def test_keras_losses_gradcheck():
    rng = _rng(7)
    logits = tinymm.tensor(rng.standard_normal((3, 4)), requires_grad=True)
    probs = tinymm.tensor(rng.random((3, 4)) + 0.1, requires_grad=True)
    onehot = np.eye(4)[[1, 3, 0]]
    assert tinymm.gradcheck(lambda z: L.categorical_crossentropy(onehot, z, from_logits=True,
                                                                 label_smoothing=0.1), [logits])
    assert tinymm.gradcheck(lambda p: L.categorical_crossentropy(onehot, p), [probs])
    assert tinymm.gradcheck(lambda p: L.sparse_categorical_crossentropy([1, 3, 0], p), [probs])
    assert tinymm.gradcheck(lambda z: L.mean_squared_error(onehot, z), [logits])
