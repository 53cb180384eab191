"""ops/more_math.py: cumprod (rows with and without zeros), atan2, logaddexp, hypot, logit,
exp2, clamp_min/max and the stacking functions against PyTorch on values and gradients (behind
importorskip), float64 gradchecks; isclose and tril/triu_indices values."""

from __future__ import annotations

import numpy as np
import pytest

import tinymm
from tests.torch_twin import same_values_and_grads

RNG = np.random.default_rng(9)
A = RNG.standard_normal((3, 5))
Z = A.copy()
Z[1, 2] = Z[2, 0] = Z[2, 3] = 0.0  # rows with one and two zeros
B = RNG.standard_normal((5,))
P = RNG.uniform(0.05, 0.95, (3, 5))

CASES = {
    "cumprod_dim1": (lambda lib, a: a.cumprod(1), [A]),
    "cumprod_zeros": (lambda lib, a: lib.cumprod(a, 1), [Z]),
    "cumprod_zeros_dim0": (lambda lib, a: lib.cumprod(a, dim=0), [Z]),
    "cumprod_axis_alias": (lambda lib, a: lib.cumprod(a, axis=0) + a.cumprod(axis=1), [A]),
    "atan2_broadcast": (lambda lib, a, b: lib.atan2(a, b), [A, B]),
    "logaddexp": (lambda lib, a, b: lib.logaddexp(a, b), [A, B * 30]),
    "hypot": (lambda lib, a, b: a.hypot(b), [A, B]),
    "logit": (lambda lib, p: lib.logit(p), [P]),
    "logit_eps": (lambda lib, p: p.logit(eps=0.2), [P]),
    "exp2": (lambda lib, a: lib.exp2(a), [A]),
    "clamp_min_max": (lambda lib, a: lib.clamp_min(a, -0.3) + a.clamp_max(0.4), [A]),
    "hstack": (lambda lib, a, b: lib.hstack([a, a[:, :2]]), [A, B]),
    "vstack": (lambda lib, a, b: lib.vstack([a, b]), [A, B]),
    "dstack": (lambda lib, a, b: lib.dstack([a, a]), [A, B]),
    "column_stack": (lambda lib, a, b: lib.column_stack([b, a.t()]), [A, B]),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_against_torch(name):
    fn, arrays = CASES[name]
    same_values_and_grads(fn, arrays, RNG, value_rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name", ["cumprod_dim1", "cumprod_zeros", "atan2_broadcast",
                                  "logaddexp", "logit", "exp2", "vstack"])
def test_gradcheck(name):
    fn, arrays = CASES[name]
    assert tinymm.gradcheck(lambda *t: fn(tinymm, *t), [a.copy() for a in arrays])


def test_isclose_and_indices_match_torch():
    torch = pytest.importorskip("torch")
    a, b = A, A + RNG.choice([0, 1e-9, 1e-3], A.shape)
    np.testing.assert_array_equal(tinymm.isclose(tinymm.tensor(a), tinymm.tensor(b)).numpy(),
                                  torch.isclose(torch.tensor(a), torch.tensor(b)).numpy())
    assert tinymm.tensor(a).isclose(tinymm.tensor(b), atol=1e-2).numpy().all()
    for fn in ("tril_indices", "triu_indices"):
        for args in ((4, 3), (3, 5, 1), (4, 4, -2)):
            np.testing.assert_array_equal(getattr(tinymm, fn)(*args).numpy(),
                                          getattr(torch, fn)(*args).numpy())
