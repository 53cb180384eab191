"""tinymm.distributions (Categorical, Bernoulli, Normal, kl_divergence): log_prob, entropy,
rsample and KL values and gradients against torch.distributions (behind importorskip), float64
gradchecks, sample shapes and frequencies from tinymm's generator, bad parameters and values."""

from __future__ import annotations

import numpy as np
import pytest

import tinymm
from tinymm.distributions import Bernoulli, Categorical, Normal, kl_divergence

RNG = np.random.default_rng(3)
P = RNG.random((2, 3, 4)) + 0.1  # unnormalised probabilities, (2, 3) batch of 4 categories
L = RNG.standard_normal((2, 3, 4))  # logits
V = RNG.integers(0, 4, (5, 2, 3))  # Categorical values with a sample dim in front
MU, SD = RNG.standard_normal((2, 3)), RNG.random((2, 3)) + 0.5
X = RNG.standard_normal((4, 2, 3))  # Normal values, broadcast against (2, 3)
Q = RNG.random((2, 3)) * 0.8 + 0.1  # Bernoulli probabilities
B = (RNG.random((4, 2, 3)) < 0.5).astype(np.float64)

# name: (a function of the float parameters in a given library, the parameters)
CASES = {
    "categorical_probs_log_prob": (lambda lib, p: lib.distributions.Categorical(p)
                                   .log_prob(lib.tensor(V)), [P]),
    "categorical_logits_log_prob": (lambda lib, x: lib.distributions.Categorical(logits=x)
                                    .log_prob(lib.tensor(V)), [L]),
    "categorical_probs_entropy": (lambda lib, p: lib.distributions.Categorical(probs=p)
                                  .entropy(), [P]),
    "categorical_logits_entropy": (lambda lib, x: lib.distributions.Categorical(logits=x)
                                   .entropy(), [L]),
    "categorical_kl": (lambda lib, p, x: lib.distributions.kl_divergence(
        lib.distributions.Categorical(p), lib.distributions.Categorical(logits=x)), [P, L]),
    "normal_log_prob": (lambda lib, m, s, x: lib.distributions.Normal(m, s).log_prob(x),
                        [MU, SD, X]),
    "normal_entropy": (lambda lib, m, s: lib.distributions.Normal(m, s).entropy(), [MU, SD]),
    "normal_cdf": (lambda lib, m, s, x: lib.distributions.Normal(m, s).cdf(x), [MU, SD, X]),
    "normal_kl": (lambda lib, m, s, m2, s2: lib.distributions.kl_divergence(
        lib.distributions.Normal(m, s), lib.distributions.Normal(m2, s2)),
                  [MU, SD, MU[::-1].copy(), SD[::-1].copy()]),
    "bernoulli_probs_log_prob": (lambda lib, q: lib.distributions.Bernoulli(q)
                                 .log_prob(lib.tensor(B)), [Q]),
    "bernoulli_logits_log_prob": (lambda lib, x: lib.distributions.Bernoulli(logits=x)
                                  .log_prob(lib.tensor(B)), [MU]),
    "bernoulli_entropy": (lambda lib, x: lib.distributions.Bernoulli(logits=x).entropy(),
                          [MU]),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_against_torch(name):
    torch = pytest.importorskip("torch")
    fn, params = CASES[name]
    ours = [tinymm.tensor(p, requires_grad=True) for p in params]
    theirs = [torch.tensor(p, requires_grad=True) for p in params]
    out, ref = fn(tinymm, *ours), fn(torch, *theirs)
    np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), rtol=1e-10,
                               atol=1e-12)
    g = RNG.standard_normal(tuple(ref.shape))
    out.backward(tinymm.tensor(g))
    ref.backward(torch.tensor(g))
    for a, b in zip(ours, theirs):
        if b.grad is None:  # a parameter the result does not depend on (Normal.entropy's loc)
            assert a.grad is None or not a.grad.numpy().any()
            continue
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("name", sorted(CASES))
def test_gradcheck(name):
    fn, params = CASES[name]
    assert tinymm.gradcheck(lambda *ps: fn(tinymm, *ps), [p.copy() for p in params])


def test_normal_rsample_is_loc_plus_eps_scale_and_carries_gradients():
    m = tinymm.tensor(MU, requires_grad=True)
    s = tinymm.tensor(SD, requires_grad=True)
    tinymm.manual_seed(5)
    z = Normal(m, s).rsample((7,))
    tinymm.manual_seed(5)
    eps = tinymm.randn((7, 2, 3), dtype=tinymm.float64).numpy()
    np.testing.assert_allclose(z.detach().numpy(), MU + eps * SD, rtol=1e-12)
    z.sum().backward()
    np.testing.assert_allclose(m.grad.numpy(), np.full((2, 3), 7.0))
    np.testing.assert_allclose(s.grad.numpy(), eps.sum(0), rtol=1e-12)
    sample = Normal(m, s).sample((3,))
    assert sample.shape == (3, 2, 3) and not sample.requires_grad


def test_samples_have_pytorch_shapes_dtypes_and_frequencies():
    tinymm.manual_seed(0)
    probs = np.array([0.1, 0.6, 0.3])
    c = Categorical(tinymm.tensor(probs))
    assert c.sample().shape == () and c.sample().dtype == np.int64
    draws = c.sample((20000,)).numpy()
    np.testing.assert_allclose(np.bincount(draws, minlength=3) / 20000, probs, atol=0.015)
    batched = Categorical(logits=tinymm.tensor(L))
    assert batched.batch_shape == (2, 3) and batched.event_shape == ()
    assert batched.sample((5,)).shape == (5, 2, 3)
    assert batched.enumerate_support().shape == (4, 2, 3)
    bern = Bernoulli(tinymm.tensor(Q))
    flips = bern.sample((10000,)).numpy()
    assert flips.shape == (10000, 2, 3) and set(np.unique(flips)) <= {0.0, 1.0}
    np.testing.assert_allclose(flips.mean(0), Q, atol=0.03)
    normal = Normal(0.0, 2.0)
    assert normal.sample((4000,)).dtype == np.float32
    assert abs(float(normal.sample((4000,)).std()) - 2.0) < 0.1


def test_moments_and_modes_match_torch():
    torch = pytest.importorskip("torch")
    for ours, theirs in [(Categorical(tinymm.tensor(P)), torch.distributions.Categorical(
            torch.tensor(P))), (Bernoulli(tinymm.tensor(Q)), torch.distributions.Bernoulli(
            torch.tensor(Q))), (Normal(tinymm.tensor(MU), tinymm.tensor(SD)),
                                torch.distributions.Normal(torch.tensor(MU), torch.tensor(SD)))]:
        for attr in ("mean", "variance", "mode", "stddev"):
            np.testing.assert_allclose(getattr(ours, attr).numpy(),
                                       getattr(theirs, attr).numpy(), rtol=1e-12,
                                       err_msg=f"{type(ours).__name__}.{attr}")
        np.testing.assert_allclose(ours.perplexity().numpy(), theirs.perplexity().numpy(),
                                   rtol=1e-12)


@pytest.mark.parametrize("make, match", [
    (lambda: Categorical(), "either `probs` or `logits`"),
    (lambda: Categorical(tinymm.tensor([0.5]), logits=tinymm.tensor([0.0])), "not both"),
    (lambda: Categorical(tinymm.tensor([0.5, -0.1])), "Categorical: expected probs"),
    (lambda: Categorical(tinymm.tensor(0.5)), "at least one-dimensional"),
    (lambda: Normal(0.0, tinymm.tensor([1.0, 0.0])), "Normal: expected scale .* positive"),
    (lambda: Bernoulli(tinymm.tensor([1.5])), "Bernoulli: expected probs .* unit interval"),
    (lambda: Categorical(tinymm.tensor([0.5, 0.5])).log_prob(tinymm.tensor([2])),
     r"expected value .* integers in \[0, 2\)"),
    (lambda: Bernoulli(tinymm.tensor([0.5])).log_prob(tinymm.tensor([0.5])), r"\{0, 1\}"),
])
def test_bad_parameters_and_values_raise_value_error(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_validate_args_false_skips_the_checks_and_kl_names_missing_pairs():
    Normal(0.0, tinymm.tensor([-1.0]), validate_args=False)
    with pytest.raises(NotImplementedError, match="Normal and Categorical"):
        kl_divergence(Normal(0.0, 1.0), Categorical(tinymm.tensor([1.0])))
