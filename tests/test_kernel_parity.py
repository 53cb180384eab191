"""Every kernel of the CONTRACT, on every available backend, against the reference.

Forward outputs must match; then the same random upstream gradient goes to each backend's
backward (with that backend's own cache) and the input gradients must match. The error measure
is normwise: max|backend - reference| / max|reference|, at most 1e-6 in float32 and 1e-12 in
float64 unless a case states otherwise (accumulations of different order in float32).
"""

import numpy as np
import pytest

import tinymm
from tests.kernel_cases import all_cases
from tinymm.kernels import CONTRACT

CASES = all_cases()
BACKENDS = [name for name, why in tinymm.backends().items()
            if why is None and name not in ("reference", "cuda")]
# Kernels a CPU backend serves with the reference function itself: comparing those with the
# reference would compare the reference with itself, so they are left out of the parity
# grid below (and pinned here, so a new fallback is a visible decision, not a silent pass).
FALLBACKS = {"numba": {"matmul_forward", "matmul_backward"}}  # np.matmul is already BLAS
PAIRS = [(case, backend) for backend in BACKENDS for case in CASES
         if case.kernel not in FALLBACKS.get(backend, set())]


def _arrays(value):
    """Flatten an output (array, tuple of arrays, None) into a list of arrays."""
    if value is None:
        return []
    if isinstance(value, (tuple, list)):
        return [a for v in value for a in _arrays(v)]
    return [np.asarray(value)]


def assert_close(actual, expected, tol, what):
    actual_list, expected_list = _arrays(actual), _arrays(expected)
    assert len(actual_list) == len(expected_list), f"{what}: different number of outputs"
    for k, (a, e) in enumerate(zip(actual_list, expected_list)):
        assert a.shape == e.shape, f"{what}[{k}]: shape {a.shape} != reference {e.shape}"
        if e.dtype.kind != "f":
            np.testing.assert_array_equal(a, e, err_msg=f"{what}[{k}]")
            continue
        assert a.dtype == e.dtype, f"{what}[{k}]: dtype {a.dtype} != reference {e.dtype}"
        scale = max(float(np.max(np.abs(e), initial=0.0)), 1e-30)
        err = float(np.max(np.abs(a.astype(np.float64) - e), initial=0.0)) / scale
        assert err <= tol, f"{what}[{k}]: normwise relative error {err:.3g} > {tol:g}"


def test_every_forward_kernel_has_a_parity_case():
    covered = {c.kernel for c in CASES}
    missing = [n for n in CONTRACT if n.endswith("_forward") and n not in covered]
    assert not missing, f"add cases in tests/kernel_cases/ for: {missing}"


def test_every_forward_has_a_backward():
    for name in CONTRACT:
        if name.endswith("_forward"):
            assert name.replace("_forward", "_backward") in CONTRACT, name


@pytest.mark.parametrize("backend", BACKENDS)
def test_fallbacks_are_the_pinned_ones(backend):
    served = tinymm.get_backend(backend)
    reference = tinymm.get_backend("reference")
    same = {n for n in CONTRACT if served.kernels[n] is reference.kernels[n]}
    assert same == set(served.fallbacks) == FALLBACKS.get(backend, set())


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("case, backend", PAIRS,
                         ids=[f"{c.id}-{b}" for c, b in PAIRS])
def test_backend_matches_reference(case, dtype, backend):
    ref = tinymm.get_backend("reference")
    other = tinymm.get_backend(backend)
    assert getattr(other, case.kernel) is not getattr(ref, case.kernel), "self-comparison"
    tol = case.tol[dtype]
    args, kwargs = case.make(np.random.default_rng(7), np.dtype(dtype))
    ref_out, ref_cache = getattr(ref, case.kernel)(*args, **kwargs)
    out, cache = getattr(other, case.kernel)(*[a.copy() if isinstance(a, np.ndarray) else a
                                               for a in args], **kwargs)
    assert_close(out, ref_out, tol, f"{backend} {case.kernel}")

    grad_rng = np.random.default_rng(11)
    douts = tuple(grad_rng.standard_normal(a.shape).astype(a.dtype) if a.dtype.kind == "f"
                  else None for a in _arrays(ref_out))
    dout = douts if isinstance(ref_out, tuple) else douts[0]
    backward = case.kernel.replace("_forward", "_backward")
    ref_grads = getattr(ref, backward)(dout, ref_cache)
    grads = getattr(other, backward)(dout, cache)
    assert_close(grads, ref_grads, tol, f"{backend} {backward}")
