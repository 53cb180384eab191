"""The foundation ops against PyTorch (skipped when torch is not installed)."""

import numpy as np
import pytest

import tinymm
from tinymm import functional as F

torch = pytest.importorskip("torch")


def _both(x):
    return tinymm.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)


@pytest.mark.parametrize("backend", ["reference", "numba"])
def test_linear_softmax_cross_entropy_chain(backend, rng):
    x, w, b = rng.standard_normal((6, 5)), rng.standard_normal((4, 5)), rng.standard_normal(4)
    target = np.array([0, 3, 1, -100, 2, 2])
    with tinymm.use_backend(backend):
        (tx, tw, tb), (px, pw, pb) = zip(_both(x), _both(w), _both(b))
        ours = F.cross_entropy(F.tanh(F.linear(tx, tw, tb)) * 3.0, target, label_smoothing=0.2)
        ours.backward()
    theirs = torch.nn.functional.cross_entropy(
        torch.tanh(torch.nn.functional.linear(px, pw, pb)) * 3.0, torch.tensor(target),
        label_smoothing=0.2)
    theirs.backward()
    np.testing.assert_allclose(ours.item(), theirs.item(), rtol=1e-10)
    for a, t in ((tx, px), (tw, pw), (tb, pb)):
        np.testing.assert_allclose(a.grad, t.grad.numpy(), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("backend", ["reference", "numba"])
def test_softmax_log_softmax_sigmoid_relu(backend, rng):
    x = rng.standard_normal((3, 4, 5))
    v = rng.standard_normal((3, 4, 5))
    with tinymm.use_backend(backend):
        for ours_fn, torch_fn in (
            (lambda t: F.softmax(t, dim=1), lambda t: torch.softmax(t, dim=1)),
            (lambda t: F.log_softmax(t, dim=0), lambda t: torch.log_softmax(t, dim=0)),
            (F.sigmoid, torch.sigmoid),
            (F.relu, torch.relu),
        ):
            tx, px = _both(x)
            ours_fn(tx).backward(v)
            out = torch_fn(px)
            out.backward(torch.tensor(v))
            np.testing.assert_allclose(ours_fn(tinymm.tensor(x)).array, out.detach().numpy(),
                                       rtol=1e-12, atol=1e-14)
            np.testing.assert_allclose(tx.grad, px.grad.numpy(), rtol=1e-10, atol=1e-14)


def test_cross_entropy_reductions_match_torch(rng):
    x = rng.standard_normal((5, 3)).astype(np.float32)
    target = np.array([2, -100, 0, 1, 1])
    for reduction in ("mean", "sum", "none"):
        ours = F.cross_entropy(tinymm.tensor(x), target, reduction=reduction).array
        theirs = torch.nn.functional.cross_entropy(torch.tensor(x), torch.tensor(target),
                                                   reduction=reduction).numpy()
        np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-7)
