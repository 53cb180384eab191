"""The numba CPU RAdam, Adamax and Lion updates against the reference kernels, bit for bit,
over enough steps for RAdam's rectified branch (rho_t > 5 from step 6 with beta2 0.999), with
and without weight decay, in both float dtypes; strided arrays go through the reference."""

import numpy as np
import pytest

import tinymm

SHAPE = (3, 37)  # an odd size: no multiple of a vector width
STEPS = 8
CONFIGS = {
    "radam": lambda step: (step, 0.01, 0.9, 0.999, 1e-8),
    "radam-wd": lambda step: (step, 0.01, 0.9, 0.999, 1e-8, 0.1, False),
    "radam-decoupled": lambda step: (step, 0.01, 0.9, 0.999, 1e-8, 0.1, True),
    "adamax": lambda step: (step, 0.01, 0.9, 0.999, 1e-8),
    "adamax-wd": lambda step: (step, 0.01, 0.9, 0.999, 1e-8, 0.1),
    "lion": lambda step: (0.01, 0.9, 0.99),
}
STATES = {"radam": 2, "adamax": 2, "lion": 1}


def _run(backend: str, kind: str, dtype, make_args) -> tuple:
    rng = np.random.default_rng(5)
    param = rng.standard_normal(SHAPE).astype(dtype)
    state = [np.zeros(SHAPE, dtype) for _ in range(STATES[kind])]
    step_fn = getattr(tinymm.get_backend(backend), f"{kind}_step")
    trace = []
    for step in range(1, STEPS + 1):
        grad = rng.standard_normal(SHAPE).astype(dtype)
        grad[0, 0] = 0  # Lion's sign of an interpolated zero
        step_fn(param, grad, *state, *make_args(step))
        trace.append(param.copy())
    return trace, state


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_numba_update_matches_the_reference_bit_for_bit(name, dtype):
    kind = name.split("-")[0]
    assert tinymm.get_backend("numba").kernels[f"{kind}_step"].__module__.endswith("optim_more")
    want, want_state = _run("reference", kind, dtype, CONFIGS[name])
    got, got_state = _run("numba", kind, dtype, CONFIGS[name])
    assert all(np.abs(b - a).max() > 0 for a, b in zip(want, want[1:]))  # every step moved
    for a, b in zip(got, want):
        assert a.dtype == dtype
        np.testing.assert_array_equal(a, b)
    for a, b in zip(got_state, want_state):
        np.testing.assert_array_equal(a, b)


def test_strided_parameters_go_through_the_reference():
    rng = np.random.default_rng(6)
    want = rng.standard_normal((4, 6))[:, ::2]
    strided = np.zeros((4, 6))[:, ::2]
    strided[...] = want
    g = np.ones((4, 3))
    m_want, m_got = np.zeros((4, 3)), np.zeros((4, 3))
    tinymm.get_backend("reference").lion_step(want, g, m_want, 0.1, 0.9, 0.99)
    tinymm.get_backend("numba").lion_step(strided, g, m_got, 0.1, 0.9, 0.99)
    np.testing.assert_array_equal(strided, want)
    np.testing.assert_array_equal(m_got, m_want)
