"""PyTorch-style losses: parity with torch, gradchecks, errors. Keras losses:
tests/test_keras_losses.py."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinymm
from tests.conftest import examples
from tinymm.ops import loss as L


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
        ours = L.binary_cross_entropy_with_logits(tinymm.tensor(x), y_bin, reduction=reduction,
                                                  pos_weight=pw)
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


def test_loss_errors():
    with pytest.raises(ValueError, match="input has shape .* target has shape"):
        L.mse_loss(tinymm.tensor(np.zeros((2, 3))), np.zeros((3, 2)))
    with pytest.raises(ValueError, match="reduction must be one of"):
        L.mse_loss(tinymm.tensor(np.zeros(2)), np.zeros(2), reduction="avg")
