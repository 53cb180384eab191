"""The symmetric InfoNCE loss: gradients vs finite differences, an independent formula, PyTorch,
and bad input."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinymm
from tinymm.ops.info_nce import info_nce

BACKENDS = ["reference", "numba"]


@pytest.fixture(params=BACKENDS)
def backend(request):
    with tinymm.use_backend(request.param):
        yield request.param


def _unit(rng, n, d):
    x = rng.standard_normal((n, d))
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@settings(deadline=None, max_examples=15)
@given(n=st.integers(1, 6), d=st.integers(1, 5), t=st.floats(-1.0, 3.0),
       seed=st.integers(0, 2**16))
def test_gradcheck_all_inputs(backend, n, d, t, seed):
    rng = np.random.default_rng(seed)
    a, b = rng.standard_normal((n, d)), rng.standard_normal((n, d))
    assert tinymm.gradcheck(lambda x, y, s: info_nce(x, y, s) * 1.7, [a, b, np.array(t)])


def test_matches_the_two_cross_entropies_written_out(backend):
    rng = np.random.default_rng(1)
    a, b, t = _unit(rng, 7, 5), _unit(rng, 7, 5), 1.3
    S = np.exp(t) * a @ b.T
    rows = -np.mean(np.diag(S) - np.log(np.exp(S).sum(axis=1)))
    cols = -np.mean(np.diag(S) - np.log(np.exp(S).sum(axis=0)))
    assert info_nce(a, b, np.array(t)).item() == pytest.approx((rows + cols) / 2, rel=1e-12)


def test_perfect_alignment_with_a_sharp_temperature_costs_almost_nothing(backend):
    a = np.eye(4)
    assert info_nce(a, a, np.array(np.log(100.0))).item() < 1e-30 + 4 * np.exp(-100) * 2
    assert info_nce(a, a[::-1].copy(), np.array(np.log(100.0))).item() > 50


def test_matches_torch_forward_and_gradients(backend):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    a, b = _unit(rng, 9, 6).astype(np.float32), _unit(rng, 9, 6).astype(np.float32)
    t = np.array(np.log(1 / 0.07), dtype=np.float32)
    ta, tb, tt = (tinymm.tensor(x, requires_grad=True) for x in (a, b, t))
    loss = info_nce(ta, tb, tt)
    loss.backward()
    xa, xb, xt = (torch.tensor(x, requires_grad=True) for x in (a, b, t))
    S = xt.exp() * xa @ xb.T
    target = torch.arange(9)
    ref = (torch.nn.functional.cross_entropy(S, target)
           + torch.nn.functional.cross_entropy(S.T, target)) / 2
    ref.backward()
    assert loss.item() == pytest.approx(ref.item(), rel=1e-5)
    for ours, theirs in ((ta, xa), (tb, xb), (tt, xt)):
        np.testing.assert_allclose(ours.grad.array, theirs.grad.numpy(), rtol=1e-4, atol=1e-6)


def test_bad_input_is_named(backend):
    a = np.zeros((3, 4))
    with pytest.raises(ValueError, match="info_nce: image and text embeddings must have the same"):
        info_nce(a, np.zeros((3, 5)), np.array(0.0))
    with pytest.raises(ValueError, match="logit_scale must be a scalar"):
        info_nce(a, a, np.zeros(2))
    with pytest.raises(TypeError, match="info_nce: image embeddings must be float"):
        info_nce(a.astype(np.int64), a, np.array(0.0))
    with pytest.raises(ValueError, match="must be 2-d"):
        info_nce(np.zeros(4), np.zeros(4), np.array(0.0))
